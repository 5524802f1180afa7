/**
 * `drover up --detach`: the process the user waits on. It starts the background `up` (cli/up.ts)
 * in a session of its own, validates the config while that one starts, hands the config over and
 * waits until that `up` says its start has settled. It loads no cluster or telemetry code: those
 * load in the background `up`.
 */
import { spawn } from 'node:child_process';
import { closeSync, constants, existsSync, fstatSync, readSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConfigIssue } from '../config/index.js';
import type { ClusterSpec } from '../contract/types.js';
import { DroverError } from '../contract/errors.js';
import { checkNativeBuild } from '../native/index.js';
import { getClientTimeoutMs } from './client-timeout.js';
import { BACKGROUND_UP_ARG, type BackgroundUpCancel, type BackgroundUpRequest } from './background-up.js';
import { probeSocket, type ClusterAnswer } from './control-protocol.js';
import { EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_NODE_FAILED, EXIT_OK, EXIT_USAGE } from './exit-codes.js';
import { formatStartSummary, getJobCodes, summarizeStart, type StartMilestone } from './start-summary.js';
import { checkSubset, getAlreadyRunningError, type StartNotice, type UpOptions } from './up-options.js';
import { acquireStateLock, getStatePaths, keepFailedLog, openStateFile, prepareStateDir, removeStateDir, type StatePaths } from './state-dir.js';

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
  /** Why the start failed as a whole (`cluster … did not fully start: why`), when it did. */
  readonly startError: string | null;
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
  let startError: string | null = null;
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
    if (body.startsWith(`cluster ${clusterName} did not fully start: `)) startError = body.slice(`cluster ${clusterName} did not fully start: `.length);
    const stopping = /^stopping cluster \S+ \((.*?)\)(;|$)/.exec(body);
    if (stopping !== null) stopReason ??= stopping[1]!;
  }
  return { summary, failures, stopReason, startError, errors: errors.slice(-10), nodeOutput: nodeOutput.slice(-10) };
}

/**
 * `drover up --detach`: prepares the state dir, starts `drover up --no-tty --timestamps` in its
 * own session, and validates the config while that one starts (Node, its imports); a config that
 * does not load cancels the background `up` (it removes the state dir and exits) before the error
 * is reported, so nothing is left. Else the background `up` gets the config on stdin, takes the
 * state dir's lock and writes its output to `<state dir>/up.log` (capped, rotated to `up.log.1`).
 * Returns once every node has started (`up -d`) or is ready and every job completed
 * (`up --wait`) (exit 0), or the start settled with failed nodes (exit 2:
 * with `onNodeFailure: continue` the background `up` keeps running, to inspect and retry; with
 * `stop-cluster` it stops the cluster and ends), or the background `up` ended before the cluster
 * was up (its exit code: 1 for a telemetry endpoint that cannot listen, say). A run that failed
 * keeps its log as `up.failed.log`, and the report says where. Prints where the state lives, how
 * to stop it, and a warning when up.log cannot be written (the cluster runs all the same).
 * @throws {DroverError} ERR_CONTROL_API when a cluster of this config runs or the state dir is
 *   refused.
 */
export async function runDetached(options: UpOptions): Promise<number> {
  checkNativeBuild(); // a broken native build: exit 1 before a background `up` or any node starts
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
  const main = fileURLToPath(new URL('./drover.js', import.meta.url));
  // Created before the background up starts, in the state dir (mode 0700: only this user connects).
  const ready = await listenForNotice(paths.readySocket);
  // `up -d` returns once every node has started, `up --wait` once every node is ready.
  const milestone: StartMilestone = options.wait === true ? 'ready' : 'started';
  // The background up starts BEFORE the config is loaded here: its Node start and imports (the
  // cluster code) overlap with loading and validating the config (yaml, zod), and it waits for
  // the config on stdin. A config that does not load cancels it before it starts anything.
  // stdout: nowhere (the background up writes up.log itself); stderr: up.log, for error messages and crash reports.
  const child = spawn(process.execPath, [main, BACKGROUND_UP_ARG], { detached: true, stdio: ['pipe', 'ignore', logFd], env: { ...process.env, NO_COLOR: '1' } });
  // A background up that dies before reading all of it is reported by its exit, below.
  child.stdin!.on('error', () => {});
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
  // Until the hand-over, giving up means telling the background up to start nothing and to
  // remove the state dir prepared above (it holds nothing else yet).
  const cancel: BackgroundUpCancel = { cancelled: { file: path.resolve(options.file) } };
  const onEarlyInterrupt = () => {
    child.stdin!.end(JSON.stringify(cancel));
    ready?.close();
    process.exit(EXIT_INTERRUPTED);
  };
  process.once('SIGINT', onEarlyInterrupt);
  let spec: ClusterSpec;
  let warnings: readonly ConfigIssue[];
  try {
    // Imported here, after the spawn: loading yaml, zod and the schema is part of what overlaps.
    const { loadConfig } = await import('../config/index.js');
    ({ spec, warnings } = await loadConfig(options.files ?? options.file, { strict: options.strict, ...(options.profiles === undefined ? {} : { profiles: options.profiles }) })); // config errors: exit 1
    checkSubset(spec, options.only);
  } catch (error) {
    process.off('SIGINT', onEarlyInterrupt);
    child.stdin!.end(JSON.stringify(cancel));
    // The error is reported once the state dir is gone: as before, nothing is left of this `up`.
    child.ref();
    await exited;
    ready?.close();
    throw error;
  }
  process.off('SIGINT', onEarlyInterrupt);
  const files = (options.files ?? [options.file]).map((file) => path.resolve(file));
  // The background up gets the config as loaded here (no second parse) and its options as JSON on stdin.
  const request: BackgroundUpRequest = {
    options: {
      file: files[0]!,
      files,
      ...(options.profiles === undefined ? {} : { profiles: options.profiles }),
      strict: options.strict,
      detach: false,
      timestamps: true,
      tty: false,
      background: true,
      ...(ready === null ? {} : { readySocket: paths.readySocket, notifyOnStarted: milestone === 'started' }),
      ...(options.only === undefined ? {} : { only: options.only }),
      ...(options.noDeps === undefined ? {} : { noDeps: options.noDeps }),
    },
    spec,
    warnings,
  };
  child.stdin!.end(JSON.stringify(request));
  // Ctrl-C while waiting leaves the background `up` alone (it owns the cluster now) and says so.
  const onInterrupt = () => {
    process.stderr.write(`\ndrover: stopped waiting; the cluster keeps starting in the background (drover up pid ${pid}); stop it with \`drover down${f}\`\n`);
    process.exit(EXIT_INTERRUPTED);
  };
  process.once('SIGINT', onInterrupt);
  let answer: ClusterAnswer | null = null;
  try {
    // The background up connects to the ready socket once every node started (for `up -d`) and
    // once its start has settled, and writes the cluster's state with the notice: that is the
    // answer. Without that socket (it could not listen), without a state that parses, or when the
    // state still says `starting` after a `settled`, ask the control API every FALLBACK_POLL_MS
    // instead, until the start settles.
    let isNotified = ready === null;
    let notice: StartNotice | null = null;
    // The cluster's state the notice carried: the first answer, without a request.
    let carried: ClusterAnswer | null = null;
    void ready?.notice.then((received) => {
      isNotified = true;
      notice = received.notice;
      carried = received.answer;
    });
    while (exit === null) {
      await Promise.race([exited, isNotified ? delay(FALLBACK_POLL_MS) : ready!.notice]);
      if (exit !== null) break;
      try {
        // The control client (and Node's http) loads only when a request is needed after all.
        answer = carried ?? (await (await import('./control-client.js')).requestJson<ClusterAnswer>(paths, options.file, 'GET', '/v1/cluster', { timeoutMs }));
        carried = null;
        if (answer.pid === pid && (answer.status !== 'starting' || notice === 'started')) break;
      } catch (error) {
        // Not listening (any more): keep waiting while the child lives.
        if (!(error instanceof DroverError && error.code === 'ERR_CONTROL_API')) throw error;
      }
      isNotified = true;
    }
  } finally {
    ready?.close();
  }
  // Stopping already (onNodeFailure: stop-cluster after a failed start, or a `drover down`), or
  // about to (`up -d` told every node started, one of them could not, and stop-cluster stops the
  // cluster once the start settles): wait for the background up to end, so that its log is kept
  // before it is reported.
  // A start that settled before the `started` notice was read is judged as settled: by readiness.
  const jobs = getJobCodes(spec);
  const summarize = (settled: ClusterAnswer) => summarizeStart(settled.nodes, jobs, settled.status === 'starting' ? milestone : 'ready');
  const stopsOnFailure = (spec.onNodeFailure ?? 'continue') === 'stop-cluster';
  const willStop = answer?.status === 'starting' && stopsOnFailure && summarize(answer).failed.length > 0;
  if (exit === null && (answer?.status === 'stopping' || willStop)) {
    child.ref(); // an unref'd child alone would let the event loop end before its exit arrives
    await exited;
  }
  process.off('SIGINT', onInterrupt);
  if (exit !== null) return reportEndedRun(spec.name, spec.onNodeFailure ?? 'continue', paths, pid, exit);

  const summary = summarize(answer!);
  const failed = summary.failed.map((n) => n.label);
  const verdict =
    failed.length === 0
      ? milestone === 'ready' ? 'is up in the background' : 'started in the background'
      : summary.ready + summary.completed === 0 ? 'failed to start in the background' : 'started in the background with failed nodes';
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
      : log.startError !== null
      ? `drover: cluster ${clusterName} failed to start (drover up pid ${pid}): ${log.startError}\n`
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

/** How often `up --detach` asks the background `up` for its state when it was not notified. */
const FALLBACK_POLL_MS = 100;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The most a notice may hold (the word and the cluster's state): more is read as a bare `settled`. */
const MAX_NOTICE_BYTES = 8 * 1024 * 1024;

/** A notice of the background `up`: the word, and the cluster's state it carried (null when it carried none that parses). */
interface ReceivedNotice {
  readonly notice: StartNotice;
  readonly answer: ClusterAnswer | null;
}

function parseNotice(text: string): ReceivedNotice {
  const newline = text.indexOf('\n');
  const word = newline === -1 ? text : text.slice(0, newline);
  const notice: StartNotice = word === 'started' ? 'started' : 'settled';
  if (newline === -1) return { notice, answer: null };
  try {
    const answer = JSON.parse(text.slice(newline + 1)) as ClusterAnswer;
    return { notice, answer: typeof answer === 'object' && answer !== null && Array.isArray(answer.nodes) ? answer : null };
  } catch {
    return { notice, answer: null };
  }
}

/**
 * Listens on `socketPath` (a stale file there is removed first) for the background `up`'s
 * notices. `notice` resolves with the first one ({@link StartNotice}: the word the connection
 * wrote before it ended, `settled` for anything else, with the cluster's state written after it);
 * `close()` stops listening and removes the socket file. Null when it cannot listen: the caller
 * polls instead.
 */
async function listenForNotice(socketPath: string): Promise<{ readonly notice: Promise<ReceivedNotice>; close(): void } | null> {
  try {
    unlinkSync(socketPath);
  } catch {
    // No stale socket: the usual case.
  }
  let onNotice!: (notice: ReceivedNotice) => void;
  const notice = new Promise<ReceivedNotice>((resolve) => (onNotice = resolve));
  const server = net.createServer((socket) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes <= MAX_NOTICE_BYTES) chunks.push(chunk);
    });
    socket.on('error', () => onNotice({ notice: 'settled', answer: null }));
    socket.on('end', () => {
      socket.destroy();
      onNotice(bytes > MAX_NOTICE_BYTES ? { notice: 'settled', answer: null } : parseNotice(Buffer.concat(chunks).toString('utf8')));
    });
  });
  const listening = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(socketPath, () => resolve(true));
  });
  if (!listening) return null;
  server.on('error', () => {});
  return {
    notice,
    close: () => {
      server.close();
      try {
        unlinkSync(socketPath);
      } catch {
        // Gone already (the background up cleaned the state dir up).
      }
    },
  };
}
