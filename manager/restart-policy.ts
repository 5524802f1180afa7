import type { ExitInfo, RestartPolicyName } from './types.js';

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
