import { spawn } from 'node:child_process';
import { closeSync, constants, existsSync, fstatSync, readSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../config/index.js';
import { Cluster } from '../cluster/cluster.js';
import { DroverError } from '../contract/errors.js';
import { startOrphanReaping } from '../process/orphan-reaper.js';
import { startTelemetry, type TelemetryHandle } from '../telemetry/index.js';
import { checkNativeBuild } from '../native/index.js';
import { ClusterShutdown, formatPending } from './cluster-shutdown.js';
import { getClientTimeoutMs, requestJson } from './control-client.js';
import { createCtrlCFilter } from './ctrl-c.js';
import { ControlServer, probeSocket, SCALED_TO_ZERO, type ClusterAnswer, type ClusterStatus } from './control-server.js';
import type { UpLogStatus } from './up-log.js';
import type { ClusterSpec } from '../contract/types.js';
import { EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_NODE_FAILED, EXIT_OK, EXIT_USAGE } from './exit-codes.js';
import { getReplicaLabel } from '../contract/lifecycle.js';
import { createStreamSink, Printer, shouldUseColor, type LineSink } from './printer.js';
import { formatStartSummary, getJobCodes, summarizeStart, type StartSummary, type SummaryRow } from './start-summary.js';
import { acquireStateLock, getStatePaths, keepFailedLog, openStateFile, prepareStateDir, removeStateDir, type StateLock, type StatePaths } from './state-dir.js';
import { getStatusLines, StatusView } from './status-view.js';
import { UpLog } from './up-log.js';

export interface UpOptions {
  /** The config file that names the cluster (its state dir). */
  readonly file: string;
  /** Every config file, merged in order (`file` first). @default [file] */
  readonly files?: readonly string[];
  /** Profiles to enable. @default DROVER_PROFILES */
  readonly profiles?: readonly string[] | undefined;
  readonly strict: boolean;
  /** Start in the background and return once every node is ready (or failed). */
  readonly detach: boolean;
  /** Prefix lines with the time they were read. */
  readonly timestamps: boolean;
  /** Live status footer when stdout is a TTY; false = plain lines even on a TTY. */
  readonly tty: boolean;
  /**
   * Set by `up --detach` on the background `up` it starts: output goes to the state dir's
   * `up.log` (capped and rotated, see {@link UpLog}) instead of stdout. @default false
   */
  readonly background?: boolean;
  /** Start only these nodes and (unless `noDeps`) their dependencies; the others stay `pending`. @default every node */
  readonly only?: readonly string[];
  /** With `only`: exactly those nodes, not their dependencies (`--no-deps`). @default false */
  readonly noDeps?: boolean;
}

/**
 * The names of `only` that are no node of `spec`, as ERR_UNKNOWN_NODE naming them and the known
 * names, before anything starts.
 */
function checkSubset(spec: { readonly nodes: readonly { readonly name: string }[] }, only: readonly string[] | undefined): void {
  const known = spec.nodes.map((n) => n.name);
  const unknown = (only ?? []).filter((name) => !known.includes(name));
  if (unknown.length > 0) {
    throw new DroverError('ERR_UNKNOWN_NODE', `drover up: unknown node${unknown.length === 1 ? '' : 's'} ${unknown.join(', ')}; the nodes are ${known.join(', ')}`, { node: unknown[0]! });
  }
}

/** After the final telemetry flush (or its timeout), how long `up` lets open handles linger before it exits. */
const LINGER_AFTER_FLUSH_MS = 1000;

/** How often a plain (non-TTY) `up` prints which nodes are still stopping. */
const PROGRESS_INTERVAL_MS = 1000;

/**
 * After a second Ctrl-C, how long `up` waits for telemetry to flush (the run's spans and metrics)
 * once every node is reaped, before exiting 130 without it. The graceful path uses telemetry's own
 * bound (`shutdownTimeoutMs`, 5 s). A further Ctrl-C during the flush exits at once.
 */
export const KILLED_FLUSH_TIMEOUT_MS = 2000;

/**
 * `drover up`: starts the cluster in the foreground, prints node-prefixed output, serves the
 * control API, and on SIGINT/SIGTERM/SIGHUP (or `drover down`) stops every node and exits 0.
 * While stopping it says which nodes are still stopping and why; a second SIGINT sends SIGKILL to
 * every node and exits 130 once they are reaped. When a failed node stops the cluster
 * (`onNodeFailure: stop-cluster`) it exits 2. With `detach`, see {@link runDetached}.
 */
export async function runUp(options: UpOptions): Promise<number> {
  // A missing or partial native build (install scripts skipped, a failed build) fails here, before
  // a background `up` or any node starts, with what to run.
  checkNativeBuild();
  if (options.detach) return runDetached(options);
  const { spec, warnings } = await loadConfig(options.files ?? options.file, { strict: options.strict, ...(options.profiles === undefined ? {} : { profiles: options.profiles }) });
  checkSubset(spec, options.only);
  const paths = prepareStateDir(getStatePaths(options.file));
  const attempt = await acquireStateLock(paths);
  if (attempt.lock === null) throw await getAlreadyRunningError(paths, options.file, attempt.holderPid);
  const lock = attempt.lock;
  lock.recordPid();
  const background = options.background === true;
  // stderr gone (`up 2>&1 | head`) or full (the background up's stderr is up.log, as `up --detach`
  // opened it, for crash reports): nobody can be told, and a failed write must not crash the
  // process that owns the cluster.
  process.stderr.on('error', () => {});
  const upLog = background ? new UpLog(paths.log, { formatNotice: (text) => printer.formatInfo(text) }) : null;
  if (upLog !== null) process.on('exit', () => upLog.close());
  const color = background ? false : shouldUseColor(process.stdout);
  const cluster = new Cluster(spec);
  // Telemetry first: an endpoint the user asked for that cannot listen (the Prometheus port is
  // taken) is an error before any node starts.
  let telemetry: TelemetryHandle;
  try {
    telemetry = await startTelemetry({ controller: cluster, spec });
  } catch (error) {
    leaveStateDir(paths, lock, EXIT_USAGE, background);
    throw error;
  }
  const jobs = getJobCodes(spec);
  const shutdown = new ClusterShutdown(cluster, spec);
  let status: ClusterStatus = 'starting';
  const view =
    !background && options.tty && process.stdout.isTTY === true
      ? new StatusView(process.stdout, () =>
          getStatusLines({ snapshot: cluster.snapshot(), phase: status, pending: shutdown.isStopping ? shutdown.getPending() : null, now: Date.now(), color, declared: spec.nodes.map((n) => n.name), jobs }),
        )
      : null;
  const sink: LineSink = upLog ?? view ?? createStreamSink(process.stdout);
  const labels = getReplicaLabels(spec);
  const printer = new Printer(sink, spec.nodes.map((n) => n.name), { color, timestamps: options.timestamps, labels });
  for (const warning of warnings) printer.info(`warning: ${options.file}: ${warning.path}: ${warning.message}`);
  // This process is only a drover manager: every process re-parented to it is a node's descendant
  // whose shepherd and launcher are gone, so it becomes their subreaper and kills them.
  try {
    startOrphanReaping();
  } catch (error) {
    printer.info(`warning: cannot become the subreaper of the nodes' processes (${(error as Error).message}); an escaped descendant whose shepherd and launcher are both killed goes to init`);
  }

  let progress: NodeJS.Timeout | null = null;
  const beginDown = (why: string, timeoutMs: number | null = null): Promise<void> => {
    if (!shutdown.isStopping) {
      status = 'stopping';
      const again = why === 'Ctrl-C' ? '; Ctrl-C again to kill every node at once' : '';
      printer.info(`stopping cluster ${spec.name} (${why})${again}`);
      if (view === null) {
        progress = setInterval(() => {
          const pending = shutdown.getPending();
          if (pending.length > 0) printer.info(`still stopping: ${formatPending(pending)}`);
        }, PROGRESS_INTERVAL_MS);
      } else {
        view.redraw();
      }
    }
    return shutdown.stop(timeoutMs);
  };
  const server = createControlServer({
    cluster,
    spec,
    paths,
    fileArg: options.file,
    getStatus: () => status,
    getLogStatus: () => upLog?.status ?? null,
    down: (timeoutMs) => beginDown('drover down', timeoutMs),
  });
  try {
    await server.listen();
  } catch (error) {
    await telemetry.shutdown();
    leaveStateDir(paths, lock, EXIT_USAGE, background);
    throw error;
  }
  let failedNode: string | null = null;
  cluster.subscribe({
    onEvent: (event) => {
      printer.event(event);
      // onNodeFailure: stop-cluster — the cluster stops itself; `up` reports it and exits 2.
      if (event.type === 'cluster-stopping' && event.reason === 'node-failed') {
        failedNode = event.node;
        void beginDown(`node ${event.node} failed and onNodeFailure is stop-cluster`);
      }
    },
  });
  let exitCode: number | null = null;
  let killed: Promise<void> | null = null;
  /** Set while telemetry is flushed on the way out: the exit code `up` is about to return. */
  let flushingWith: number | null = null;
  let flushed = false;
  const isNewCtrlC = createCtrlCFilter();
  const onSignal = (signal: NodeJS.Signals) => {
    // npm and npx pass the terminal's SIGINT on to drover, which got it already: one Ctrl-C, not two.
    if (signal === 'SIGINT' && !isNewCtrlC()) return;
    if (flushingWith !== null && signal === 'SIGINT') {
      // Ctrl-C while telemetry is flushed (every node is already stopped), or after: out at once.
      if (!flushed) printer.info('Ctrl-C again: exiting without waiting for telemetry to flush');
      process.exit(flushingWith);
    }
    if (shutdown.isStopping && signal === 'SIGINT') {
      if (killed === null) {
        printer.info(`second Ctrl-C: SIGKILL to every node still running: ${formatPending(shutdown.getPending()) || 'none'}`);
        killed = shutdown.killAll('second Ctrl-C');
      } else {
        // Third Ctrl-C while the SIGKILLed nodes are reaped: the shepherds finish the job (they
        // kill their child's tree when this process goes away).
        printer.info('third Ctrl-C: exiting now; the shepherds reap what is left');
        process.exit(EXIT_INTERRUPTED);
      }
      return;
    }
    void beginDown(signal === 'SIGINT' ? 'Ctrl-C' : signal);
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const signal of signals) process.on(signal, onSignal);
  // stdout gone (`drover up | head`, a closed terminal: EPIPE, EIO): nobody watches any more, so
  // stop the cluster the graceful way instead of dying on an unhandled 'error'. The listener stays
  // until the process exits: the error of the last write is emitted a tick later.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => void beginDown(`output ${error.code ?? 'error'}`));
  // Whatever ends this process, the footer goes first so the shell prompt lands on a clean line.
  const closeView = () => view?.close();
  process.on('exit', closeView);
  view?.start();
  try {
    const starting = options.only === undefined ? spec.nodes.map((n) => n.name).join(', ') : `${options.only.join(', ')}${options.noDeps === true ? ' (--no-deps)' : ' and their dependencies'}`;
    printer.info(`starting cluster ${spec.name}: ${starting} (control socket ${paths.socket})`);
    await cluster.start({ stopOnFailure: false, ...(options.only === undefined ? {} : { only: options.only, noDeps: options.noDeps === true }) }).then(
      () => {
        if (shutdown.isStopping) return;
        const summary = summarizeStart(cluster.snapshot().nodes.map(toSummaryRow), jobs);
        const failed = summary.failed.map((n) => n.label);
        const hint = failed.length > 0 ? `; failed: ${failed.join(', ')} (see \`drover logs ${summary.failed[0]!.name}\`)` : '';
        printer.info(`cluster ${spec.name}: ${formatStartSummary(summary)}${hint}`);
        if (failed.length > 0 && spec.onNodeFailure === 'stop-cluster') {
          // stop-cluster holds from the start on: a node that failed to start stops the cluster too.
          failedNode = summary.failed[0]!.name;
          void beginDown(`node ${failed[0]} failed and onNodeFailure is stop-cluster`);
          return;
        }
        status = 'running';
      },
      (error: unknown) => {
        printer.info(`cluster ${spec.name} did not fully start: ${(error as Error).message.split('\n')[0]}`);
        // A watch that could not be set up fails the start before any node runs: nothing to wait for.
        if (error instanceof DroverError && error.code === 'ERR_WATCH') {
          failedNode = error.node ?? spec.name;
          void beginDown('a watch could not be set up');
        }
      },
    );
    await shutdown.finished;
    if (progress !== null) clearInterval(progress);
    view?.close();
    printer.info(`cluster ${spec.name} stopped${shutdown.isForced ? ' (forced with SIGKILL)' : ''}`);
    exitCode = killed !== null ? EXIT_INTERRUPTED : failedNode !== null ? EXIT_NODE_FAILED : EXIT_OK;
    return exitCode;
  } finally {
    if (progress !== null) clearInterval(progress);
    view?.close();
    process.off('exit', closeView);
    await server.close();
    try {
      unlinkSync(paths.socket);
    } catch {
      // Already gone: server.close() unlinks the socket it created.
    }
    // Every node is stopped and the socket is gone: the state dir is cleaned up (or the failed
    // run's log kept), and the next `up` may start while this one flushes its telemetry.
    leaveStateDir(paths, lock, exitCode ?? EXIT_INTERRUPTED, background, (text) => printer.info(text));
    // The signal handlers stay while telemetry flushes: a Ctrl-C now exits at once.
    flushingWith = exitCode ?? EXIT_INTERRUPTED;
    if (killed === null) {
      // Bounded by telemetry's own shutdown timeout (5 s). An export request still open after it
      // would keep this process alive until the exporter's timeout (OTLP: 10 s by default, or
      // what OTEL_EXPORTER_OTLP_TIMEOUT says) with nothing left to do: exit then, not later.
      await telemetry.shutdown();
      flushed = true;
      // After a down, out now rather than by draining the event loop: Node's teardown after a
      // natural exit gives SIGINT its default action back tens of ms before the process ends, and
      // a SIGINT then (npm's copy of the Ctrl-C that stopped the cluster) would end drover by
      // SIGINT instead of with the down's code.
      if (exitCode !== null) process.exit(exitCode);
      const exitAs = flushingWith;
      setTimeout(() => process.exit(exitAs), LINGER_AFTER_FLUSH_MS).unref();
    } else if ((await settleWithin(telemetry.shutdown(), KILLED_FLUSH_TIMEOUT_MS)) === 'timeout') {
      // The exporter still holds a request open; do not let it keep this process alive.
      process.stderr.write(`drover: telemetry did not finish flushing within ${KILLED_FLUSH_TIMEOUT_MS / 1000} s after the second Ctrl-C; exiting without it\n`);
      process.exit(EXIT_INTERRUPTED);
    }
    // The signal handlers stay until the process exits: a SIGINT now (npm's copy of the Ctrl-C that
    // stopped the cluster, or a new one) exits at once with this code instead of killing the process.
  }
}

/** What {@link createControlServer} needs from a foreground manager (`up`, `run`). */
export interface ManagerControlOptions {
  readonly cluster: Cluster;
  readonly spec: ClusterSpec;
  readonly paths: StatePaths;
  /** The `-f` argument as given, for hints in answers. */
  readonly fileArg: string;
  readonly getStatus: () => ClusterStatus;
  readonly getLogStatus: () => UpLogStatus | null;
  /** `POST /v1/down`: begins the graceful stop; resolves once every node is stopped. */
  readonly down: (timeoutMs: number | null) => Promise<void>;
}

/**
 * The control API of a cluster this process runs (not yet listening): every route of
 * {@link ControlServer}, with clock faults addressed by node name (its replica 0) or replica label
 * (`b[1]`). Shared by `drover up` and `drover run`.
 */
export function createControlServer(options: ManagerControlOptions): ControlServer {
  const { cluster } = options;
  return new ControlServer({
    controller: cluster,
    paths: options.paths,
    fileArg: options.fileArg,
    declaredNodes: options.spec.nodes.map((n) => n.name),
    getStatus: options.getStatus,
    getLogStatus: options.getLogStatus,
    down: options.down,
    clockFault: (node, clockOptions) => {
      // A replica label (`b[1]`) or a node name (its replica 0).
      const label = /^(.*)\[(\d+)\]$/.exec(node);
      const name = label === null ? node : label[1]!;
      const replica = label === null ? 0 : Number(label[2]);
      const member = cluster.nodes(name).find((m) => m.replica === replica) ?? cluster.node(name);
      if (member.replica !== replica) throw new DroverError('ERR_UNKNOWN_NODE', `node ${name} has no replica ${replica}`, { node: name });
      return member.clock.set(clockOptions);
    },
  });
}

/** Every replica label of a spec (`a`, `b[1]` …): the printer widens its prefix column to the longest. */
export function getReplicaLabels(spec: ClusterSpec): string[] {
  return spec.nodes.flatMap((n) => Array.from({ length: Math.max(1, n.replicas) }, (_, replica) => getReplicaLabel(n.name, replica)));
}

/** Resolves 'done' when `promise` settles, or 'timeout' after `timeoutMs` (the timer is unref'd). */
export function settleWithin(promise: Promise<unknown>, timeoutMs: number): Promise<'done' | 'timeout'> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), timeoutMs);
    timer.unref();
    promise.then(
      () => {
        clearTimeout(timer);
        resolve('done');
      },
      () => {
        clearTimeout(timer);
        resolve('done');
      },
    );
  });
}

/** A snapshot's node as {@link summarizeStart} counts it. */
function toSummaryRow(node: { name: string; replica: number; state: string; lastExit: { exitCode: number | null } | null; error: string | null }): SummaryRow {
  return { name: node.name, replica: node.replica, state: node.state, exitCode: node.lastExit?.exitCode ?? null, error: node.error };
}

/**
 * How an `up` leaves its state dir, with the lock still held (released here, last): it removes
 * what drover created there, and the dir when it is then empty (see {@link removeStateDir}).
 * After a run that failed (exit ≠ 0) a background `up` first keeps its log as `up.failed.log`
 * and says so in it (the detaching `up` and `ps` point to it); a failed run's log stays until a
 * later run of the same config ends with a clean down.
 */
export function leaveStateDir(paths: StatePaths, lock: StateLock, exitCode: number, background: boolean, say: (text: string) => void = () => {}): void {
  try {
    const kept = exitCode !== EXIT_OK && background ? keepFailedLog(paths) : null;
    if (kept !== null) say(`this run failed (exit ${exitCode}); its log is kept as ${kept}`);
    removeStateDir(paths, { keepFailedLog: exitCode !== EXIT_OK });
  } catch {
    // Cleaning up is best effort: a state dir left behind is reused by the next `up`.
  } finally {
    lock.release();
  }
}

/**
 * The error for an `up` of a config whose cluster runs: which pid holds the state dir's lock, and
 * how to reach or stop it (through the control socket while it answers, else with `kill`).
 */
async function getAlreadyRunningError(paths: StatePaths, fileArg: string, holderPid: number | null): Promise<DroverError> {
  const who = holderPid === null ? 'another drover up' : `drover up pid ${holderPid}`;
  if ((await probeSocket(paths.socket)) === 'live') {
    return new DroverError('ERR_CONTROL_API', `a cluster is already running for this config: ${who} (control socket ${paths.socket}); see it with \`drover ps -f ${fileArg}\`, stop it with \`drover down -f ${fileArg}\``, holderPid === null ? {} : { pid: holderPid });
  }
  const stop = holderPid === null ? `stop the process that holds it (\`fuser ${paths.lock}\` names it)` : `stop it with \`kill ${holderPid}\` (a graceful down)`;
  return new DroverError('ERR_CONTROL_API', `a cluster is already running for this config: ${who} holds ${paths.lock}, but its control socket ${paths.socket} is gone (deleted, or not created yet); ${stop}`, holderPid === null ? {} : { pid: holderPid });
}

/** The last `maxBytes` of a file of the state dir (opened without following a symlink), as text; '' when it is missing. */
function readTail(file: string, maxBytes = 64 * 1024): string {
  let fd: number;
  try {
    fd = openStateFile(file, constants.O_RDONLY);
  } catch {
    return '';
  }
  try {
    const size = fstatSync(fd).size;
    const buffer = Buffer.alloc(Math.min(size, maxBytes));
    const length = readSync(fd, buffer, 0, buffer.length, size - buffer.length);
    return buffer.subarray(0, length).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** A line of a background `up`'s log: `HH:MM:SS.mmm <label> | <text>` (no color). */
const LOG_LINE = /^\d\d:\d\d:\d\d\.\d{3} (\S+) *\| (.*)$/;

/** What a background `up`'s log says about a start that did not come up. */
interface FailedRunLog {
  /** drover's summary of the start (`1/2 nodes ready; failed: api`), when the start settled. */
  readonly summary: string | null;
  /** Why each failed node failed, by label (`api: FAILED: …` lines), in order. */
  readonly failures: ReadonlyMap<string, string>;
  /** Why the cluster was stopped (`stopping cluster … (why)`), when it was. */
  readonly stopReason: string | null;
  /** drover's own error lines (what the background `up` wrote to stderr: `drover: …`). */
  readonly errors: readonly string[];
  /** The nodes' own lines, `label | text`, last ones (never drover's lines). */
  readonly nodeOutput: readonly string[];
}

/**
 * Reads a background `up`'s log apart: drover's lines (its summary, failures, stop reason), the
 * errors it wrote to stderr, and the nodes' own output, so that a report never passes drover's
 * lines off as a node's output.
 */
function parseRunLog(text: string, clusterName: string): FailedRunLog {
  let summary: string | null = null;
  let stopReason: string | null = null;
  const failures = new Map<string, string>();
  const errors: string[] = [];
  const nodeOutput: string[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const match = LOG_LINE.exec(line);
    if (match === null) {
      errors.push(line);
      continue;
    }
    const [, label, body] = match as unknown as [string, string, string];
    if (label !== 'drover') {
      nodeOutput.push(`${label} | ${body}`);
      continue;
    }
    const failed = /^(\S+): FAILED: (.*)$/.exec(body);
    if (failed !== null) failures.set(failed[1]!, failed[2]!);
    if (body.startsWith(`cluster ${clusterName}: `) && body.includes(' nodes ready')) summary = body.slice(`cluster ${clusterName}: `.length).replace(/ \(see `drover logs [^`]*`\)$/, '');
    const stopping = /^stopping cluster \S+ \((.*?)\)(;|$)/.exec(body);
    if (stopping !== null) stopReason ??= stopping[1]!;
  }
  return { summary, failures, stopReason, errors: errors.slice(-10), nodeOutput: nodeOutput.slice(-10) };
}

/**
 * `drover up --detach`: validates the config, prepares the state dir, then starts `drover up
 * --no-tty --timestamps` in its own session; that background `up` takes the state dir's lock and
 * writes its output to `<state dir>/up.log` (capped, rotated to `up.log.1`). Returns once every
 * node is ready and every job completed (exit 0), or the start settled with failed nodes (exit 2:
 * with `onNodeFailure: continue` the background `up` keeps running, to inspect and retry; with
 * `stop-cluster` it stops the cluster and ends), or the background `up` ended before the cluster
 * was up (its exit code: 1 for a telemetry endpoint that cannot listen, say). A run that failed
 * keeps its log as `up.failed.log`, and the report says where. Prints where the state lives, how
 * to stop it, and a warning when up.log cannot be written (the cluster runs all the same).
 * @throws {DroverError} ERR_CONTROL_API when a cluster of this config runs or the state dir is
 *   refused.
 */
async function runDetached(options: UpOptions): Promise<number> {
  const { spec } = await loadConfig(options.files ?? options.file, { strict: options.strict, ...(options.profiles === undefined ? {} : { profiles: options.profiles }) }); // config errors: exit 1 right here
  checkSubset(spec, options.only);
  const timeoutMs = await getClientTimeoutMs(); // a bad DROVER_CLIENT_TIMEOUT: exit 1 before anything starts
  const paths = prepareStateDir(getStatePaths(options.file));
  const attempt = await acquireStateLock(paths);
  if (attempt.lock === null) throw await getAlreadyRunningError(paths, options.file, attempt.holderPid);
  let logFd: number;
  let leftover: string | null = null;
  try {
    if ((await probeSocket(paths.socket)) === 'live') {
      throw new DroverError('ERR_CONTROL_API', `a cluster is already running for this config (control socket ${paths.socket}); see it with \`drover ps -f ${options.file}\`, stop it with \`drover down -f ${options.file}\``);
    }
    // Under the lock no running cluster writes these. An up.log still here is the log of a
    // background `up` that could not clean up (it was killed): keep it as the failed run's log
    // rather than overwrite it, then begin a fresh one for this run.
    leftover = keepFailedLog(paths);
    logFd = openStateFile(paths.log, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_APPEND);
  } finally {
    // The background up takes the lock itself (an inherited lock fd would leak into every node).
    attempt.lock.release();
  }
  const out = process.stdout;
  const f = ` -f ${options.file}`;
  if (leftover !== null) out.write(`note: the last background \`drover up\` of this config ended without cleaning up (it was killed); its log is kept as ${leftover}\n`);
  const main = fileURLToPath(new URL('./main.js', import.meta.url));
  const files = (options.files ?? [options.file]).flatMap((file) => ['-f', path.resolve(file)]);
  const profiles = (options.profiles ?? []).flatMap((profile) => ['--profile', profile]);
  const args = [main, 'up', ...files, ...profiles, '--no-tty', '--timestamps', '--background', ...(options.strict ? ['--strict'] : []), ...(options.noDeps === true ? ['--no-deps'] : []), ...(options.only === undefined ? [] : [...options.only])];
  // stdout: nowhere (the background up writes up.log itself); stderr: up.log, for error messages and crash reports.
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', 'ignore', logFd], env: { ...process.env, NO_COLOR: '1' } });
  closeSync(logFd);
  let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exited = new Promise<void>((resolve) =>
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      resolve();
    }),
  );
  child.unref();
  const pid = child.pid ?? 0;
  // Ctrl-C while waiting leaves the background `up` alone (it owns the cluster now) and says so.
  const onInterrupt = () => {
    process.stderr.write(`\ndrover: stopped waiting; the cluster keeps starting in the background (drover up pid ${pid}); stop it with \`drover down${f}\`\n`);
    process.exit(EXIT_INTERRUPTED);
  };
  process.once('SIGINT', onInterrupt);
  let answer: ClusterAnswer | null = null;
  while (exit === null) {
    try {
      answer = await requestJson<ClusterAnswer>(paths, options.file, 'GET', '/v1/cluster', { timeoutMs });
      if (answer.pid === pid && answer.status !== 'starting') break;
    } catch (error) {
      // Not listening yet (or busy starting): keep waiting while the child lives.
      if (!(error instanceof DroverError && error.code === 'ERR_CONTROL_API')) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  // Stopping already (onNodeFailure: stop-cluster after a failed start, or a `drover down`):
  // wait for the background up to end, so that its log is kept before it is reported.
  if (exit === null && answer?.status === 'stopping') {
    child.ref(); // an unref'd child alone would let the event loop end before its exit arrives
    await exited;
  }
  process.off('SIGINT', onInterrupt);
  if (exit !== null) return reportEndedRun(spec.name, spec.onNodeFailure ?? 'continue', paths, pid, exit);

  const jobs = getJobCodes(spec);
  const summary = summarizeStart(answer!.nodes, jobs);
  const failed = summary.failed.map((n) => n.label);
  const verdict =
    failed.length === 0 ? 'is up in the background' : summary.ready + summary.completed === 0 ? 'failed to start in the background' : 'started in the background with failed nodes';
  out.write(`cluster ${spec.name} ${verdict} (drover up pid ${pid}): ${formatStartSummary(summary)}${failed.length === 0 ? '' : `; failed: ${failed.join(', ')}`}\n`);
  out.write(`state: ${paths.dir} (control socket ${path.basename(paths.socket)}, output log ${path.basename(paths.log)})\n`);
  const logError = answer!.log?.error;
  if (logError) {
    out.write(`warning: the output log ${answer!.log!.path} could not be written (${logError.code}: ${logError.message}); the cluster keeps running; read the nodes' output with \`drover logs${f}\`\n`);
  }
  for (const n of summary.failed) {
    const state = n.state === 'exited' && n.exitCode !== null ? `exited with code ${n.exitCode}` : n.state;
    out.write(`${n.label}: ${state}${n.error ? `: ${n.error}` : ''}\n`);
  }
  if (failed.length > 0) {
    const first = summary.failed[0]!.name;
    out.write(`drover up keeps running (onNodeFailure: continue): see why with \`drover logs ${first}${f}\`, retry with \`drover start ${first}${f}\`, stop it with \`drover down${f}\`\n`);
    return EXIT_NODE_FAILED;
  }
  out.write(`see it with \`drover ps${f}\`, follow it with \`drover logs --follow${f}\`, stop it with \`drover down${f}\`\n`);
  return EXIT_OK;
}

/**
 * The report of a background `up` that ended before its cluster was up (on stderr): what its log
 * says — the start's summary and each failed node's error, drover's own error lines (a telemetry
 * endpoint that could not listen …), the nodes' own last lines when nothing else explains it —
 * and where that log is kept. A background `up` killed before it could keep its log gets it kept
 * here. Returns the exit code: the background up's 1 (usage, config, endpoint) or 70, else 2.
 */
async function reportEndedRun(
  clusterName: string,
  onNodeFailure: string,
  paths: StatePaths,
  pid: number,
  exit: { code: number | null; signal: NodeJS.Signals | null },
): Promise<number> {
  const attempt = await acquireStateLock(paths);
  if (attempt.lock !== null) {
    try {
      keepFailedLog(paths);
      removeStateDir(paths, { keepFailedLog: true });
    } finally {
      attempt.lock.release();
    }
  }
  const err = process.stderr;
  const how = exit.code !== null ? `exited with code ${exit.code}` : `was killed by ${exit.signal}`;
  const log = parseRunLog(readTail(paths.failedLog), clusterName);
  if (exit.code === EXIT_OK) {
    err.write(`drover: cluster ${clusterName} was stopped before it was up (drover up pid ${pid} exited with code 0: a \`drover down\` or a signal stopped it)\n`);
    return EXIT_NODE_FAILED;
  }
  err.write(
    log.summary !== null
      ? `drover: cluster ${clusterName} failed to start (drover up pid ${pid}): ${log.summary}\n`
      : `drover: cluster ${clusterName} failed to start: the background \`drover up\` (pid ${pid}) ${how} before the cluster was up\n`,
  );
  for (const [label, error] of log.failures) err.write(`${label}: failed: ${error}\n`);
  for (const line of log.errors) err.write(`${line}\n`);
  if (log.failures.size === 0 && log.nodeOutput.length > 0) err.write(`last output of the nodes:\n${log.nodeOutput.map((line) => `  ${line}`).join('\n')}\n`);
  if (log.summary !== null) {
    const why = log.failures.size > 0 && onNodeFailure === 'stop-cluster' ? 'onNodeFailure: stop-cluster' : (log.stopReason ?? how);
    err.write(`the cluster was stopped (${why})`);
  } else {
    err.write('nothing of it is running');
  }
  const kept = existsSync(paths.failedLog) ? `; its log is kept as ${paths.failedLog}` : '';
  err.write(`${kept}\n`);
  return exit.code === EXIT_USAGE || exit.code === EXIT_INTERNAL ? exit.code : EXIT_NODE_FAILED;
}
