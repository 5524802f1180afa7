import { nextDelayMs } from './backoff.js';
import { DroverError, isDroverError } from './errors.js';
import { describeExit, startManagedProcess, type ManagedProcess, type ProcessResult } from './managed-process.js';
import { normalizeSpawnOptions, type NormalizedSpawnOptions } from './options.js';
import { OutputBuffer, type BufferedLine } from './output-buffer.js';
import { delay } from './readiness/readiness-check.js';
import { Ready, waitForReady } from './readiness/ready.js';
import { RestartWindow, shouldRestart } from './restart-policy.js';
import type { ClusterEvent, ExitInfo, NodeSnapshot, NodeSpec, NodeState, ProcessStats, RestartReason } from './types.js';

/** Allowed state transitions (one choke point: {@link ClusterNode.setState}). */
const TRANSITIONS: Readonly<Record<NodeState, readonly NodeState[]>> = {
  pending: ['starting', 'stopped'],
  starting: ['running', 'backoff', 'failed', 'stopped', 'exited'],
  running: ['ready', 'stopping', 'backoff', 'exited', 'failed', 'stopped'],
  ready: ['stopping', 'backoff', 'exited', 'failed', 'stopped'],
  stopping: ['stopped', 'failed'],
  backoff: ['starting', 'stopped', 'failed'],
  stopped: ['starting'],
  exited: ['starting', 'stopped'],
  failed: ['starting', 'stopped'],
};

/** Spawn errors that no retry can fix: the node fails at once (DESIGN.md "CLI contract"). */
const PERMANENT_SPAWN_ERRORS = new Set(['ERR_COMMAND_NOT_FOUND', 'ERR_PERMISSION_DENIED', 'ERR_CWD', 'ERR_NATIVE_LOAD', 'ERR_INVALID_OPTION']);

const MAX_LINE_BYTES = 64 * 1024;

export interface ClusterNodeOptions {
  readonly spec: NodeSpec;
  readonly replica: number;
  readonly clusterName: string;
  /** Receives every lifecycle event of this node. */
  readonly emit: (event: ClusterEvent) => void;
  /** Extra child environment per run, asked right before each spawn (telemetry's TRACEPARENT). */
  readonly getSpawnEnvironment?: (node: string, replica: number, run: number) => Readonly<Record<string, string>> | undefined;
  readonly clock?: () => number;
  readonly random?: () => number;
}

interface StateWaiter {
  readonly accept: (state: NodeState) => boolean;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
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
  readonly name: string;
  readonly replica: number;
  /** Output of every run of this node, one ring buffer across restarts. */
  readonly output: OutputBuffer;
  /** Allocated ports by name (port allocation arrives with issue 5). */
  readonly ports: Readonly<Record<string, number>> = Object.freeze({});
  private currentState: NodeState = 'pending';
  private stateSince: number;
  private run = 0;
  private restartCount = 0;
  private attempt = 0;
  private process: ManagedProcess | null = null;
  private lastExit: ExitInfo | null = null;
  private lastError: DroverError | null = null;
  private finishedStats: ProcessStats = zeroStats();
  private lifecycle: AbortController | null = null;
  private loop: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;
  private window: RestartWindow;
  private readonly waiters = new Set<StateWaiter>();
  private readonly clock: () => number;
  private readonly random: () => number;
  private readonly spawnOptions: NormalizedSpawnOptions;

  constructor(private readonly options: ClusterNodeOptions) {
    const { spec, replica } = options;
    this.name = spec.name;
    this.replica = replica;
    this.clock = options.clock ?? Date.now;
    this.random = options.random ?? Math.random;
    this.stateSince = this.clock();
    this.window = new RestartWindow(spec.restart.maxRestarts, spec.restart.windowMs);
    this.output = new OutputBuffer({ maxLines: spec.output.maxLines, maxBytes: spec.output.maxBytes, maxLineBytes: MAX_LINE_BYTES, clock: this.clock });
    this.output.subscribe((line) => options.emit({ type: 'output', node: this.name, replica, line }));
    this.spawnOptions = normalizeSpawnOptions(spec.command, {
      cwd: spec.cwd,
      env: { ...spec.env, DROVER_NODE: spec.name, DROVER_REPLICA: String(replica), DROVER_CLUSTER: options.clusterName },
      stop: { signal: spec.stop.signal, timeoutMs: spec.stop.timeoutMs },
      output: { maxLines: spec.output.maxLines, maxBytes: spec.output.maxBytes, maxLineBytes: MAX_LINE_BYTES },
    });
  }

  /** Current lifecycle state. */
  get state(): NodeState {
    return this.currentState;
  }

  /** Pid of the current run, or null. */
  get pid(): number | null {
    return this.process?.pid ?? null;
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

  snapshot(): NodeSnapshot {
    return {
      name: this.name,
      replica: this.replica,
      state: this.currentState,
      pid: this.pid,
      restarts: this.restartCount,
      startedAt: this.process?.startedAt ?? null,
      stateSince: this.stateSince,
      lastExit: this.lastExit,
      error: this.lastError === null ? null : `${this.lastError.code}: ${this.lastError.message}`,
      stats: this.stats(),
    };
  }

  /**
   * Starts the node (no-op when it is already running) and resolves once it is `ready`.
   * @throws {DroverError} the node's error when it fails, exits or is stopped before it is ready.
   */
  async start(): Promise<void> {
    if (this.loop === null) {
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
      const process = this.process;
      if (process !== null && process.exitResult === null) {
        this.setState('stopping');
        await process.stop();
      }
      await this.loop;
      if (this.currentState === 'pending') this.setState('stopped');
    })();
    return this.stopping;
  }

  /** Stops (if running) and starts again; counts as a restart with reason `manual`. */
  async restart(): Promise<void> {
    // The restart operation begins with the request, so `restarting` comes before the stop.
    this.restartCount++;
    this.options.emit({ type: 'restarting', node: this.name, replica: this.replica, time: this.clock(), attempt: this.restartCount, delayMs: 0, reason: 'manual' });
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
   * Resolves once the node is in `state`.
   * @throws {DroverError} ERR_READY_TIMEOUT after `timeoutMs` (default 30000), naming the last state.
   */
  waitFor(state: NodeState, options: { timeoutMs?: number } = {}): Promise<void> {
    const { timeoutMs = 30_000 } = options;
    return this.addWaiter((s) => s === state, timeoutMs, () =>
      new DroverError('ERR_READY_TIMEOUT', `node ${this.name} not ${state} after ${timeoutMs} ms (state: ${this.currentState})`, { node: this.name }),
    );
  }

  private waitUntilReady(): Promise<void> {
    return this.addWaiter((s) => s === 'ready', null, null);
  }

  private addWaiter(accept: (state: NodeState) => boolean, timeoutMs: number | null, onTimeout: (() => DroverError) | null): Promise<void> {
    if (accept(this.currentState)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = timeoutMs === null ? undefined : setTimeout(() => {
        this.waiters.delete(waiter);
        reject(onTimeout?.());
      }, timeoutMs);
      const waiter: StateWaiter = {
        accept,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.waiters.add(waiter);
    });
  }

  /** The one choke point of state changes: checks the transition, stamps the time, publishes. */
  private setState(to: NodeState, extra: { exit?: ExitInfo; error?: DroverError } = {}): void {
    const from = this.currentState;
    if (from === to) return;
    if (!TRANSITIONS[from].includes(to)) {
      process.emitWarning(`drover: node ${this.name} made an unexpected transition ${from} → ${to}`, 'DroverWarning');
    }
    this.currentState = to;
    this.stateSince = this.clock();
    if (to === 'starting') this.run++;
    const event: ClusterEvent = {
      type: 'state',
      node: this.name,
      replica: this.replica,
      from,
      to,
      time: this.stateSince,
      pid: this.pid,
      run: this.run,
      ...(extra.exit ? { exit: extra.exit } : {}),
      ...(extra.error ? { error: { code: extra.error.code, message: extra.error.message } } : {}),
    };
    this.options.emit(event);
    for (const waiter of [...this.waiters]) {
      if (waiter.accept(to)) {
        this.waiters.delete(waiter);
        waiter.resolve();
      } else if (to === 'failed' || to === 'exited' || to === 'stopped') {
        // Start waiters (accept 'ready') cannot be satisfied any more by this run.
        if (waiter.accept('ready') && !waiter.accept(to)) {
          this.waiters.delete(waiter);
          waiter.reject(this.describeFailure(to, extra));
        }
      }
    }
  }

  private describeFailure(state: NodeState, extra: { exit?: ExitInfo; error?: DroverError }): DroverError {
    const tail = this.output
      .tail(10)
      .map((l: BufferedLine) => `  ${l.stream}: ${l.text}`)
      .join('\n');
    const stderrTail = this.output
      .tail()
      .filter((l) => l.stream === 'stderr')
      .slice(-10)
      .map((l) => l.text)
      .join('\n');
    const cause = extra.error;
    const what = cause ? cause.message : extra.exit ? describeExit(extra.exit) : state;
    const message = `node ${this.name} ${state === 'stopped' ? 'was stopped' : state === 'failed' ? 'failed' : 'exited'} before it was ready: ${what}${tail ? `\nlast output:\n${tail}` : ''}`;
    return new DroverError(cause?.code ?? (state === 'stopped' ? 'ERR_STOPPED' : 'ERR_PROCESS_EXITED'), message, {
      node: this.name,
      reason: cause?.reason ?? state,
      exitCode: extra.exit?.exitCode ?? null,
      signal: extra.exit?.signal ?? null,
      stderrTail,
      cause,
    });
  }

  private fail(error: DroverError, exit?: ExitInfo): void {
    this.lastError = error;
    this.setState('failed', exit ? { error, exit } : { error });
  }

  /** Runs until the node is stopped, exits for good, or fails. */
  private async supervise(signal: AbortSignal): Promise<void> {
    for (;;) {
      if (signal.aborted) {
        this.setState('stopped');
        return;
      }
      this.setState('starting');
      const firstSeq = this.output.nextSequence;
      let process: ManagedProcess;
      try {
        const extraEnv = this.options.getSpawnEnvironment?.(this.name, this.replica, this.run);
        process = await startManagedProcess(extraEnv ? withExtraEnv(this.spawnOptions, extraEnv) : this.spawnOptions, this.output);
      } catch (error) {
        const droverError = isDroverError(error) ? error : new DroverError('ERR_SPAWN_FAILED', String(error), { cause: error });
        if (PERMANENT_SPAWN_ERRORS.has(droverError.code) || !shouldRestart(this.options.spec.restart.policy, { exitCode: null })) {
          this.fail(new DroverError(droverError.code, droverError.message, { node: this.name, errno: droverError.errno, path: droverError.path, cause: error }));
          return;
        }
        if (!(await this.backoff(signal, 'crashed', undefined, droverError))) return;
        continue;
      }
      this.process = process;
      this.setState('running');
      if (signal.aborted) void process.stop();
      const readyError = await this.awaitReadiness(process, firstSeq, signal);
      if (readyError !== null) {
        // Stop the process before reporting, so a failed start leaves nothing running.
        await process.stop();
        this.collect(process);
        this.fail(readyError, this.lastExit ?? undefined);
        return;
      }
      const result = await process.exited;
      const exit = this.collect(process);
      if (signal.aborted) {
        this.setState('stopped', { exit });
        return;
      }
      const stableMs = this.options.spec.restart.backoff.maxMs;
      if (result.durationMs >= stableMs) this.attempt = 0; // a run that outlived the longest backoff was stable
      if (result.error === null && !shouldRestart(this.options.spec.restart.policy, result)) {
        this.setState('exited', { exit });
        return;
      }
      const reason: RestartReason = result.error?.code === 'ERR_SHEPHERD_LOST' ? 'shepherd-lost' : result.exitCode === 0 ? 'exited' : 'crashed';
      if (!(await this.backoff(signal, reason, exit, result.error ?? undefined))) return;
    }
  }

  /** Returns null when ready (or when the process ended first: the exit path handles it). */
  private async awaitReadiness(process: ManagedProcess, firstSeq: number, signal: AbortSignal): Promise<DroverError | null> {
    const spec = this.options.spec.ready;
    if (spec === null) {
      if (process.exitResult === null && !signal.aborted) this.setState('ready');
      return null;
    }
    try {
      await waitForReady(
        Ready.fromSpec(spec),
        {
          tail: () => this.output.tail().filter((l) => l.seq >= firstSeq),
          subscribe: (listener) => this.output.subscribe(listener),
        },
        process.exited,
        signal,
        this.clock,
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
    return this.lastExit;
  }

  /** Waits the backoff delay; returns false when the node ended instead (failed or stopped). */
  private async backoff(signal: AbortSignal, reason: RestartReason, exit: ExitInfo | undefined, cause: DroverError | undefined): Promise<boolean> {
    const { restart } = this.options.spec;
    if (!this.window.tryRecord(this.clock())) {
      const what = exit ? describeExit(exit) : cause?.message ?? 'failed';
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
    this.options.emit({ type: 'restarting', node: this.name, replica: this.replica, time: this.clock(), attempt: this.attempt, delayMs, reason });
    this.setState('backoff', exit ? { exit } : {});
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
