import type { DroverError } from '../contract/errors.js';
import type { ExitInfo, RestartPolicyName } from '../contract/types.js';

/** Error codes of a start that no retry can fix. */
const PERMANENT_CODES: ReadonlySet<string> = new Set(['ERR_COMMAND_NOT_FOUND', 'ERR_PERMISSION_DENIED', 'ERR_CWD', 'ERR_NATIVE_LOAD', 'ERR_INVALID_OPTION', 'ERR_CONFIG_INVALID']);

/**
 * errno values of a failed start that stay true on the next attempt: an executable format the
 * kernel refuses (ENOEXEC: a script without `#!`, another architecture), arguments and environment
 * too large for execve (E2BIG), a path that cannot resolve (ELOOP, ENAMETOOLONG, ENOTDIR, EISDIR),
 * a resource limit above the hard limit (EPERM), and no file descriptors left (EMFILE, ENFILE: the
 * node fails with a clear message instead of cycling through restarts).
 */
const PERMANENT_ERRNOS: ReadonlySet<string> = new Set(['ENOEXEC', 'E2BIG', 'ELOOP', 'ENAMETOOLONG', 'ENOTDIR', 'EISDIR', 'EPERM', 'EMFILE', 'ENFILE']);

/**
 * Whether a failed start (the spawn itself, before the command ran) is permanent: the node then
 * fails at once with that error's own code under every restart policy, never through the restart
 * limit. Transient failures (EAGAIN, ENOMEM, a lost launcher) go through backoff like a crash.
 */
export function isPermanentSpawnError(error: Pick<DroverError, 'code' | 'errno'>): boolean {
  return PERMANENT_CODES.has(error.code) || (error.errno !== undefined && PERMANENT_ERRNOS.has(error.errno));
}

/**
 * Whether a run that ended with `exit` should be restarted under `policy`:
 * `no` never, `always` always, `on-failure` when the exit was not a clean `exitCode` 0
 * (a signal or a lost shepherd counts as a failure), or an exit code outside `successExitCodes`
 * (default `[0]`). A requested stop is decided by the caller.
 */
export function shouldRestart(policy: RestartPolicyName, exit: Pick<ExitInfo, 'exitCode'>, successExitCodes: readonly number[] = [0]): boolean {
  switch (policy) {
    case 'no':
      return false;
    case 'always':
      return true;
    case 'on-failure':
      return exit.exitCode === null || !successExitCodes.includes(exit.exitCode);
  }
}

/**
 * Windowed restart intensity (Erlang/OTP supervisor `intensity`/`period`): more than
 * `maxRestarts` restarts inside the last `windowMs` means the node has failed.
 */
export class RestartWindow {
  private readonly times: number[] = [];

  constructor(
    private readonly maxRestarts: number,
    private readonly windowMs: number,
  ) {}

  /** Records a restart at `now` (ms); returns false when that exceeds the limit. */
  tryRecord(now: number): boolean {
    while (this.times.length > 0 && now - this.times[0]! >= this.windowMs) this.times.shift();
    if (this.times.length >= this.maxRestarts) return false;
    this.times.push(now);
    return true;
  }
}
