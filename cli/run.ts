import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { Cluster } from '../cluster/cluster.js';
import { loadConfig } from '../config/index.js';
import { DroverError, isDroverError } from '../contract/errors.js';
import { describeExit, getReplicaLabel } from '../contract/lifecycle.js';
import type { ClusterSpec } from '../contract/types.js';
import { checkNativeBuild } from '../native/index.js';
import { spawn, type ManagedProcess, type ProcessResult } from '../process/managed-process.js';
import { startOrphanReaping } from '../process/orphan-reaper.js';
import { normalizeOtelEnv, startTelemetry, type TelemetryHandle } from '../telemetry/index.js';
import { getProvidedCluster } from '../vitest/index.js';
import { ClusterShutdown, formatPending } from './cluster-shutdown.js';
import { requestJson } from './control-client.js';
import { createCtrlCFilter } from './ctrl-c.js';
import type { ClusterAnswer, ClusterStatus } from './control-server.js';
import { EXIT_COMMAND_NOT_RUN, EXIT_INTERRUPTED, EXIT_NODE_FAILED, EXIT_OK, EXIT_TERMINATED } from './exit-codes.js';
import { RunRecorder, writeBundle, type RunSummary } from './forensics.js';
import { createStreamSink, Printer, shouldUseColor } from './printer.js';
import { acquireStateLock, getStatePaths, prepareStateDir, type StatePaths } from './state-dir.js';
import { createControlServer, getReplicaLabels, leaveStateDir, settleWithin } from './up.js';

/** Options of {@link runRun} (`drover run`). */
export interface RunOptions {
  /** Config file (`-f`): the first one, which names the cluster. */
  readonly file: string;
  /** Every config file, merged in order (`file` first). @default [file] */
  readonly files?: readonly string[];
  /** Profiles to enable. @default DROVER_PROFILES */
  readonly profiles?: readonly string[] | undefined;
  /** CMD and its arguments (argv, no shell). Must not be empty. */
  readonly command: readonly string[];
  /** Where to write the forensic bundle, always; null: only on failure, to `./drover-artifacts/<run-id>`. */
  readonly artifacts: string | null;
  /** Keep the nodes' output and print each node's tail only when the run fails. @default false */
  readonly quiet: boolean;
  /** A node that fails while CMD runs does not fail the run. @default false */
  readonly keepGoing: boolean;
  /** Unknown config keys are errors. @default false */
  readonly strict: boolean;
  /** Prefix lines with the time they were read. @default false */
  readonly timestamps: boolean;
}

/** Grace CMD gets after its stop signal (SIGTERM, or the SIGINT `drover run` got) before SIGKILL, ms. */
export const COMMAND_STOP_TIMEOUT_MS = 10_000;

/** After CMD exited, how long `run` waits for its stdout/stderr to reach EOF (a descendant may hold them), ms. */
const COMMAND_DRAIN_TIMEOUT_MS = 2000;

/** Lines of each node's output `--quiet` prints when the run fails. */
const QUIET_TAIL_LINES = 30;

/** The default forensic bundle's parent dir, relative to the working directory. */
export const DEFAULT_ARTIFACTS_DIR = 'drover-artifacts';

/**
 * The env var of a port of replica 0: `DROVER_<NODE>_<PORT>`, node and port names upper-cased and
 * every character other than A–Z, 0–9 turned into `_` (`api-gw` port `http` → `DROVER_API_GW_HTTP`).
 */
export function getPortVariable(node: string, port: string): string {
  const part = (name: string) => name.toUpperCase().replace(/[^A-Z0-9]/g, '_');
  return `DROVER_${part(node)}_${part(port)}`;
}

/** `20261204T053012Z-3f9a1c`: UTC time to the second and 24 random bits. */
function createRunId(now = new Date()): string {
  return `${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}`;
}

/**
 * The run's own state dir: `$DROVER_STATE_DIR` when set (then one run at a time, as `up`), else
 * `<the config's state dir>-run-<run-id>` beside the state dir `up` would use, so that concurrent
 * runs of one config never share a lock or control socket.
 */
function getRunStatePaths(file: string, runId: string): StatePaths {
  const shared = getStatePaths(file);
  if (shared.source === 'DROVER_STATE_DIR') return shared;
  // The random part alone keeps the socket path short (108-byte limit).
  const dir = `${shared.dir}-run-${runId.slice(-6)}${randomBytes(2).toString('hex')}`;
  return {
    ...shared,
    dir,
    socket: path.join(dir, 'control.sock'),
    lock: path.join(dir, 'lock'),
    log: path.join(dir, 'up.log'),
    failedLog: path.join(dir, 'up.failed.log'),
    readySocket: path.join(dir, 'ready.sock'),
    ownLevels: [...shared.ownLevels.slice(0, -1), dir],
  };
}

function readOwnVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { name?: string; version?: string };
    return pkg.name === 'drover' && typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The environment CMD gets on top of drover's own: ports of replica 0, the cluster as JSON, the control socket. */
export function getCommandEnvironment(cluster: Cluster, paths: StatePaths): Record<string, string> {
  const env: Record<string, string> = {};
  for (const node of cluster.nodes()) {
    if (node.replica !== 0) continue;
    for (const [port, value] of Object.entries(node.ports)) env[getPortVariable(node.name, port)] = String(value);
  }
  env.DROVER_CLUSTER_JSON = JSON.stringify(getProvidedCluster(cluster));
  env.DROVER_CONTROL_SOCKET = paths.socket;
  // `drover ps`, `drover kill …` run by CMD find this run's cluster (its state dir is not the config's default).
  env.DROVER_STATE_DIR = paths.dir;
  return env;
}

/** Why a run failed, once known (the first reason wins). */
interface Failure {
  readonly reason: RunSummary['reason'];
  readonly detail: string;
  readonly node: string | null;
}

/**
 * `drover run [-f FILE] [--artifacts DIR] [--quiet] [--keep-going] -- CMD ARGS…`: starts the
 * cluster in this process (serving the control API as `drover up` does), waits until every node is
 * ready, runs CMD through drover's own `spawn` (a shepherd of its own: never orphaned) with
 * `DROVER_<NODE>_<PORT>`, `DROVER_CLUSTER_JSON`, `DROVER_CONTROL_SOCKET` and `DROVER_STATE_DIR` in its
 * environment, its stdout/stderr passed through (stdin is /dev/null), then stops every node and
 * returns CMD's exit code (128 + n when a signal ended it).
 *
 * Fails the run (exit {@link EXIT_NODE_FAILED}, 2) when, while CMD runs, a replica goes `failed`,
 * or `exited` without a restart coming (its restart policy will not bring it back), except a job
 * exiting with one of its success codes and a replica taken down by a crash fault: CMD is stopped
 * first (SIGTERM, {@link COMMAND_STOP_TIMEOUT_MS} grace, SIGKILL). `keepGoing` turns this off.
 * A cluster that does not start exits 2 without running CMD; SIGINT/SIGTERM stop CMD and the
 * cluster and exit 130/143. On any failure, and always with `artifacts`, writes a forensic bundle
 * ({@link writeBundle}) and prints its path to stderr.
 * @throws {DroverError} config errors (ERR_CONFIG_*), ERR_CONTROL_API (state dir refused or locked),
 *   ERR_TELEMETRY_ENDPOINT, ERR_NATIVE_LOAD — before any node starts.
 */
export async function runRun(options: RunOptions): Promise<number> {
  if (options.command.length === 0) throw new DroverError('ERR_INVALID_OPTION', 'Expected a command to run after `drover run [options] --`, got none (e.g. `drover run -- npm test`)');
  checkNativeBuild();
  /** CMD's program as messages name it (`node`, not `/usr/bin/node`). */
  const commandName = path.basename(options.command[0]!);
  const startedAt = new Date();
  const runId = createRunId(startedAt);
  const { spec, warnings } = await loadConfig(options.files ?? options.file, { strict: options.strict, ...(options.profiles === undefined ? {} : { profiles: options.profiles }) });
  const paths = prepareStateDir(getRunStatePaths(options.file, runId));
  const attempt = await acquireStateLock(paths);
  if (attempt.lock === null) {
    throw new DroverError(
      'ERR_CONTROL_API',
      `the state dir ${paths.dir} (DROVER_STATE_DIR) is in use by ${attempt.holderPid === null ? 'another drover process' : `drover pid ${attempt.holderPid}`}; unset DROVER_STATE_DIR to give each run a state dir of its own`,
    );
  }
  const lock = attempt.lock;
  lock.recordPid();
  process.stderr.on('error', () => {});
  const color = shouldUseColor(process.stdout);
  const cluster = new Cluster(spec);
  const recorder = new RunRecorder(cluster);
  // The bundle's spans: recorded whatever OTEL_* says (the SDK's in-memory exporter). Each node
  // run gets the TRACEPARENT of the last registered tracing: the exported trace's when traces are
  // exported (telemetry registers last), else the bundle's (registered after telemetry), so that
  // what a node reports itself joins the spans in spans.otlp.json.
  const { RunSpans } = await import('./forensics-spans.js');
  const isTracesExported = normalizeOtelEnv(process.env).isTracesExported;
  let spans = isTracesExported ? new RunSpans(cluster, spec) : null;
  let telemetry: TelemetryHandle;
  try {
    telemetry = await startTelemetry({ controller: cluster, spec });
  } catch (error) {
    spans?.close();
    recorder.close();
    leaveStateDir(paths, lock, EXIT_NODE_FAILED, false);
    throw error;
  }
  spans ??= new RunSpans(cluster, spec);
  const sink = createStreamSink(process.stdout);
  const printer = new Printer(sink, spec.nodes.map((n) => n.name), { color, timestamps: options.timestamps, labels: getReplicaLabels(spec) });
  const say = (text: string) => printer.info(text);
  for (const warning of warnings) say(`warning: ${options.file}: ${warning.path}: ${warning.message}`);
  try {
    startOrphanReaping();
  } catch (error) {
    say(`warning: cannot become the subreaper of the nodes' processes (${(error as Error).message}); an escaped descendant whose shepherd and launcher are both killed goes to init`);
  }
  const shutdown = new ClusterShutdown(cluster, spec);
  let status: ClusterStatus = 'starting';
  const abortStart = new AbortController();
  const server = createControlServer({
    cluster,
    spec,
    paths,
    fileArg: options.file,
    getStatus: () => status,
    getLogStatus: () => null,
    down: (timeoutMs) => {
      // `drover down` on a run: stop CMD and the cluster, as SIGTERM would (exit 143).
      interruptedBy ??= 'SIGTERM';
      fail({ reason: 'interrupted', detail: 'drover down', node: null });
      status = 'stopping';
      return shutdown.stop(timeoutMs);
    },
  });
  try {
    await server.listen();
  } catch (error) {
    spans.close();
    recorder.close();
    await telemetry.shutdown();
    leaveStateDir(paths, lock, EXIT_NODE_FAILED, false);
    throw error;
  }

  // Node lines live (or, with --quiet, only drover's own lines; the tails on failure).
  cluster.subscribe({
    wantsOutput: !options.quiet,
    onEvent: (event) => {
      if (!options.quiet) printer.event(event);
    },
  });

  let phase: 'starting' | 'command' | 'ending' = 'starting';
  let command: ManagedProcess | null = null;
  let failure: Failure | null = null;
  let interruptedBy: NodeJS.Signals | null = null;
  /** The control API's view when the run failed (`ps.json`), captured before anything is stopped. */
  let psCapture: Promise<ClusterAnswer | { error: string }> | null = null;
  const capturePs = () => {
    psCapture ??= requestJson<ClusterAnswer>(paths, options.file, 'GET', '/v1/cluster', { timeoutMs: 5000 }).catch((error: unknown) => ({ error: (error as Error).message }));
  };
  function fail(why: Failure): void {
    if (failure !== null) return;
    failure = why;
    capturePs();
    if (command !== null && command.exitResult === null) {
      // A stop signal CMD understands: the one `run` got (Ctrl-C → SIGINT), else SIGTERM.
      const signal = interruptedBy === 'SIGINT' ? 'SIGINT' : 'SIGTERM';
      say(`stopping ${commandName} (pid ${command.pid}) with ${signal}; SIGKILL after ${COMMAND_STOP_TIMEOUT_MS / 1000} s`);
      void command.stop({ signal, timeoutMs: COMMAND_STOP_TIMEOUT_MS });
    }
    // The start is aborted (its nodes stopped) once ps.json's capture has answered: it shows the
    // cluster as the failure found it, not already stopping.
    if (phase === 'starting') void psCapture!.finally(() => abortStart.abort());
  }

  // The failure rule while CMD runs.
  const jobs = new Map(spec.nodes.flatMap((n) => (n.ready?.kind === 'exit' ? [[n.name, n.ready.codes] as const] : [])));
  const crashed = new Set<string>();
  cluster.subscribe({
    wantsOutput: false,
    onEvent: (event) => {
      if (event.type === 'fault' && event.phase === 'injected' && event.fault.kind === 'crash') for (const label of event.fault.nodes) crashed.add(label);
      if (phase !== 'command' || event.type !== 'state') return;
      const label = getReplicaLabel(event.node, event.replica);
      if (event.to === 'failed') {
        const why = event.error?.message ?? (event.exit ? describeExit(event.exit) : 'failed');
        onNodeFailure(label, `node ${label} failed: ${why.split('\n')[0]}`);
      } else if (event.to === 'exited') {
        const codes = jobs.get(event.node);
        const code = event.exit?.exitCode ?? null;
        if (codes !== undefined && code !== null && codes.includes(code)) return;
        if (crashed.delete(label)) return; // a crash fault took it down on purpose
        onNodeFailure(label, `node ${label} ${event.exit ? describeExit(event.exit) : 'exited'} and its restart policy (${getRestartPolicy(spec, event.node)}) does not restart it`);
      }
    },
  });
  function onNodeFailure(label: string, detail: string): void {
    if (options.keepGoing) {
      say(`${detail} (--keep-going: the run goes on)`);
      return;
    }
    say(`${detail}: the run fails`);
    fail({ reason: 'node-failed', detail, node: label });
  }

  let signalCount = 0;
  const isNewCtrlC = createCtrlCFilter();
  const onSignal = (signal: NodeJS.Signals) => {
    // npm and npx pass the terminal's SIGINT on to drover, which got it already: one Ctrl-C, not two.
    if (signal === 'SIGINT' && !isNewCtrlC()) return;
    signalCount++;
    if (signalCount === 1) {
      interruptedBy = signal;
      say(`${signal}: stopping ${phase === 'command' ? `${commandName} and ` : ''}cluster ${spec.name}; ${signal === 'SIGINT' ? 'Ctrl-C' : 'the signal'} again to kill everything at once`);
      fail({ reason: 'interrupted', detail: `drover run received ${signal}`, node: null });
      return;
    }
    if (signalCount === 2) {
      say(`second ${signal}: SIGKILL to ${command !== null && command.exitResult === null ? `${commandName} and ` : ''}every node still running: ${formatPending(shutdown.getPending()) || 'none'}`);
      command?.kill('SIGKILL', { scope: 'group' }); // owned: a ManagedProcess drover spawned; its kill() goes through owned-signals
      void shutdown.killAll(`second ${signal}`);
      return;
    }
    say('third signal: exiting now; the shepherds reap what is left');
    process.exit(getSignalExitCode(interruptedBy ?? signal));
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const signal of signals) process.on(signal, onSignal);

  let commandResult: ProcessResult | null = null;
  let exitCode: number = EXIT_OK;
  let isDone = false;
  try {
    say(`starting cluster ${spec.name}: ${spec.nodes.map((n) => n.name).join(', ')} (run ${runId}, state dir ${paths.dir})`);
    let started = false;
    try {
      await cluster.start({ signal: abortStart.signal });
      started = true;
    } catch (error) {
      if (failure === null) {
        const first = ((error as Error).message ?? String(error)).split('\n')[0]!;
        const node = isDroverError(error) && typeof error.node === 'string' ? error.node : null;
        say(`cluster ${spec.name} failed to start: ${first}`);
        if (options.quiet) printTails(cluster, printer);
        fail({ reason: 'start-failed', detail: (error as Error).message ?? String(error), node });
      }
    }
    if (started && failure === null) {
      status = 'running';
      phase = 'command';
      say(`cluster ${spec.name} is ready; running ${options.command.join(' ')}`);
      try {
        command = await spawn(options.command, {
          stdin: 'ignore',
          stdout: 'stream',
          stderr: 'stream',
          env: getCommandEnvironment(cluster, paths),
          stop: { signal: 'SIGTERM', timeoutMs: COMMAND_STOP_TIMEOUT_MS },
          drainTimeoutMs: COMMAND_DRAIN_TIMEOUT_MS,
        });
      } catch (error) {
        const message = (error as Error).message;
        say(`cannot run ${commandName}: ${message}`);
        fail({ reason: 'command-not-run', detail: message, node: null });
      }
      if (command !== null) {
        const piped = [passThrough(command.stdout, process.stdout), passThrough(command.stderr, process.stderr)];
        // A node that failed (or a signal) while CMD was being spawned: stop it now.
        if (failure !== null) void command.stop({ signal: interruptedBy === 'SIGINT' ? 'SIGINT' : 'SIGTERM', timeoutMs: COMMAND_STOP_TIMEOUT_MS });
        commandResult = await command.exited;
        await settleWithin(Promise.all(piped), COMMAND_DRAIN_TIMEOUT_MS);
        phase = 'ending';
        if (failure === null) {
          const code = getCommandExitCode(commandResult);
          if (code !== EXIT_OK) {
            capturePs();
            failure = { reason: 'command-exited', detail: `${commandName} ${describeExit(commandResult)}`, node: null };
          }
          say(`${commandName} ${describeExit(commandResult)}`);
        } else {
          say(`${commandName} ${describeExit(commandResult)}`);
        }
      }
    }
    phase = 'ending';
    const ended = failure as Failure | null;
    exitCode =
      ended === null
        ? EXIT_OK
        : ended.reason === 'interrupted'
          ? getSignalExitCode(interruptedBy ?? 'SIGTERM')
          : ended.reason === 'command-exited'
            ? getCommandExitCode(commandResult!)
            : ended.reason === 'command-not-run'
              ? EXIT_COMMAND_NOT_RUN
              : EXIT_NODE_FAILED;
    if (ended?.reason === 'node-failed' && options.quiet) printTails(cluster, printer);
    if (ended?.reason === 'command-exited' && options.quiet) printTails(cluster, printer);

    // With --artifacts, ps.json of a run that did not fail is the cluster as CMD left it.
    if (options.artifacts !== null) capturePs();
    // The capture answers before anything is stopped.
    const captured = psCapture === null ? null : await (psCapture as Promise<ClusterAnswer | { error: string }>);
    // Tear down: a graceful stop of every node.
    status = 'stopping';
    if (!shutdown.isStopping) say(`stopping cluster ${spec.name}`);
    await shutdown.stop();
    say(`cluster ${spec.name} stopped${shutdown.isForced ? ' (forced with SIGKILL)' : ''}`);
    spans.close();
    recorder.close();

    if (ended !== null || options.artifacts !== null) {
      const dir = path.resolve(options.artifacts ?? path.join(DEFAULT_ARTIFACTS_DIR, runId));
      const { formatPsTable } = await import('./client-commands.js');
      const ps = captured === null ? null : 'error' in captured ? captured : { answer: captured, table: formatPsTable(captured, false) };
      let otlp: string | { error: string };
      try {
        otlp = await spans.toOtlpJson();
      } catch (error) {
        otlp = { error: `the spans could not be serialized: ${(error as Error).message}` };
      }
      const summary: RunSummary = {
        runId,
        droverVersion: readOwnVersion(),
        cluster: spec.name,
        configPath: path.resolve(options.file),
        stateDir: paths.dir,
        command: options.command,
        commandPid: (command as ManagedProcess | null)?.pid ?? null,
        commandExit: commandResult === null ? null : { exitCode: commandResult.exitCode, signal: commandResult.signal },
        exitCode,
        reason: ended?.reason ?? 'command-exited',
        detail: ended?.detail ?? null,
        failedNode: ended?.node ?? null,
        startedAt: startedAt.toISOString(),
        endedAt: new Date().toISOString(),
        droppedEvents: recorder.droppedEvents,
        droppedSpans: spans.dropped,
      };
      try {
        writeBundle(dir, { cluster, recorder, ps, spans: otlp, summary });
        process.stderr.write(`drover: forensic bundle of run ${runId} (exit ${exitCode}${ended === null ? '' : `, ${ended.reason}`}): ${dir}\n`);
      } catch (error) {
        process.stderr.write(`drover: could not write the forensic bundle to ${dir}: ${(error as Error).message}\n`);
      }
    }
    isDone = true;
    return exitCode;
  } finally {
    await shutdown.stop();
    spans.close();
    recorder.close();
    await server.close();
    leaveStateDir(paths, lock, exitCode, false);
    await telemetry.shutdown();
    // A bug threw: the caller reports it and sets the exit code; leave a moment for that, then
    // out (the launcher would keep the event loop alive).
    if (!isDone) setTimeout(() => process.exit(), 1000);
    // Out now, with this code: the launcher and the orphan sweeper would keep the event loop
    // alive, and a signal during Node's teardown (the shell's copy of a Ctrl-C that already
    // stopped the run) would end the process by that signal instead.
    else process.exit(exitCode);
  }
}

/** The restart policy of a node, for messages. */
function getRestartPolicy(spec: ClusterSpec, node: string): string {
  return spec.nodes.find((n) => n.name === node)?.restart.policy ?? 'unknown';
}

/** 128 + n for signal n, as shells report it: {@link EXIT_INTERRUPTED} (SIGINT), {@link EXIT_TERMINATED} (SIGTERM), 129 (SIGHUP). */
function getSignalExitCode(signal: NodeJS.Signals): number {
  if (signal === 'SIGINT') return EXIT_INTERRUPTED;
  if (signal === 'SIGTERM') return EXIT_TERMINATED;
  return 128 + ((constants.signals as Record<string, number>)[signal] ?? 0);
}

/** CMD's exit code, or 128 + n for a signal n (as shells report it). */
function getCommandExitCode(result: ProcessResult): number {
  if (result.exitCode !== null) return result.exitCode;
  if (result.signal !== null) {
    const signo = (constants.signals as Record<string, number>)[result.signal];
    if (signo !== undefined) return 128 + signo;
  }
  return EXIT_NODE_FAILED;
}

/**
 * Pipes CMD's stream to drover's own stdout/stderr, with backpressure (`pipe`), leaving the
 * destination open. When the destination goes away (EPIPE), the rest is read and dropped, so CMD
 * never blocks on a full pipe. Resolves at the stream's end.
 */
function passThrough(from: Readable | null, to: NodeJS.WritableStream): Promise<void> {
  if (from === null) return Promise.resolve();
  return new Promise((resolve) => {
    const onError = () => {
      from.unpipe(to as NodeJS.WritableStream);
      from.resume();
    };
    (to as NodeJS.WritableStream & { once(event: 'error', listener: () => void): void }).once('error', onError);
    from.once('end', resolve);
    from.once('close', resolve);
    from.once('error', () => resolve());
    from.pipe(to, { end: false });
  });
}

/** `--quiet` on failure: the last lines of every replica, prefixed as `up` prints them. */
function printTails(cluster: Cluster, printer: Printer): void {
  for (const member of cluster.nodes()) {
    const label = getReplicaLabel(member.name, member.replica);
    const lines = member.output.tail(QUIET_TAIL_LINES);
    printer.info(`last ${lines.length} lines of ${label}:`);
    for (const line of lines) printer.output(label, line.text, line.time, member.name);
  }
}
