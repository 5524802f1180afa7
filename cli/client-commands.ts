import { once } from 'node:events';
import { getClosestMatch } from '../config/closest-match.js';
import { DroverError, isDroverError } from '../contract/errors.js';
import { getReplicaLabel } from '../contract/lifecycle.js';
import { parseSignalName } from '../contract/signals.js';
import type { NodeState, ResolvedConfig } from '../contract/types.js';
import { request, requestJson } from './control-client.js';
import { FOLLOWER_MAX_BUFFERED_BYTES, SCALED_TO_ZERO, type ClusterAnswer, type LogEntry, type LogGap, type NodeRow } from './control-protocol.js';
import { EXIT_NODE_FAILED, EXIT_OK, EXIT_USAGE } from './exit-codes.js';
import { createStreamSink, formatClock, Printer, paint, shouldUseColor } from './printer.js';
import { getStatePaths } from './state-dir.js';
import { formatDuration, formatPorts } from './status-view.js';

const STATE_COLORS: Partial<Record<NodeState, number>> = { ready: 32, running: 36, starting: 33, backoff: 33, stopping: 35, failed: 31 };

function getCluster(file: string): Promise<ClusterAnswer> {
  return requestJson<ClusterAnswer>(getStatePaths(file), file, 'GET', '/v1/cluster');
}

/** Rows as columns separated by two spaces, one line each; the last column is not padded. */
function formatTable(rows: readonly (readonly string[])[], colorOf: (row: number, column: number) => number | null, color: boolean): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((row, r) => {
      const cells = row.map((cell, i) => {
        const padded = i === row.length - 1 ? cell : cell.padEnd(widths[i]!);
        const sgr = colorOf(r, i);
        return sgr === null ? padded : paint(padded, sgr, color);
      });
      return `${cells.join('  ').trimEnd()}\n`;
    })
    .join('');
}

/**
 * The table `drover ps` prints for a control API answer: NAME, REPLICA, STATE, PID, RESTARTS,
 * UPTIME, PORTS, a FAULTS column only while some fault is active, ERROR.
 */
export function formatPsTable(answer: ClusterAnswer, color: boolean): string {
  const withFaults = answer.nodes.some((n) => (n.faults ?? []).length > 0);
  const rows = [['NAME', 'REPLICA', 'STATE', 'PID', 'RESTARTS', 'UPTIME', 'PORTS', ...(withFaults ? ['FAULTS'] : []), 'ERROR']];
  for (const n of answer.nodes) {
    const faults = withFaults ? [(n.faults ?? []).join(', ') || '-'] : [];
    rows.push([n.name, n.replica === null ? '-' : String(n.replica), n.state, n.pid === null ? '-' : String(n.pid), String(n.restarts), formatDuration(n.uptimeMs), formatPorts(n.ports), ...faults, n.error ?? '']);
  }
  return formatTable(rows, (r, c) => (r === 0 ? 1 : c === 2 ? (STATE_COLORS[rows[r]![2] as NodeState] ?? null) : null), color);
}

/**
 * `drover ps`: one row per node replica, and one row with state `scaled-to-0` (replica `null`)
 * for a node that has 0 replicas; `--json` prints the rows as JSON.
 */
export async function runPs(options: { file: string; json: boolean }): Promise<number> {
  const answer = await getCluster(options.file);
  const logError = answer.log?.error;
  if (logError) {
    process.stderr.write(
      `drover: warning: the output log ${answer.log!.path} could not be written (${logError.code}: ${logError.message}, first at ${formatClock(logError.firstAtMs).slice(0, 8)}); ${logError.linesLost} lines lost in all; the cluster keeps running\n`,
    );
  }
  if (options.json) {
    process.stdout.write(`${JSON.stringify(answer.nodes, null, 2)}\n`);
    return EXIT_OK;
  }
  // A FAULTS column (what injected faults do to each node) only while some fault is active.
  process.stdout.write(formatPsTable(answer, shouldUseColor(process.stdout)));
  return EXIT_OK;
}

/** Throws ERR_UNKNOWN_NODE naming every name not in the cluster, before anything is done. */
function validateNodeNames(answer: ClusterAnswer, names: readonly string[], file: string): void {
  const known = [...new Set(answer.nodes.map((n) => n.name))];
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length > 0) {
    const guesses = unknown.map((n) => getClosestMatch(n, known)).filter((m): m is string => m !== undefined);
    const guess = guesses.length === 0 ? '' : `; did you mean ${guesses.map((m) => JSON.stringify(m)).join(', ')}?`;
    throw new DroverError(
      'ERR_UNKNOWN_NODE',
      `no node ${unknown.map((n) => JSON.stringify(n)).join(', ')} in cluster ${answer.name}${guess}; its nodes are ${known.join(', ')} (see \`drover ps -f ${file}\`)`,
    );
  }
}

export interface LogsOptions {
  readonly file: string;
  /** Node names; empty = every node. */
  readonly nodes: readonly string[];
  /** Lines per node from the ring buffer; null = all of them. */
  readonly lines: number | null;
  readonly follow: boolean;
  /** Only lines read at most this long ago. */
  readonly sinceMs: number | null;
  readonly stream: 'stdout' | 'stderr' | null;
  readonly json: boolean;
  readonly timestamps: boolean;
}

/**
 * `drover logs [NODE…]`: lines from the ring buffers (merged by time, prefixed with the node name
 * when more than one node is shown); `--follow` keeps printing new ones until the cluster stops.
 * A single node's stderr lines go to stderr; `--json` prints NDJSON {@link LogEntry} lines.
 */
export async function runLogs(options: LogsOptions): Promise<number> {
  const paths = getStatePaths(options.file);
  const answer = await getCluster(options.file);
  validateNodeNames(answer, options.nodes, options.file);
  const query = new URLSearchParams();
  for (const node of options.nodes) query.append('node', node);
  query.set('n', options.lines === null ? 'all' : String(options.lines));
  if (options.sinceMs !== null) query.set('since', String(Date.now() - options.sinceMs));
  if (options.stream !== null) query.set('stream', options.stream);
  if (options.follow) query.set('follow', '1');
  const res = await request(paths, options.file, 'GET', `/v1/logs?${query}`, { wait: options.follow ? 'follow' : 'quick' });
  const names = [...new Set(answer.nodes.map((n) => n.name))];
  const replicated = new Set(answer.nodes.filter((n) => (n.replica ?? 0) > 0).map((n) => n.name));
  // One node with one replica prints bare lines; otherwise each line says who wrote it (`b[1]`).
  const prefixed = options.nodes.length !== 1 || options.nodes.some((n) => replicated.has(n));
  const color = shouldUseColor(process.stdout);
  const labels = answer.nodes.map((n) => getReplicaLabel(n.name, n.replica ?? 0));
  const out = new Printer(createStreamSink(process.stdout), names, { color, timestamps: options.timestamps, labels });
  const err = new Printer(createStreamSink(process.stderr), names, { color: shouldUseColor(process.stderr), timestamps: options.timestamps, labels });
  // Imported here: of the client commands, only logs reads lines.
  const readline = await import('node:readline');
  for await (const line of readline.createInterface({ input: res, crlfDelay: Infinity })) {
    if (line === '') continue;
    // A reader slower than the nodes (a pager, a suspended terminal) slows this loop down, and
    // through the socket the manager, which then skips lines for us and says so (LogGap).
    if (process.stdout.writableLength > 64 * 1024) await once(process.stdout, 'drain');
    if (options.json) {
      process.stdout.write(`${line}\n`);
      continue;
    }
    const parsed = JSON.parse(line) as LogEntry | LogGap;
    if ('skipped' in parsed) {
      const nodes = Object.keys(parsed.nodes);
      process.stderr.write(
        `drover: ${parsed.skipped} lines of ${nodes.join(', ')} skipped: this follower read more slowly than the node${nodes.length === 1 ? '' : 's'} wrote (the manager keeps at most ${FOLLOWER_MAX_BUFFERED_BYTES / 1024 / 1024} MiB per follower)\n`,
      );
      continue;
    }
    const entry = parsed;
    if (prefixed) {
      (entry.stream === 'stderr' ? err : out).output(getReplicaLabel(entry.node, entry.replica ?? 0), entry.text, entry.time, entry.node);
    } else {
      const stamp = options.timestamps ? `${formatClock(entry.time)} ` : '';
      (entry.stream === 'stderr' ? process.stderr : process.stdout).write(`${stamp}${entry.text}\n`);
    }
  }
  return EXIT_OK;
}

export type NodeAction = 'start' | 'stop' | 'restart' | 'kill';

const DONE: Record<Exclude<NodeAction, 'kill' | 'stop'>, string> = { start: 'started', restart: 'restarted' };

/** A signal name (any case, `SIG` optional) or number 1..64, normalized; throws naming `--signal`. */
export async function normalizeSignalOption(value: string): Promise<string> {
  if (/^\d+$/.test(value) && Number(value) >= 1 && Number(value) <= 64) return value;
  const name = parseSignalName(value);
  if (name === undefined) {
    throw new DroverError('ERR_INVALID_OPTION', `Expected \`--signal\` to be a signal name such as SIGTERM, SIGKILL or SIGUSR1, or a number 1..64, got ${JSON.stringify(value)} (string); \`kill -l\` lists them`);
  }
  return name;
}

/**
 * `drover start|stop|restart|kill NODE…`: checks every name first (nothing is done when one is
 * unknown, or for start/restart when one has 0 replicas: exit 1 with a `drover scale` hint), then
 * acts on the nodes in parallel and prints one line per node (a node with 0 replicas: "nothing to
 * stop"). Exit 2 when a node failed (e.g. did not become ready), 1 for usage errors.
 */
export async function runNodeAction(options: { file: string; nodes: readonly string[]; action: NodeAction; signal: string | null }): Promise<number> {
  const paths = getStatePaths(options.file);
  const signal = options.action === 'kill' ? await normalizeSignalOption(options.signal ?? 'SIGKILL') : null;
  const before = await getCluster(options.file);
  validateNodeNames(before, options.nodes, options.file);
  const scaledToZero = new Set(before.nodes.filter((n) => n.state === SCALED_TO_ZERO).map((n) => n.name));
  if (options.action === 'start' || options.action === 'restart') {
    // Like an unknown name: nothing is done when one node cannot be started at all.
    const idle = options.nodes.filter((n) => scaledToZero.has(n));
    if (idle.length > 0) {
      throw new DroverError(
        'ERR_INVALID_OPTION',
        `cannot ${options.action} ${idle.join(', ')}: ${idle.length === 1 ? 'it has' : 'they have'} 0 replicas (scaled to 0); start ${idle.length === 1 ? 'it' : 'them'} with \`drover scale ${idle[0]} 1 -f ${options.file}\` (or N replicas)`,
      );
    }
  }
  const query = signal === null ? '' : `?signal=${encodeURIComponent(signal)}`;
  const results = await Promise.allSettled(
    options.nodes.map((node) =>
      requestJson<{ signalled?: number }>(paths, options.file, 'POST', `/v1/nodes/${encodeURIComponent(node)}/${options.action}${query}`, { wait: options.action === 'kill' ? 'quick' : 'operation' }),
    ),
  );
  const after = await getCluster(options.file);
  let exitCode = EXIT_OK;
  results.forEach((result, i) => {
    const node = options.nodes[i]!;
    if (result.status === 'rejected') {
      const error = result.reason as Error;
      const code = isDroverError(error) ? error.code : 'ERR_CONTROL_API';
      const isUsage = code === 'ERR_INVALID_OPTION' || code === 'ERR_UNKNOWN_NODE';
      // A refused request (e.g. a dependency scaled to 0) explains itself; a failed node's output says why it failed.
      const next = isUsage ? '' : `; see \`drover logs ${node} -f ${options.file}\``;
      process.stderr.write(`drover: ${node}: ${options.action} failed: ${error.message.split('\n')[0]}${next}\n`);
      exitCode = Math.max(exitCode, isUsage ? EXIT_USAGE : EXIT_NODE_FAILED);
      return;
    }
    if (scaledToZero.has(node) && after.nodes.some((n) => n.name === node && n.state === SCALED_TO_ZERO)) {
      process.stdout.write(`${node}: nothing to ${options.action}: it has 0 replicas (scaled to 0); nothing is running\n`);
      return;
    }
    if (options.action === 'kill') {
      const pids = before.nodes.filter((n: NodeRow) => n.name === node && n.pid !== null).map((n) => n.pid);
      const count = result.value.signalled ?? 0;
      process.stdout.write(`${node}: ${signal} sent to ${count} process group${count === 1 ? '' : 's'}${pids.length > 0 ? ` (pid ${pids.join(', ')})` : ' (nothing was running)'}\n`);
      return;
    }
    const rows = after.nodes.filter((n: NodeRow) => n.name === node);
    if (options.action === 'stop') {
      // `stopped` says it all; only a replica that ended otherwise (exited, failed) is named.
      const other = rows.filter((n) => n.state !== 'stopped').map((n) => `${getReplicaLabel(n.name, n.replica ?? 0)} ${n.state}`);
      const detail = [...(rows.length > 1 ? [`${rows.length} replicas`] : []), ...other].join('; ');
      process.stdout.write(`${node}: stopped${detail === '' ? '' : ` (${detail})`}\n`);
      return;
    }
    const states = rows.map((n) => `${n.state}${n.pid === null ? '' : `, pid ${n.pid}`}`).join('; ');
    process.stdout.write(`${node}: ${DONE[options.action as Exclude<NodeAction, 'kill' | 'stop'>]} (${states})\n`);
  });
  return exitCode;
}

/** `drover down`: graceful stop of the running cluster; returns once every node stopped. */
export async function runDown(options: { file: string; timeoutMs: number | null }): Promise<number> {
  const answer = await getCluster(options.file);
  const query = options.timeoutMs === null ? '' : `?timeoutMs=${options.timeoutMs}`;
  await requestJson(getStatePaths(options.file), options.file, 'POST', `/v1/down${query}`, { wait: 'operation' });
  const count = answer.nodes.filter((n) => n.state !== SCALED_TO_ZERO).length;
  process.stdout.write(`cluster ${answer.name} stopped (${count} node${count === 1 ? '' : 's'})\n`);
  return EXIT_OK;
}

/**
 * `drover scale NODE N`: sets the replica count; returns once added replicas are ready (each with
 * its own ports) or removed ones (highest index first) have stopped.
 */
export async function runScale(options: { file: string; node: string; replicas: number }): Promise<number> {
  const paths = getStatePaths(options.file);
  const answer = await requestJson<{ from: number; to: number }>(paths, options.file, 'POST', `/v1/nodes/${encodeURIComponent(options.node)}/scale?replicas=${options.replicas}`, { wait: 'operation' });
  const rows = (await getCluster(options.file)).nodes.filter((n) => n.name === options.node && n.state !== SCALED_TO_ZERO);
  // Every replica with its index, [0] included: the summary is about the replica count.
  const detail = rows.map((n) => `${n.name}[${n.replica}] ${n.state}${n.pid === null ? '' : ` pid ${n.pid}`}${Object.keys(n.ports).length > 0 ? ` ${formatPorts(n.ports)}` : ''}`).join('; ');
  process.stdout.write(`${options.node}: scaled ${answer.from} → ${answer.to}${detail === '' ? '' : ` (${detail})`}\n`);
  return EXIT_OK;
}

/**
 * `drover config`: the resolved config of the running cluster (templates filled in, allocated
 * ports, the environment drover adds), as YAML or `--json`. Without a running cluster: the config
 * as `up` would start it, before ports are allocated (a note on stderr says so).
 */
export async function runConfig(options: { file: string; files?: readonly string[]; profiles?: readonly string[] | undefined; json: boolean }): Promise<number> {
  let config: ResolvedConfig;
  try {
    config = await requestJson<ResolvedConfig>(getStatePaths(options.file), options.file, 'GET', '/v1/config');
  } catch (error) {
    if (!isDroverError(error, 'ERR_CONTROL_API') || !error.message.startsWith('no running cluster')) throw error;
    const [{ loadConfig }, { Cluster }] = await Promise.all([import('../config/index.js'), import('../cluster/cluster.js')]);
    const { spec } = await loadConfig(options.files ?? options.file, { strict: false, ...(options.profiles === undefined ? {} : { profiles: options.profiles }) }); // as lenient as `up`
    config = new Cluster(spec).resolvedConfig();
    process.stderr.write(`drover: no running cluster for ${options.file}: ports are allocated by \`drover up\`, templates that use them are shown as written\n`);
  }
  if (options.json) {
    process.stdout.write(`${JSON.stringify(config, null, 2)}\n`);
    return EXIT_OK;
  }
  const { stringify } = await import('yaml');
  process.stdout.write(stringify(config));
  return EXIT_OK;
}
