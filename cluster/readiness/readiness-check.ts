import { setLongTimeout } from '../../contract/long-timer.js';
import type { OutputLine, ReadinessAttemptKind } from '../../contract/types.js';

/** The outcome of one readiness attempt, as a check reports it through {@link ReadinessContext.onAttempt}. */
export interface ReadinessAttempt {
  /** Which check made the attempt (a sub-check of `all`/`any` reports its own kind). */
  readonly kind: ReadinessAttemptKind;
  /** True when this attempt satisfied the check. */
  readonly ok: boolean;
  /** What was observed, e.g. `connect failed: ECONNREFUSED`, `status 503`, `1 of 2 matching lines`. */
  readonly message: string | null;
}

/** What a readiness check may look at while it waits. */
export interface ReadinessContext {
  /** Lines already read from the process, oldest first. */
  tail(): readonly OutputLine[];
  /** Calls `listener` for every new line; returns the unsubscribe function. */
  subscribe(listener: (line: OutputLine) => void): () => void;
  /** Aborted when the wait ends (timeout, process exit, stop). */
  readonly signal: AbortSignal;
  /**
   * Called after every attempt of a polling check (tcp, http, exec: one per probe) and, for a log
   * check, on every matching line. Liveness probes (`probe()`) do not report. Must not throw.
   */
  readonly onAttempt?: (attempt: ReadinessAttempt) => void;
}

/**
 * A readiness check (testcontainers `WaitStrategy`). `waitUntilReady` resolves when the condition
 * holds and rejects only with an AbortError when `ctx.signal` aborts; timeouts are applied by
 * {@link waitForReady}, which also builds the failure message from `describe()` and `lastSeen()`.
 */
export interface ReadinessCheck {
  /** Overall time allowed, ms. */
  readonly timeoutMs: number;
  /** Delay before the first attempt, ms. @default 0 */
  readonly initialDelayMs?: number;
  /** What is awaited, e.g. `HTTP GET http://127.0.0.1:8080/health → 2xx`. */
  describe(): string;
  /** What was last observed (an error, a status), for failure messages; null if nothing yet. */
  lastSeen(): string | null;
  waitUntilReady(ctx: ReadinessContext): Promise<void>;
  /**
   * One attempt bounded by `attemptTimeoutMs` (liveness probes): true when it passed. Only polling
   * checks (tcp, http, exec) have it.
   */
  probe?(signal: AbortSignal, attemptTimeoutMs: number): Promise<boolean>;
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setLongTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      timer.clear();
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Resolves once at least `ms` have passed on `clock` (default `performance.now`, sub-millisecond),
 * or rejects with the signal's reason when it aborts first. Node's timers count whole
 * milliseconds of a truncated clock, so a plain `ms` timer can fire up to 1 ms early in real time;
 * this waits again for whatever is left.
 */
export async function delayAtLeast(ms: number, signal: AbortSignal, clock: () => number = () => performance.now()): Promise<void> {
  const start = clock();
  for (let left = ms; left > 0; left = ms - (clock() - start)) await delay(Math.ceil(left), signal);
}

/** Timing of a polling check, ms. */
export interface PollingTiming {
  readonly timeoutMs: number;
  readonly intervalMs: number;
  /** @default 0 */
  readonly initialDelayMs?: number;
}

/**
 * The one polling loop of the checks that probe from outside (tcp, http, exec): one attempt,
 * report it, wait `intervalMs`, again, until an attempt passes or `ctx.signal` aborts. An attempt
 * may take `intervalMs × 4` but at least the subclass's `minAttemptTimeoutMs`. Liveness calls
 * {@link probe} directly, one attempt at a time.
 */
export abstract class PollingCheck implements ReadinessCheck {
  /** What the last attempt saw, for failure messages. */
  protected last: string | null = null;
  protected abstract readonly kind: 'tcp' | 'http' | 'exec';
  /** Lower bound of one attempt's time, ms. */
  protected abstract readonly minAttemptTimeoutMs: number;

  constructor(protected readonly timing: PollingTiming) {}

  get timeoutMs(): number {
    return this.timing.timeoutMs;
  }

  get initialDelayMs(): number {
    return this.timing.initialDelayMs ?? 0;
  }

  abstract describe(): string;

  lastSeen(): string | null {
    return this.last;
  }

  /** One attempt bounded by `attemptTimeoutMs`: true when it passed; sets {@link last}. */
  abstract probe(signal: AbortSignal, attemptTimeoutMs: number): Promise<boolean>;

  /** The attempt report's message (default: what the attempt saw). */
  protected attemptMessage(_ok: boolean): string | null {
    return this.last;
  }

  async waitUntilReady(ctx: ReadinessContext): Promise<void> {
    for (;;) {
      const ok = await this.probe(ctx.signal, Math.max(this.minAttemptTimeoutMs, this.timing.intervalMs * 4));
      ctx.onAttempt?.({ kind: this.kind, ok, message: this.attemptMessage(ok) });
      if (ok) return;
      await delay(this.timing.intervalMs, ctx.signal);
    }
  }
}
