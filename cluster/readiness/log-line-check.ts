import { compileUserPattern, type LinearPattern } from '../../contract/pattern.js';
import type { OutputLine, OutputStream } from '../../contract/types.js';
import type { ReadinessCheck, ReadinessContext } from './readiness-check.js';

/**
 * Ready once `count` output lines match `pattern` (testcontainers `Wait.forLogMessage`). The
 * pattern runs on RE2 (time linear in the line), so a user pattern cannot stall the event loop.
 */
export class LogLineCheck implements ReadinessCheck {
  private matched = 0;
  private last: string | null = null;
  private readonly pattern: LinearPattern;

  /** @throws {DroverError} ERR_INVALID_OPTION when `pattern` is not valid RE2 (see config/pattern.ts). */
  constructor(
    pattern: string | RegExp,
    private readonly options: { stream: OutputStream | 'both'; count: number; timeoutMs: number; initialDelayMs?: number },
  ) {
    this.pattern = compileUserPattern(pattern, 'log pattern');
  }

  get timeoutMs(): number {
    return this.options.timeoutMs;
  }

  get initialDelayMs(): number {
    return this.options.initialDelayMs ?? 0;
  }

  describe(): string {
    const where = this.options.stream === 'both' ? 'output' : this.options.stream;
    return `${this.options.count === 1 ? 'a line' : `${this.options.count} lines`} of ${where} matching ${this.pattern}`;
  }

  lastSeen(): string | null {
    return this.last === null ? null : `${this.matched} matching so far; last line ${JSON.stringify(this.last)}`;
  }

  waitUntilReady(ctx: ReadinessContext): Promise<void> {
    return new Promise((resolve, reject) => {
      const test = (line: OutputLine): boolean => {
        if (this.options.stream !== 'both' && line.stream !== this.options.stream) return false;
        this.last = line.text;
        if (!this.pattern.test(line.text)) return false;
        this.matched++;
        const ok = this.matched >= this.options.count;
        ctx.onAttempt?.({ kind: 'log', ok, message: `${this.matched} of ${this.options.count} matching lines` });
        return ok;
      };
      // Lines that arrived before the check started count too.
      for (const line of ctx.tail()) {
        if (test(line)) {
          resolve();
          return;
        }
      }
      const unsubscribe = ctx.subscribe((line) => {
        if (test(line)) {
          unsubscribe();
          resolve();
        }
      });
      ctx.signal.addEventListener(
        'abort',
        () => {
          unsubscribe();
          reject(ctx.signal.reason);
        },
        { once: true },
      );
    });
  }
}
