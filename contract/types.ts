/**
 * Contract types shared across folders. This module imports no runtime code, so `telemetry/`,
 * `config/` and `cli/` depend on types only (process-compose keeps its `StateObserver` contract in
 * `src/types` for the same reason).
 */

import type { RESOURCE_LIMIT_NAMES } from './defaults.js';

/** Name of a setrlimit(2) resource, as in prlimit(1) and `ulimit` (`nofile`, `nproc`, `core` …). */
export type ResourceLimitName = (typeof RESOURCE_LIMIT_NAMES)[number];
/** A limit: soft = hard, or both given; `'unlimited'` is RLIM_INFINITY. */
export type ResourceLimitValue = number | 'unlimited' | { soft: number | 'unlimited'; hard: number | 'unlimited' };
/** setrlimit(2) limits applied to a child before exec, by resource name. */
export type ResourceLimits = Partial<Record<ResourceLimitName, ResourceLimitValue>>;

/** Node lifecycle states. */
export type NodeState =
  | 'pending'
  | 'starting'
  | 'running'
  | 'ready'
  | 'paused'
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
  'paused',
  'stopping',
  'stopped',
  'exited',
  'backoff',
  'failed',
];

/** Which output stream of a child a line came from. */
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
  /**
   * `proportional` (default) uses `jitter` as above; `full` draws the delay uniformly from
   * [0, d] ("full jitter", AWS Architecture Blog, "Exponential Backoff And Jitter", 2015), which
   * spreads restarts of many replicas that crashed together. @default 'proportional'
   */
  readonly jitterMode?: 'proportional' | 'full';
}

/**
 * When and how a node is restarted after its process ends (drover.yaml `restart`). Defaults (as
 * the config loader applies them): policy `on-failure`, backoff 100 ms → 30 s ×2 ±20 %, at most 5
 * restarts in 60 s.
 */
export interface RestartSpec {
  /** `no`: never; `on-failure`: after an exit code not in `successExitCodes` or a signal; `always`: after any exit. */
  readonly policy: RestartPolicyName;
  /** Delay before each restart. */
  readonly backoff: BackoffSpec;
  /** More than this many restarts inside `windowMs` → the node goes `failed` (ERR_RESTART_LIMIT; Erlang/OTP supervisor `intensity`/`period`). */
  readonly maxRestarts: number;
  /** Sliding window `maxRestarts` counts in, ms. */
  readonly windowMs: number;
  /** Exit codes that count as success (`on-failure` does not restart them; `completed-successfully` accepts them). @default [0] */
  readonly successExitCodes: readonly number[];
  /** A run that stayed up this long resets the backoff attempt to 1, ms. @default backoff.maxMs */
  readonly stableAfterMs: number;
}

/** How a node's process is stopped (drover.yaml `stop`). @default signal 'SIGTERM', timeoutMs 10000 */
export interface StopSpec {
  /** Signal name sent to the node's process group first, e.g. `SIGTERM`. */
  readonly signal: string;
  /** Grace before SIGKILL, in milliseconds. */
  readonly timeoutMs: number;
  /**
   * Run first on stop (argv, no shell; a string in drover.yaml is run through `/bin/sh -c`), in
   * the node's cwd and env, templates filled in: e.g. `[redis-cli, -p, '{{ports.redis}}', shutdown]`.
   * It has `timeoutMs` to finish; then the node has the rest of `timeoutMs` (since the stop
   * began) to exit; then `signal` and SIGKILL after `timeoutMs` as without it. A command that
   * fails (exit ≠ 0, cannot run, times out) goes on to the signal at once. @default none
   */
  readonly command?: readonly string[];
}

/** Bounds of a node's output ring buffer (drover.yaml `output`). @default maxLines 1000, maxBytes 1048576 (1 MiB) */
export interface OutputSpec {
  /** Ring buffer bound in lines, per node (both streams together). */
  readonly maxLines: number;
  /** Ring buffer bound in bytes, per node (both streams together). */
  readonly maxBytes: number;
  /** Every output line also appended to a file, with size-based rotation; absent: no file. */
  readonly file?: OutputFileSpec;
}

/**
 * A node's output file (drover.yaml `output.file`, per node or cluster-wide). Each line is written
 * as `HH:MM:SS.mmm <stream> <text>` (the clock of `drover logs --timestamps`).
 * @default maxBytes 10485760 (10 MiB), keep 3
 */
export interface OutputFileSpec {
  /**
   * Absolute path, `{{node}}` already replaced; may hold `{{replica}}`. Without `{{replica}}`,
   * replica 0 writes `path` and replica N ≥ 1 writes it with `-N` before the extension
   * (`api.log` → `api-1.log`).
   */
  readonly path: string;
  /** Size at which the file is rotated (`app.log` → `app.log.1`), bytes. */
  readonly maxBytes: number;
  /** Rotated files kept besides the current one (0: the file is truncated at `maxBytes`). */
  readonly keep: number;
}

/** Restart on file change (drover.yaml `watch`), normalized. */
export interface WatchSpec {
  /** Absolute paths (files, directories) or globs watched, resolved from the config file's directory. */
  readonly paths: readonly string[];
  /** Glob patterns (absolute, or matching anywhere when they start with `**`) never watched. @default node_modules, .git, dist */
  readonly ignore: readonly string[];
  /** Quiet time after the last change before the restart, ms. @default 200 */
  readonly debounceMs: number;
  /** Also restart the nodes that depend on this one (transitively), after it, in dependency order. @default false */
  readonly restartDependents: boolean;
}

/** Timing every readiness check carries. Durations in milliseconds. */
export interface CheckTiming {
  /** Overall time allowed for the check. @default 30000 */
  readonly timeoutMs: number;
  /** Delay between attempts of polling checks (tcp, http, exec). @default 250 */
  readonly intervalMs: number;
  /** Delay before the first attempt. @default 0 */
  readonly initialDelayMs: number;
}

/**
 * A readiness check, normalized. Strings may hold templates (`{{ports.http}}`) until the node's
 * ports are allocated; a tcp `port` is a number or such a template.
 */
export type ReadySpec =
  | (CheckTiming & {
      readonly kind: 'log';
      /** RegExp source, matched against each output line. */
      readonly pattern: string;
      readonly stream: OutputStream | 'both';
      /** Number of matching lines required. */
      readonly count: number;
    })
  | (CheckTiming & {
      readonly kind: 'tcp';
      readonly host: string;
      readonly port: number | string;
      /**
       * Also require that the listening socket is held by a process of the node's own tree (its
       * pid, descendants, cgroup members; found through /proc/net/tcp{,6} and /proc/<pid>/fd):
       * a stray server holding the port is reported by pid and command instead of counting as
       * ready. Only for a node's own port on this machine. @default false
       */
      readonly owned?: boolean;
    })
  | (CheckTiming & {
      readonly kind: 'http';
      readonly url: string;
      /** HTTP method. @default 'GET' */
      readonly method: string;
      /** Expected status; when absent any 2xx counts. */
      readonly status?: number;
      /** RegExp source the response body must match; when absent the body is not read. */
      readonly body?: string;
      /** Request headers. @default {} */
      readonly headers: Readonly<Record<string, string>>;
    })
  | (CheckTiming & {
      readonly kind: 'exec';
      /** argv run (through its own shepherd) in the node's cwd and env; ready when it exits 0. */
      readonly command: readonly string[];
    })
  | (CheckTiming & {
      readonly kind: 'exit';
      /** The node is done (not `ready`) when its process exits with one of these codes. @default [0] */
      readonly codes: readonly number[];
    })
  | (CheckTiming & {
      readonly kind: 'all' | 'any';
      /** Every (all) or one (any) of these must pass; each keeps its own timing. */
      readonly checks: readonly ReadySpec[];
    });

/** A periodic health probe after `ready`; `failureThreshold` failures in a row restart the node (kubernetes `livenessProbe`). */
export interface LivenessSpec {
  /** The probe: a tcp, http or exec check; `timeoutMs` bounds one attempt, `intervalMs` is the period. */
  readonly check: ReadySpec;
  /** Consecutive failed probes that restart the node. @default 3 */
  readonly failureThreshold: number;
}

/** What a dependent waits for (docker compose `depends_on.condition`, process-compose `depends_on`). */
export type DependencyCondition = 'started' | 'ready' | 'completed' | 'completed-successfully';

/** Cluster reaction to a node going `failed` after the start: keep the others running, or stop everything. */
export type NodeFailurePolicy = 'continue' | 'stop-cluster';

/** Per-node telemetry settings (drover.yaml `nodes.<name>.telemetry`), normalized. */
export interface NodeTelemetrySpec {
  /** Each output line becomes an OpenTelemetry log record. */
  readonly logs: boolean;
  /** Command arguments are recorded on spans (`process.command_args`), after redaction. */
  readonly recordArgs: boolean;
  /** RegExp sources; matches inside recorded arguments are replaced by `[REDACTED]`. */
  readonly redact: readonly string[];
}

/** Cluster-wide telemetry settings (drover.yaml `telemetry`), normalized. */
export interface ClusterTelemetrySpec {
  /** `service.name` of the resource, unless `OTEL_SERVICE_NAME` says otherwise; null: drover's default. */
  readonly serviceName: string | null;
  /** Resource attributes, under `OTEL_RESOURCE_ATTRIBUTES` (the variable wins per key). */
  readonly resourceAttributes: Readonly<Record<string, string>>;
  /** Port of the Prometheus exporter on 127.0.0.1 (enables it); null: only `OTEL_*` decide. */
  readonly prometheusPort: number | null;
}

/** One node of a cluster, fully normalized (every default applied, paths absolute). */
export interface NodeSpec {
  /** Node name, unique in the cluster (drover.yaml `nodes.<name>`). */
  readonly name: string;
  /** argv, no shell. A `shell: true` string command arrives here as `['/bin/sh', '-c', cmd]`. */
  readonly command: readonly string[];
  /** Absolute working directory. */
  readonly cwd: string;
  /** Extra environment for the child, on top of the manager's environment. */
  readonly env: Readonly<Record<string, string>>;
  /** When a run counts as `ready`; null: once it has stayed up `minUptimeMs`. @default null */
  readonly ready: ReadySpec | null;
  /** Restart policy, backoff and limit. */
  readonly restart: RestartSpec;
  /** Stop signal and grace. */
  readonly stop: StopSpec;
  /** Output ring buffer bounds. */
  readonly output: OutputSpec;
  /** Names of the free ports allocated per replica (`{{ports.<name>}}`, `DROVER_PORT_<NAME>`). @default [] */
  readonly ports: readonly string[];
  /** Number of replicas (0 = declared but not started). @default 1 */
  readonly replicas: number;
  /** Nodes that must reach a condition before this one starts; stop goes in reverse. @default {} */
  readonly dependsOn: Readonly<Record<string, DependencyCondition>>;
  /** Periodic health probe after ready, or null. @default null */
  readonly liveness: LivenessSpec | null;
  /**
   * How long a node without a readiness check (`ready: null`) must stay up before it counts as
   * `ready`, ms; until then it is `running`. Idea and default range: supervisord's `startsecs`,
   * pm2's `min_uptime`. @default 500
   */
  readonly minUptimeMs?: number;
  /** Run on a pseudo-terminal (`true` = 80x24); output arrives as stdout. @default false */
  readonly pty?: boolean | { readonly columns: number; readonly rows: number };
  /** setrlimit(2) limits for the child, by prlimit name (see `SpawnOptions.limits`). @default {} */
  readonly limits?: Readonly<ResourceLimits>;
  /**
   * Allow clock faults (`node.clock`): every process of the node runs with libfaketime preloaded
   * (LD_PRELOAD) reading a drover-owned timestamp file. @default false
   */
  readonly clock?: boolean;
  /** Restart the node when files change; absent: no watch. */
  readonly watch?: WatchSpec;
  /** Telemetry settings; absent means logs off, no args recorded. */
  readonly telemetry?: NodeTelemetrySpec;
}

/** A cluster, fully normalized; what `config/` produces and `Cluster` consumes. */
export interface ClusterSpec {
  /** Cluster name (`DROVER_CLUSTER`, telemetry's `service.namespace`). */
  readonly name: string;
  /** Absolute path of the config file it came from, when it came from one. */
  readonly configPath: string | null;
  /** Node specs in declaration order. */
  readonly nodes: readonly NodeSpec[];
  /** What a node failure after the start does to the cluster. @default 'continue' */
  readonly onNodeFailure?: NodeFailurePolicy;
  /** Telemetry settings; absent means OTEL_* alone decide. */
  readonly telemetry?: ClusterTelemetrySpec;
  /**
   * Network settings. `faults: true` routes every `{{nodes.b.ports.x}}` through drover's TCP relay,
   * so link faults (partition, latency …) can act on it. Absent means `{ faults: false }`.
   */
  readonly network?: ClusterNetworkSpec;
}

/** drover.yaml `network:`. */
export interface ClusterNetworkSpec {
  /** Route `{{nodes.b.ports.x}}` through drover's relay so links can be faulted. @default false */
  readonly faults: boolean;
}

/** What a link fault does to the bytes of the link's connections (see `Cluster.link`). */
export type LinkFaultEffect =
  /** Bytes stop flowing (open connections stall; new ones are accepted and held) until healed. */
  | { readonly kind: 'partition' }
  /** Bytes are read and discarded (the peer's writes succeed, no answer comes); connections that lost bytes are reset on heal. */
  | { readonly kind: 'blackhole' }
  /** Every chunk back to the connection's opener is delivered `ms` ± `jitterMs` milliseconds late, in order: a request's round trip grows by `ms`. */
  | { readonly kind: 'latency'; readonly ms: number; readonly jitterMs: number }
  /** At most `bytesPerSec` bytes per second each way. */
  | { readonly kind: 'bandwidth'; readonly bytesPerSec: number }
  /** RST every open connection of the link once (registered and healed at once). */
  | { readonly kind: 'reset' };

/**
 * A link fault request (the control API's `POST /v1/faults/<kind>`): acts on every link from a
 * node in `from` to a node in `to` (`port`: one port name of the `to` node, or every port).
 */
export interface LinkFaultRequest {
  readonly from: readonly string[];
  readonly to: readonly string[];
  readonly port?: string | null;
  /** Also the links from `to` to `from`. @default false */
  readonly bothWays?: boolean;
  readonly effect: LinkFaultEffect;
  /** Who asked (`api`, `cli`). @default 'api' */
  readonly by?: string;
}

/** Per-stream I/O counters. */
export interface StreamStats {
  /** Bytes moved through the pipe. */
  readonly bytes: number;
  /** read(2)/write(2) operations as seen by the manager (one per chunk). */
  readonly ops: number;
}

/** I/O counters of a process (or of every run of a node), and its ring buffer's fill and drops. */
export interface ProcessStats {
  /** Bytes and writes into the child's stdin. */
  readonly stdin: StreamStats;
  /** Bytes and reads of the child's stdout. */
  readonly stdout: StreamStats;
  /** Bytes and reads of the child's stderr. */
  readonly stderr: StreamStats;
  /** Lines the ring buffer dropped (oldest first) to stay inside its bounds. */
  readonly droppedLines: number;
  /** Bytes the ring buffer dropped (oldest first) to stay inside its bounds. */
  readonly droppedBytes: number;
  /** Bytes currently held by the ring buffer. */
  readonly bufferedBytes: number;
  /** Lines currently held by the ring buffer. */
  readonly bufferedLines: number;
  /** F_GETPIPE_SZ of each pipe in bytes (0: no pipe there, or a pty), when known. */
  readonly pipeSizes?: { readonly stdin: number; readonly stdout: number; readonly stderr: number };
}

/** Resource usage of a finished child, from wait4/waitid rusage. */
export interface ResourceUsage {
  /** CPU time in user mode, seconds (`ru_utime`). */
  readonly userCpuSeconds: number;
  /** CPU time in the kernel, seconds (`ru_stime`). */
  readonly systemCpuSeconds: number;
  /** Peak resident set size, KiB (`ru_maxrss`). */
  readonly maxRssKiB: number;
  /** Page faults served without I/O (`ru_minflt`). */
  readonly minorFaults: number;
  /** Page faults that needed I/O (`ru_majflt`). */
  readonly majorFaults: number;
  /** Context switches because the process waited (`ru_nvcsw`). */
  readonly voluntaryContextSwitches: number;
  /** Context switches because the scheduler preempted it (`ru_nivcsw`). */
  readonly involuntaryContextSwitches: number;
}

/** How a child ended. */
export interface ExitInfo {
  /** Exit code, or null when a signal ended it. */
  readonly exitCode: number | null;
  /** Signal name (e.g. `SIGKILL`) or null. */
  readonly signal: string | null;
  /** True when the signal that ended it dumped core. */
  readonly coreDumped: boolean;
  /** True when the stop grace ran out and SIGKILL was needed. */
  readonly forcedKill: boolean;
  /** Milliseconds from spawn to exit. */
  readonly durationMs: number;
  /** The child's resource usage, or null when the exit was not observed (the shepherd was lost). */
  readonly rusage: ResourceUsage | null;
}

/** A point-in-time view of one node (replica). Pure data, safe to serialize. */
export interface NodeSnapshot {
  /** Node name. */
  readonly name: string;
  /** Replica index. */
  readonly replica: number;
  /** Lifecycle state. */
  readonly state: NodeState;
  /** Pid of the current run, or null. */
  readonly pid: number | null;
  /** Restarts so far (automatic and requested). */
  readonly restarts: number;
  /** Epoch ms when the current run was spawned, or null when not running. */
  readonly startedAt: number | null;
  /** Epoch ms of the last state change. */
  readonly stateSince: number;
  /** How the last run ended, or null before the first exit. */
  readonly lastExit: ExitInfo | null;
  /** `code: message` of the last error that put the node in `failed` (or null). */
  readonly error: string | null;
  /** I/O counters over every run so far. */
  readonly stats: ProcessStats;
  /** Ports allocated to this replica by name (empty until the cluster starts, or without `ports`). */
  readonly ports: Readonly<Record<string, number>>;
  /**
   * cgroup v2 leaf directory of the current run (its `cgroup.procs` lists every process of the
   * node, `setsid` daemons included), or null when not running or without cgroup containment.
   * Absent from controllers that do not know it.
   */
  readonly cgroup?: string | null;
}

/** A point-in-time view of a cluster: one {@link NodeSnapshot} per replica. Pure data, safe to serialize. */
export interface ClusterSnapshot {
  /** Cluster name. */
  readonly name: string;
  /** Absolute path of the config file, or null for a config object or spec built in code. */
  readonly configPath: string | null;
  /** Every replica of every node, in declaration order. */
  readonly nodes: readonly NodeSnapshot[];
}

/** Why a node was restarted (attribute `reason` on `drover.process.restarts`). */
export type RestartReason = 'exited' | 'crashed' | 'shepherd-lost' | 'manual' | 'watch';

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
      /** Present on a transition to `stopped` that stopped a running process: how the stop went. */
      readonly stop?: StopReport;
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
      /** Set when a failing liveness probe caused the restart (`reason` is then `crashed`). */
      readonly cause?: 'liveness';
    }
  | StopProgressEvent
  | {
      /** The cluster begins to stop: on request, on an aborted start, or by `onNodeFailure: stop-cluster`. */
      readonly type: 'cluster-stopping';
      readonly time: number;
      readonly reason: 'requested' | 'aborted' | 'node-failed' | 'start-failed';
      /** The failed node when `reason` is `node-failed`. */
      readonly node: string | null;
      readonly replica: number | null;
    }
  | {
      /** `scale()` changed the replica count of a node; removed replicas leave the snapshot. */
      readonly type: 'scaled';
      readonly node: string;
      readonly time: number;
      readonly from: number;
      readonly to: number;
    }
  | {
      readonly type: 'output';
      readonly node: string;
      readonly replica: number;
      readonly line: OutputLine;
    }
  | ReadinessAttemptEvent
  | FaultEvent;

/**
 * Kinds of injected faults: `pause` (a node's tree frozen), `crash` (SIGKILL of its tree),
 * network faults on a link (`partition`, `blackhole`, `latency`, `bandwidth`, `reset`) and
 * `clock` (a node's clock offset or rate).
 */
export type FaultKind = 'pause' | 'crash' | 'partition' | 'blackhole' | 'latency' | 'bandwidth' | 'reset' | 'clock';

/** One fault drover injected and has not healed yet (or, in a `fault` event, one that just ended). */
export interface FaultRecord {
  /** Unique per cluster: `f1`, `f2`, … in injection order. */
  readonly id: string;
  readonly kind: FaultKind;
  /** Nodes the fault acts on (for a link: both ends, source first). */
  readonly nodes: readonly string[];
  /** For a network fault on one link: the link, `from` → `to` (`port`: the port name of `to`, or null for every port). */
  readonly link: { readonly from: string; readonly to: string; readonly port: string | null } | null;
  /**
   * For a partition between groups of nodes (one fault for every link it cuts): the groups, and
   * whether only the links from the first group to the others are cut (`oneWay`). Absent otherwise.
   */
  readonly partition?: { readonly groups: readonly (readonly string[])[]; readonly oneWay: boolean };
  /** What was done, for people: `latency 200 ms ± 20 ms`, `clock +90s`, `paused`. */
  readonly detail: string;
  /** Epoch ms it was injected. */
  readonly since: number;
  /** Who asked: `api`, `cli`, `chaos <seed>`. */
  readonly by: string;
}

/** A fault was injected (`phase: 'injected'`) or healed (`phase: 'healed'`, `time` is when). */
export interface FaultEvent {
  readonly type: 'fault';
  readonly phase: 'injected' | 'healed';
  readonly fault: FaultRecord;
  readonly time: number;
}

/** Check kinds that make readiness attempts (`all`/`any` report through their sub-checks; `exit` makes none). */
export type ReadinessAttemptKind = 'log' | 'tcp' | 'http' | 'exec';

/**
 * One readiness attempt of a run while the node waits to be `ready`: a tcp/http/exec probe, or a
 * log line matching the pattern. Liveness probes after `ready` emit none.
 */
export interface ReadinessAttemptEvent {
  /** Event discriminator. */
  readonly type: 'readiness';
  /** Node name. */
  readonly node: string;
  /** Replica index. */
  readonly replica: number;
  /** Run number, as on the run's `state` events. */
  readonly run: number;
  /** Epoch ms of the attempt's outcome. */
  readonly time: number;
  /** 1 for the first attempt of this run's readiness wait, counted across the sub-checks of `all`/`any`. */
  readonly attempt: number;
  /** True when this attempt satisfied its check. */
  readonly ok: boolean;
  /** The check that made the attempt (a sub-check of `all`/`any` reports its own kind). */
  readonly kind: ReadinessAttemptKind;
  /** What was observed, e.g. `connect failed: ECONNREFUSED`, `status 503`, `1 of 2 matching lines`. */
  readonly message: string | null;
}

/**
 * How one node stop went (on the `stopped` state event). Process-compose's silent shutdown hangs
 * are the counter-example.
 */
export interface StopReport {
  /** The first signal sent, e.g. `SIGTERM`; null when none was needed (the `stop.command` stopped the node). */
  readonly signal: string | null;
  /** Milliseconds from the stop request to the process's exit. */
  readonly waitedMs: number;
  /** True when the grace ran out and SIGKILL was needed. */
  readonly forcedKill: boolean;
  /** How the node's `stop.command` went; absent without one. */
  readonly command?: StopCommandReport;
}

/** How a node's `stop.command` went (on {@link StopReport}). */
export interface StopCommandReport {
  /**
   * `exited` (see `exitCode`), `timed-out` (killed with SIGKILL when `stop.timeout` ran out),
   * `not-started` (could not be spawned; see `error`), `skipped` (the node had exited already).
   */
  readonly outcome: 'exited' | 'timed-out' | 'not-started' | 'skipped';
  /** Its exit code when it exited, else null. */
  readonly exitCode: number | null;
  /** Milliseconds it ran. */
  readonly durationMs: number;
  /** Why it could not be spawned (outcome `not-started`), else null. */
  readonly error: string | null;
}

/**
 * A stop is taking longer than expected: emitted every `stopProgressIntervalMs` (default 1000)
 * while the process is still alive after the stop signal, so the CLI can say which process holds
 * the shutdown up (`message` is a ready-made line).
 */
export interface StopProgressEvent {
  /** Event discriminator. */
  readonly type: 'stopping';
  /** Node name. */
  readonly node: string;
  /** Replica index. */
  readonly replica: number;
  /** Epoch ms. */
  readonly time: number;
  /** Pid of the process still alive. */
  readonly pid: number;
  /** argv of the process still alive. */
  readonly command: readonly string[];
  /** Signal sent so far (SIGKILL follows when `waitedMs` reaches `timeoutMs`). */
  readonly signal: string;
  /** Milliseconds since the stop signal. */
  readonly waitedMs: number;
  /** Grace before SIGKILL, ms. */
  readonly timeoutMs: number;
  /** e.g. `node a (pid 123: node server.js) still running 2000 ms after SIGTERM; SIGKILL in 8000 ms`. */
  readonly message: string;
}

/**
 * The resolved config of a cluster (after ports and templates), as `ClusterController.resolvedConfig()`
 * returns it for `drover config`: plain JSON data, one entry per replica.
 */
export interface ResolvedConfig {
  /** Cluster name. */
  readonly name: string;
  /** Absolute path of the config file, or null. */
  readonly configPath: string | null;
  /** What a node failure after the start does to the cluster. */
  readonly onNodeFailure: NodeFailurePolicy;
  /** One entry per replica, in declaration order. */
  readonly nodes: readonly ResolvedNodeConfig[];
}

/** One replica's spec with templates filled in; before ports are allocated, templates stay as written and `ports` is empty. */
export interface ResolvedNodeConfig extends Omit<NodeSpec, 'ports'> {
  /** Replica index. */
  readonly replica: number;
  /** Allocated ports by name. */
  readonly ports: Readonly<Record<string, number>>;
  /** The environment drover adds on top of `env` (DROVER_NODE, DROVER_REPLICA, DROVER_CLUSTER, DROVER_PORT_*). */
  readonly droverEnv: Readonly<Record<string, string>>;
}

/** One line of child output as kept by the ring buffer. */
export interface OutputLine {
  /** The stream it was written to (a pty's output is `stdout`). */
  readonly stream: OutputStream;
  /** The line without its newline, decoded as UTF-8. */
  readonly text: string;
  /** Sequence number per node, increasing across both streams. */
  readonly seq: number;
  /** Epoch ms when the manager read it. */
  readonly time: number;
  /** Which replica wrote it, in lines from `ClusterController.tail()` (merged across replicas). */
  readonly replica?: number;
}

/**
 * Receives a cluster's events through `subscribe()`: the snapshot first, then every
 * {@link ClusterEvent} in order. Called synchronously: keep the callbacks fast; a throw is reported
 * as a process warning and does not stop supervision.
 */
export interface ClusterObserver {
  /** Called once, synchronously inside subscribe(), before any event. */
  onSnapshot?(snapshot: ClusterSnapshot): void;
  /** Called for every event after the snapshot, in the order the cluster published them. */
  onEvent(event: ClusterEvent): void;
  /**
   * False when this observer ignores `output` events. A cluster makes an object per output line
   * only while some observer or `'event'` listener may want them; otherwise lines stay bytes in
   * the nodes' ring buffers until read with `tail()` (drover's fast path). Read at subscribe().
   * @default true
   */
  readonly wantsOutput?: boolean;
}

/**
 * Extra environment for the children of a cluster's nodes, registered with
 * {@link ClusterController.provideSpawnEnvironment}. Telemetry uses it to pass each run the W3C
 * `TRACEPARENT` of its `start` span.
 */
export interface SpawnEnvironmentProvider {
  /**
   * The variables to add for run `run` (1, 2, …) of replica `replica` of node `node`, or undefined
   * for none. Asked right before each spawn, after that run's `starting` event was delivered.
   * Keys override the node's own `env` (and an earlier provider's). Runs on the spawn path: it must
   * be fast and synchronous (a returned promise is not awaited). A throw does not stop the spawn:
   * it is reported as a `DroverWarning` and the run starts without this provider's variables.
   */
  getSpawnEnvironment(node: string, replica: number, run: number): Readonly<Record<string, string>> | undefined;
}

/** What `subscribe()` returns. */
export interface Subscription {
  /** Stops the deliveries; idempotent. */
  unsubscribe(): void;
}

/**
 * The one interface through which `telemetry/` and `cli/` reach a cluster: they read snapshots
 * and events and ask for lifecycle operations by node name, never holding a node or a process
 * (the shape of process-compose's project interface). `Cluster` implements it.
 */
export interface ClusterController {
  /** Every replica's state, pid, ports and I/O counters now; plain data, safe to keep. */
  snapshot(): ClusterSnapshot;
  /**
   * Delivers a snapshot and then live events, with nothing falling between. Every observer sees
   * the events in the same order: one published while another is being delivered (an observer
   * calls `stop()`) comes after it.
   */
  subscribe(observer: ClusterObserver): Subscription;
  /**
   * Registers a provider of extra child environment, asked right before each spawn of every node
   * (see {@link SpawnEnvironmentProvider}); the only way anything outside the cluster adds to a
   * spawn. Providers are asked in registration order; `unsubscribe()` removes this one.
   */
  provideSpawnEnvironment(provider: SpawnEnvironmentProvider): Subscription;
  /**
   * Stops every replica of node `name` (stop signal, then SIGKILL after the stop timeout) and starts
   * it again; resolves when it is ready (as at start). Counts as a manual restart.
   * @throws DroverError `ERR_UNKNOWN_NODE`; `ERR_INVALID_OPTION` when the node has 0 replicas or a dependency has 0 replicas.
   */
  restartNode(name: string): Promise<void>;
  /** A node with 0 replicas has nothing to stop: resolves at once. @throws DroverError `ERR_UNKNOWN_NODE` */
  stopNode(name: string): Promise<void>;
  /**
   * Starts every replica of node `name`; resolves when they are ready. A dependency that is down
   * (`pending`, `stopped`, `failed`, a service that `exited`) is started first, transitively; one
   * that runs is waited for until it meets its `dependsOn` condition.
   * @throws DroverError `ERR_UNKNOWN_NODE`; `ERR_INVALID_OPTION` when the node has 0 replicas or a dependency has 0 replicas;
   * `ERR_DEPENDENCY_FAILED` naming a dependency that could not be started.
   */
  startNode(name: string): Promise<void>;
  /**
   * Sends `signal` (a name such as `SIGUSR1`, or a number) to the process group of every running
   * replica of node `name`. Resolves to the number of replicas signalled. The supervisor treats a
   * resulting exit like any other (restart policy applies).
   * @throws DroverError `ERR_UNKNOWN_NODE`, `ERR_INVALID_OPTION` for an unknown signal.
   */
  killNode(name: string, signal: string | number): Promise<number>;
  /**
   * Freezes the whole process tree of every replica of node `name` (state `paused`; liveness
   * probes suspended unless `probes: 'keep'`); one `pause` fault per replica.
   * @throws DroverError `ERR_UNKNOWN_NODE`; `ERR_ILLEGAL_TRANSITION` when a replica is not ready; `ERR_UNSUPPORTED` when a tree did not freeze in time.
   */
  pauseNode(name: string, options?: { readonly probes?: 'suspend' | 'keep'; readonly by?: string }): Promise<void>;
  /** Thaws every paused replica of node `name` (back to `ready`), healing their `pause` faults. @throws DroverError `ERR_UNKNOWN_NODE` */
  resumeNode(name: string): Promise<void>;
  /**
   * SIGKILLs the whole tree of every live replica of node `name`; `restart: false` keeps them
   * `exited` until started. Resolves to the number crashed once their runs ended.
   * @throws DroverError `ERR_UNKNOWN_NODE`; `ERR_ILLEGAL_TRANSITION` when no replica runs.
   */
  crashNode(name: string, options?: { readonly restart?: boolean; readonly by?: string }): Promise<number>;
  /** Output lines of a node (all replicas), oldest first, at most `limit`. */
  tail(name: string, limit: number): OutputLine[];
  /** Stops every node, dependents before their dependencies; resolves when all processes are gone. Idempotent. */
  stop(): Promise<void>;
  /**
   * Sets the number of replicas of node `name` at run time. Added replicas get their own ports and
   * start (the promise resolves when they are ready); removal stops the highest replica indices
   * first and drops them from the snapshot. Emits a `scaled` event.
   * @throws DroverError `ERR_UNKNOWN_NODE`, `ERR_INVALID_OPTION` (not an integer from 0 to 1000;
   * 0 while a node that depends on `name` is running; more while a dependency of `name` has 0 replicas).
   */
  scale(name: string, replicas: number): Promise<void>;
  /** The spec after ports and templates, one entry per replica; plain JSON data (see {@link ResolvedConfig}). */
  resolvedConfig(): ResolvedConfig;
  /** The faults injected and not healed yet, oldest first. */
  faults(): readonly FaultRecord[];
  /**
   * Heals the fault `id`, or every active fault when `id` is omitted; resolves once healed (a
   * `fault` event with `phase: 'healed'` for each). Healing what is already healed is a no-op.
   * @throws DroverError `ERR_UNKNOWN_FAULT` for an id that never existed.
   */
  healFaults(id?: string): Promise<void>;
  /**
   * Injects a link fault on every link the request names (one fault record per link); resolves
   * to the records. Present on clusters; absent on controllers that cannot fault links.
   * @throws DroverError `ERR_UNSUPPORTED` without `network: { faults: true }`, `ERR_UNKNOWN_NODE`,
   * `ERR_INVALID_OPTION` (an unknown port, a negative delay or rate).
   */
  injectLinkFault?(request: LinkFaultRequest): Promise<readonly FaultRecord[]>;
}
