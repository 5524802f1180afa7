/**
 * Contract types shared across folders. This module imports no runtime code, so `telemetry/`,
 * `config/` and `cli/` depend on types only (process-compose keeps its `StateObserver` contract in
 * `src/types` for the same reason).
 */

/** Node lifecycle states (DESIGN.md "CLI contract"). */
export type NodeState =
  | 'pending'
  | 'starting'
  | 'running'
  | 'ready'
  | 'stopping'
  | 'stopped'
  | 'exited'
  | 'backoff'
  | 'failed';

/** Every node state, in lifecycle order (one metric series per state). */
export const NODE_STATES: readonly NodeState[] = [
  'pending',
  'starting',
  'running',
  'ready',
  'stopping',
  'stopped',
  'exited',
  'backoff',
  'failed',
];

export type OutputStream = 'stdout' | 'stderr';

/** Restart policy names (docker / process-compose vocabulary). */
export type RestartPolicyName = 'no' | 'on-failure' | 'always';

/** Exponential backoff with jitter. All durations in milliseconds. */
export interface BackoffSpec {
  /** First delay. */
  readonly initialMs: number;
  /** Cap on any delay. */
  readonly maxMs: number;
  /** Growth factor per attempt (≥ 1). */
  readonly multiplier: number;
  /** Proportional jitter in [0, 1]: the delay is drawn from [d·(1−jitter), d·(1+jitter)], capped at maxMs. */
  readonly jitter: number;
}

export interface RestartSpec {
  readonly policy: RestartPolicyName;
  readonly backoff: BackoffSpec;
  /** More than this many restarts inside `windowMs` → the node goes `failed`. */
  readonly maxRestarts: number;
  readonly windowMs: number;
}

export interface StopSpec {
  /** Signal name sent to the node's process group first, e.g. `SIGTERM`. */
  readonly signal: string;
  /** Grace before SIGKILL, in milliseconds. */
  readonly timeoutMs: number;
}

export interface OutputSpec {
  /** Ring buffer bound in lines, per node (both streams together). */
  readonly maxLines: number;
  /** Ring buffer bound in bytes, per node (both streams together). */
  readonly maxBytes: number;
}

/** A readiness check, normalized. Durations in milliseconds. */
export type ReadySpec =
  | {
      readonly kind: 'log';
      /** RegExp source, matched against each output line. */
      readonly pattern: string;
      readonly stream: OutputStream | 'both';
      /** Number of matching lines required. */
      readonly count: number;
      readonly timeoutMs: number;
    }
  | {
      readonly kind: 'tcp';
      readonly host: string;
      readonly port: number;
      readonly timeoutMs: number;
      readonly intervalMs: number;
    }
  | {
      readonly kind: 'http';
      readonly url: string;
      /** Expected status; when absent any 2xx counts. */
      readonly status?: number;
      readonly timeoutMs: number;
      readonly intervalMs: number;
    };

/** One node of a cluster, fully normalized (every default applied, paths absolute). */
export interface NodeSpec {
  readonly name: string;
  /** argv, no shell. A `shell: true` string command arrives here as `['/bin/sh', '-c', cmd]`. */
  readonly command: readonly string[];
  /** Absolute working directory. */
  readonly cwd: string;
  /** Extra environment for the child, on top of the manager's environment. */
  readonly env: Readonly<Record<string, string>>;
  readonly ready: ReadySpec | null;
  readonly restart: RestartSpec;
  readonly stop: StopSpec;
  readonly output: OutputSpec;
}

/** A cluster, fully normalized; what `config/` produces and `Cluster` consumes. */
export interface ClusterSpec {
  readonly name: string;
  /** Absolute path of the config file it came from, when it came from one. */
  readonly configPath: string | null;
  /** Node specs in declaration order. */
  readonly nodes: readonly NodeSpec[];
}

/** Per-stream I/O counters. */
export interface StreamStats {
  /** Bytes moved through the pipe. */
  readonly bytes: number;
  /** read(2)/write(2) operations as seen by the manager (one per chunk). */
  readonly ops: number;
}

export interface ProcessStats {
  readonly stdin: StreamStats;
  readonly stdout: StreamStats;
  readonly stderr: StreamStats;
  /** Lines and bytes the ring buffer dropped (oldest first) to stay inside its bounds. */
  readonly droppedLines: number;
  readonly droppedBytes: number;
  /** Bytes and lines currently held by the ring buffer. */
  readonly bufferedBytes: number;
  readonly bufferedLines: number;
  /** F_GETPIPE_SZ of each pipe in bytes (0: no pipe there, or a pty), when known. */
  readonly pipeSizes?: { readonly stdin: number; readonly stdout: number; readonly stderr: number };
}

/** Resource usage of a finished child, from wait4/waitid rusage. */
export interface ResourceUsage {
  readonly userCpuSeconds: number;
  readonly systemCpuSeconds: number;
  readonly maxRssKiB: number;
  readonly minorFaults: number;
  readonly majorFaults: number;
  readonly voluntaryContextSwitches: number;
  readonly involuntaryContextSwitches: number;
}

/** How a child ended. */
export interface ExitInfo {
  /** Exit code, or null when a signal ended it. */
  readonly exitCode: number | null;
  /** Signal name (e.g. `SIGKILL`) or null. */
  readonly signal: string | null;
  readonly coreDumped: boolean;
  /** True when the stop grace ran out and SIGKILL was needed. */
  readonly forcedKill: boolean;
  /** Milliseconds from spawn to exit. */
  readonly durationMs: number;
  readonly rusage: ResourceUsage | null;
}

/** A point-in-time view of one node (replica). Pure data, safe to serialize. */
export interface NodeSnapshot {
  readonly name: string;
  readonly replica: number;
  readonly state: NodeState;
  readonly pid: number | null;
  readonly restarts: number;
  /** Epoch ms when the current run was spawned, or null when not running. */
  readonly startedAt: number | null;
  /** Epoch ms of the last state change. */
  readonly stateSince: number;
  readonly lastExit: ExitInfo | null;
  /** `code: message` of the last error that put the node in `failed` (or null). */
  readonly error: string | null;
  readonly stats: ProcessStats;
}

export interface ClusterSnapshot {
  readonly name: string;
  readonly configPath: string | null;
  readonly nodes: readonly NodeSnapshot[];
}

/** Why a node was restarted (attribute `reason` on `drover.process.restarts`). */
export type RestartReason = 'exited' | 'crashed' | 'shepherd-lost' | 'manual';

/** Lifecycle events, the same objects the CLI and telemetry see. `time` is epoch ms. */
export type ClusterEvent =
  | {
      readonly type: 'state';
      readonly node: string;
      readonly replica: number;
      readonly from: NodeState;
      readonly to: NodeState;
      readonly time: number;
      readonly pid: number | null;
      /** Run number of the node, starting at 1 and increased per spawn. */
      readonly run: number;
      /** Present on transitions caused by an error (e.g. to `failed`). */
      readonly error?: { readonly code: string; readonly message: string };
      /** Present on transitions out of a run (`exited`, `backoff`, `stopped`, `failed`). */
      readonly exit?: ExitInfo;
    }
  | {
      readonly type: 'restarting';
      readonly node: string;
      readonly replica: number;
      readonly time: number;
      /** Restart attempt number (1 = first restart). */
      readonly attempt: number;
      readonly delayMs: number;
      readonly reason: RestartReason;
    }
  | {
      readonly type: 'output';
      readonly node: string;
      readonly replica: number;
      readonly line: OutputLine;
    };

/** One line of child output as kept by the ring buffer. */
export interface OutputLine {
  readonly stream: OutputStream;
  readonly text: string;
  /** Sequence number per node, increasing across both streams. */
  readonly seq: number;
  /** Epoch ms when the manager read it. */
  readonly time: number;
}

export interface ClusterObserver {
  /** Called once, synchronously inside subscribe(), before any event. */
  onSnapshot?(snapshot: ClusterSnapshot): void;
  onEvent(event: ClusterEvent): void;
}

export interface Subscription {
  unsubscribe(): void;
}

/**
 * The one interface through which `telemetry/` and `cli/` reach a cluster (process-compose
 * `project_interface.go`).
 */
export interface ClusterController {
  snapshot(): ClusterSnapshot;
  /** Delivers a snapshot and then live events, with nothing falling between. */
  subscribe(observer: ClusterObserver): Subscription;
  restartNode(name: string): Promise<void>;
  stopNode(name: string): Promise<void>;
  startNode(name: string): Promise<void>;
  /**
   * Sends `signal` (a name such as `SIGUSR1`, or a number) to the process group of every running
   * replica of node `name`. Resolves to the number of replicas signalled. The supervisor treats a
   * resulting exit like any other (restart policy applies).
   * @throws DroverError `ERR_UNKNOWN_NODE`, `ERR_INVALID_OPTION` for an unknown signal.
   */
  killNode(name: string, signal: string | number): Promise<number>;
  /** Output lines of a node (all replicas), oldest first, at most `limit`. */
  tail(name: string, limit: number): OutputLine[];
  stop(): Promise<void>;
}
