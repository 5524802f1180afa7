/**
 * delayAtLeast, the minUptime wait: Node's timers count whole milliseconds of a truncated clock,
 * so a 300 ms timer can fire 299.x ms later in real time; a node without a ready check must have
 * stayed up the whole minUptime before it shows ready. The clock is injected.
 */
import { describe, expect, it } from 'vitest';
import { delayAtLeast } from '../../cluster/readiness/readiness-check.js';

describe('delayAtLeast', () => {
  it('waits again for what is left when the timer fired early on the clock', async () => {
    // The first timer ends with 0.4 ms missing on the clock; a second, 1 ms timer makes it up.
    const readings = [1000, 1049.6, 1050.2];
    const clock = () => readings.shift() ?? Number.NaN;
    await delayAtLeast(50, neverAborted(), clock);
    expect(readings).toEqual([]); // read once more after each timer: two timers ran
  });

  it('runs one timer when it fired on time', async () => {
    const readings = [1000, 1050];
    await delayAtLeast(50, neverAborted(), () => readings.shift() ?? Number.NaN);
    expect(readings).toEqual([]);
  });

  it('rejects with the reason when aborted during a wait', async () => {
    const controller = new AbortController();
    const waiting = delayAtLeast(10_000, controller.signal);
    controller.abort(new Error('stopped'));
    await expect(waiting).rejects.toThrow('stopped');
  });
});

/** A signal that never aborts. */
function neverAborted(): AbortSignal {
  return new AbortController().signal;
}
