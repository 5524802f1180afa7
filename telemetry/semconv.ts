/**
 * Every metric name, span name, attribute key, enum value and unit drover's telemetry emits.
 * Call sites use these constants, never string literals (otel
 * `instrumentation-host-metrics/src/semconv.ts`).
 *
 * Names follow the OpenTelemetry semantic conventions where one exists (`process.*`, `error.type`,
 * `service.*`); values for those are copied here rather than imported from
 * `@opentelemetry/semantic-conventions/incubating`, as the OpenTelemetry docs advise for
 * incubating names (a test checks they still match the package). Project names live under
 * `drover.`.
 */

import type { RestartReason } from '../contract/types.js';

/** Instrumentation scope (meter and tracer name) of everything drover emits. */
export const INSTRUMENTATION_SCOPE_NAME = 'drover';

// ---------------------------------------------------------------------------------------------
// Units (UCUM, as the `unit` field of an instrument; never part of a metric name)
// ---------------------------------------------------------------------------------------------

/** Bytes. */
export const UNIT_BYTES = 'By';
/** Seconds. */
export const UNIT_SECONDS = 's';
/** A count of read/write operations. */
export const UNIT_OPERATIONS = '{operation}';
/** A count of restarts. */
export const UNIT_RESTARTS = '{restart}';
/** A count of nodes. */
export const UNIT_NODES = '{node}';
/** Unit of {@link METRIC_FAULTS_ACTIVE}. */
export const UNIT_FAULTS_ACTIVE = '{fault}';
/** A count of threads. */
export const UNIT_THREADS = '{thread}';
/** A count of open file descriptors. */
export const UNIT_FILE_DESCRIPTORS = '{file_descriptor}';
/** A count of context switches. */
export const UNIT_CONTEXT_SWITCHES = '{context_switch}';
/** A count of page faults. */
export const UNIT_FAULTS = '{fault}';
/** A count of output lines. */
export const UNIT_LINES = '{line}';

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

/**
 * Bytes moved through a node's stdio pipes, per stream.
 *
 * Counter (synchronous, fed by the batch callback with changes only), unit `By`, attributes {@link ATTR_NODE_NAME}, {@link ATTR_NODE_REPLICA},
 * {@link ATTR_STDIO_STREAM}.
 */
export const METRIC_STDIO_IO = 'drover.stdio.io';

/**
 * read(2)/write(2) operations on a node's stdio pipes as seen by the manager (one per chunk).
 *
 * Counter (synchronous, fed by the batch callback with changes only), unit `{operation}`, attributes {@link ATTR_NODE_NAME},
 * {@link ATTR_NODE_REPLICA}, {@link ATTR_STDIO_STREAM}.
 */
export const METRIC_STDIO_OPERATIONS = 'drover.stdio.operations';

/**
 * Restarts of a node, by reason.
 *
 * Counter (synchronous, fed by the batch callback with changes only), unit `{restart}`, attributes {@link ATTR_NODE_NAME},
 * {@link ATTR_NODE_REPLICA}, {@link ATTR_RESTART_REASON}. The total over reasons equals the
 * node's `restarts` in the snapshot; restarts telemetry did not see happen carry
 * {@link RESTART_REASON_VALUE_UNKNOWN}.
 */
export const METRIC_PROCESS_RESTARTS = 'drover.process.restarts';

/**
 * Current lifecycle state of a node: one series per state in `NODE_STATES` (contract/types.ts), 1 for the
 * current state and 0 for every other (the shape of semconv `hw.status`).
 *
 * Up-down counter (synchronous, fed by the batch callback with changes only), unit `{node}`, attributes {@link ATTR_NODE_NAME},
 * {@link ATTR_NODE_REPLICA}, {@link ATTR_NODE_STATE}.
 */
export const METRIC_NODE_STATE = 'drover.node.state';

/**
 * Seconds since the node's current run was spawned (semconv `process.uptime`). Reported only
 * while the node has a running process.
 *
 * Observable gauge, unit `s`, attributes {@link ATTR_NODE_NAME}, {@link ATTR_NODE_REPLICA}.
 */
export const METRIC_PROCESS_UPTIME = 'process.uptime';

/**
 * Bytes of output the node's ring buffer dropped (oldest first) to stay inside its bounds.
 *
 * Counter (synchronous, fed by the batch callback with changes only), unit `By`, attributes {@link ATTR_NODE_NAME}, {@link ATTR_NODE_REPLICA}.
 */
export const METRIC_OUTPUT_DROPPED = 'drover.output.dropped';

/**
 * Bytes of output currently held by the node's ring buffer.
 *
 * Up-down counter (synchronous, fed by the batch callback with changes only), unit `By`, attributes {@link ATTR_NODE_NAME},
 * {@link ATTR_NODE_REPLICA}.
 */
export const METRIC_OUTPUT_BUFFER_USAGE = 'drover.output.buffer.usage';

/**
 * Time from the transition to `starting` to the transition to `ready` of the same run.
 *
 * Histogram, unit `s`, attributes {@link ATTR_NODE_NAME}, {@link ATTR_NODE_REPLICA}; bucket
 * advice {@link START_DURATION_BUCKETS_SECONDS}.
 */
export const METRIC_NODE_START_DURATION = 'drover.node.start.duration';

/**
 * CPU time of the node's whole process tree (semconv `process.cpu.time`), summed over every run:
 * finished runs from their exit rusage, the current run from `/proc/<pid>/stat` (utime/stime plus
 * the reaped children's cutime/cstime) of the leader and every live descendant.
 *
 * Counter (synchronous, fed by the batch callback with changes only), unit `s`, attributes {@link ATTR_NODE_NAME}, {@link ATTR_NODE_REPLICA},
 * {@link ATTR_CPU_MODE}.
 */
export const METRIC_PROCESS_CPU_TIME = 'process.cpu.time';

/**
 * Resident memory of the node's live process tree (semconv `process.memory.usage`): the sum of
 * `VmRSS` over the tree. Reported only while the node has a process.
 *
 * Up-down counter (synchronous, fed by the batch callback with changes only), unit `By`, attributes {@link ATTR_NODE_NAME}, {@link ATTR_NODE_REPLICA}.
 */
export const METRIC_PROCESS_MEMORY_USAGE = 'process.memory.usage';

/**
 * Virtual memory of the node's live process tree (semconv `process.memory.virtual`): the sum of
 * `VmSize`. Reported only while the node has a process.
 *
 * Up-down counter (synchronous, fed by the batch callback with changes only), unit `By`, attributes {@link ATTR_NODE_NAME}, {@link ATTR_NODE_REPLICA}.
 */
export const METRIC_PROCESS_MEMORY_VIRTUAL = 'process.memory.virtual';

/**
 * Storage bytes read and written by the node's process tree (semconv `process.disk.io`), from
 * `/proc/<pid>/io` `read_bytes`/`write_bytes`, summed over every run (a finished run keeps its
 * last sample).
 *
 * Counter (synchronous, fed by the batch callback with changes only), unit `By`, attributes {@link ATTR_NODE_NAME}, {@link ATTR_NODE_REPLICA},
 * {@link ATTR_DISK_IO_DIRECTION}.
 */
export const METRIC_PROCESS_DISK_IO = 'process.disk.io';

/**
 * Threads of the node's live process tree (semconv `process.thread.count`, `Threads:` of each
 * `/proc/<pid>/status`). Reported only while the node has a process.
 *
 * Up-down counter (synchronous, fed by the batch callback with changes only), unit `{thread}`, attributes {@link ATTR_NODE_NAME}, {@link ATTR_NODE_REPLICA}.
 */
export const METRIC_PROCESS_THREAD_COUNT = 'process.thread.count';

/**
 * Open file descriptors of the node's live process tree (semconv
 * `process.unix.file_descriptor.count`, entries of each `/proc/<pid>/fd`). Reported only while
 * the node has a process.
 *
 * Up-down counter (synchronous, fed by the batch callback with changes only), unit `{file_descriptor}`, attributes {@link ATTR_NODE_NAME},
 * {@link ATTR_NODE_REPLICA}.
 */
export const METRIC_PROCESS_UNIX_FILE_DESCRIPTOR_COUNT = 'process.unix.file_descriptor.count';

/**
 * Context switches of the node's process tree (semconv `process.context_switches`), summed over
 * every run: finished runs from rusage, the current one from `voluntary_ctxt_switches` /
 * `nonvoluntary_ctxt_switches` in `/proc/<pid>/status`.
 *
 * Counter (synchronous, fed by the batch callback with changes only), unit `{context_switch}`, attributes {@link ATTR_NODE_NAME},
 * {@link ATTR_NODE_REPLICA}, {@link ATTR_PROCESS_CONTEXT_SWITCH_TYPE}.
 */
export const METRIC_PROCESS_CONTEXT_SWITCHES = 'process.context_switches';

/**
 * Page faults of the node's process tree (semconv `process.paging.faults`), summed over every run:
 * finished runs from rusage, the current one from `minflt`/`majflt` (plus `cminflt`/`cmajflt`) in
 * `/proc/<pid>/stat`.
 *
 * Counter (synchronous, fed by the batch callback with changes only), unit `{fault}`, attributes {@link ATTR_NODE_NAME}, {@link ATTR_NODE_REPLICA},
 * {@link ATTR_PROCESS_PAGING_FAULT_TYPE}.
 */
export const METRIC_PROCESS_PAGING_FAULTS = 'process.paging.faults';

/**
 * Lines the node's ring buffer dropped (oldest first) to stay inside its bounds.
 *
 * Counter (synchronous, fed by the batch callback with changes only), unit `{line}`, attributes {@link ATTR_NODE_NAME}, {@link ATTR_NODE_REPLICA}.
 */
export const METRIC_OUTPUT_DROPPED_LINES = 'drover.output.dropped_lines';

/**
 * Delay chosen before the node's latest restart (the `delayMs` of its last `restarting` event).
 *
 * Observable gauge, unit `s`, attributes {@link ATTR_NODE_NAME}, {@link ATTR_NODE_REPLICA}.
 */
export const METRIC_RESTART_DELAY = 'drover.restart.delay';

/**
 * Nodes (replicas) of the cluster, as drover's own health: the number the manager supervises.
 *
 * Observable up-down counter, unit `{node}`, no node attributes.
 */
export const METRIC_CLUSTER_NODES = 'drover.cluster.nodes';

/**
 * Time one `/proc` sample of every node's process tree took (drover's own health: the cost of
 * process metrics).
 *
 * Histogram, unit `s`, no node attributes.
 */
export const METRIC_PROC_SAMPLE_DURATION = 'drover.telemetry.sample.duration';

/**
 * Output lines the log bridge dropped because its queue was full (it never blocks the node).
 *
 * Observable counter, unit `{line}`, no node attributes.
 */
export const METRIC_LOGS_DROPPED = 'drover.telemetry.logs.dropped';

/**
 * Active injected faults (pause, crash, network, clock), read from `controller.faults()`: one point
 * per fault kind and affected node (a link fault counts for both of its ends).
 *
 * Observable up-down counter, unit `{fault}`, attributes {@link ATTR_FAULT_KIND},
 * {@link ATTR_NODE_NAME}, {@link ATTR_NODE_REPLICA}.
 */
export const METRIC_FAULTS_ACTIVE = 'drover.faults.active';

/** Explicit bucket boundaries advised for {@link METRIC_NODE_START_DURATION}, in seconds. */
export const START_DURATION_BUCKETS_SECONDS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60, 120,
];

// ---------------------------------------------------------------------------------------------
// Spans (the name is `<operation> <node>`, e.g. `start a`)
// ---------------------------------------------------------------------------------------------

/** Span of one test, `test <full test name>` (drover/vitest `traceTests`): the parent of what drover does during it. */
export const SPAN_NAME_TEST = 'test';
/** The test's full name, suites included (OpenTelemetry `test.case.name`). */
export const ATTR_TEST_CASE_NAME = 'test.case.name';
/** How the test ended: `pass` or `fail` (OpenTelemetry `test.case.result.status`). */
export const ATTR_TEST_CASE_RESULT_STATUS = 'test.case.result.status';
/** `test.case.result.status` of a test that passed. */
export const TEST_CASE_RESULT_STATUS_VALUE_PASS = 'pass';
/** `test.case.result.status` of a test that failed. */
export const TEST_CASE_RESULT_STATUS_VALUE_FAIL = 'fail';
/** The test file, relative to the current directory when it is inside it (OpenTelemetry `code.file.path`). */
export const ATTR_CODE_FILE_PATH = 'code.file.path';

/** Span name prefix of a node start: from the transition to `starting` until `ready`. */
export const SPAN_NAME_START = 'start';
/** Span name prefix of a node stop: from the transition to `stopping` until `stopped`/`exited`. */
export const SPAN_NAME_STOP = 'stop';
/** Span name prefix of a node restart: from the `restarting` event until the node is `ready` again. */
export const SPAN_NAME_RESTART = 'restart';

/** Span event on `start <node>`: the process was spawned (state `running`), with its pid. */
export const EVENT_NAME_SPAWNED = 'process.spawned';
/**
 * Span event on `start <node>`: one readiness attempt (a tcp/http/exec probe, or a matching log
 * line). Only the first {@link READINESS_EVENT_LIMIT} attempts and the last one become events;
 * the span's {@link ATTR_READINESS_ATTEMPTS} says how many there were.
 */
export const EVENT_NAME_READINESS_ATTEMPT = 'drover.readiness.attempt';
/** Readiness attempts recorded as events per `start` span, besides the last attempt (which is always kept). */
export const READINESS_EVENT_LIMIT = 10;
/** Longest `drover.readiness.message` recorded, in UTF-16 code units (longer ones end with `…`). */
export const READINESS_MESSAGE_MAX_LENGTH = 256;
/** Span name of the whole cluster start: from `startTelemetry` until every node is ready or ended. */
export const SPAN_NAME_CLUSTER_UP = 'cluster up';
/**
 * Span name prefix of an injected fault, from injection until healed: `fault <kind> <target>`,
 * the target being the link (`a→b`, `a→b:peer`) or the nodes (`a`, `a,b[1]`). Linked to the
 * current run span (`start`) of each affected node.
 */
export const SPAN_NAME_FAULT = 'fault';

// ---------------------------------------------------------------------------------------------
// Attributes
// ---------------------------------------------------------------------------------------------

/** Fault id (`f1`, `f2`, …, per cluster). On `fault` spans and fault events. */
export const ATTR_FAULT_ID = 'drover.fault.id';
/** Fault kind: `pause`, `crash`, `partition`, `blackhole`, `latency`, `bandwidth`, `reset`, `clock`. On `fault` spans, fault events and {@link METRIC_FAULTS_ACTIVE}. */
export const ATTR_FAULT_KIND = 'drover.fault.kind';
/** Nodes a fault acts on (string array; replicas as `b[1]`; a link's source first). On `fault` spans and fault events. */
export const ATTR_FAULT_NODES = 'drover.fault.nodes';
/** What the fault does, for people (`latency 200 ms`, `clock +90s`). On `fault` spans and fault events. */
export const ATTR_FAULT_DETAIL = 'drover.fault.detail';
/** Who injected the fault: `api`, `cli`, `chaos <seed>`. On `fault` spans and fault events. */
export const ATTR_FAULT_BY = 'drover.fault.by';

/** Node name from the cluster config. On every metric point and span. */
export const ATTR_NODE_NAME = 'drover.node.name';
/** Replica index of the node (0-based integer). On every metric point and span. */
export const ATTR_NODE_REPLICA = 'drover.node.replica';
/** A node lifecycle state; values: the `NodeState`s, listed in lifecycle order by `NODE_STATES` (contract/types.ts). */
export const ATTR_NODE_STATE = 'drover.node.state';
/** Run number of the node (1 = first spawn, increased per spawn). On `start` spans. */
export const ATTR_NODE_RUN = 'drover.node.run';
/** Which stdio stream; values {@link STDIO_STREAM_VALUE_STDIN} and friends. */
export const ATTR_STDIO_STREAM = 'drover.stdio.stream';
/** Why a node was restarted; values {@link RESTART_REASON_VALUES}. */
export const ATTR_RESTART_REASON = 'drover.restart.reason';
/** Restart attempt number (1 = first restart). On `restart` spans. */
export const ATTR_RESTART_ATTEMPT = 'drover.restart.attempt';

/** Readiness attempt number of the run (1 = first). On `drover.readiness.attempt` events. */
export const ATTR_READINESS_ATTEMPT = 'drover.readiness.attempt';
/** Number of readiness attempts the run made before its `start` span ended. On `start` spans (when > 0). */
export const ATTR_READINESS_ATTEMPTS = 'drover.readiness.attempts';
/** Kind of check that made a readiness attempt: `log`, `tcp`, `http` or `exec`. On readiness events. */
export const ATTR_READINESS_CHECK_KIND = 'drover.readiness.check.kind';
/** True when the readiness attempt passed its check. On readiness events. */
export const ATTR_READINESS_OK = 'drover.readiness.ok';
/** What the readiness attempt observed, e.g. `connect failed: ECONNREFUSED`, `status 503`. On readiness events. */
export const ATTR_READINESS_MESSAGE = 'drover.readiness.message';

/** Process id (semconv). Spans only: never on metrics (cardinality). */
export const ATTR_PROCESS_PID = 'process.pid';
/** Exit code of the process (semconv). Spans only. */
export const ATTR_PROCESS_EXIT_CODE = 'process.exit.code';
/** Signal that ended the process, e.g. `SIGKILL` (drover; semconv has no such attribute yet). Spans and events only. */
export const ATTR_PROCESS_EXIT_SIGNAL = 'drover.process.exit.signal';
/** Name of the process executable (semconv): the base name of the node's `command[0]`. On `start` spans. */
export const ATTR_PROCESS_EXECUTABLE_NAME = 'process.executable.name';
/** Class of error an operation ended with (semconv, stable): a `DroverError` code. */
export const ATTR_ERROR_TYPE = 'error.type';
/** Command arguments (semconv, incl. the executable); only with `telemetry.recordArgs`, redacted. Spans only. */
export const ATTR_PROCESS_COMMAND_ARGS = 'process.command_args';
/** CPU mode (semconv); values {@link CPU_MODE_VALUE_USER}, {@link CPU_MODE_VALUE_SYSTEM}. */
export const ATTR_CPU_MODE = 'cpu.mode';
/** Disk I/O direction (semconv); values {@link DISK_IO_DIRECTION_VALUE_READ}, {@link DISK_IO_DIRECTION_VALUE_WRITE}. */
export const ATTR_DISK_IO_DIRECTION = 'disk.io.direction';
/** Context switch type (semconv); values `voluntary`, `involuntary`. */
export const ATTR_PROCESS_CONTEXT_SWITCH_TYPE = 'process.context_switch.type';
/** Page fault type (semconv); values `major`, `minor`. */
export const ATTR_PROCESS_PAGING_FAULT_TYPE = 'process.paging.fault_type';
/** Output stream of a log record (semconv `log.iostream`): `stdout` or `stderr`. */
export const ATTR_LOG_IOSTREAM = 'log.iostream';
/** Sequence number of an output line within its node (log records). */
export const ATTR_OUTPUT_SEQUENCE = 'drover.output.seq';
/** Delay before a restart, in ms (on `drover.node.restarting` events). */
export const ATTR_RESTART_DELAY_MS = 'drover.restart.delay_ms';
/** Name of the cluster (on the `cluster up` span; metrics carry it as `service.namespace`). */
export const ATTR_CLUSTER_NAME = 'drover.cluster.name';
/** Number of nodes the cluster was started with (on the `cluster up` span). */
export const ATTR_CLUSTER_NODE_COUNT = 'drover.cluster.node_count';
/** Logical service name (semconv, stable), on the resource. */
export const ATTR_SERVICE_NAME = 'service.name';
/** Namespace of the service (semconv): the cluster name, on the resource. */
export const ATTR_SERVICE_NAMESPACE = 'service.namespace';

// ---------------------------------------------------------------------------------------------
// Enum values
// ---------------------------------------------------------------------------------------------

/** {@link ATTR_STDIO_STREAM}: the child's standard input. */
export const STDIO_STREAM_VALUE_STDIN = 'stdin';
/** {@link ATTR_STDIO_STREAM}: the child's standard output. */
export const STDIO_STREAM_VALUE_STDOUT = 'stdout';
/** {@link ATTR_STDIO_STREAM}: the child's standard error. */
export const STDIO_STREAM_VALUE_STDERR = 'stderr';

/** {@link ATTR_RESTART_REASON}: the process exited and the policy restarts it. */
export const RESTART_REASON_VALUE_EXITED = 'exited';
/** {@link ATTR_RESTART_REASON}: the process crashed (signal or failure exit code). */
export const RESTART_REASON_VALUE_CRASHED = 'crashed';
/** {@link ATTR_RESTART_REASON}: the shepherd went away without reporting the exit. */
export const RESTART_REASON_VALUE_SHEPHERD_LOST = 'shepherd-lost';
/** {@link ATTR_RESTART_REASON}: restarted on request (`drover restart a`). */
export const RESTART_REASON_VALUE_MANUAL = 'manual';
/** {@link ATTR_RESTART_REASON}: a watched file changed (`watch`); restarted at once, without backoff. */
export const RESTART_REASON_VALUE_WATCH = 'watch';
/**
 * {@link ATTR_RESTART_REASON}: counted in the snapshot but not seen as a `restarting` event
 * (it happened before telemetry subscribed).
 */
export const RESTART_REASON_VALUE_UNKNOWN = 'unknown';

const RESTART_REASON_VALUE_BY_REASON = {
  exited: RESTART_REASON_VALUE_EXITED,
  crashed: RESTART_REASON_VALUE_CRASHED,
  'shepherd-lost': RESTART_REASON_VALUE_SHEPHERD_LOST,
  manual: RESTART_REASON_VALUE_MANUAL,
  watch: RESTART_REASON_VALUE_WATCH,
} as const satisfies { readonly [R in RestartReason]: R };

/** Every {@link ATTR_RESTART_REASON} value (the manager's reasons plus {@link RESTART_REASON_VALUE_UNKNOWN}). */
export const RESTART_REASON_VALUES: readonly (RestartReason | typeof RESTART_REASON_VALUE_UNKNOWN)[] =
  Object.freeze([...Object.values(RESTART_REASON_VALUE_BY_REASON), RESTART_REASON_VALUE_UNKNOWN]);

/** {@link ATTR_ERROR_TYPE} when a process exited before the operation completed and no error code was given. */
export const ERROR_TYPE_VALUE_PROCESS_EXITED = 'ERR_PROCESS_EXITED';
/** {@link ATTR_ERROR_TYPE} when a stop interrupted the operation. */
export const ERROR_TYPE_VALUE_STOPPED = 'ERR_STOPPED';
/** {@link ATTR_ERROR_TYPE} fallback when nothing more specific is known (semconv `_OTHER`). */
export const ERROR_TYPE_VALUE_OTHER = '_OTHER';

/** {@link ATTR_CPU_MODE}: user space. */
export const CPU_MODE_VALUE_USER = 'user';
/** {@link ATTR_CPU_MODE}: kernel. */
export const CPU_MODE_VALUE_SYSTEM = 'system';
/** {@link ATTR_DISK_IO_DIRECTION}: read. */
export const DISK_IO_DIRECTION_VALUE_READ = 'read';
/** {@link ATTR_DISK_IO_DIRECTION}: write. */
export const DISK_IO_DIRECTION_VALUE_WRITE = 'write';
/** {@link ATTR_PROCESS_CONTEXT_SWITCH_TYPE}: the process gave up the CPU (blocked, slept). */
export const CONTEXT_SWITCH_TYPE_VALUE_VOLUNTARY = 'voluntary';
/** {@link ATTR_PROCESS_CONTEXT_SWITCH_TYPE}: the scheduler took the CPU away. */
export const CONTEXT_SWITCH_TYPE_VALUE_INVOLUNTARY = 'involuntary';
/** {@link ATTR_PROCESS_PAGING_FAULT_TYPE}: needed disk I/O. */
export const PAGING_FAULT_TYPE_VALUE_MAJOR = 'major';
/** {@link ATTR_PROCESS_PAGING_FAULT_TYPE}: served from memory. */
export const PAGING_FAULT_TYPE_VALUE_MINOR = 'minor';

// ---------------------------------------------------------------------------------------------
// Lifecycle events (log records with an event name, `@opentelemetry/api-logs`)
// ---------------------------------------------------------------------------------------------

/** Event: the node became ready. */
export const EVENT_NODE_READY = 'drover.node.ready';
/** Event: the node's process exited and will not be restarted (clean end). */
export const EVENT_NODE_EXITED = 'drover.node.exited';
/** Event: the node's process ended abnormally (signal or failure exit code). */
export const EVENT_NODE_CRASHED = 'drover.node.crashed';
/** Event: the node will be restarted after a delay. */
export const EVENT_NODE_RESTARTING = 'drover.node.restarting';
/** Event: the node gave up (restart limit, spawn error, readiness timeout). */
export const EVENT_NODE_FAILED = 'drover.node.failed';
/** Event: a fault was injected (one record per fault; attributes `drover.fault.*`, the node attributes of its first node). */
export const EVENT_FAULT_INJECTED = 'drover.fault.injected';
/** Event: a fault was healed (one record per fault; attributes `drover.fault.*`, the node attributes of its first node). */
export const EVENT_FAULT_HEALED = 'drover.fault.healed';
/** Every lifecycle event name. */
export const EVENT_NAMES: readonly string[] = Object.freeze([
  EVENT_NODE_READY,
  EVENT_NODE_EXITED,
  EVENT_NODE_CRASHED,
  EVENT_NODE_RESTARTING,
  EVENT_NODE_FAILED,
  EVENT_FAULT_INJECTED,
  EVENT_FAULT_HEALED,
]);

/** Span status description / log body placeholder for redacted argument text. */
export const REDACTED_VALUE = '[REDACTED]';

/** On a `stop` span: the signal drover sent first (absent when the node's `stop.command` stopped it). */
export const ATTR_STOP_SIGNAL = 'drover.stop.signal';
/** On a `stop` span: true when the stop timeout ran out and SIGKILL was needed. */
export const ATTR_STOP_FORCED_KILL = 'drover.stop.forced_kill';
/** On a `stop` span: how the node's `stop.command` ended (`exited`, `timed-out`, `not-started`, `skipped`); absent without one. */
export const ATTR_STOP_COMMAND_OUTCOME = 'drover.stop.command.outcome';
/** On a `stop` span: the `stop.command`'s exit code, when it exited. */
export const ATTR_STOP_COMMAND_EXIT_CODE = 'drover.stop.command.exit_code';
/** On a `stop` span: how long the `stop.command` ran, in milliseconds. */
export const ATTR_STOP_COMMAND_DURATION_MS = 'drover.stop.command.duration_ms';
