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

import type { NodeState, RestartReason } from '../manager/types.js';

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

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

/**
 * Bytes moved through a node's stdio pipes, per stream.
 *
 * Observable counter, unit `By`, attributes {@link ATTR_NODE_NAME}, {@link ATTR_NODE_REPLICA},
 * {@link ATTR_STDIO_STREAM}.
 */
export const METRIC_STDIO_IO = 'drover.stdio.io';

/**
 * read(2)/write(2) operations on a node's stdio pipes as seen by the manager (one per chunk).
 *
 * Observable counter, unit `{operation}`, attributes {@link ATTR_NODE_NAME},
 * {@link ATTR_NODE_REPLICA}, {@link ATTR_STDIO_STREAM}.
 */
export const METRIC_STDIO_OPERATIONS = 'drover.stdio.operations';

/**
 * Restarts of a node, by reason.
 *
 * Observable counter, unit `{restart}`, attributes {@link ATTR_NODE_NAME},
 * {@link ATTR_NODE_REPLICA}, {@link ATTR_RESTART_REASON}. The total over reasons equals the
 * node's `restarts` in the snapshot; restarts telemetry did not see happen carry
 * {@link RESTART_REASON_VALUE_UNKNOWN}.
 */
export const METRIC_PROCESS_RESTARTS = 'drover.process.restarts';

/**
 * Current lifecycle state of a node: one series per state in {@link NODE_STATE_VALUES}, 1 for the
 * current state and 0 for every other (the shape of semconv `hw.status`).
 *
 * Observable up-down counter, unit `{node}`, attributes {@link ATTR_NODE_NAME},
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
 * Observable counter, unit `By`, attributes {@link ATTR_NODE_NAME}, {@link ATTR_NODE_REPLICA}.
 */
export const METRIC_OUTPUT_DROPPED = 'drover.output.dropped';

/**
 * Bytes of output currently held by the node's ring buffer.
 *
 * Observable up-down counter, unit `By`, attributes {@link ATTR_NODE_NAME},
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

/** Explicit bucket boundaries advised for {@link METRIC_NODE_START_DURATION}, in seconds. */
export const START_DURATION_BUCKETS_SECONDS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60, 120,
];

// ---------------------------------------------------------------------------------------------
// Spans (the name is `<operation> <node>`, e.g. `start a`)
// ---------------------------------------------------------------------------------------------

/** Span name prefix of a node start: from the transition to `starting` until `ready`. */
export const SPAN_NAME_START = 'start';
/** Span name prefix of a node stop: from the transition to `stopping` until `stopped`/`exited`. */
export const SPAN_NAME_STOP = 'stop';
/** Span name prefix of a node restart: from the `restarting` event until the node is `ready` again. */
export const SPAN_NAME_RESTART = 'restart';

// ---------------------------------------------------------------------------------------------
// Attributes
// ---------------------------------------------------------------------------------------------

/** Node name from the cluster config. On every metric point and span. */
export const ATTR_NODE_NAME = 'drover.node.name';
/** Replica index of the node (0-based integer). On every metric point and span. */
export const ATTR_NODE_REPLICA = 'drover.node.replica';
/** A node lifecycle state; values {@link NODE_STATE_VALUES}. */
export const ATTR_NODE_STATE = 'drover.node.state';
/** Run number of the node (1 = first spawn, increased per spawn). On `start` spans. */
export const ATTR_NODE_RUN = 'drover.node.run';
/** Which stdio stream; values {@link STDIO_STREAM_VALUE_STDIN} and friends. */
export const ATTR_STDIO_STREAM = 'drover.stdio.stream';
/** Why a node was restarted; values {@link RESTART_REASON_VALUES}. */
export const ATTR_RESTART_REASON = 'drover.restart.reason';
/** Restart attempt number (1 = first restart). On `restart` spans. */
export const ATTR_RESTART_ATTEMPT = 'drover.restart.attempt';

/** Process id (semconv). Spans only: never on metrics (cardinality). */
export const ATTR_PROCESS_PID = 'process.pid';
/** Exit code of the process (semconv). Spans only. */
export const ATTR_PROCESS_EXIT_CODE = 'process.exit.code';
/** Name of the process executable (semconv). Reserved: the snapshot does not carry the command yet. */
export const ATTR_PROCESS_EXECUTABLE_NAME = 'process.executable.name';
/** Class of error an operation ended with (semconv, stable): a `DroverError` code. */
export const ATTR_ERROR_TYPE = 'error.type';
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

/** {@link ATTR_NODE_STATE}: declared, not started yet. */
export const NODE_STATE_VALUE_PENDING = 'pending';
/** {@link ATTR_NODE_STATE}: being spawned. */
export const NODE_STATE_VALUE_STARTING = 'starting';
/** {@link ATTR_NODE_STATE}: the process runs; readiness not yet confirmed. */
export const NODE_STATE_VALUE_RUNNING = 'running';
/** {@link ATTR_NODE_STATE}: running and ready. */
export const NODE_STATE_VALUE_READY = 'ready';
/** {@link ATTR_NODE_STATE}: a stop is in progress. */
export const NODE_STATE_VALUE_STOPPING = 'stopping';
/** {@link ATTR_NODE_STATE}: stopped on request. */
export const NODE_STATE_VALUE_STOPPED = 'stopped';
/** {@link ATTR_NODE_STATE}: the process exited (not on request). */
export const NODE_STATE_VALUE_EXITED = 'exited';
/** {@link ATTR_NODE_STATE}: waiting out the backoff delay before a restart. */
export const NODE_STATE_VALUE_BACKOFF = 'backoff';
/** {@link ATTR_NODE_STATE}: gave up (restart limit, spawn error, …). */
export const NODE_STATE_VALUE_FAILED = 'failed';

/** Every {@link ATTR_NODE_STATE} value, keyed by itself; the compiler checks it covers `NodeState`. */
const NODE_STATE_VALUE_BY_STATE = {
  pending: NODE_STATE_VALUE_PENDING,
  starting: NODE_STATE_VALUE_STARTING,
  running: NODE_STATE_VALUE_RUNNING,
  ready: NODE_STATE_VALUE_READY,
  stopping: NODE_STATE_VALUE_STOPPING,
  stopped: NODE_STATE_VALUE_STOPPED,
  exited: NODE_STATE_VALUE_EXITED,
  backoff: NODE_STATE_VALUE_BACKOFF,
  failed: NODE_STATE_VALUE_FAILED,
} as const satisfies { readonly [S in NodeState]: S };

/** Every {@link ATTR_NODE_STATE} value in lifecycle order: one {@link METRIC_NODE_STATE} series each. */
export const NODE_STATE_VALUES: readonly NodeState[] = Object.freeze(
  Object.values(NODE_STATE_VALUE_BY_STATE),
);

/** {@link ATTR_RESTART_REASON}: the process exited and the policy restarts it. */
export const RESTART_REASON_VALUE_EXITED = 'exited';
/** {@link ATTR_RESTART_REASON}: the process crashed (signal or failure exit code). */
export const RESTART_REASON_VALUE_CRASHED = 'crashed';
/** {@link ATTR_RESTART_REASON}: the shepherd went away without reporting the exit. */
export const RESTART_REASON_VALUE_SHEPHERD_LOST = 'shepherd-lost';
/** {@link ATTR_RESTART_REASON}: restarted on request (`drover restart a`). */
export const RESTART_REASON_VALUE_MANUAL = 'manual';
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
