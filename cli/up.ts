import { connect } from 'node:net';
import { unlinkSync } from 'node:fs';
import { Cluster } from '../cluster/cluster.js';
import { DroverError } from '../contract/errors.js';
import { startOrphanReaping } from '../process/orphan-reaper.js';
import type { TelemetryHandle } from '../telemetry/index.js';
import { isTelemetryRequested } from '../telemetry/otel-env.js';
import { checkNativeBuild } from '../native/index.js';
import { ClusterShutdown, formatPending } from './cluster-shutdown.js';
import { createCtrlCFilter } from './ctrl-c.js';
import { ControlServer, type ClusterAnswer, type ClusterStatus } from './control-server.js';
import type { UpLogStatus } from './up-log.js';
import type { ClusterSpec } from '../contract/types.js';
import { EXIT_INTERRUPTED, EXIT_NODE_FAILED, EXIT_OK, EXIT_USAGE } from './exit-codes.js';
import { getReplicaLabel } from '../contract/lifecycle.js';
import { createStreamSink, Printer, shouldUseColor, type LineSink } from './printer.js';
import { formatStartSummary, getJobCodes, summarizeStart, type SummaryRow } from './start-summary.js';
import { acquireStateLock, getStatePaths, keepFailedLog, prepareStateDir, removeStateDir, type StateLock, type StatePaths } from './state-dir.js';
import { getStatusLines, StatusView } from './status-view.js';
import { UpLog } from './up-log.js';
import { checkSubset, getAlreadyRunningError, type StartNotice, type UpOptions } from './up-options.js';

export type { UpOptions } from './up-options.js';

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
 * (`onNodeFailure: stop-cluster`) it exits 2. With `detach`, see `runDetached` (up-detached.ts).
 */
export async function runUp(options: UpOptions): Promise<number> {
  // A missing or partial native build (install scripts skipped, a failed build) fails here, before
  // a background `up` or any node starts, with what to run.
  checkNativeBuild();
  if (options.detach) return (await import('./up-detached.js')).runDetached(options);
  // The background `up` of `up --detach` gets the config loaded already; else (imported here: zod and yaml load only then) read it.
  const { spec, warnings } =
    options.loaded ?? (await (await import('../config/index.js')).loadConfig(options.files ?? options.file, { strict: options.strict, ...(options.profiles === undefined ? {} : { profiles: options.profiles }) }));
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
  let telemetry: Pick<TelemetryHandle, 'shutdown'>;
  try {
    telemetry = await startRequestedTelemetry(cluster, spec);
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
    const readySocket = options.readySocket;
    const onStarted = readySocket !== undefined && options.notifyOnStarted === true ? () => notify(readySocket, 'started', server.getClusterAnswer()) : undefined;
    await cluster.start({ stopOnFailure: false, ...(onStarted === undefined ? {} : { onStarted }), ...(options.only === undefined ? {} : { only: options.only, noDeps: options.noDeps === true }) }).then(
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
        // The start failed as a whole (a watch that could not be set up, no port to lease: nodes'
        // own failures do not reject it here): nothing more will start, so nothing to wait for.
        // Whatever did start is stopped and `up` exits 2, as after a node failure.
        failedNode = (error instanceof DroverError ? error.node : undefined) ?? spec.name;
        void beginDown(error instanceof DroverError && error.code === 'ERR_WATCH' ? 'a watch could not be set up' : 'the start failed');
      },
    );
    // The start has settled (status is no longer `starting`): a detaching `up` waiting on this one
    // gets the cluster's state now (if it has not already returned, told that every node started).
    if (readySocket !== undefined) notify(readySocket, 'settled', server.getClusterAnswer());
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

/**
 * The cluster's OpenTelemetry pipeline when the `OTEL_*` variables or drover.yaml's
 * `telemetry.prometheus.port` ask for any export; else a handle with nothing to shut down, and the
 * OpenTelemetry SDK is not loaded (no spans, so no `TRACEPARENT` for the nodes).
 * @throws {DroverError} as `startTelemetry` (ERR_TELEMETRY_ENDPOINT …).
 */
async function startRequestedTelemetry(cluster: Cluster, spec: ClusterSpec): Promise<Pick<TelemetryHandle, 'shutdown'>> {
  if (!isTelemetryRequested(process.env, { prometheusPort: spec.telemetry?.prometheusPort ?? null })) return { shutdown: () => Promise.resolve() };
  const { startTelemetry } = await import('../telemetry/index.js');
  return startTelemetry({ controller: cluster, spec });
}

/**
 * Tells the detaching `up` how far this background `up`'s start got ({@link StartNotice}): connects
 * to its socket, writes the notice and the cluster's state at that moment (so the detaching `up`
 * needs no request to the control API for it), and closes. Best effort: a detaching `up` that is
 * gone (Ctrl-C, or it returned on an earlier notice) is nobody to tell.
 */
function notify(socketPath: string, notice: StartNotice, answer: ClusterAnswer): void {
  const socket = connect(socketPath);
  socket.on('error', () => {});
  socket.on('connect', () => socket.end(`${notice}\n${JSON.stringify(answer)}`));
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

