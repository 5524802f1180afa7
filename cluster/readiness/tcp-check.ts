import net from 'node:net';
import { delay, type ReadinessCheck, type ReadinessContext } from './readiness-check.js';

/** Ready once a TCP connection to host:port succeeds (process-compose lacks this probe). */
export class TcpCheck implements ReadinessCheck {
  private last: string | null = null;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly options: { timeoutMs: number; intervalMs: number; initialDelayMs?: number },
  ) {}

  get timeoutMs(): number {
    return this.options.timeoutMs;
  }

  get initialDelayMs(): number {
    return this.options.initialDelayMs ?? 0;
  }

  probe(signal: AbortSignal, attemptTimeoutMs: number): Promise<boolean> {
    return this.tryConnect(signal, attemptTimeoutMs);
  }

  describe(): string {
    return `a TCP connection to ${this.host}:${this.port}`;
  }

  lastSeen(): string | null {
    return this.last;
  }

  async waitUntilReady(ctx: ReadinessContext): Promise<void> {
    for (;;) {
      const ok = await this.tryConnect(ctx.signal, Math.max(100, this.options.intervalMs * 4));
      ctx.onAttempt?.({ kind: 'tcp', ok, message: ok ? 'connected' : this.last });
      if (ok) return;
      await delay(this.options.intervalMs, ctx.signal);
    }
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
