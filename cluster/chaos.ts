/**
 * Seeded chaos schedules (Jepsen's nemesis): {@link planChaos} turns a seed into a list of faults
 * to inject (when, which kind, on which nodes, for how long) — the same seed always gives the same
 * list — and {@link runChaos} carries a plan out through injector functions, healing each fault
 * after its duration and everything still active when the schedule ends or is aborted.
 */
import { setMaxListeners } from 'node:events';
import { DroverError } from '../contract/errors.js';
import type { FaultKind, FaultRecord } from '../contract/types.js';

/** A uniform [0, 1) source. */
export type Random = () => number;

/**
 * mulberry32: a tiny 32-bit seeded PRNG (good enough to pick faults; not cryptographic). The same
 * seed gives the same sequence on every platform.
 */
export function createSeededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Options of {@link planChaos}. */
export interface ChaosPlanOptions {
  /** Seed of the schedule: the same seed (and options) gives the same plan. An integer. */
  readonly seed: number;
  /** Fault kinds to pick from, each equally likely (any {@link FaultKind}). */
  readonly faults: readonly FaultKind[];
  /** Mean time between two injections, ms (each gap is 0.5–1.5 × this). */
  readonly intervalMs: number;
  /** Length of the whole schedule, ms: no fault is injected at or after it, and every fault is healed by then. */
  readonly durationMs: number;
  /** Node labels faults may hit (`a`, `b[1]`); at least 1 (2 for the network kinds). */
  readonly targets: readonly string[];
  /** Longest a single fault lasts before it is healed, ms (each lasts 0.5–1 × this, cut at `durationMs`). @default intervalMs */
  readonly faultDurationMs?: number;
}

/** One planned fault. */
export interface ChaosStep {
  /** When to inject it, ms after the schedule starts. */
  readonly atMs: number;
  readonly fault: FaultKind;
  /**
   * Nodes it acts on: one node (`pause`, `crash`, `clock`), the isolated side (`partition`: cut
   * from every other target), or `[from, to]` (`latency`, `bandwidth`, `blackhole`, `reset`).
   */
  readonly targets: readonly string[];
  /** How long it lasts before it is healed, ms. */
  readonly durationMs: number;
  /** The fault's size, when it has one: `latency` ms (50–500), `bandwidth` bytes/s (10 kB–1 MB), `clock` offset ms (±1 s–±5 min); else null. */
  readonly amount: number | null;
}

/** The most steps a plan may have. */
export const MAX_CHAOS_STEPS = 100_000;

const PAIR_KINDS: ReadonlySet<FaultKind> = new Set(['partition', 'latency', 'blackhole', 'bandwidth', 'reset']);

/**
 * The schedule of a seed: pure (no clock, no I/O), so tests can compare plans.
 * @throws {DroverError} ERR_INVALID_OPTION for a non-integer seed, no fault kinds, bad durations,
 *   or too few targets for a kind.
 */
export function planChaos(options: ChaosPlanOptions): ChaosStep[] {
  const { seed, faults, intervalMs, durationMs, targets } = options;
  const faultDurationMs = options.faultDurationMs ?? intervalMs;
  if (!Number.isSafeInteger(seed)) throw new DroverError('ERR_INVALID_OPTION', `chaos seed ${String(seed)} is not an integer`);
  if (!Array.isArray(faults) || faults.length === 0) throw new DroverError('ERR_INVALID_OPTION', 'chaos faults must name at least one fault kind (pause, crash, partition, latency, clock)');
  for (const [name, value] of [['intervalMs', intervalMs], ['durationMs', durationMs], ['faultDurationMs', faultDurationMs]] as const) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new DroverError('ERR_INVALID_OPTION', `chaos ${name} must be a positive number of ms, got ${String(value)}`);
  }
  // Each gap is at least intervalMs / 2: this bounds the plan's length (and its memory).
  if (durationMs / intervalMs > MAX_CHAOS_STEPS / 2) {
    throw new DroverError('ERR_INVALID_OPTION', `chaos durationMs / intervalMs is ${Math.round(durationMs / intervalMs)}: at most ${MAX_CHAOS_STEPS / 2} (a schedule of at most ${MAX_CHAOS_STEPS} faults); use a longer intervalMs`);
  }
  const pool = [...new Set(targets)];
  if (pool.length === 0) throw new DroverError('ERR_INVALID_OPTION', 'chaos needs at least one target node');
  for (const kind of faults) {
    if (PAIR_KINDS.has(kind) && pool.length < 2) throw new DroverError('ERR_INVALID_OPTION', `chaos fault ${kind} needs at least 2 target nodes, got ${pool.join(', ')}`);
  }
  const random = createSeededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const steps: ChaosStep[] = [];
  for (let at = intervalMs * (0.5 + random()); at < durationMs; at += intervalMs * (0.5 + random())) {
    const fault = pick(faults);
    const atMs = Math.round(at);
    const length = Math.round(Math.min(faultDurationMs * (0.5 + random() / 2), durationMs - atMs));
    let chosen: string[];
    let amount: number | null = null;
    if (fault === 'partition') {
      // A minority side: 1 to floor((n-1)/2) nodes (at least 1), cut from the rest.
      const shuffled = shuffle(pool, random);
      chosen = shuffled.slice(0, 1 + Math.floor(random() * Math.max(1, Math.floor((pool.length - 1) / 2))));
    } else if (PAIR_KINDS.has(fault)) {
      const [from, to] = shuffle(pool, random);
      chosen = [from!, to!];
      if (fault === 'latency') amount = 50 + Math.floor(random() * 451);
      else if (fault === 'bandwidth') amount = 10_000 + Math.floor(random() * 990_001);
    } else {
      chosen = [pick(pool)];
      if (fault === 'clock') amount = (random() < 0.5 ? -1 : 1) * (1000 + Math.floor(random() * 299_001));
    }
    steps.push({ atMs, fault, targets: chosen, durationMs: Math.max(0, length), amount });
  }
  return steps;
}

function shuffle<T>(items: readonly T[], random: Random): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

/**
 * Injects one planned fault and returns its record (from the cluster's fault registry), or its
 * records when one step is several faults (a partition cuts one link per pair of nodes).
 */
export type ChaosInjector = (targets: readonly string[], step: ChaosStep) => Promise<FaultRecord | readonly FaultRecord[]>;

/** The injectors by fault kind; a plan may use only kinds present here. */
export type ChaosInjectors = Partial<Record<FaultKind, ChaosInjector>>;

/** What the runner did for one step. */
export interface ChaosEntry {
  /** When it was injected, ms after the schedule started (measured). */
  readonly atMs: number;
  readonly fault: FaultKind;
  readonly targets: readonly string[];
  /** The fault's id (the first one when the step made several), or null when the injection failed. */
  id: string | null;
  /** Every fault id the step made (one for most steps); empty when the injection failed. */
  ids: string[];
  /** When it was healed, ms after the start; null when it never was (injection failed). */
  healedAtMs: number | null;
  /** Why the injection or its heal failed (`CODE: message`), else null. */
  error: string | null;
}

/** Options of {@link runChaos}. */
export interface ChaosRunOptions {
  readonly injectors: ChaosInjectors;
  /** Heals a fault by id (the cluster's `healFaults(id)`). */
  readonly heal: (id: string) => Promise<void>;
  /** Stops the schedule early; everything injected is healed before the promise resolves. */
  readonly signal?: AbortSignal;
  /** Monotonic ms clock. @default performance.now */
  readonly now?: () => number;
  /** Waits `ms` or until `signal` aborts, whichever is first. @default a timer */
  readonly wait?: (ms: number, signal: AbortSignal) => Promise<void>;
}

function waitTimer(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, Math.max(0, ms));
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

function describeError(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  return `${typeof code === 'string' ? `${code}: ` : ''}${error instanceof Error ? error.message : String(error)}`;
}

/**
 * Runs `plan`: injects each step at its time through `injectors[step.fault]`, heals it after its
 * duration, and heals whatever is still active when the plan ends or `signal` aborts. A failed
 * injection or heal is recorded in its entry (`error`) and the schedule goes on.
 * @returns one entry per step reached, in plan order.
 * @throws {DroverError} ERR_UNSUPPORTED, before anything runs, when the plan uses a kind without an injector.
 */
export async function runChaos(plan: readonly ChaosStep[], options: ChaosRunOptions): Promise<ChaosEntry[]> {
  const missing = [...new Set(plan.map((s) => s.fault))].filter((kind) => options.injectors[kind] === undefined);
  if (missing.length > 0) {
    const available = Object.keys(options.injectors).join(', ') || 'none';
    throw new DroverError('ERR_UNSUPPORTED', `chaos cannot inject ${missing.join(', ')} here: the fault kinds available are ${available}`);
  }
  const now = options.now ?? (() => performance.now());
  const wait = options.wait ?? waitTimer;
  const stop = new AbortController();
  // One listener per pending heal timer: a long schedule has many at once.
  setMaxListeners(0, stop.signal);
  const onAbort = () => stop.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) stop.abort();
  const started = now();
  const elapsed = () => Math.round(now() - started);
  const entries: ChaosEntry[] = [];
  const heals: Promise<void>[] = [];
  const healEntry = async (entry: ChaosEntry): Promise<void> => {
    if (entry.id === null || entry.healedAtMs !== null) return;
    entry.healedAtMs = elapsed(); // claimed first: a heal runs once
    for (const id of entry.ids) {
      try {
        await options.heal(id);
      } catch (error) {
        entry.error ??= describeError(error);
      }
    }
  };
  try {
    for (const step of plan) {
      await wait(step.atMs - (now() - started), stop.signal);
      if (stop.signal.aborted) break;
      const entry: ChaosEntry = { atMs: elapsed(), fault: step.fault, targets: step.targets, id: null, ids: [], healedAtMs: null, error: null };
      entries.push(entry);
      try {
        const made = await options.injectors[step.fault]!(step.targets, step);
        entry.ids = (Array.isArray(made) ? made : [made]).map((f: FaultRecord) => f.id);
        entry.id = entry.ids[0] ?? null;
      } catch (error) {
        entry.error = describeError(error);
        continue;
      }
      heals.push(
        (async () => {
          await wait(step.atMs + step.durationMs - (now() - started), stop.signal);
          await healEntry(entry);
        })(),
      );
    }
    // Let the scheduled heals run (or the signal cut them short).
    await Promise.all(heals);
  } finally {
    stop.abort();
    options.signal?.removeEventListener('abort', onAbort);
    await Promise.all(heals);
    for (const entry of entries) await healEntry(entry);
  }
  return entries;
}
