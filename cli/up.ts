import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../config/index.js';
import { Cluster } from '../manager/cluster.js';
import { DroverError } from '../manager/errors.js';
import { startTelemetry } from '../telemetry/index.js';
import { ClusterShutdown, formatPending } from './cluster-shutdown.js';
import { requestJson } from './control-client.js';
import { ControlServer, probeSocket, SCALED_TO_ZERO, type ClusterAnswer, type ClusterStatus } from './control-server.js';
import { EXIT_INTERRUPTED, EXIT_NODE_FAILED, EXIT_OK } from './exit-codes.js';
import { createStreamSink, getReplicaLabel, Printer, shouldUseColor, type LineSink } from './printer.js';
import { createStateDir, getStatePaths, type StatePaths } from './state-dir.js';
import { getStatusLines, StatusView } from './status-view.js';

export interface UpOptions {
  readonly file: string;
  readonly strict: boolean;
  /** Start in the background and return once every node is ready (or failed). */
  readonly detach: boolean;
  /** Prefix lines with the time they were read. */
  readonly timestamps: boolean;
  /** Live status footer when stdout is a TTY; false = plain lines even on a TTY. */
  readonly tty: boolean;
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
  if (options.detach) return runDetached(options);
  const { spec, warnings } = await loadConfig(options.file, { strict: options.strict });
  const paths = getStatePaths(options.file);
  createStateDir(paths);
  const color = shouldUseColor(process.stdout);
  const cluster = new Cluster(spec);
  const shutdown = new ClusterShutdown(cluster, spec);
  let status: ClusterStatus = 'starting';
  const view =
    options.tty && process.stdout.isTTY === true
      ? new StatusView(process.stdout, () =>
          getStatusLines({ snapshot: cluster.snapshot(), phase: status, pending: shutdown.isStopping ? shutdown.getPending() : null, now: Date.now(), color, declared: spec.nodes.map((n) => n.name) }),
        )
      : null;
  const sink: LineSink = view ?? createStreamSink(process.stdout);
  const labels = spec.nodes.flatMap((n) => Array.from({ length: Math.max(1, n.replicas) }, (_, replica) => getReplicaLabel(n.name, replica)));
  const printer = new Printer(sink, spec.nodes.map((n) => n.name), { color, timestamps: options.timestamps, labels });
  for (const warning of warnings) printer.info(`warning: ${options.file}: ${warning.path}: ${warning.message}`);

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
  const onSignal = (signal: NodeJS.Signals) => {
    if (flushingWith !== null && signal === 'SIGINT') {
      // Ctrl-C while telemetry is flushed (every node is already stopped): out at once.
      printer.info('Ctrl-C again: exiting without waiting for telemetry to flush');
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
    // The signal handlers stay while telemetry flushes: a Ctrl-C now exits at once.
    flushingWith = exitCode ?? EXIT_INTERRUPTED;
    if (killed === null) {
      // Bounded by telemetry's own shutdown timeout (5 s). An export request still open after it
      // would keep this process alive until the exporter's timeout (OTLP: 10 s by default, or
      // what OTEL_EXPORTER_OTLP_TIMEOUT says) with nothing left to do: exit then, not later.
      await telemetry.shutdown();
      const exitAs = flushingWith;
      setTimeout(() => process.exit(exitAs), LINGER_AFTER_FLUSH_MS).unref();
    } else if ((await settleWithin(telemetry.shutdown(), KILLED_FLUSH_TIMEOUT_MS)) === 'timeout') {
      // The exporter still holds a request open; do not let it keep this process alive.
      process.stderr.write(`drover: telemetry did not finish flushing within ${KILLED_FLUSH_TIMEOUT_MS / 1000} s after the second Ctrl-C; exiting without it\n`);
      process.exit(EXIT_INTERRUPTED);
    }
    for (const signal of signals) process.off(signal, onSignal);
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

/** The detached `up` writes its output here, in the state dir. */
export function getUpLogPath(paths: StatePaths): string {
  return path.join(paths.dir, 'up.log');
}

/**
 * `drover up --detach`: validates the config, starts `drover up --no-tty --timestamps` in its own
 * session with output to `<state dir>/up.log`, and returns once every node is ready (exit 0) or
 * the start settled with failed nodes (exit 2; the cluster keeps running). Prints where the state
 * lives and how to stop it.
 */
async function runDetached(options: UpOptions): Promise<number> {
  const { spec } = await loadConfig(options.file, { strict: options.strict }); // config errors: exit 1 right here
  const paths = getStatePaths(options.file);
  if ((await probeSocket(paths.socket)) === 'live') {
    throw new DroverError('ERR_CONTROL_API', `a cluster is already running for this config (control socket ${paths.socket}); see it with \`drover ps -f ${options.file}\`, stop it with \`drover down -f ${options.file}\``);
  }
  createStateDir(paths);
  const logPath = getUpLogPath(paths);
  const logFd = openSync(logPath, 'w', 0o600);
  const main = fileURLToPath(new URL('./main.js', import.meta.url));
  const args = [main, 'up', '-f', path.resolve(options.file), '--no-tty', '--timestamps', ...(options.strict ? ['--strict'] : [])];
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', logFd, logFd], env: { ...process.env, NO_COLOR: '1' } });
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
      const tail = readFileSync(logPath, 'utf8').trimEnd().split('\n').slice(-10).join('\n');
      throw new DroverError('ERR_SPAWN_FAILED', `the background \`drover up\` exited with code ${exitCode} before the cluster was up; its last output (${logPath}):\n${tail}`);
    }
    try {
      answer = await requestJson<ClusterAnswer>(paths, options.file, 'GET', '/v1/cluster');
      if (answer.pid === pid && answer.status !== 'starting') break;
    } catch (error) {
      // Not listening yet: keep waiting while the child lives.
      if (!(error instanceof DroverError)) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  process.off('SIGINT', onInterrupt);
  const replicas = answer.nodes.filter((n) => n.state !== SCALED_TO_ZERO);
  const ready = replicas.filter((n) => n.state === 'ready').length;
  const failed = replicas.filter((n) => n.state !== 'ready');
  const out = process.stdout;
  out.write(`cluster ${spec.name} is up in the background (drover up pid ${pid}): ${ready}/${replicas.length} nodes ready\n`);
  out.write(`state: ${paths.dir} (control socket ${path.basename(paths.socket)}, output log ${path.basename(logPath)})\n`);
  const f = ` -f ${options.file}`;
  for (const n of failed) out.write(`${n.name}: ${n.state}${n.error ? `: ${n.error}` : ''}\n`);
  if (failed.length > 0) {
    out.write(`the cluster keeps running; see why with \`drover logs ${failed[0]!.name}${f}\`, stop it with \`drover down${f}\`\n`);
    return EXIT_NODE_FAILED;
  }
  out.write(`see it with \`drover ps${f}\`, follow it with \`drover logs --follow${f}\`, stop it with \`drover down${f}\`\n`);
  return EXIT_OK;
}
