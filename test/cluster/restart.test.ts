import { describe, expect, it } from 'vitest';
import { nextDelayMs } from '../../cluster/backoff.js';
import { RestartWindow, shouldRestart } from '../../cluster/restart-policy.js';

const backoff = { initialMs: 100, maxMs: 1000, multiplier: 2, jitter: 0.2 };

describe('nextDelayMs', () => {
  it('grows exponentially from initialMs up to maxMs without jitter at the midpoint', () => {
    const mid = () => 0.5;
    expect([1, 2, 3, 4, 5, 6].map((a) => nextDelayMs(a, backoff, mid))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('applies proportional jitter inside [d·(1−j), d·(1+j)] and caps at maxMs', () => {
    expect(nextDelayMs(1, backoff, () => 0)).toBe(80);
    expect(nextDelayMs(1, backoff, () => 0.999999)).toBe(120);
    expect(nextDelayMs(6, backoff, () => 0)).toBe(800);
    expect(nextDelayMs(6, backoff, () => 0.999999)).toBe(1000);
  });

  it('draws from [0, d] with full jitter, still capped', () => {
    const full = { ...backoff, jitterMode: 'full' as const };
    expect(nextDelayMs(3, full, () => 0)).toBe(0);
    expect(nextDelayMs(3, full, () => 0.5)).toBe(200);
    expect(nextDelayMs(3, full, () => 0.999999)).toBe(400);
    expect(nextDelayMs(9, full, () => 0.999999)).toBe(1000);
  });

  it('is constant with multiplier 1 and jitter 0', () => {
    const constant = { initialMs: 250, maxMs: 10_000, multiplier: 1, jitter: 0 };
    expect([1, 5, 50].map((a) => nextDelayMs(a, constant, Math.random))).toEqual([250, 250, 250]);
  });
});

describe('shouldRestart', () => {
  it('follows no / on-failure / always', () => {
    expect(shouldRestart('no', { exitCode: 1 })).toBe(false);
    expect(shouldRestart('on-failure', { exitCode: 0 })).toBe(false);
    expect(shouldRestart('on-failure', { exitCode: 2 })).toBe(true);
    expect(shouldRestart('on-failure', { exitCode: null })).toBe(true);
    expect(shouldRestart('always', { exitCode: 0 })).toBe(true);
  });
});

describe('RestartWindow', () => {
  it('allows maxRestarts inside the window and refuses one more', () => {
    const w = new RestartWindow(3, 1000);
    expect([0, 10, 20].map((t) => w.tryRecord(t))).toEqual([true, true, true]);
    expect(w.tryRecord(30)).toBe(false);
  });

  it('forgets restarts older than the window', () => {
    const w = new RestartWindow(2, 1000);
    expect(w.tryRecord(0)).toBe(true);
    expect(w.tryRecord(500)).toBe(true);
    expect(w.tryRecord(999)).toBe(false);
    expect(w.tryRecord(1000)).toBe(true);
  });

  it('with maxRestarts 0 refuses every restart', () => {
    expect(new RestartWindow(0, 1000).tryRecord(0)).toBe(false);
  });
});
