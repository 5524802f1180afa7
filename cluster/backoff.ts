import type { BackoffSpec } from '../contract/types.js';

/**
 * Delay before restart `attempt` (1 = first restart), in milliseconds: exponential growth
 * `initialMs · multiplier^(attempt−1)` capped at `maxMs`, then proportional jitter drawn from
 * `[d·(1−jitter), d·(1+jitter)]` and capped at `maxMs` again (the "equal/proportional jitter"
 * family; constant backoff as in process-compose is `multiplier: 1, jitter: 0`). With
 * `jitterMode: 'full'` the delay is drawn from `[0, d]` instead.
 *
 * @param random uniform source in [0, 1), injected for tests (default Math.random).
 */
export function nextDelayMs(attempt: number, backoff: BackoffSpec, random: () => number = Math.random): number {
  const exponent = Math.max(0, attempt - 1);
  const base = Math.min(backoff.maxMs, backoff.initialMs * Math.pow(backoff.multiplier, exponent));
  if (backoff.jitterMode === 'full') return Math.round(base * random());
  const spread = base * backoff.jitter;
  const delay = base - spread + 2 * spread * random();
  return Math.max(0, Math.min(backoff.maxMs, Math.round(delay)));
}
