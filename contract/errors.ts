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
  | 'ERR_ILLEGAL_TRANSITION';

export interface DroverErrorFields {
  node?: string;
  pid?: number;
  exitCode?: number | null;
  signal?: string | null;
  reason?: string;
  stderrTail?: string;
  syscall?: string;
  errno?: string;
  path?: string;
  /** A TCP port (ERR_TELEMETRY_ENDPOINT). */
  port?: number;
  cause?: unknown;
}

export class DroverError extends Error {
  readonly code: DroverErrorCode;
  readonly node?: string;
  readonly pid?: number;
  readonly exitCode?: number | null;
  readonly signal?: string | null;
  readonly reason?: string;
  readonly stderrTail?: string;
  readonly syscall?: string;
  readonly errno?: string;
  readonly path?: string;
  readonly port?: number;

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

/** Type guard for DroverError with an optional code check. */
export function isDroverError(error: unknown, code?: DroverErrorCode): error is DroverError {
  return error instanceof DroverError && (code === undefined || error.code === code);
}
