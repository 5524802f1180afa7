/**
 * Timers for user-supplied durations. Node's setTimeout keeps delays in a signed 32-bit int: a
 * delay above 2^31-1 ms (24.8 days) fires after 1 ms with a TimeoutOverflowWarning, so
 * `ready.timeout: 1000h` failed in 3 ms and `backoff.initial: 1000h` restarted at once. Config and
 * API options are bounded by {@link MAX_TIMER_MS}; these timers stay correct beyond it anyway (a
 * spec built in code is not validated), by waiting in steps.
 */

/** Longest delay setTimeout honours, ms (2^31-1, about 24.8 days). */
export const MAX_TIMER_MS = 2_147_483_647;

/** A cancellable timer handle. */
export interface LongTimer {
  clear(): void;
  /** Keeps the timer from holding the event loop open (as Timeout.unref()). */
  unref(): LongTimer;
}

/**
 * Calls `callback` once after `ms` (any finite non-negative number; Infinity never fires),
 * however long that is.
 */
export function setLongTimeout(callback: () => void, ms: number): LongTimer {
  let timer: NodeJS.Timeout | undefined;
  let isUnref = false;
  let left = Number.isFinite(ms) ? Math.max(0, ms) : Number.POSITIVE_INFINITY;
  const arm = () => {
    const step = Math.min(left, MAX_TIMER_MS);
    left -= step;
    timer = setTimeout(() => (left > 0 ? arm() : callback()), step);
    if (isUnref) timer.unref();
  };
  arm();
  const handle: LongTimer = {
    clear: () => clearTimeout(timer),
    unref: () => {
      isUnref = true;
      timer?.unref();
      return handle;
    },
  };
  return handle;
}
