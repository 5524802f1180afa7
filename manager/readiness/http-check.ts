import { delay, type ReadinessCheck, type ReadinessContext } from './readiness-check.js';

/** Ready once an HTTP GET answers with the expected status (any 2xx by default). */
export class HttpCheck implements ReadinessCheck {
  private last: string | null = null;

  constructor(
    private readonly url: string,
    private readonly options: { status?: number; timeoutMs: number; intervalMs: number },
  ) {}

  get timeoutMs(): number {
    return this.options.timeoutMs;
  }

  describe(): string {
    return `HTTP GET ${this.url} → ${this.options.status ?? '2xx'}`;
  }

  lastSeen(): string | null {
    return this.last;
  }

  async waitUntilReady(ctx: ReadinessContext): Promise<void> {
    for (;;) {
      if (await this.tryOnce(ctx.signal)) return;
      await delay(this.options.intervalMs, ctx.signal);
    }
  }

  private async tryOnce(signal: AbortSignal): Promise<boolean> {
    const attempt = AbortSignal.any([signal, AbortSignal.timeout(Math.max(250, this.options.intervalMs * 4))]);
    try {
      const response = await fetch(this.url, { signal: attempt, redirect: 'manual' });
      await response.body?.cancel();
      this.last = `status ${response.status}`;
      const expected = this.options.status;
      return expected === undefined ? response.status >= 200 && response.status < 300 : response.status === expected;
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      const cause = (error as { cause?: { code?: string } }).cause;
      this.last = `request failed: ${cause?.code ?? (error as Error).message}`;
      return false;
    }
  }
}
