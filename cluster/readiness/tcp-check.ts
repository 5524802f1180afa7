import net from 'node:net';
import { PollingCheck, type PollingTiming } from './readiness-check.js';

/** Ready once a TCP connection to host:port succeeds (process-compose lacks this probe). */
export class TcpCheck extends PollingCheck {
  protected readonly kind = 'tcp';
  protected readonly minAttemptTimeoutMs = 100;

  constructor(
    private readonly host: string,
    private readonly port: number,
    timing: PollingTiming,
  ) {
    super(timing);
  }

  probe(signal: AbortSignal, attemptTimeoutMs: number): Promise<boolean> {
    return this.tryConnect(signal, attemptTimeoutMs);
  }

  describe(): string {
    return `a TCP connection to ${this.host}:${this.port}`;
  }

  protected override attemptMessage(ok: boolean): string | null {
    return ok ? 'connected' : this.last;
  }

  private tryConnect(signal: AbortSignal, attemptTimeoutMs: number): Promise<boolean> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      if (!Number.isInteger(this.port)) {
        this.last = `port ${String(this.port)} is not a number (unresolved template?)`;
        resolve(false);
        return;
      }
      const socket = net.connect({ host: this.host, port: this.port });
      const onAbort = () => {
        socket.destroy();
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const done = (ok: boolean) => {
        signal.removeEventListener('abort', onAbort);
        socket.destroy();
        resolve(ok);
      };
      socket.setTimeout(attemptTimeoutMs, () => {
        this.last = 'connect timed out';
        done(false);
      });
      socket.once('connect', () => done(true));
      socket.once('error', (error: NodeJS.ErrnoException) => {
        this.last = `connect failed: ${error.code ?? error.message}`;
        done(false);
      });
    });
  }
}
