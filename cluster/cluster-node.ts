import type { LinearPattern } from '../contract/pattern.js';
import { nextDelayMs } from './backoff.js';
import { DEFAULT_MIN_UPTIME_MS, MAX_LINE_BYTES } from '../contract/defaults.js';
import { describeExit, endsRun, getReplicaLabel, isFinalState } from '../contract/lifecycle.js';
import { setLongTimeout } from '../contract/long-timer.js';
import { DroverError, isDroverError } from '../contract/errors.js';
import { spawn as spawnProcess, startManagedProcess, type ManagedProcess, type ProcessResult } from '../process/managed-process.js';
import { normalizeSpawnOptions, validateDurationMs, type NormalizedSpawnOptions } from '../process/options.js';
import { OutputBuffer, type BufferedLine } from '../process/output-buffer.js';
import { getReplicaOutputPath, OutputFile } from './output-file.js';
import { delay, delayAtLeast } from './readiness/readiness-check.js';
import type { CheckEnvironment } from './readiness/ready.js';
import { isPermanentSpawnError, RestartWindow, shouldRestart } from './restart-policy.js';
import { getDroverEnv, resolveNodeSpec } from './node-templates.js';
import { allocatePorts, isAddressInUseLine, leasePorts, releasePorts } from './ports.js';
import { NodeStateMachine } from './node-state-machine.js';
import type { FaultInjection } from './fault-registry.js';
import type { NodeClock } from './clock-fault.js';
import type {
  ClusterEvent,
  DependencyCondition,
  FaultRecord,
  ExitInfo,
  NodeSnapshot,
  NodeSpec,
  NodeState,
  OutputLine,
  OutputStream,
  ProcessStats,
  ReadinessAttemptEvent,
  RestartReason,
  StopCommandReport,
  StopReport,
} from '../contract/types.js';



export interface ClusterNodeOptions {
  readonly spec: NodeSpec;
  readonly replica: number;
  readonly clusterName: string;
  /** Receives every lifecycle event of this node. */
  readonly emit: (event: ClusterEvent) => void;
  /** Extra child environment per run, asked right before each spawn (the cluster's spawn environment providers: telemetry's TRACEPARENT). */
  readonly getSpawnEnvironment?: (node: string, replica: number, run: number) => Readonly<Record<string, string>> | undefined;
  readonly clock?: () => number;
  readonly random?: () => number;
  /** Ports of replica 0 of another node, for `{{nodes.b.ports.x}}`. @default () => undefined */
  readonly peerPorts?: (node: string) => Readonly<Record<string, number>> | undefined;
  /** Period of `stopping` progress events while a stop waits, ms. @default 1000 */
  readonly stopProgressIntervalMs?: number;
  /** Whether output lines become `output` events from the start (see setOutputEvents). @default true */
  readonly outputEvents?: boolean;
  /** The cluster's fault registry: pause and crash register there. @default none (faults are not listed) */
  readonly faults?: NodeFaultSink;
  /** This replica's wall clock (clock faults); the cluster creates it. */
  readonly nodeClock?: NodeClock;
}

/** What a node needs of the cluster's fault registry (cluster/fault-registry.ts). */
export interface NodeFaultSink {
  add(injection: FaultInjection): FaultRecord;
  heal(id: string): Promise<void>;
  forget(id: string): void;
}

/** Options of {@link ClusterNode.pause}. */
export interface PauseOptions {
  /**
   * `suspend` (default): liveness probes are not run while paused, so the restart policy does not
   * fire; `keep`: they keep running, so a frozen node fails them and is restarted as a hung one
   * would be (a watchdog-style test).
   */
  readonly probes?: 'suspend' | 'keep';
  /** Who asked, shown in `drover fault ls`. @default 'api' */
  readonly by?: string;
}

/** Options of {@link ClusterNode.crash}. */
export interface CrashOptions {
  /** true (default): the restart policy applies as to any crash; false: the node stays `exited` until `start()`. */
  readonly restart?: boolean;
  /** Who asked, shown in `drover fault ls`. @default 'api' */
  readonly by?: string;
}

/** A waiter's verdict on a state: true = satisfied, an Error = can no longer be satisfied, false = keep waiting. */
type WaiterDecision = boolean | Error;

interface StateWaiter {
  readonly decide: (state: NodeState, extra: StateExtra) => WaiterDecision;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

interface StateExtra {
  readonly exit?: ExitInfo;
  readonly error?: DroverError;
}

/** Lines of output a wait failure quotes. */
const FAILURE_TAIL_LINES = 10;
/** Readiness attempts a replica keeps of its current (or last) run, for wait failures. */
const READINESS_HISTORY_LIMIT = 5;
/** Longest readiness attempt message a wait failure quotes, in characters. */
const READINESS_MESSAGE_MAX_LENGTH = 200;

/**
 * A point in a replica's history, from {@link ClusterNode.mark}: what had happened to it so far.
 * Pass it to {@link ClusterNode.restartsSince}.
 */
export interface NodeMark {
  /** Node name of the replica the mark was taken on. */
  readonly node: string;
  /** Replica index of the replica the mark was taken on. */
  readonly replica: number;
  /** Restarts of the replica when the mark was taken ({@link ClusterNode.restarts}). */
  readonly restarts: number;
  /** Run number when the mark was taken ({@link ClusterNode.run}). */
  readonly run: number;
  /** Epoch ms when the mark was taken (the cluster's clock). */
  readonly time: number;
}

function zeroStats(): ProcessStats {
  const stream = { bytes: 0, ops: 0 };
  return { stdin: stream, stdout: stream, stderr: stream, droppedLines: 0, droppedBytes: 0, bufferedBytes: 0, bufferedLines: 0 };
}

function addStats(a: ProcessStats, b: ProcessStats): ProcessStats {
  const add = (x: { bytes: number; ops: number }, y: { bytes: number; ops: number }) => ({ bytes: x.bytes + y.bytes, ops: x.ops + y.ops });
  return { ...a, stdin: add(a.stdin, b.stdin), stdout: add(a.stdout, b.stdout), stderr: add(a.stderr, b.stderr) };
}

/** `options` with `extra` variables added to the child's env (replacing same-named ones). */
function withExtraEnv(options: NormalizedSpawnOptions, extra: Readonly<Record<string, string>>): NormalizedSpawnOptions {
  const kept = options.env.filter((entry) => !Object.hasOwn(extra, entry.slice(0, entry.indexOf('='))));
  return { ...options, env: [...kept, ...Object.entries(extra).map(([key, value]) => `${key}=${value}`)] };
}

/** A signal that aborts once `process` has exited. */
function exitSignal(process: ManagedProcess): AbortSignal {
  const controller = new AbortController();
  void process.exited.then(() => controller.abort());
  return controller.signal;
}

function toExitInfo(result: ProcessResult): ExitInfo {
  const { error: _error, drainTimedOut: _drain, ...exit } = result;
  return exit;
}

/**
 * One replica of a cluster node: runs its process through restarts, readiness and stops, and
 * publishes every state change as a {@link ClusterEvent}. This is the handle
 * `cluster.node(name)` returns.
 */
export class ClusterNode {
  /** The node's name (drover.yaml `nodes.<name>`). */
  readonly name: string;
  /** Replica index, 0 to `replicas - 1`. */
  readonly replica: number;
  /** Output of every run of this node, one ring buffer across restarts. */
  readonly output: OutputBuffer;
  private portMap: Readonly<Record<string, number>> = Object.freeze({});
  /** Whether this process holds the leases of {@link portMap}'s ports. */
  private portsLeased = false;
  /** Tail of the chain of port allocations and releases: one at a time, in order. */
  private portsQueue: Promise<void> = Promise.resolve();
  /** Clock time of the current stop request while its process is being stopped, else null. */
  private stopStartedAt: number | null = null;
  /** Output sequence where a failed readiness stopped the run: the failure quotes lines before it only. */
  private failureTailEndSeq: number | null = null;
  private livenessFailed = false;
  /** Why the last liveness restart happened (shown in the restart-limit error). */
  private lastLivenessMessage: string | null = null;
  /** How the current stop's `stop.command` went (null: none ran). */
  private stopCommandReport: StopCommandReport | null = null;
  /**
   * Settles once the current stop's `stop.command` ended (its report is set): a node that exits
   * while the command still runs (redis-server before redis-cli returns) reports `stopped` after it.
   */
  private stopCommandSettled: Promise<void> | null = null;
  /** Whether the current stop sent the stop signal (false while `stop.command` works, and when it sufficed). */
  private stopSignalSent = true;
  /** argv of the current run after templates (for stop diagnostics). */
  private spawnArgv: readonly string[] | null = null;
  private readonly machine: NodeStateMachine;
  private restartCount = 0;
  private attempt = 0;
  private process: ManagedProcess | null = null;
  private lastExit: ExitInfo | null = null;
  /** Run number of `lastExit`. */
  private lastExitRun = 0;
  /** Output sequence of the current (or last) run's first line: waitForOutput looks from there. */
  private runFirstSeq = 0;
  /** The latest readiness attempts of the current (or last) run, oldest first (at most READINESS_HISTORY_LIMIT). */
  private readinessHistory: ReadinessAttemptEvent[] = [];
  private lastError: DroverError | null = null;
  private finishedStats: ProcessStats = zeroStats();
  private lifecycle: AbortController | null = null;
  private loop: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;
  private window: RestartWindow;
  private readonly waiters = new Set<StateWaiter>();
  private readonly now: () => number;
  private readonly random: () => number;
  /** The pause of the current run while `paused` (its fault record, whether probes are suspended). */
  private pauseState: { readonly faultId: string | null; readonly process: ManagedProcess } | null = null;
  /** True while liveness probes are suspended by a pause. */
  private probesSuspended = false;
  /** A pause or resume in progress (they run one at a time). */
  private freezeOp: Promise<void> = Promise.resolve();
  /** Set by `crash({ restart: false })`: the killed run ends the supervision instead of restarting. */
  private holdAfterCrash = false;
  /** The active `crash` fault of this replica, if any. */
  private crashFault: { readonly id: string; readonly restart: boolean } | null = null;
  /** Unsubscribes the `output` event emitter from the ring buffer; null while events are off. */
  private stopOutputEvents: (() => void) | null = null;

  /** @internal Created by `Cluster` only. */
  constructor(private readonly options: ClusterNodeOptions) {
    const { spec, replica } = options;
    this.name = spec.name;
    this.replica = replica;
    this.now = options.clock ?? Date.now;
    this.random = options.random ?? Math.random;
    this.machine = new NodeStateMachine(getReplicaLabel(this.name, replica), this.now);
    this.window = new RestartWindow(spec.restart.maxRestarts, spec.restart.windowMs);
    this.output = new OutputBuffer({ maxLines: spec.output.maxLines, maxBytes: spec.output.maxBytes, maxLineBytes: MAX_LINE_BYTES, clock: this.now });
    this.setOutputEvents(options.outputEvents ?? true);
    const file = spec.output.file;
    if (file !== undefined) {
      this.outputFile = new OutputFile(getReplicaOutputPath(file.path, replica), file, getReplicaLabel(this.name, replica), this.now);
      this.output.subscribe((line) => this.outputFile!.writeLine(line));
    }
  }

  /** The replica's `output.file`, or null. */
  private readonly outputFile: OutputFile | null = null;

  /** Lines `output.file` could not take (queue full, write errors); 0 without a file. @internal */
  get outputFileDroppedLines(): number {
    return this.outputFile?.droppedLines ?? 0;
  }

  /** Writes what `output.file` holds and closes it (a later line opens it again). @internal */
  closeOutputFile(): void {
    this.outputFile?.close();
  }

  /**
   * Turns `output` events on or off. Off, lines stay bytes in the ring buffer until read
   * (OutputBuffer's fast path); the cluster turns them on while someone may listen.
   * @internal
   */
  setOutputEvents(on: boolean): void {
    if (on === (this.stopOutputEvents !== null)) return;
    if (on) {
      const replica = this.replica;
      this.stopOutputEvents = this.output.subscribe((line) => this.options.emit({ type: 'output', node: this.name, replica, line }));
    } else {
      this.stopOutputEvents!();
      this.stopOutputEvents = null;
    }
  }

  /** The node's spec as configured (templates unresolved). */
  get spec(): NodeSpec {
    return this.options.spec;
  }

  /**
   * This replica's wall clock: `offset('+90s')`, `rate(2)`, `reset()` (clock faults, through
   * libfaketime; the node needs `clock: true`).
   * @throws {DroverError} ERR_UNSUPPORTED for a node created outside a cluster.
   */
  get clock(): NodeClock {
    const clock = this.options.nodeClock;
    if (clock === undefined) throw new DroverError('ERR_UNSUPPORTED', `node ${getReplicaLabel(this.name, this.replica)} has no clock control outside a cluster`, { node: this.name });
    return clock;
  }

  /** Allocated ports of this replica by name (`{}` until the cluster allocates them at start). */
  get ports(): Readonly<Record<string, number>> {
    return this.portMap;
  }

  /**
   * Allocates this replica's ports, each leased machine-wide (cluster/port-lease.ts), once; later
   * calls keep them so peers' templates stay valid. Ports released by {@link releasePorts} are
   * leased again when no other process took them meanwhile, else replaced. `force` replaces them
   * (the old leases are released once the new ones are held). Calls run one at a time.
   * @param exclude ports that must not be handed out.
   * @throws {DroverError} ERR_PORT_ALLOCATION
   * @internal
   */
  allocatePorts(options: { force?: boolean; exclude?: readonly number[] } = {}): Promise<void> {
    const run = this.portsQueue.then(() => this.allocatePortsNow(options));
    this.portsQueue = run.catch(() => undefined);
    return run;
  }

  private async allocatePortsNow(options: { force?: boolean; exclude?: readonly number[] }): Promise<void> {
    const names = this.options.spec.ports;
    if (names.length === 0) return;
    const complete = Object.keys(this.portMap).length === names.length;
    if (complete && options.force !== true) {
      if (this.portsLeased) return;
      if (await leasePorts(this.portMap, this.portOwner())) {
        this.portsLeased = true;
        return;
      }
    }
    const previous = this.portsLeased ? Object.values(this.portMap) : [];
    this.portMap = Object.freeze(await allocatePorts(names, { owner: this.portOwner(), exclude: [...(options.exclude ?? []), ...Object.values(this.portMap)] }));
    this.portsLeased = true;
    await releasePorts(previous);
  }

  /**
   * Releases this replica's port leases (the cluster does at its stop and when it scales the
   * replica away). The numbers stay in {@link ports}; the next start leases them again.
   * @internal
   */
  releasePorts(): Promise<void> {
    const run = this.portsQueue.then(async () => {
      if (!this.portsLeased) return;
      this.portsLeased = false;
      await releasePorts(Object.values(this.portMap));
    });
    this.portsQueue = run.catch(() => undefined);
    return run;
  }

  /** Who this replica's ports are for, written into their leases. */
  private portOwner(): string {
    return `${this.options.clusterName}/${this.label()}`;
  }

  /**
   * The spec with `{{…}}` filled in for this replica (ports not allocated yet stay as templates).
   * @internal users read it through `cluster.resolvedConfig()`.
   */
  resolvedSpec(): NodeSpec {
    return resolveNodeSpec(this.options.spec, {
      name: this.name,
      replica: this.replica,
      ports: this.portMap,
      peerPorts: this.options.peerPorts ?? (() => undefined),
    });
  }

  /**
   * The environment drover adds for this replica: DROVER_NODE, DROVER_REPLICA, DROVER_CLUSTER, DROVER_PORT_<NAME>.
   * @internal users read it through `cluster.resolvedConfig()` (`droverEnv`).
   */
  droverEnv(): Record<string, string> {
    return getDroverEnv(this.options.clusterName, this.name, this.replica, this.portMap);
  }

  private createSpawnOptions(spec: NodeSpec): NormalizedSpawnOptions {
    return normalizeSpawnOptions(spec.command, {
      cwd: spec.cwd,
      env: { ...spec.env, ...this.droverEnv() },
      stop: { signal: spec.stop.signal, timeoutMs: spec.stop.timeoutMs },
      output: { maxLines: spec.output.maxLines, maxBytes: spec.output.maxBytes, maxLineBytes: MAX_LINE_BYTES },
      pty: spec.pty ?? false,
      limits: spec.limits ?? {},
    });
  }

  /** Current lifecycle state. */
  get state(): NodeState {
    return this.machine.state;
  }

  /** Pid of the current run, or null. */
  get pid(): number | null {
    return this.process?.pid ?? null;
  }

  /**
   * Number of the current (or last) run: 0 before the first start, then one more at every start
   * (restarts included). State events carry it as `run`.
   */
  get run(): number {
    return this.machine.run;
  }

  /** Restarts so far (automatic and requested). */
  get restarts(): number {
    return this.restartCount;
  }

  /** The error that put the node in `failed`, or null. */
  get error(): DroverError | null {
    return this.lastError;
  }

  /** I/O counters over every run so far. */
  stats(): ProcessStats {
    const current = this.process?.stats();
    const total = current ? addStats(this.finishedStats, current) : this.finishedStats;
    return {
      ...total,
      droppedLines: this.output.droppedLines,
      droppedBytes: this.output.droppedBytes,
      bufferedLines: this.output.lineCount,
      bufferedBytes: this.output.byteCount,
    };
  }

  /** This replica as plain data (state, pid, restarts, last exit, I/O counters, ports). */
  snapshot(): NodeSnapshot {
    return {
      name: this.name,
      replica: this.replica,
      state: this.machine.state,
      pid: this.pid,
      restarts: this.restartCount,
      startedAt: this.process?.startedAt ?? null,
      stateSince: this.machine.stateSince,
      lastExit: this.lastExit,
      error: this.lastError === null ? null : `${this.lastError.code}: ${this.lastError.message}`,
      stats: this.stats(),
      ports: { ...this.portMap },
      cgroup: this.process?.cgroup ?? null,
    };
  }

  /**
   * Starts the node (no-op when it is already running) and resolves once it is `ready`.
   * @throws {DroverError} the node's error when it fails, exits or is stopped before it is ready.
   */
  async start(): Promise<void> {
    if (this.loop === null) {
      this.endCrashFault(false);
      this.lifecycle = new AbortController();
      this.stopping = null;
      this.lastError = null;
      this.attempt = 0;
      this.window = new RestartWindow(this.options.spec.restart.maxRestarts, this.options.spec.restart.windowMs);
      const loop = this.supervise(this.lifecycle.signal).finally(() => {
        if (this.loop === loop) this.loop = null;
      });
      this.loop = loop;
    }
    await this.waitUntilReady();
  }

  /**
   * Stops the node: cancels a pending restart (a stop during backoff always wins), or sends the
   * configured stop signal to its process group and SIGKILL after the timeout. Idempotent.
   */
  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopping = (async () => {
      this.lifecycle?.abort(new DroverError('ERR_STOPPED', `node ${this.name} stopped`));
      this.endCrashFault(false);
      // A paused tree is thawed first, then stopped with the normal escalation (a frozen cgroup
      // would not see the stop signal until thawed). Awaited only then: an unpaused node enters
      // `stopping` in the same tick as the request, before anything the caller publishes next.
      if (this.pauseState !== null) await this.endPause();
      const process = this.process;
      if (process !== null && process.exitResult === null) {
        this.setState('stopping');
        await this.stopWithProgress(process);
      }
      await this.loop;
      this.stopStartedAt = null;
      if (this.machine.state === 'pending') this.setState('stopped');
    })();
    return this.stopping;
  }

  private createStopReport(exit: ExitInfo): StopReport {
    const command = this.stopCommandReport;
    return {
      signal: this.stopSignalSent ? this.options.spec.stop.signal : null,
      waitedMs: this.now() - this.stopStartedAt!,
      forcedKill: exit.forcedKill,
      ...(command === null ? {} : { command }),
    };
  }

  /**
   * Runs `stop.command` (templates filled in, the node's cwd and env, through its own shepherd)
   * for at most `stop.timeout`, copies its output into the node's buffer (lines prefixed
   * `[stop.command] `), then waits for the node's exit until `stop.timeout` after `started`.
   * Returns true when the node exited; false when the signal escalation must follow (the command
   * failed, timed out, or the node still runs).
   */
  private async runStopCommand(process: ManagedProcess, started: number): Promise<boolean> {
    const { timeoutMs } = this.options.spec.stop;
    const deadline = Date.now() + timeoutMs;
    const commandStarted = Date.now();
    let settle!: () => void;
    this.stopCommandSettled = new Promise<void>((resolve) => (settle = resolve));
    const report = (outcome: StopCommandReport['outcome'], exitCode: number | null, error: string | null): void => {
      this.stopCommandReport = { outcome, exitCode, durationMs: Date.now() - commandStarted, error };
      settle();
    };
    try {
      return await this.runStopCommandNow(process, started, deadline, report);
    } finally {
      settle();
    }
  }

  private async runStopCommandNow(
    process: ManagedProcess,
    started: number,
    deadline: number,
    report: (outcome: StopCommandReport['outcome'], exitCode: number | null, error: string | null) => void,
  ): Promise<boolean> {
    const { timeoutMs } = this.options.spec.stop;
    if (process.exitResult !== null) {
      report('skipped', null, null);
      return true;
    }
    const resolved = this.resolvedSpec();
    const argv = resolved.stop.command!;
    let child: ManagedProcess;
    try {
      child = await spawnProcess(argv, {
        cwd: resolved.cwd,
        env: { ...resolved.env, ...this.droverEnv() },
        // Killed with its whole group when the stop timeout runs out: no grace of its own.
        stop: { signal: 'SIGKILL', timeoutMs: 0 },
        output: { maxLines: 100, maxBytes: 64 * 1024 },
      });
    } catch (error) {
      report('not-started', null, (error as Error).message);
      this.noteStopCommand(`could not run ${JSON.stringify(argv.join(' '))}: ${(error as Error).message}; sending ${this.options.spec.stop.signal}`);
      return false;
    }
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void child.stop();
    }, Math.max(0, deadline - Date.now()));
    let result: ProcessResult;
    try {
      result = await child.exited;
    } finally {
      clearTimeout(timer);
    }
    for (const line of child.output.tail()) this.output.write(line.stream, Buffer.from(`[stop.command] ${line.text}\n`));
    if (timedOut) {
      report('timed-out', null, null);
      this.noteStopCommand(`${JSON.stringify(argv.join(' '))} did not finish within the stop timeout (${timeoutMs} ms); killed it, sending ${this.options.spec.stop.signal}`);
      return process.exitResult !== null;
    }
    report('exited', result.exitCode, null);
    if (result.exitCode !== 0) {
      const how = result.exitCode === null ? `was killed by ${result.signal}` : `exited with code ${result.exitCode}`;
      this.noteStopCommand(`${JSON.stringify(argv.join(' '))} ${how}; sending ${this.options.spec.stop.signal}`);
      return process.exitResult !== null;
    }
    // The command asked the node to stop: give it the rest of the stop timeout to exit.
    const left = deadline - Date.now();
    if (process.exitResult === null && left > 0) {
      let wait: NodeJS.Timeout | undefined;
      await Promise.race([process.exited, new Promise<void>((resolve) => (wait = setTimeout(resolve, left)))]);
      clearTimeout(wait);
    }
    if (process.exitResult === null) this.noteStopCommand(`node still running ${this.now() - started} ms after the stop command; sending ${this.options.spec.stop.signal}`);
    return process.exitResult !== null;
  }

  /**
   * A line from drover about the stop command, in the node's output buffer (stderr), where
   * `drover logs`, the foreground `up` and the forensic bundle show it next to the node's own lines.
   */
  private noteStopCommand(text: string): void {
    this.output.write('stderr', Buffer.from(`[stop.command] drover: ${text}\n`));
  }

  /** Stops `process`, emitting a `stopping` progress event every interval while it is still alive. */
  private async stopWithProgress(process: ManagedProcess): Promise<void> {
    const { signal, timeoutMs } = this.options.spec.stop;
    const started = this.now();
    this.stopStartedAt = started;
    const intervalMs = this.options.stopProgressIntervalMs ?? 1000;
    const command = this.spawnArgv ?? this.options.spec.command;
    const timer = setInterval(() => {
      if (process.exitResult !== null) return;
      const waitedMs = this.now() - started;
      const left = Math.max(0, timeoutMs - waitedMs);
      this.options.emit({
        type: 'stopping',
        node: this.name,
        replica: this.replica,
        time: this.now(),
        pid: process.pid,
        command,
        signal,
        waitedMs,
        timeoutMs,
        message: this.stopSignalSent
          ? `node ${getReplicaLabel(this.name, this.replica)} (pid ${process.pid}: ${command.join(' ')}) still running ${waitedMs} ms after ${signal}; ${left > 0 ? `SIGKILL in ${left} ms` : 'SIGKILL sent'}`
          : `node ${getReplicaLabel(this.name, this.replica)} (pid ${process.pid}: ${command.join(' ')}) still running ${waitedMs} ms after its stop command began; ${signal} in ${left} ms at the latest`,
      });
    }, intervalMs);
    try {
      this.stopCommandReport = null;
      this.stopCommandSettled = null;
      this.stopSignalSent = false;
      if (this.options.spec.stop.command !== undefined && (await this.runStopCommand(process, started))) return;
      this.stopSignalSent = true;
      await process.stop();
    } finally {
      clearInterval(timer);
    }
  }

  /**
   * An async iterator over new output lines (from the moment of the call) until `signal` aborts.
   * @example
   * for await (const line of node.lines({ signal: AbortSignal.timeout(5000) })) if (line.text.includes('joined')) break;
   */
  async *lines(options: { signal?: AbortSignal; stream?: OutputStream | 'both' } = {}): AsyncGenerator<OutputLine, void, undefined> {
    const { signal, stream = 'both' } = options;
    const queue: OutputLine[] = [];
    let wake: (() => void) | null = null;
    const unsubscribe = this.output.subscribe((line) => {
      if (stream !== 'both' && line.stream !== stream) return;
      queue.push(line);
      wake?.();
    });
    const onAbort = () => wake?.();
    signal?.addEventListener('abort', onAbort);
    try {
      for (;;) {
        while (queue.length > 0) yield queue.shift()!;
        if (signal?.aborted) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = null;
      }
    } finally {
      unsubscribe();
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Resolves with the first output line of the current run (already buffered since the run's
   * start, or new) matching `pattern`; a line an earlier run printed never matches. Before the
   * first start, and in `backoff` between runs, the current run is the last one. The pattern runs
   * on RE2 (linear time: a line cannot stall the manager); a RegExp is translated, keeping its
   * `i`, `m` and `s` flags; backreferences and lookaround are refused.
   * @throws {DroverError} ERR_READY_TIMEOUT after `timeoutMs` (default 30000): the message names
   *   the pattern and ends with the node's facts (last output lines, last exit, the run's
   *   readiness attempts); ERR_INVALID_OPTION for a pattern RE2 cannot run or a bad `timeoutMs`.
   */
  waitForOutput(pattern: RegExp | string, options: { timeoutMs?: number; stream?: OutputStream | 'both' } = {}): Promise<OutputLine> {
    return this.waitForMatchingLine(pattern, options, 'waitForOutput');
  }

  /**
   * Same as {@link ClusterNode.waitForOutput} (same semantics, errors and defaults: the first line
   * of the current run matching `pattern`, `timeoutMs` 30000, both streams), under the name test
   * code reads best.
   * @example
   * await node.waitForLine(/listening on \d+/, { timeoutMs: 5000 });
   * @throws {DroverError} ERR_READY_TIMEOUT, ERR_INVALID_OPTION, as waitForOutput.
   */
  waitForLine(pattern: RegExp | string, options: { timeoutMs?: number; stream?: OutputStream | 'both' } = {}): Promise<OutputLine> {
    return this.waitForMatchingLine(pattern, options, 'waitForLine');
  }

  private async waitForMatchingLine(pattern: RegExp | string, options: { timeoutMs?: number; stream?: OutputStream | 'both' }, caller: string): Promise<OutputLine> {
    const { timeoutMs = 30_000, stream = 'both' } = options;
    validateDurationMs('timeoutMs', timeoutMs);
    // Loaded on first use: the pattern engine (re2js) is not on the path of a cluster's start.
    const { compileUserPattern } = await import('../contract/pattern.js');
    const compiled: LinearPattern = compileUserPattern(pattern, `${caller} pattern`);
    const matches = (line: BufferedLine) => line.seq >= this.runFirstSeq && (stream === 'both' || line.stream === stream) && compiled.test(line.text);
    const found = this.output.tail().find(matches);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setLongTimeout(() => {
        unsubscribe();
        const where = stream === 'both' ? '' : ` on ${stream}`;
        reject(new DroverError('ERR_READY_TIMEOUT', `node ${this.label()}: no output line${where} of run ${this.machine.run} matched ${compiled} within ${timeoutMs} ms (state: ${this.machine.state})\n${this.describeFacts()}`, { node: this.name }));
      }, timeoutMs);
      const unsubscribe = this.output.subscribe((line) => {
        if (!matches(line)) return;
        timer.clear();
        unsubscribe();
        resolve(line);
      });
    });
  }

  /**
   * Marks this point in the replica's history, to count what happens from here:
   * @example
   * const mark = node.mark();
   * await triggerFailover();
   * expect(node.restartsSince(mark)).toBe(1);
   */
  mark(): NodeMark {
    return { node: this.name, replica: this.replica, restarts: this.restartCount, run: this.machine.run, time: this.now() };
  }

  /**
   * Restarts (automatic and requested, as {@link ClusterNode.restarts} counts them) since `mark`.
   * @throws {DroverError} ERR_INVALID_OPTION when `mark` was taken on another replica (or is not a mark).
   */
  restartsSince(mark: NodeMark): number {
    if (mark === null || typeof mark !== 'object' || mark.node !== this.name || mark.replica !== this.replica || !Number.isSafeInteger(mark.restarts)) {
      const got = mark !== null && typeof mark === 'object' ? `a mark of ${getReplicaLabel(String(mark.node), Number(mark.replica))}` : JSON.stringify(mark);
      throw new DroverError('ERR_INVALID_OPTION', `restartsSince() of node ${this.label()} needs a mark from ${this.label()}.mark(), got ${got}`, { node: this.name });
    }
    return this.restartCount - mark.restarts;
  }

  /**
   * Resolves once this replica meets a `dependsOn` condition; rejects (ERR_DEPENDENCY_FAILED) once
   * it cannot any more (failed, stopped, or a job that exited with the wrong code). Call after
   * `start()` was invoked.
   * @internal
   */
  waitForCondition(condition: DependencyCondition): Promise<void> {
    const isSuccess = () => this.lastExit?.exitCode != null && this.successCodes().includes(this.lastExit.exitCode);
    const satisfied = (state: NodeState): boolean => {
      switch (condition) {
        case 'started':
          return state === 'running' || state === 'ready' || state === 'exited';
        case 'ready':
          return this.isJob() ? state === 'exited' && isSuccess() : state === 'ready';
        case 'completed':
          return state === 'exited';
        case 'completed-successfully':
          return state === 'exited' && isSuccess();
      }
    };
    return this.addWaiter(
      (state) => {
        if (satisfied(state)) return true;
        if (isFinalState(state)) {
          const why = state === 'exited' && this.lastExit ? describeExit(this.lastExit) : state === 'failed' && this.lastError ? `failed: ${this.lastError.message}` : state;
          return new DroverError('ERR_DEPENDENCY_FAILED', `node ${getReplicaLabel(this.name, this.replica)} did not become ${condition}: ${why}`, {
            node: this.name,
            reason: 'dependency',
            ...(this.lastError ? { cause: this.lastError } : {}),
          });
        }
        return false;
      },
      null,
      null,
    );
  }

  /** Puts a node that never started into `failed` (a dependency could not be met). @internal */
  failBeforeStart(error: DroverError): void {
    if (this.loop !== null) return;
    this.fail(error);
  }

  private isJob(): boolean {
    return this.options.spec.ready?.kind === 'exit';
  }

  /** Exit codes that count as success: the `exit` check's codes for jobs, else `restart.successExitCodes`. */
  private successCodes(): readonly number[] {
    const { ready, restart } = this.options.spec;
    return ready?.kind === 'exit' ? ready.codes : restart.successExitCodes;
  }

  /** Stops (if running) and starts again; counts as a restart with reason `manual`. */
  async restart(): Promise<void> {
    await this.restartWithReason('manual');
  }

  /** Like restart(), with reason `watch` (a watched file changed): at once, no backoff. @internal */
  async restartForWatch(): Promise<void> {
    await this.restartWithReason('watch');
  }

  private async restartWithReason(reason: 'manual' | 'watch'): Promise<void> {
    // The restart operation begins with the request, so `restarting` comes before the stop.
    this.restartCount++;
    this.options.emit({ type: 'restarting', node: this.name, replica: this.replica, time: this.now(), attempt: this.restartCount, delayMs: 0, reason });
    await this.stop();
    await this.start();
  }

  /**
   * Sends a signal to the current run (fault injection: `kill('SIGKILL')` triggers the restart
   * policy like a crash). Returns false when nothing runs.
   */
  kill(signal: string | number = 'SIGTERM', options: { scope?: 'leader' | 'group' } = {}): boolean {
    return this.process?.kill(signal, options) ?? false;
  }

  /**
   * Freezes the node's whole process tree (`setsid` daemons included): with a cgroup leaf
   * (`snapshot().cgroup`) through the cgroup v2 freezer, else through the shepherd, which SIGSTOPs
   * the process group and every descendant it reaps. Resolves once every process is frozen; the
   * node is then `paused`. Its clients time out (the kernel still accepts TCP connections into
   * the listen backlog, but nothing answers). While paused, liveness probes are suspended (unless
   * `probes: 'keep'`), so the restart policy does not fire. Registers a `pause` fault (healing it
   * resumes). `stop()` of a paused node thaws it and stops it normally; `crash()` kills it.
   * Pausing a paused node is a no-op.
   * @throws {DroverError} ERR_ILLEGAL_TRANSITION when the node is not `ready` (a run still waiting
   *   for its readiness check cannot be paused); ERR_INVALID_OPTION for a bad `probes`;
   *   ERR_UNSUPPORTED when the tree did not freeze in time (the pause is undone).
   */
  pause(options: PauseOptions = {}): Promise<void> {
    const { probes = 'suspend', by } = options;
    if (probes !== 'suspend' && probes !== 'keep') {
      return Promise.reject(new DroverError('ERR_INVALID_OPTION', `Expected \`probes\` to be 'suspend' or 'keep', got ${JSON.stringify(probes)}`, { node: this.name }));
    }
    return this.serializeFreeze(async () => {
      if (this.machine.state === 'paused') return;
      const process = this.process;
      if (this.machine.state !== 'ready' || process === null) {
        throw new DroverError('ERR_ILLEGAL_TRANSITION', `node ${this.label()} is ${this.machine.state}: only a ready node can be paused`, { node: this.name });
      }
      this.probesSuspended = probes === 'suspend';
      let frozen: boolean;
      try {
        frozen = await process.pause();
      } catch (error) {
        this.probesSuspended = false;
        await process.resume().catch(() => undefined); // thaw what did freeze
        throw error;
      }
      if (!frozen || this.process !== process || this.machine.state !== 'ready') {
        // The run ended or a stop began while freezing: leave nothing frozen behind.
        this.probesSuspended = false;
        if (frozen) await process.resume().catch(() => undefined);
        return;
      }
      this.setState('paused');
      const label = this.label();
      const record = this.options.faults?.add({
        kind: 'pause',
        nodes: [label],
        detail: `${label} (pid ${process.pid}) frozen ${process.cgroup !== null ? 'by its cgroup' : 'by SIGSTOP'}; probes ${probes === 'keep' ? 'kept' : 'suspended'}`,
        ...(by === undefined ? {} : { by }),
        heal: () => this.thaw(process),
      });
      this.pauseState = { faultId: record?.id ?? null, process };
    });
  }

  /**
   * Thaws a paused node: its tree continues, probes resume, and the node is `ready` again (the
   * state it was paused in). Heals its `pause` fault. A no-op when the node is not paused.
   * @throws {DroverError} ERR_UNSUPPORTED when the tree did not thaw in time.
   */
  async resume(): Promise<void> {
    const pause = this.pauseState;
    if (pause === null) return;
    if (pause.faultId !== null && this.options.faults !== undefined) await this.options.faults.heal(pause.faultId);
    else await this.thaw(pause.process);
  }

  /**
   * Fault injection: SIGKILLs the node's whole tree through its shepherd (cgroup.kill where there
   * is a cgroup, the frozen walk of its descendants, the process group), as a crash would. With
   * `restart: true` (default) the restart policy applies as to any crash; with `restart: false` the
   * node stays `exited` until `start()`. Resolves once the killed run has ended (state `backoff`,
   * `exited` or `failed`), before any next run starts, so awaiting the next run is race-free:
   * @example
   * await node.crash();
   * await node.waitFor('ready', { run: 'next' });
   * Registers a `crash` fault: with restart, it heals itself when the next run is ready (or the node
   * ends for good); without, it stays active until `start()` (healing it starts the node).
   * A paused node is crashed too (SIGKILL reaches a frozen tree; its pause ends).
   * @throws {DroverError} ERR_ILLEGAL_TRANSITION when no run is live (`pending`, `starting`, `stopping`, final states, `backoff`).
   */
  async crash(options: CrashOptions = {}): Promise<void> {
    const { restart = true, by } = options;
    if (typeof restart !== 'boolean') throw new DroverError('ERR_INVALID_OPTION', `Expected \`restart\` to be a boolean, got ${JSON.stringify(restart)}`, { node: this.name });
    const process = this.process;
    const state = this.machine.state;
    if (process === null || process.exitResult !== null || !(state === 'running' || state === 'ready' || state === 'paused')) {
      throw new DroverError('ERR_ILLEGAL_TRANSITION', `node ${this.label()} is ${state}: nothing runs to crash`, { node: this.name });
    }
    this.endCrashFault(false);
    const label = this.label();
    const record = this.options.faults?.add({
      kind: 'crash',
      nodes: [label],
      detail: `${label} (pid ${process.pid}) tree killed by SIGKILL; ${restart ? 'restart policy applies' : 'kept down until start()'}`,
      ...(by === undefined ? {} : { by }),
      heal: restart ? () => undefined : () => this.start(),
    });
    if (record !== undefined) this.crashFault = { id: record.id, restart };
    this.holdAfterCrash = !restart;
    const ended = this.addWaiter((s) => endsRun(s), null, null);
    // Through the shepherd's STOP with SIGKILL: no grace, the whole tree at once.
    void process.stop({ signal: 'SIGKILL', timeoutMs: 0 });
    await ended;
    if (!restart) await this.loop; // the supervision has ended: start() begins a new one
  }

  private label(): string {
    return getReplicaLabel(this.name, this.replica);
  }

  /** Runs pause/resume steps one at a time, so a resume never races the freeze it undoes. */
  private serializeFreeze(step: () => Promise<void>): Promise<void> {
    const next = this.freezeOp.then(step);
    this.freezeOp = next.catch(() => undefined);
    return next;
  }

  /** The heal action of a `pause` fault: thaws the tree and returns the node to `ready`. */
  private thaw(process: ManagedProcess): Promise<void> {
    return this.serializeFreeze(async () => {
      if (this.pauseState?.process !== process) return; // ended (stopped, crashed, exited) already
      await process.resume();
      this.pauseState = null;
      this.probesSuspended = false;
      if (this.machine.state === 'paused') this.setState('ready');
    });
  }

  /** Ends a pause because the run is being stopped or killed: thaws the tree and forgets the fault. */
  private async endPause(): Promise<void> {
    const pause = this.pauseState;
    if (pause === null) return;
    this.forgetPause();
    await pause.process.resume().catch(() => undefined); // gone already: nothing to thaw
  }

  /** Forgets the pause fault of a run that ended (published as healed). */
  private forgetPause(): void {
    const pause = this.pauseState;
    this.pauseState = null;
    this.probesSuspended = false;
    if (pause?.faultId != null) this.options.faults?.forget(pause.faultId);
  }

  /** Ends the active `crash` fault: healed (its heal action is a no-op for a restarting crash) or forgotten. */
  private endCrashFault(heal: boolean): void {
    const fault = this.crashFault;
    if (fault === null) return;
    this.crashFault = null;
    if (heal) void this.options.faults?.heal(fault.id);
    else this.options.faults?.forget(fault.id);
  }

  /**
   * Resolves once the node is in `state`. With `run: 'next'` only a later run counts (the state of
   * the run that is current at the call does not), so a test can crash or restart a node and
   * await its next run without a race:
   * @example
   * node.kill('SIGKILL');
   * await node.waitFor('ready', { run: 'next' }); // the restarted run, not the one just killed
   * With `run: n`, only run number `n` counts (see {@link ClusterNode.run}).
   * @throws {DroverError} ERR_READY_TIMEOUT after `timeoutMs` (default 30000), naming the last
   *   state and run, and ending with the node's facts (last output lines, last exit, the run's
   *   readiness attempts); ERR_INVALID_OPTION for a bad `timeoutMs` or `run`.
   */
  waitFor(state: NodeState, options: { timeoutMs?: number; run?: 'current' | 'next' | number } = {}): Promise<void> {
    const { timeoutMs = 30_000, run = 'current' } = options;
    try {
      validateDurationMs('timeoutMs', timeoutMs);
      if (run !== 'current' && run !== 'next' && !(Number.isSafeInteger(run) && run >= 1)) {
        throw new DroverError('ERR_INVALID_OPTION', `Expected \`run\` to be 'current', 'next' or a run number ≥ 1, got ${JSON.stringify(run)} (${typeof run})`, { node: this.name });
      }
    } catch (error) {
      return Promise.reject(error);
    }
    const callRun = this.machine.run;
    const isRunWanted = () => (run === 'current' ? true : run === 'next' ? this.machine.run > callRun : this.machine.run === run);
    const which = run === 'current' ? '' : run === 'next' ? ` in a run after run ${callRun}` : ` in run ${run}`;
    return this.addWaiter((s) => s === state && isRunWanted(), timeoutMs, () =>
      new DroverError('ERR_READY_TIMEOUT', `node ${this.label()} not ${state}${which} after ${timeoutMs} ms (state: ${this.machine.state}, run ${this.machine.run})\n${this.describeFacts()}`, { node: this.name }),
    );
  }

  /** Ready, or for a job (`ready: { exit }`) exited with an expected code; rejects once that cannot happen in this run. */
  private waitUntilReady(): Promise<void> {
    return this.addWaiter(
      (state, extra) => {
        if (this.isJob()) {
          if (state === 'exited') {
            const code = this.lastExit?.exitCode;
            if (code != null && this.successCodes().includes(code)) return true;
            return this.describeFailure(state, extra, `expected exit code ${this.successCodes().join(' or ')}`);
          }
        } else if (state === 'ready') {
          return true;
        }
        if (isFinalState(state)) return this.describeFailure(state, extra);
        return false;
      },
      null,
      null,
    );
  }

  private addWaiter(decide: (state: NodeState, extra: StateExtra) => WaiterDecision, timeoutMs: number | null, onTimeout: (() => DroverError) | null): Promise<void> {
    const initial = decide(this.machine.state, {});
    if (initial === true) return Promise.resolve();
    if (initial instanceof Error && this.loop === null) return Promise.reject(initial);
    return new Promise<void>((resolve, reject) => {
      const timer = timeoutMs === null ? undefined : setLongTimeout(() => {
        this.waiters.delete(waiter);
        reject(onTimeout?.());
      }, timeoutMs);
      const waiter: StateWaiter = {
        decide,
        resolve: () => {
          timer?.clear();
          resolve();
        },
        reject: (error) => {
          timer?.clear();
          reject(error);
        },
      };
      this.waiters.add(waiter);
    });
  }

  /** The one choke point of state changes: checks the transition, stamps the time, publishes. */
  private setState(to: NodeState, extra: StateExtra = {}): void {
    const transition = this.machine.transition(to);
    if (transition === null) return;
    const { from, time, run } = transition;
    const event: ClusterEvent = {
      type: 'state',
      node: this.name,
      replica: this.replica,
      from,
      to,
      time,
      pid: this.pid,
      run,
      ...(extra.exit ? { exit: extra.exit } : {}),
      ...(extra.error ? { error: { code: extra.error.code, message: extra.error.message } } : {}),
      ...(to === 'stopped' && this.stopStartedAt !== null && extra.exit ? { stop: this.createStopReport(extra.exit) } : {}),
    };
    if (to === 'stopped') this.stopStartedAt = null;
    this.options.emit(event);
    // A crash with restart is over once the next run is ready, or once the node ended for good.
    if (this.crashFault?.restart === true && (to === 'ready' || isFinalState(to))) this.endCrashFault(true);
    for (const waiter of [...this.waiters]) {
      const decision = waiter.decide(to, extra);
      if (decision === false) continue;
      this.waiters.delete(waiter);
      if (decision === true) waiter.resolve();
      else waiter.reject(decision);
    }
  }

  private describeFailure(state: NodeState, extra: StateExtra, expectation?: string): DroverError {
    const endSeq = this.failureTailEndSeq ?? Infinity;
    const own = this.output.tail().filter((l) => l.seq < endSeq);
    const stderrTail = own
      .filter((l) => l.stream === 'stderr')
      .slice(-10)
      .map((l) => l.text)
      .join('\n');
    const cause = extra.error;
    const what = `${cause ? cause.message : extra.exit ? describeExit(extra.exit) : state}${expectation === undefined ? '' : ` (${expectation})`}`;
    // The headline already names an exit that ended the run; the facts add it only otherwise.
    const facts = this.describeFacts({ tail: own, exit: cause !== undefined || extra.exit === undefined });
    const message = `node ${this.name} ${state === 'stopped' ? 'was stopped' : state === 'failed' ? 'failed' : 'exited'} before it was ready: ${what}\n${facts}`;
    return new DroverError(cause?.code ?? (state === 'stopped' ? 'ERR_STOPPED' : 'ERR_PROCESS_EXITED'), message, {
      node: this.name,
      reason: cause?.reason ?? state,
      exitCode: extra.exit?.exitCode ?? null,
      signal: extra.exit?.signal ?? null,
      stderrTail,
      ...(cause?.errno === undefined ? {} : { errno: cause.errno }),
      ...(cause?.path === undefined ? {} : { path: cause.path }),
      cause,
    });
  }

  /**
   * The facts every wait failure of this replica ends with (waitFor, waitForOutput/waitForLine,
   * a start that never became ready), one per line: its last output lines (`tail`: those to quote,
   * default the whole buffer; the last FAILURE_TAIL_LINES are shown), its last exit
   * (`describeExit`, with the run it ended; left out with `exit: false`), and the readiness
   * attempts of its current or last run (the last READINESS_HISTORY_LIMIT, with what each saw).
   */
  private describeFacts(options: { tail?: readonly BufferedLine[]; exit?: boolean } = {}): string {
    const tail = (options.tail ?? this.output.tail()).slice(-FAILURE_TAIL_LINES);
    const facts = [tail.length === 0 ? 'last output: none' : `last output:\n${tail.map((l) => `  ${l.stream}: ${l.text}`).join('\n')}`];
    if (options.exit !== false) facts.push(`last exit: ${this.lastExit === null ? 'none (no run has ended)' : `${describeExit(this.lastExit)} (run ${this.lastExitRun})`}`);
    facts.push(this.describeReadiness());
    return facts.join('\n');
  }

  /** The readiness part of {@link describeFacts}: the check, and the last attempts with what each saw. */
  private describeReadiness(): string {
    const spec = this.options.spec;
    if (spec.ready === null) return `readiness: no check (ready once up ${spec.minUptimeMs ?? DEFAULT_MIN_UPTIME_MS} ms)`;
    const history = this.readinessHistory;
    if (history.length === 0) return `readiness attempts: none${this.machine.run === 0 ? '' : ` in run ${this.machine.run}`}`;
    const last = history[history.length - 1]!;
    const shown = history.length < last.attempt ? `last ${history.length} of ${last.attempt}` : `${last.attempt}`;
    const lines = history.map((a) => {
      const message = a.message === null ? '' : `: ${a.message.length > READINESS_MESSAGE_MAX_LENGTH ? `${a.message.slice(0, READINESS_MESSAGE_MAX_LENGTH - 1)}…` : a.message}`;
      return `  #${a.attempt} ${a.kind} ${a.ok ? 'ok' : 'not ready'}${message}`;
    });
    return `readiness attempts (run ${last.run}, ${shown}):\n${lines.join('\n')}`;
  }

  private fail(error: DroverError, exit?: ExitInfo): void {
    this.lastError = error;
    this.setState('failed', exit ? { error, exit } : { error });
  }

  /** Runs until the node is stopped, exits for good, or fails. */
  private async supervise(signal: AbortSignal): Promise<void> {
    const { restart } = this.options.spec;
    for (;;) {
      if (signal.aborted) {
        this.setState('stopped');
        return;
      }
      this.setState('starting');
      this.failureTailEndSeq = null;
      const firstSeq = this.output.nextSequence;
      this.runFirstSeq = firstSeq;
      this.readinessHistory = [];
      let process: ManagedProcess;
      let spec: NodeSpec;
      try {
        await this.allocatePorts();
        spec = this.resolvedSpec();
        const spawnOptions = this.createSpawnOptions(spec);
        this.spawnArgv = spawnOptions.argv;
        const extraEnv = this.options.getSpawnEnvironment?.(this.name, this.replica, this.machine.run);
        process = await startManagedProcess(extraEnv ? withExtraEnv(spawnOptions, extraEnv) : spawnOptions, this.output);
      } catch (error) {
        const droverError = isDroverError(error) ? error : new DroverError('ERR_SPAWN_FAILED', String(error), { cause: error });
        if (isPermanentSpawnError(droverError) || !shouldRestart(restart.policy, { exitCode: null })) {
          this.fail(new DroverError(droverError.code, droverError.message, { node: this.name, errno: droverError.errno, path: droverError.path, cause: error }));
          return;
        }
        if (!(await this.backoff(signal, 'crashed', undefined, droverError))) return;
        continue;
      }
      this.process = process;
      this.livenessFailed = false;
      this.setState('running');
      if (signal.aborted) void process.stop();
      const readyError = await this.awaitReadiness(process, spec, firstSeq, signal);
      if (readyError !== null) {
        // Stop the process before reporting, so a failed start leaves nothing running. The output
        // quoted in the failure ends here: what the node says once stopped (its SIGTERM handler's
        // goodbye) is its answer to drover, not why it failed.
        this.failureTailEndSeq = this.output.nextSequence;
        await process.stop();
        this.collect(process);
        this.fail(readyError, this.lastExit ?? undefined);
        return;
      }
      const liveness = new AbortController();
      if (spec.liveness !== null && this.machine.state === 'ready') void this.watchLiveness(process, spec, liveness.signal);
      const result = await process.exited;
      liveness.abort();
      this.forgetPause();
      if (signal.aborted && this.stopCommandSettled !== null) await this.stopCommandSettled; // bounded by stop.timeout
      const exit = this.collect(process);
      if (signal.aborted) {
        this.setState('stopped', { exit });
        return;
      }
      if (this.holdAfterCrash) {
        // crash({ restart: false }): the node stays down until start().
        this.holdAfterCrash = false;
        this.setState('exited', { exit });
        return;
      }
      if (result.durationMs >= restart.stableAfterMs) this.attempt = 0; // a stable run starts the backoff over
      const livenessRestart = this.livenessFailed && restart.policy !== 'no';
      if (!livenessRestart && (restart.policy === 'no' || (result.error === null && !shouldRestart(restart.policy, result, this.successCodes())))) {
        // policy `no` ends the node whatever ended the run: a lost shepherd fails it with that error.
        if (result.error !== null) this.fail(result.error, exit);
        else this.setState('exited', { exit });
        return;
      }
      await this.reallocatePortsIfInUse(firstSeq);
      const reason: RestartReason = result.error?.code === 'ERR_SHEPHERD_LOST' ? 'shepherd-lost' : result.exitCode === 0 && !livenessRestart ? 'exited' : 'crashed';
      if (!(await this.backoff(signal, reason, exit, result.error ?? undefined, livenessRestart ? 'liveness' : undefined))) return;
    }
  }

  /** A run that died saying EADDRINUSE gets fresh ports before its relaunch (someone else took them). */
  private async reallocatePortsIfInUse(firstSeq: number): Promise<void> {
    if (this.options.spec.ports.length === 0) return;
    const lines = this.output.tail().filter((line) => line.seq >= firstSeq);
    if (lines.some((line) => isAddressInUseLine(line.text))) await this.allocatePorts({ force: true });
  }

  /**
   * Probes `spec.liveness` every interval after ready; `failureThreshold` failures in a row stop the
   * process, and the supervisor restarts it (unless the policy is `no`).
   */
  private async watchLiveness(process: ManagedProcess, spec: NodeSpec, signal: AbortSignal): Promise<void> {
    const liveness = spec.liveness!;
    const { Ready } = await loadReadiness();
    const check = Ready.fromSpec(liveness.check, this.checkEnvironment(spec, process));
    let failures = 0;
    try {
      await delay(liveness.check.initialDelayMs, signal);
      for (;;) {
        await delay(liveness.check.intervalMs, signal);
        if (this.probesSuspended) {
          failures = 0;
          continue;
        }
        const ok = (await check.probe?.(signal, liveness.check.timeoutMs)) ?? true;
        // A probe that was in flight when a pause suspended the probes does not count.
        failures = this.probesSuspended ? 0 : ok ? 0 : failures + 1;
        if (failures >= liveness.failureThreshold) {
          this.livenessFailed = true;
          this.lastLivenessMessage = `liveness ${check.describe()} failed ${failures} times in a row (last: ${check.lastSeen() ?? 'no answer'})`;
          if (this.pauseState !== null) await this.endPause(); // a paused node that kept its probes is thawed, then stopped
          await process.stop();
          return;
        }
      }
    } catch {
      // Aborted: the run ended (or the node is stopping); the probe loop just ends with it.
    }
  }

  /** What this run's checks see: the node's cwd and env, and for `owned` tcp checks its ports and process tree. */
  private checkEnvironment(spec: NodeSpec, process: ManagedProcess): CheckEnvironment {
    return {
      cwd: spec.cwd,
      env: { ...spec.env, ...this.droverEnv() },
      node: {
        label: this.label(),
        ports: this.portMap,
        tree: () => (process.exitResult === null ? { node: this.name, pid: process.pid, cgroup: process.cgroup ?? null } : null),
      },
    };
  }

  /** Returns null when ready (or when the process ended first: the exit path handles it). */
  private async awaitReadiness(process: ManagedProcess, nodeSpec: NodeSpec, firstSeq: number, signal: AbortSignal): Promise<DroverError | null> {
    const spec = nodeSpec.ready;
    if (spec === null) {
      // No check: ready once it has stayed up minUptimeMs (a crash-looping node never shows ready).
      // The wait ends early, its timer cleared, when the run exits or the node is stopped.
      const uptime = AbortSignal.any([signal, exitSignal(process)]);
      try {
        await delayAtLeast(nodeSpec.minUptimeMs ?? DEFAULT_MIN_UPTIME_MS, uptime);
      } catch {
        return null; // exited or stopped meanwhile: the exit or stop path reports it
      }
      if (process.exitResult === null && !signal.aborted) this.setState('ready');
      return null;
    }
    try {
      const { Ready, waitForReady } = await loadReadiness();
      await waitForReady(
        Ready.fromSpec(spec, this.checkEnvironment(nodeSpec, process)),
        {
          tail: () => this.output.tail().filter((l) => l.seq >= firstSeq),
          subscribe: (listener) => this.output.subscribe(listener),
          onAttempt: ({ kind, ok, message }, attempt) => {
            const event: ReadinessAttemptEvent = { type: 'readiness', node: this.name, replica: this.replica, run: this.machine.run, time: this.now(), attempt, ok, kind, message };
            this.readinessHistory.push(event);
            if (this.readinessHistory.length > READINESS_HISTORY_LIMIT) this.readinessHistory.shift();
            this.options.emit(event);
          },
        },
        process.exited,
        signal,
        this.now,
      );
      this.setState('ready');
      return null;
    } catch (error) {
      if (isDroverError(error, 'ERR_READY_TIMEOUT')) {
        return new DroverError('ERR_READY_TIMEOUT', `node ${this.name}: ${error.message}`, { node: this.name, reason: 'ready-timeout', pid: process.pid, cause: error });
      }
      if (isDroverError(error, 'ERR_PROCESS_EXITED') || isDroverError(error, 'ERR_STOPPED')) return null;
      throw error;
    }
  }

  private collect(process: ManagedProcess): ExitInfo | undefined {
    this.finishedStats = addStats(this.finishedStats, process.stats());
    this.process = null;
    const result = process.exitResult;
    if (result === null) return undefined;
    this.lastExit = toExitInfo(result);
    this.lastExitRun = this.machine.run;
    return this.lastExit;
  }

  /** Waits the backoff delay; returns false when the node ended instead (failed or stopped). */
  private async backoff(signal: AbortSignal, reason: RestartReason, exit: ExitInfo | undefined, cause: DroverError | undefined, why?: 'liveness'): Promise<boolean> {
    const { restart } = this.options.spec;
    if (!this.window.tryRecord(this.now())) {
      const what = `${exit ? describeExit(exit) : cause?.message ?? 'failed'}${this.livenessFailed && this.lastLivenessMessage ? ` after ${this.lastLivenessMessage}` : ''}`;
      this.fail(
        new DroverError('ERR_RESTART_LIMIT', `node ${this.name} restarted more than ${restart.maxRestarts} times in ${restart.windowMs} ms; last run ${what}`, {
          node: this.name,
          reason: 'restart-limit',
          exitCode: exit?.exitCode ?? null,
          signal: exit?.signal ?? null,
          cause,
        }),
        exit,
      );
      return false;
    }
    this.attempt++;
    this.restartCount++;
    const delayMs = nextDelayMs(this.attempt, restart.backoff, this.random);
    this.options.emit({ type: 'restarting', node: this.name, replica: this.replica, time: this.now(), attempt: this.attempt, delayMs, reason, ...(why ? { cause: why } : {}) });
    this.setState('backoff', { ...(exit ? { exit } : {}), ...(cause ? { error: cause } : {}) });
    try {
      await delay(delayMs, signal);
      return true;
    } catch {
      // Aborted by stop(): a stop during backoff wins over the relaunch.
      this.setState('stopped');
      return false;
    }
  }
}

let readiness: Promise<typeof import('./readiness/ready.js')> | null = null;

/** The readiness checks, loaded on the first run that has a `ready` or `liveness` check (not on the path of `spawn` or of a node without one). */
function loadReadiness(): Promise<typeof import('./readiness/ready.js')> {
  readiness ??= import('./readiness/ready.js');
  return readiness;
}
