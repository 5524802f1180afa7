import { spawn } from 'node:child_process';
import { closeSync, constants, fstatSync, readSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../config/index.js';
import { Cluster } from '../manager/cluster.js';
import { DroverError } from '../manager/errors.js';
import { startOrphanReaping } from '../manager/orphan-reaper.js';
import { startTelemetry } from '../telemetry/index.js';
import { checkNativeBuild } from '../native/index.js';
import { ClusterShutdown, formatPending } from './cluster-shutdown.js';
import { getClientTimeoutMs, requestJson } from './control-client.js';
import { createCtrlCFilter } from './ctrl-c.js';
import { ControlServer, probeSocket, SCALED_TO_ZERO, type ClusterAnswer, type ClusterStatus } from './control-server.js';
import { EXIT_INTERRUPTED, EXIT_NODE_FAILED, EXIT_OK } from './exit-codes.js';
import { createStreamSink, getReplicaLabel, Printer, shouldUseColor, type LineSink } from './printer.js';
import { acquireStateLock, getStatePaths, openStateFile, prepareStateDir, type StatePaths } from './state-dir.js';
import { getStatusLines, StatusView } from './status-view.js';
import { UpLog } from './up-log.js';

export interface UpOptions {
  readonly file: string;
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
  const { spec, warnings } = await loadConfig(options.file, { strict: options.strict });
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
  const shutdown = new ClusterShutdown(cluster, spec);
  let status: ClusterStatus = 'starting';
  const view =
    !background && options.tty && process.stdout.isTTY === true
      ? new StatusView(process.stdout, () =>
          getStatusLines({ snapshot: cluster.snapshot(), phase: status, pending: shutdown.isStopping ? shutdown.getPending() : null, now: Date.now(), color, declared: spec.nodes.map((n) => n.name) }),
        )
      : null;
  const sink: LineSink = upLog ?? view ?? createStreamSink(process.stdout);
  const labels = spec.nodes.flatMap((n) => Array.from({ length: Math.max(1, n.replicas) }, (_, replica) => getReplicaLabel(n.name, replica)));
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
  const server = new ControlServer({
    controller: cluster,
    paths,
    fileArg: options.file,
    declaredNodes: spec.nodes.map((n) => n.name),
    getStatus: () => status,
    getLogStatus: () => upLog?.status ?? null,
    down: (timeoutMs) => beginDown('drover down', timeoutMs),
  });
  await server.listen();
  const telemetry = await startTelemetry({ controller: cluster, spec });
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
    printer.info(`starting cluster ${spec.name}: ${spec.nodes.map((n) => n.name).join(', ')} (control socket ${paths.socket})`);
    await cluster.start({ stopOnFailure: false }).then(
      () => {
        if (shutdown.isStopping) return;
        status = 'running';
        const states = cluster.snapshot().nodes;
        const ready = states.filter((n) => n.state === 'ready').length;
        const failed = states.filter((n) => n.state === 'failed').map((n) => n.name);
        const hint = failed.length > 0 ? `; failed: ${failed.join(', ')} (see \`drover logs ${failed[0]}\`)` : '';
        printer.info(`cluster ${spec.name}: ${ready}/${states.length} nodes ready${hint}`);
      },
      (error: unknown) => printer.info(`cluster ${spec.name} did not fully start: ${(error as Error).message.split('\n')[0]}`),
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
    // Every node is stopped and the socket is gone: the next `up` may start while this one
    // flushes its telemetry.
    lock.release();
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

/** Resolves 'done' when `promise` settles, or 'timeout' after `timeoutMs` (the timer is unref'd). */
function settleWithin(promise: Promise<unknown>, timeoutMs: number): Promise<'done' | 'timeout'> {
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

/** The last `maxBytes` of a file of the state dir (opened without following a symlink), as text. */
function readTail(file: string, maxBytes = 16 * 1024): string {
  const fd = openStateFile(file, constants.O_RDONLY);
  try {
    const size = fstatSync(fd).size;
    const buffer = Buffer.alloc(Math.min(size, maxBytes));
    const length = readSync(fd, buffer, 0, buffer.length, size - buffer.length);
    return buffer.subarray(0, length).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * `drover up --detach`: validates the config, prepares the state dir, then starts `drover up
 * --no-tty --timestamps` in its own session; that background `up` takes the state dir's lock and
 * writes its output to `<state dir>/up.log` (capped, rotated to `up.log.1`). Returns once every
 * node is ready (exit 0) or the start settled with failed nodes (exit 2; the cluster keeps
 * running). Prints where the state lives, how to stop it, and a warning when up.log cannot be
 * written (the cluster runs all the same).
 * @throws {DroverError} ERR_CONTROL_API when a cluster of this config runs or the state dir is
 *   refused; ERR_SPAWN_FAILED when the background `up` ends before the cluster is up.
 */
async function runDetached(options: UpOptions): Promise<number> {
  const { spec } = await loadConfig(options.file, { strict: options.strict }); // config errors: exit 1 right here
  const timeoutMs = await getClientTimeoutMs(); // a bad DROVER_CLIENT_TIMEOUT: exit 1 before anything starts
  const paths = prepareStateDir(getStatePaths(options.file));
  const attempt = await acquireStateLock(paths);
  if (attempt.lock === null) throw await getAlreadyRunningError(paths, options.file, attempt.holderPid);
  let logFd: number;
  try {
    if ((await probeSocket(paths.socket)) === 'live') {
      throw new DroverError('ERR_CONTROL_API', `a cluster is already running for this config (control socket ${paths.socket}); see it with \`drover ps -f ${options.file}\`, stop it with \`drover down -f ${options.file}\``);
    }
    // Under the lock no running cluster writes these: a fresh log for this run.
    try {
      unlinkSync(`${paths.log}.1`);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    logFd = openStateFile(paths.log, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_APPEND);
  } finally {
    // The background up takes the lock itself (an inherited lock fd would leak into every node).
    attempt.lock.release();
  }
  const logPath = paths.log;
  const main = fileURLToPath(new URL('./main.js', import.meta.url));
  const args = [main, 'up', '-f', path.resolve(options.file), '--no-tty', '--timestamps', '--background', ...(options.strict ? ['--strict'] : [])];
  // stdout: nowhere (the background up writes up.log itself); stderr: up.log, for a crash report.
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', 'ignore', logFd], env: { ...process.env, NO_COLOR: '1' } });
  closeSync(logFd);
  let exitCode: number | null = null;
  child.on('exit', (code, signal) => (exitCode = code ?? (signal === null ? 1 : 128)));
  child.unref();
  const pid = child.pid ?? 0;
  // Ctrl-C while waiting leaves the background `up` alone (it owns the cluster now) and says so.
  const onInterrupt = () => {
    process.stderr.write(`\ndrover: stopped waiting; the cluster keeps starting in the background (drover up pid ${pid}); stop it with \`drover down -f ${options.file}\`\n`);
    process.exit(EXIT_INTERRUPTED);
  };
  process.once('SIGINT', onInterrupt);
  let answer: ClusterAnswer | null = null;
  for (;;) {
    if (exitCode !== null) {
      const tail = readTail(logPath).trimEnd().split('\n').slice(-10).join('\n');
      throw new DroverError('ERR_SPAWN_FAILED', `the background \`drover up\` exited with code ${exitCode} before the cluster was up; its last output (${logPath}):\n${tail}`);
    }
    try {
      answer = await requestJson<ClusterAnswer>(paths, options.file, 'GET', '/v1/cluster', { timeoutMs });
      if (answer.pid === pid && answer.status !== 'starting') break;
    } catch (error) {
      // Not listening yet (or busy starting): keep waiting while the child lives.
      if (!(error instanceof DroverError && error.code === 'ERR_CONTROL_API')) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  process.off('SIGINT', onInterrupt);
  const replicas = answer.nodes.filter((n) => n.state !== SCALED_TO_ZERO);
  const ready = replicas.filter((n) => n.state === 'ready').length;
  const failed = replicas.filter((n) => n.state !== 'ready');
  const out = process.stdout;
  const f = ` -f ${options.file}`;
  out.write(`cluster ${spec.name} is up in the background (drover up pid ${pid}): ${ready}/${replicas.length} nodes ready\n`);
  out.write(`state: ${paths.dir} (control socket ${path.basename(paths.socket)}, output log ${path.basename(logPath)})\n`);
  const logError = answer.log?.error;
  if (logError) {
    out.write(`warning: the output log ${answer.log!.path} could not be written (${logError.code}: ${logError.message}); the cluster keeps running; read the nodes' output with \`drover logs${f}\`\n`);
  }
  for (const n of failed) out.write(`${n.name}: ${n.state}${n.error ? `: ${n.error}` : ''}\n`);
  if (failed.length > 0) {
    out.write(`the cluster keeps running; see why with \`drover logs ${failed[0]!.name}${f}\`, stop it with \`drover down${f}\`\n`);
    return EXIT_NODE_FAILED;
  }
  out.write(`see it with \`drover ps${f}\`, follow it with \`drover logs --follow${f}\`, stop it with \`drover down${f}\`\n`);
  return EXIT_OK;
}
