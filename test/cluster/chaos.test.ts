/** Seeded chaos schedules: the pure plan, the runner on virtual time, and cluster.chaos on real processes. */
import { afterEach, describe, expect, it } from 'vitest';
import { createSeededRandom, planChaos, runChaos, type ChaosInjectors } from '../../cluster/chaos.js';
import { Cluster } from '../../cluster/cluster.js';
import { findLibfaketime } from '../../cluster/clock-fault.js';
import { isDroverError } from '../../contract/errors.js';
import type { ClusterEvent, FaultKind, FaultRecord } from '../../contract/types.js';
import { createClusterTracker } from '../helpers/cluster-tracker.js';
import { fixture } from '../helpers/fixtures.js';
import { makeCluster, makeNode } from '../helpers/specs.js';

const tracker = createClusterTracker();
afterEach(() => tracker.cleanup());

const BASE = { faults: ['pause', 'crash', 'partition', 'latency', 'clock'] as FaultKind[], intervalMs: 1000, durationMs: 30_000, targets: ['a', 'b', 'c', 'd', 'e'] };

/** Virtual time: `wait` timers fire in time order as `drive` advances the clock. */
function virtualTime() {
  let now = 0;
  const timers: { at: number; resolve: () => void }[] = [];
  const wait = (ms: number, signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      const onAbort = () => {
        timers.splice(timers.indexOf(timer), 1);
        resolve();
      };
      const timer = {
        at: now + Math.max(0, ms),
        resolve: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      timers.push(timer);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  const flush = () => new Promise<void>((resolve) => setImmediate(resolve));
  /** Advances virtual time until `promise` settles, or until the next timer is past `until`. */
  async function advance(promise: Promise<unknown>, until = Infinity): Promise<void> {
    let done = false;
    void promise.finally(() => (done = true)).catch(() => {});
    while (!done) {
      await flush();
      if (done || timers.length === 0) continue;
      timers.sort((x, y) => x.at - y.at);
      if (timers[0]!.at > until) return;
      const timer = timers.shift()!;
      now = timer.at;
      timer.resolve();
    }
  }
  async function drive<T>(promise: Promise<T>): Promise<T> {
    await advance(promise);
    return promise;
  }
  return { now: () => now, wait, drive, advance };
}

function recordingInjectors(log: string[], time: () => number): { injectors: ChaosInjectors; heal: (id: string) => Promise<void> } {
  let next = 1;
  const make = (kind: FaultKind) => async (targets: readonly string[]): Promise<FaultRecord> => {
    const id = `f${next++}`;
    log.push(`${time()} inject ${id} ${kind} ${targets.join(',')}`);
    return { id, kind, nodes: targets, link: null, detail: kind, since: time(), by: 'chaos' };
  };
  const injectors: ChaosInjectors = { pause: make('pause'), crash: make('crash'), partition: make('partition'), latency: make('latency'), clock: make('clock') };
  return { injectors, heal: async (id) => void log.push(`${time()} heal ${id}`) };
}

describe('planChaos', () => {
  it('the same seed gives the same schedule; another seed another one', () => {
    const one = planChaos({ ...BASE, seed: 42 });
    expect(planChaos({ ...BASE, seed: 42 })).toEqual(one);
    expect(planChaos({ ...BASE, seed: 43 })).not.toEqual(one);
    expect(one.length).toBeGreaterThan(10);
    expect(new Set(one.map((s) => s.fault))).toEqual(new Set(BASE.faults));
  });

  it('keeps every step inside the schedule with targets that fit its kind', () => {
    for (const seed of [1, 2, 3, 99, 12345]) {
      for (const step of planChaos({ ...BASE, seed })) {
        expect(step.atMs).toBeGreaterThan(0);
        expect(step.atMs + step.durationMs).toBeLessThanOrEqual(BASE.durationMs);
        for (const t of step.targets) expect(BASE.targets).toContain(t);
        if (step.fault === 'latency') expect([step.targets.length, new Set(step.targets).size, step.amount! >= 50 && step.amount! <= 500]).toEqual([2, 2, true]);
        if (step.fault === 'partition') expect(step.targets.length).toBeLessThanOrEqual(2); // a minority of 5
        if (step.fault === 'clock') expect(Math.abs(step.amount!)).toBeGreaterThanOrEqual(1000);
      }
    }
  });

  it('plans the other link kinds on a [from, to] pair: bandwidth with a rate of 10 kB/s to 1 MB/s, blackhole and reset without an amount', () => {
    const steps = planChaos({ ...BASE, faults: ['bandwidth', 'blackhole', 'reset'], seed: 5 });
    expect(new Set(steps.map((s) => s.fault))).toEqual(new Set(['bandwidth', 'blackhole', 'reset']));
    for (const step of steps) {
      expect([step.targets.length, new Set(step.targets).size]).toEqual([2, 2]);
      if (step.fault === 'bandwidth') expect(step.amount! >= 10_000 && step.amount! <= 1_000_000).toBe(true);
      else expect(step.amount).toBeNull();
    }
  });

  it('refuses bad options with ERR_INVALID_OPTION naming them', () => {
    const cases: [Parameters<typeof planChaos>[0], string][] = [
      [{ ...BASE, seed: 1.5 }, 'seed 1.5'],
      [{ ...BASE, seed: 1, faults: [] }, 'at least one fault kind'],
      [{ ...BASE, seed: 1, intervalMs: 0 }, 'intervalMs'],
      [{ ...BASE, seed: 1, targets: ['a'] }, 'needs at least 2 target nodes'],
      [{ ...BASE, seed: 1, intervalMs: 1, durationMs: 200_000 }, 'durationMs / intervalMs is 200000: at most 50000'],
    ];
    for (const [options, message] of cases) {
      const error = (() => {
        try {
          planChaos(options);
        } catch (e) {
          return e;
        }
      })();
      expect(isDroverError(error, 'ERR_INVALID_OPTION'), message).toBe(true);
      expect((error as Error).message).toContain(message);
    }
  });

  it('the seeded random source is reproducible and uniform enough', () => {
    const a = createSeededRandom(7);
    const b = createSeededRandom(7);
    const values = Array.from({ length: 1000 }, () => a());
    expect(values.slice(0, 5)).toEqual(Array.from({ length: 5 }, () => b()));
    const mean = values.reduce((x, y) => x + y, 0) / values.length;
    expect(mean).toBeGreaterThan(0.45);
    expect(mean).toBeLessThan(0.55);
  });
});

describe('runChaos', () => {
  it('injects each step at its time, heals it after its duration, and returns what it did', async () => {
    const time = virtualTime();
    const log: string[] = [];
    const { injectors, heal } = recordingInjectors(log, time.now);
    const plan = planChaos({ ...BASE, seed: 5, durationMs: 10_000 });
    const entries = await time.drive(runChaos(plan, { injectors, heal, now: time.now, wait: time.wait }));
    expect(entries.map((e) => [e.atMs, e.fault, e.targets, e.healedAtMs, e.error])).toEqual(plan.map((s) => [s.atMs, s.fault, s.targets, s.atMs + s.durationMs, null]));
    expect(log.filter((l) => l.includes('inject'))).toHaveLength(plan.length);
    expect(log.filter((l) => l.includes('heal'))).toHaveLength(plan.length);
  });

  it('an abort heals every active fault before it resolves; nothing is injected after it', async () => {
    const time = virtualTime();
    const log: string[] = [];
    const { injectors, heal } = recordingInjectors(log, time.now);
    const plan = planChaos({ ...BASE, seed: 9, faultDurationMs: 5000 });
    const abort = new AbortController();
    const running = runChaos(plan, { injectors, heal, now: time.now, wait: time.wait, signal: abort.signal });
    await time.advance(running, 4000);
    abort.abort();
    const entries = await time.drive(running);
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.length).toBeLessThan(plan.length);
    for (const entry of entries) expect(entry.healedAtMs, JSON.stringify(entry)).not.toBeNull();
    expect(Math.max(...entries.map((e) => e.healedAtMs!))).toBeLessThanOrEqual(4000);
    const injected = log.filter((l) => l.includes('inject')).length;
    expect(log.filter((l) => l.includes('heal'))).toHaveLength(injected);
  });

  it('records a failed injection and goes on; refuses a kind without injector before running anything', async () => {
    const time = virtualTime();
    const log: string[] = [];
    const { injectors, heal } = recordingInjectors(log, time.now);
    injectors.crash = async () => {
      throw Object.assign(new Error('node a has no running process'), { code: 'ERR_PROCESS_EXITED' });
    };
    const plan = planChaos({ ...BASE, seed: 3, faults: ['crash', 'clock'], durationMs: 10_000 });
    const entries = await time.drive(runChaos(plan, { injectors, heal, now: time.now, wait: time.wait }));
    const crashes = entries.filter((e) => e.fault === 'crash');
    expect(crashes.length).toBeGreaterThan(0);
    for (const e of crashes) expect([e.id, e.healedAtMs, e.error]).toEqual([null, null, 'ERR_PROCESS_EXITED: node a has no running process']);
    expect(entries.filter((e) => e.fault === 'clock').every((e) => e.error === null && e.healedAtMs !== null)).toBe(true);

    const error = await runChaos(plan, { injectors: { clock: injectors.clock! }, heal }).catch((e: unknown) => e);
    expect(isDroverError(error, 'ERR_UNSUPPORTED')).toBe(true);
    expect((error as Error).message).toContain('cannot inject crash here: the fault kinds available are clock');
  });
});

describe.skipIf(findLibfaketime().path === null)('cluster.chaos on real processes', () => {
  it('runs crash and clock faults on real nodes, heals them all at the end, and names the seed as who did it', async () => {
    const nodes = ['a', 'b'].map((name) => makeNode(name, fixture('print-time', 200), { clock: true, restart: { policy: 'always' } }));
    const cluster = tracker.track(new Cluster(makeCluster(nodes)));
    const events: ClusterEvent[] = [];
    cluster.on('event', (e) => events.push(e));
    await cluster.start();
    const entries = await cluster.chaos({ seed: 11, faults: ['crash', 'clock'], intervalMs: 150, durationMs: 1500 });
    expect(entries.map((e) => [e.fault, e.targets])).toEqual(planChaos({ seed: 11, faults: ['crash', 'clock'], intervalMs: 150, durationMs: 1500, targets: ['a', 'b'] }).map((s) => [s.fault, s.targets]));
    expect(entries.some((e) => e.fault === 'crash')).toBe(true);
    expect(entries.some((e) => e.fault === 'clock' && e.error === null)).toBe(true);
    expect(cluster.faults()).toEqual([]);
    const faultEvents = events.filter((e): e is Extract<ClusterEvent, { type: 'fault' }> => e.type === 'fault');
    expect(faultEvents.every((e) => e.fault.by === 'chaos 11')).toBe(true);
    const injected = new Set(faultEvents.filter((e) => e.phase === 'injected').map((e) => e.fault.id));
    const healed = new Set(faultEvents.filter((e) => e.phase === 'healed').map((e) => e.fault.id));
    expect(healed).toEqual(injected);
    const unknown = await cluster.chaos({ seed: 1, faults: ['clock'], intervalMs: 10, durationMs: 20, targets: ['zz'] }).catch((e: unknown) => e);
    expect(isDroverError(unknown, 'ERR_UNKNOWN_NODE')).toBe(true);
    const unsupported = await cluster.chaos({ seed: 1, faults: ['bandwidth'], intervalMs: 10, durationMs: 20 }).catch((e: unknown) => e);
    expect(isDroverError(unsupported, 'ERR_UNSUPPORTED')).toBe(true);
  });
});
