import type { ReadySpec, OutputStream } from '../types.js';
import { DroverError } from '../errors.js';
import { HttpCheck } from './http-check.js';
import { LogLineCheck } from './log-line-check.js';
import type { ReadinessCheck, ReadinessContext } from './readiness-check.js';
import { TcpCheck } from './tcp-check.js';

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_INTERVAL_MS = 250;

/** Factories for readiness checks (testcontainers `Wait.for…`). */
export const Ready = {
  /** A line matching `pattern` (count times) on stdout, stderr or both. @default stream 'both', count 1, timeoutMs 30000 */
  forLogLine(pattern: RegExp, options: { stream?: OutputStream | 'both'; count?: number; timeoutMs?: number } = {}): ReadinessCheck {
    const { stream = 'both', count = 1, timeoutMs = DEFAULT_TIMEOUT_MS } = options;
    return new LogLineCheck(pattern, { stream, count, timeoutMs });
  },
  /** A TCP connect to host:port. @default timeoutMs 30000, intervalMs 250 */
  forTcpPort(host: string, port: number, options: { timeoutMs?: number; intervalMs?: number } = {}): ReadinessCheck {
    const { timeoutMs = DEFAULT_TIMEOUT_MS, intervalMs = DEFAULT_INTERVAL_MS } = options;
    return new TcpCheck(host, port, { timeoutMs, intervalMs });
  },
  /** HTTP GET answering `status` (any 2xx when absent). @default timeoutMs 30000, intervalMs 250 */
  forHttp(url: string, options: { status?: number; timeoutMs?: number; intervalMs?: number } = {}): ReadinessCheck {
    const { timeoutMs = DEFAULT_TIMEOUT_MS, intervalMs = DEFAULT_INTERVAL_MS, status } = options;
    return new HttpCheck(url, status === undefined ? { timeoutMs, intervalMs } : { status, timeoutMs, intervalMs });
  },
  /** The check a normalized config entry describes. */
  fromSpec(spec: ReadySpec): ReadinessCheck {
    switch (spec.kind) {
      case 'log':
        return new LogLineCheck(new RegExp(spec.pattern), { stream: spec.stream, count: spec.count, timeoutMs: spec.timeoutMs });
      case 'tcp':
        return new TcpCheck(spec.host, spec.port, { timeoutMs: spec.timeoutMs, intervalMs: spec.intervalMs });
      case 'http':
        return new HttpCheck(spec.url, spec.status === undefined ? spec : { ...spec, status: spec.status });
    }
  },
} as const;

/** Private control-flow error: the wait was cut short by the caller (never reaches users as is). */
class WaitAborted extends Error {}

/**
 * Runs `check` with its timeout, giving up early when `exited` resolves (the process ended) or
 * `signal` aborts (a stop). Failure messages say what was awaited, for how long and what was last seen.
 * @throws {DroverError} ERR_READY_TIMEOUT, ERR_PROCESS_EXITED, ERR_STOPPED
 */
export async function waitForReady(
  check: ReadinessCheck,
  ctx: Omit<ReadinessContext, 'signal'>,
  exited: Promise<unknown>,
  signal: AbortSignal,
  clock: () => number = Date.now,
): Promise<void> {
  const started = clock();
  const controller = new AbortController();
  let outcome: 'timeout' | 'exited' | 'stopped' | undefined;
  const end = (why: 'timeout' | 'exited' | 'stopped') => {
    outcome ??= why;
    controller.abort(new WaitAborted(why));
  };
  const timer = setTimeout(() => end('timeout'), check.timeoutMs);
  void exited.then(() => end('exited'));
  const onAbort = () => end('stopped');
  signal.addEventListener('abort', onAbort, { once: true });
  if (signal.aborted) end('stopped');
  try {
    await check.waitUntilReady({ ...ctx, signal: controller.signal });
  } catch (error) {
    if (!(error instanceof WaitAborted)) throw error;
    const waited = clock() - started;
    const seen = check.lastSeen();
    const suffix = seen === null ? '' : ` (last seen: ${seen})`;
    if (outcome === 'exited') {
      throw new DroverError('ERR_PROCESS_EXITED', `process exited after ${waited} ms while waiting for ${check.describe()}${suffix}`, {
        reason: 'exited',
      });
    }
    if (outcome === 'stopped') {
      throw new DroverError('ERR_STOPPED', `stopped while waiting for ${check.describe()}`, { reason: 'stopped' });
    }
    throw new DroverError('ERR_READY_TIMEOUT', `not ready after ${waited} ms: waited for ${check.describe()}${suffix}`, {
      reason: 'ready-timeout',
    });
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
    controller.abort(new WaitAborted('done'));
  }
}
