import { DroverError } from '../../contract/errors.js';
import type { ReadinessCheck, ReadinessContext } from './readiness-check.js';
import { delay } from './readiness-check.js';

/**
 * `all: [...]` / `any: [...]`: every (or one) sub-check must pass. Each sub-check keeps its own
 * timeout and initial delay; a sub-check that times out fails `all` at once, and fails `any` only
 * when every other one has failed too.
 */
export class CompositeCheck implements ReadinessCheck {
  private readonly passed = new Set<number>();

  constructor(
    private readonly mode: 'all' | 'any',
    private readonly checks: readonly ReadinessCheck[],
    private readonly options: { timeoutMs: number; initialDelayMs?: number },
  ) {}

  get timeoutMs(): number {
    return this.options.timeoutMs;
  }

  get initialDelayMs(): number {
    return this.options.initialDelayMs ?? 0;
  }

  describe(): string {
    return `${this.mode} of [${this.checks.map((c) => c.describe()).join('; ')}]`;
  }

  lastSeen(): string | null {
    const parts = this.checks.flatMap((check, index) => {
      if (this.passed.has(index)) return [`${check.describe()}: passed`];
      const seen = check.lastSeen();
      return seen === null ? [] : [`${check.describe()}: ${seen}`];
    });
    return parts.length === 0 ? null : parts.join('; ');
  }

  async waitUntilReady(ctx: ReadinessContext): Promise<void> {
    const local = new AbortController();
    const signal = AbortSignal.any([ctx.signal, local.signal]);
    const runs = this.checks.map(async (check, index) => {
      await runCheck(check, { ...ctx, signal });
      this.passed.add(index);
    });
    try {
      if (this.mode === 'all') {
        await Promise.all(runs);
      } else {
        await Promise.any(runs).catch((error: unknown) => {
          throw ctx.signal.aborted ? ctx.signal.reason : ((error as AggregateError).errors[0] as Error);
        });
      }
    } catch (error) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      throw error;
    } finally {
      local.abort();
      await Promise.allSettled(runs);
    }
  }
}

/**
 * Runs one sub-check with its own initial delay and timeout.
 * @throws {DroverError} ERR_READY_TIMEOUT when the sub-check's own timeout runs out; the outer
 *   signal's reason when it aborts.
 */
async function runCheck(check: ReadinessCheck, ctx: ReadinessContext): Promise<void> {
  const timeout = AbortSignal.timeout(check.timeoutMs);
  const signal = AbortSignal.any([ctx.signal, timeout]);
  try {
    await delay(check.initialDelayMs ?? 0, signal);
    await check.waitUntilReady({ ...ctx, signal });
  } catch (error) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    if (timeout.aborted) {
      const seen = check.lastSeen();
      throw new DroverError('ERR_READY_TIMEOUT', `not ready after ${check.timeoutMs} ms: waited for ${check.describe()}${seen === null ? '' : ` (last seen: ${seen})`}`, {
        reason: 'ready-timeout',
      });
    }
    throw error;
  }
}
