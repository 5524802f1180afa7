import { spawn } from '../../process/managed-process.js';
import { PollingCheck, type PollingTiming } from './readiness-check.js';

/**
 * Ready once a command exits 0 (docker `HEALTHCHECK CMD`, process-compose `exec` probe). Each
 * attempt runs through its own shepherd like any drover process, so a hung probe is killed with
 * its whole group and leaves nothing behind.
 */
export class ExecCheck extends PollingCheck {
  protected readonly kind = 'exec';
  protected readonly minAttemptTimeoutMs = 1000;

  constructor(
    private readonly command: readonly string[],
    private readonly options: PollingTiming & { cwd: string; env: Readonly<Record<string, string>> },
  ) {
    super(options);
  }

  describe(): string {
    return `command ${JSON.stringify(this.command.join(' '))} to exit 0`;
  }

  protected override attemptMessage(ok: boolean): string | null {
    return ok ? 'exit code 0' : this.last;
  }

  /** One attempt: true when the command exits 0 within `attemptTimeoutMs`. */
  async probe(signal: AbortSignal, attemptTimeoutMs: number): Promise<boolean> {
    signal.throwIfAborted();
    let child;
    try {
      child = await spawn(this.command, {
        cwd: this.options.cwd,
        env: { ...this.options.env },
        stop: { signal: 'SIGKILL', timeoutMs: 0 },
        output: { maxLines: 20, maxBytes: 16 * 1024 },
      });
    } catch (error) {
      this.last = `could not run: ${(error as Error).message}`;
      return false;
    }
    const timer = setTimeout(() => {
      this.last = `timed out after ${attemptTimeoutMs} ms`;
      void child.stop();
    }, attemptTimeoutMs);
    const onAbort = () => void child.stop();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const result = await child.exited;
      signal.throwIfAborted();
      if (result.exitCode === 0) return true;
      const output = child.output.tail(1)[0]?.text;
      if (result.signal === null || !this.last?.startsWith('timed out')) {
        this.last = `${result.exitCode === null ? `killed by ${result.signal}` : `exit code ${result.exitCode}`}${output === undefined ? '' : `, last output ${JSON.stringify(output)}`}`;
      }
      return false;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  }
}
