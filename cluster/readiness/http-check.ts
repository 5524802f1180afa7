import { compileUserPattern, type LinearPattern } from '../../contract/pattern.js';
import { PollingCheck } from './readiness-check.js';

/** Options of {@link HttpCheck}. */
export interface HttpCheckOptions {
  /** @default 'GET' */
  readonly method?: string;
  /** Expected status; any 2xx when absent. */
  readonly status?: number;
  /**
   * The body must match this (read only when given): RE2 source, or a RegExp translated to RE2
   * (see config/pattern.ts; backreferences and lookaround are refused). Matching takes time linear
   * in the body.
   */
  readonly body?: string | RegExp;
  /** @default {} */
  readonly headers?: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly intervalMs: number;
  /** @default 0 */
  readonly initialDelayMs?: number;
}

/** Ready once an HTTP request answers with the expected status (any 2xx by default) and body. */
export class HttpCheck extends PollingCheck {
  protected readonly kind = 'http';
  protected readonly minAttemptTimeoutMs = 250;
  private readonly body: LinearPattern | undefined;

  /** @throws {DroverError} ERR_INVALID_OPTION when `options.body` is not valid RE2. */
  constructor(
    private readonly url: string,
    private readonly options: HttpCheckOptions,
  ) {
    super(options);
    this.body = options.body === undefined ? undefined : compileUserPattern(options.body, 'body pattern');
  }

  describe(): string {
    const body = this.body === undefined ? '' : ` with body matching ${this.body}`;
    return `HTTP ${this.options.method ?? 'GET'} ${this.url} → ${this.options.status ?? '2xx'}${body}`;
  }

  async probe(signal: AbortSignal, attemptTimeoutMs: number): Promise<boolean> {
    const attempt = AbortSignal.any([signal, AbortSignal.timeout(attemptTimeoutMs)]);
    const { method = 'GET', headers = {}, status: expected } = this.options;
    const pattern = this.body;
    try {
      const response = await fetch(this.url, { method, headers, signal: attempt, redirect: 'manual' });
      const statusOk = expected === undefined ? response.status >= 200 && response.status < 300 : response.status === expected;
      if (pattern === undefined || !statusOk) {
        await response.body?.cancel();
        this.last = `status ${response.status}`;
        return statusOk;
      }
      const text = await response.text();
      const bodyOk = pattern.test(text);
      this.last = `status ${response.status}, body ${JSON.stringify(text.length > 120 ? `${text.slice(0, 119)}…` : text)}`;
      return bodyOk;
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      const cause = (error as { cause?: { code?: string } }).cause;
      this.last = `request failed: ${cause?.code ?? (error as Error).message}`;
      return false;
    }
  }
}
