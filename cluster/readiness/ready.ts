import type { ReadySpec, OutputStream } from '../../contract/types.js';
import { DEFAULT_READY_INTERVAL_MS, DEFAULT_READY_TIMEOUT_MS } from '../../contract/defaults.js';
import { DroverError } from '../../contract/errors.js';
import { setLongTimeout } from '../../contract/long-timer.js';
import { CompositeCheck } from './composite-check.js';
import { ExecCheck } from './exec-check.js';
import { HttpCheck, type HttpCheckOptions } from './http-check.js';
import { LogLineCheck } from './log-line-check.js';
import { delay, type ReadinessAttempt, type ReadinessCheck, type ReadinessContext } from './readiness-check.js';
import { TcpCheck, type PortOwnership } from './tcp-check.js';
import type { NodeTree } from '../../network/peer-identity.js';


/** Where exec checks run: the node's working directory and environment; and the node, for tcp checks with `owned`. */
export interface CheckEnvironment {
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  /** The node the check is for: its label, its allocated ports, its current process tree. */
  readonly node?: {
    readonly label: string;
    readonly ports: Readonly<Record<string, number>>;
    readonly tree: () => NodeTree | null;
  };
}

/** Factories for readiness checks (testcontainers `Wait.for…`). */
export const Ready = {
  /**
   * A line matching `pattern` (count times) on stdout, stderr or both. `pattern` is RE2 source or
   * a RegExp translated to RE2 (its `i`, `m`, `s` flags kept), so matching takes time linear in
   * the line; backreferences and lookaround are refused.
   * @default stream 'both', count 1, timeoutMs 30000
   * @throws {DroverError} ERR_INVALID_OPTION when `pattern` is not valid RE2.
   */
  forLogLine(pattern: RegExp | string, options: { stream?: OutputStream | 'both'; count?: number; timeoutMs?: number } = {}): ReadinessCheck {
    const { stream = 'both', count = 1, timeoutMs = DEFAULT_READY_TIMEOUT_MS } = options;
    return new LogLineCheck(pattern, { stream, count, timeoutMs });
  },
  /** A TCP connect to host:port. @default timeoutMs 30000, intervalMs 250 */
  forTcpPort(host: string, port: number, options: { timeoutMs?: number; intervalMs?: number } = {}): ReadinessCheck {
    const { timeoutMs = DEFAULT_READY_TIMEOUT_MS, intervalMs = DEFAULT_READY_INTERVAL_MS } = options;
    return new TcpCheck(host, port, { timeoutMs, intervalMs });
  },
  /**
   * An HTTP request answering `status` (any 2xx when absent) and, when given, a body matching
   * `body` (RE2 source or a RegExp translated to RE2, as for `forLogLine`).
   * @default method 'GET', timeoutMs 30000, intervalMs 250
   * @throws {DroverError} ERR_INVALID_OPTION when `body` is not valid RE2.
   */
  forHttp(url: string, options: Partial<HttpCheckOptions> = {}): ReadinessCheck {
    const { timeoutMs = DEFAULT_READY_TIMEOUT_MS, intervalMs = DEFAULT_READY_INTERVAL_MS, ...rest } = options;
    return new HttpCheck(url, { ...rest, timeoutMs, intervalMs });
  },
  /** A command that must exit 0, retried every `intervalMs`. @default cwd process.cwd(), env {}, timeoutMs 30000, intervalMs 250 */
  forCommand(command: readonly string[], options: { cwd?: string; env?: Record<string, string>; timeoutMs?: number; intervalMs?: number } = {}): ReadinessCheck {
    const { cwd = process.cwd(), env = {}, timeoutMs = DEFAULT_READY_TIMEOUT_MS, intervalMs = DEFAULT_READY_INTERVAL_MS } = options;
    return new ExecCheck(command, { cwd, env, timeoutMs, intervalMs });
  },
  /** The check a normalized config entry describes (templates already filled in). */
  fromSpec(spec: ReadySpec, environment: CheckEnvironment = { cwd: process.cwd(), env: {} }): ReadinessCheck {
    const timing = { timeoutMs: spec.timeoutMs, intervalMs: spec.intervalMs, initialDelayMs: spec.initialDelayMs };
    switch (spec.kind) {
      case 'log':
        return new LogLineCheck(spec.pattern, { stream: spec.stream, count: spec.count, ...timing });
      case 'tcp':
        return new TcpCheck(spec.host, Number(spec.port), timing, spec.owned === true ? getOwnership(Number(spec.port), environment) : null);
      case 'http':
        return new HttpCheck(spec.url, {
          method: spec.method,
          headers: spec.headers,
          ...(spec.status === undefined ? {} : { status: spec.status }),
          ...(spec.body === undefined ? {} : { body: spec.body }),
          ...timing,
        });
      case 'exec':
        return new ExecCheck(spec.command, { ...environment, ...timing });
      case 'exit':
        return new ExitCheck(spec.codes, timing);
      case 'all':
      case 'any':
        return new CompositeCheck(spec.kind, spec.checks.map((check) => Ready.fromSpec(check, environment)), timing);
    }
  },
} as const;

/**
 * Who must own the port of a tcp check with `owned`: the environment's node; without one (a check
 * built outside a node) no process can qualify, and the check says so.
 */
function getOwnership(port: number, environment: CheckEnvironment): PortOwnership {
  const node = environment.node;
  if (node === undefined) return { node: '(none)', portName: null, tree: () => null };
  const portName = Object.entries(node.ports).find(([, value]) => value === port)?.[0] ?? null;
  return { node: node.label, portName, tree: node.tree };
}

/**
 * `exit`: for one-shot jobs. The check itself only waits; the node's supervisor sees the exit and
 * decides by the exit code ({@link waitForReady} gives up with ERR_PROCESS_EXITED when it comes).
 */
class ExitCheck implements ReadinessCheck {
  constructor(
    private readonly codes: readonly number[],
    private readonly options: { timeoutMs: number; initialDelayMs: number },
  ) {}

  get timeoutMs(): number {
    return this.options.timeoutMs;
  }

  describe(): string {
    return `the process to exit with code ${this.codes.join(' or ')}`;
  }

  lastSeen(): string | null {
    return 'still running';
  }

  waitUntilReady(ctx: ReadinessContext): Promise<void> {
    return new Promise((_resolve, reject) => {
      ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
    });
  }
}

/** Private control-flow error: the wait was cut short by the caller (never reaches users as is). */
class WaitAborted extends Error {}

/** What {@link waitForReady} gives the check; `onAttempt` also receives the attempt number (1-based, per wait). */
export interface WaitContext extends Omit<ReadinessContext, 'signal' | 'onAttempt'> {
  readonly onAttempt?: (attempt: ReadinessAttempt, number: number) => void;
}

/**
 * Runs `check` with its timeout, giving up early when `exited` resolves (the process ended) or
 * `signal` aborts (a stop). Failure messages say what was awaited, for how long and what was last seen.
 * @throws {DroverError} ERR_READY_TIMEOUT, ERR_PROCESS_EXITED, ERR_STOPPED
 */
export async function waitForReady(
  check: ReadinessCheck,
  ctx: WaitContext,
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
  const timer = setLongTimeout(() => end('timeout'), check.timeoutMs);
  void exited.then(() => end('exited'));
  const onAbort = () => end('stopped');
  signal.addEventListener('abort', onAbort, { once: true });
  if (signal.aborted) end('stopped');
  try {
    await delay(check.initialDelayMs ?? 0, controller.signal);
    let attempts = 0;
    const { onAttempt, ...rest } = ctx;
    await check.waitUntilReady({
      ...rest,
      signal: controller.signal,
      ...(onAttempt ? { onAttempt: (attempt: ReadinessAttempt) => onAttempt(attempt, ++attempts) } : {}),
    });
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
    timer.clear();
    signal.removeEventListener('abort', onAbort);
    controller.abort(new WaitAborted('done'));
  }
}
