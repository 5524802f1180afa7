/**
 * The one error type drover throws (execa `lib/return/final-error.js`, plus a string `code`).
 */

/** Every error code drover raises. */
export type DroverErrorCode =
  /** An option passed to the API is invalid. */
  | 'ERR_INVALID_OPTION'
  /** drover.yaml (or a config object) failed validation; `issues` lists every problem. */
  | 'ERR_CONFIG_INVALID'
  /** The config file could not be read. */
  | 'ERR_CONFIG_READ'
  /** argv[0] was not found (ENOENT from execve). */
  | 'ERR_COMMAND_NOT_FOUND'
  /** argv[0] is not executable (EACCES from execve). */
  | 'ERR_PERMISSION_DENIED'
  /** The working directory could not be entered. */
  | 'ERR_CWD'
  /** Any other failure to start the child. */
  | 'ERR_SPAWN_FAILED'
  /** A readiness check did not pass in time. */
  | 'ERR_READY_TIMEOUT'
  /** The process exited while something waited on it (e.g. readiness). */
  | 'ERR_PROCESS_EXITED'
  /** The shepherd went away without reporting the child's exit. */
  | 'ERR_SHEPHERD_LOST'
  /** A malformed or unexpected protocol message. */
  | 'ERR_PROTOCOL'
  /** The native addon could not be loaded. */
  | 'ERR_NATIVE_LOAD'
  /** The node exceeded its restart limit. */
  | 'ERR_RESTART_LIMIT'
  /** No node of that name. */
  | 'ERR_UNKNOWN_NODE'
  /** The cluster or process was stopped while the operation waited. */
  | 'ERR_STOPPED'
  /** The control API could not be reached or answered with an error. */
  | 'ERR_CONTROL_API'
  /** A node could not start because a dependency failed, was stopped, or ended without meeting its `dependsOn` condition. */
  | 'ERR_DEPENDENCY_FAILED'
  /** getsockopt(SO_PEERCRED) failed on a control-API connection (`errno` names the cause). */
  | 'ERR_PEER_CRED'
  /** A process-level system call of the addon failed (getrlimit, prctl, flock, waitid); `errno` and `syscall` name it. */
  | 'ERR_NATIVE_CALL'
  /** The operation was aborted through its AbortSignal before it completed. */
  | 'ERR_ABORTED'
  /** A telemetry endpoint the user asked for (the Prometheus exporter) could not listen; `port`, `errno` and the holder's `pid` say why. */
  | 'ERR_TELEMETRY_ENDPOINT'
  /** A node's state machine was asked for a transition its table forbids (a bug in drover, never user input). */
  | 'ERR_ILLEGAL_TRANSITION'
  /** A fault id that this cluster never issued. */
  | 'ERR_UNKNOWN_FAULT'
  /** The fault cannot be injected on this node or system (a static binary for clock faults, libfaketime missing, network faults not enabled); the message says which. */
  | 'ERR_UNSUPPORTED'
  /** The network-fault relay's worker thread could not start or died; its relayed links are down. */
  | 'ERR_RELAY_FAILED'
  /** No TCP port could be handed out: the candidate range (DROVER_PORT_RANGE) is exhausted, or every free candidate is leased by another drover process, or the port lease directory is unusable (`path` names it). */
  | 'ERR_PORT_ALLOCATION'
  /** A node's `watch` could not be set up: a watched path does not exist (`path`), the tree is larger than the limit, or the watcher failed (`errno`). */
  | 'ERR_WATCH';

/** The facts a {@link DroverError} carries besides its code and message; each is set only when known. */
export interface DroverErrorFields {
  /** The node concerned. */
  node?: string;
  /** The process concerned (for ERR_TELEMETRY_ENDPOINT: the holder of the port). */
  pid?: number;
  /** Exit code of the process that ended, or null when a signal ended it. */
  exitCode?: number | null;
  /** Signal name that ended the process, or null. */
  signal?: string | null;
  /** Short machine-readable cause, e.g. `ready-timeout`, `restart-limit`, `dependency`, `aborted`, a node state. */
  reason?: string;
  /** The node's last stderr lines (up to 10) when it failed to start. */
  stderrTail?: string;
  /** The system call that failed (`listen`, `execve`, `getrlimit` …). */
  syscall?: string;
  /** Its errno name (`ENOENT`, `EADDRINUSE` …). */
  errno?: string;
  /** The file concerned (config file, `.env`, working directory, executable). */
  path?: string;
  /** A TCP port (ERR_TELEMETRY_ENDPOINT). */
  port?: number;
  /** The underlying error, kept as `error.cause`. */
  cause?: unknown;
}

/**
 * Every error drover throws or rejects with: a string `code` to branch on, a message that names
 * what was wrong and where, the facts as fields ({@link DroverErrorFields}), the underlying error
 * as `cause`. Test with {@link isDroverError}.
 *
 * @example
 * try {
 *   await startCluster('drover.yaml');
 * } catch (error) {
 *   if (isDroverError(error, 'ERR_READY_TIMEOUT')) console.error(error.node, error.stderrTail);
 *   throw error;
 * }
 */
export class DroverError extends Error {
  /** What went wrong, one of {@link DroverErrorCode}. */
  readonly code: DroverErrorCode;
  /** See {@link DroverErrorFields.node}. */
  readonly node?: string;
  /** See {@link DroverErrorFields.pid}. */
  readonly pid?: number;
  /** See {@link DroverErrorFields.exitCode}. */
  readonly exitCode?: number | null;
  /** See {@link DroverErrorFields.signal}. */
  readonly signal?: string | null;
  /** See {@link DroverErrorFields.reason}. */
  readonly reason?: string;
  /** See {@link DroverErrorFields.stderrTail}. */
  readonly stderrTail?: string;
  /** See {@link DroverErrorFields.syscall}. */
  readonly syscall?: string;
  /** See {@link DroverErrorFields.errno}. */
  readonly errno?: string;
  /** See {@link DroverErrorFields.path}. */
  readonly path?: string;
  /** See {@link DroverErrorFields.port}. */
  readonly port?: number;

  /** @param fields facts of the error; `cause` becomes `error.cause`, the others own properties. */
  constructor(code: DroverErrorCode, message: string, fields: DroverErrorFields = {}) {
    const { cause, ...facts } = fields;
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    for (const [key, value] of Object.entries(facts)) {
      if (value !== undefined) (this as Record<string, unknown>)[key] = value;
    }
  }
}
Object.defineProperty(DroverError.prototype, 'name', {
  value: 'DroverError',
  enumerable: false,
  writable: true,
  configurable: true,
});

/** Whether `error` is a {@link DroverError} (with code `code`, when given): a type guard. */
export function isDroverError(error: unknown, code?: DroverErrorCode): error is DroverError {
  return error instanceof DroverError && (code === undefined || error.code === code);
}
