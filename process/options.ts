import path from 'node:path';
import { DEFAULT_OUTPUT_MAX_BYTES, DEFAULT_OUTPUT_MAX_LINES, DEFAULT_STOP_SIGNAL, DEFAULT_STOP_TIMEOUT_MS, MAX_LINE_BYTES, RESOURCE_LIMIT_NAMES } from '../contract/defaults.js';
import { MAX_SIGNAL_NUMBER, resolveSignal } from '../contract/signals.js';
import type { ResourceLimitName, ResourceLimits } from '../contract/types.js';
import { DroverError } from '../contract/errors.js';
import { MAX_TIMER_MS } from '../contract/long-timer.js';

/** Output policy of one stream. */
export type OutputPolicy = 'buffer' | 'stream' | 'ignore';

/**
 * Options of {@link spawn}. Names follow execa where they fit.
 */
export interface SpawnOptions {
  /** `pipe`: `p.stdin` is a Writable; `ignore`: /dev/null. @default 'ignore' */
  stdin?: 'pipe' | 'ignore';
  /** `buffer`: the manager reads into the ring buffer and never blocks the child; `stream`: `p.stdout` is a Readable with real backpressure; `ignore`: /dev/null. @default 'buffer' */
  stdout?: OutputPolicy;
  /** As `stdout`. @default 'buffer' */
  stderr?: OutputPolicy;
  /** Working directory, resolved against process.cwd(). @default process.cwd() */
  cwd?: string;
  /** Environment entries; `undefined` values remove a variable. @default {} */
  env?: Record<string, string | undefined>;
  /** Start from process.env and add `env` (execa `extendEnv`). @default true */
  extendEnv?: boolean;
  /** Ring buffer bounds. */
  output?: {
    /** @default 1000 */
    maxLines?: number;
    /** @default 1048576 (1 MiB) */
    maxBytes?: number;
    /** Longer lines are split. @default 65536 */
    maxLineBytes?: number;
  };
  /** How `stop()` ends the process, and the grace used if the manager dies. */
  stop?: {
    /** @default 'SIGTERM' */
    signal?: string;
    /** Grace before SIGKILL, ms. @default 10000 */
    timeoutMs?: number;
  };
  /** After the exit status is in, how long to wait for stdout/stderr EOF (a grandchild may hold the pipe), ms. @default 2000 */
  drainTimeoutMs?: number;
  /**
   * Size requested for the child's pipes with F_SETPIPE_SZ, bytes (the kernel rounds up to a power
   * of two pages; 0 = kernel default, 64 KiB). A larger pipe lets a fast writer run longer between
   * wake-ups of the manager. `'auto'`: /proc/sys/fs/pipe-max-size (1 MiB by default) when the
   * user has no per-user pipe budget to exhaust (root, or fs.pipe-user-pages-soft = 0), else the
   * kernel default — a user beyond that budget gets 8 KiB pipes (pipe(7)). The sizes obtained are
   * in `p.pipeSizes`; a shrunken pipe is warned about once (code `DROVER_PIPE_BUDGET`).
   * @default 'auto'
   */
  pipeSizeBytes?: number | 'auto';
  /**
   * Pseudo-terminal mode: the child's stdin, stdout and stderr are the slave of a new pty, which is
   * its controlling terminal (setsid + TIOCSCTTY, as node-pty does); output arrives as `stdout`
   * (stderr is merged), `stdin: 'pipe'` writes to the terminal, and `resize()` sets the window
   * size. `true` means 80x24. @default false
   */
  pty?: boolean | { columns?: number; rows?: number };
  /**
   * Resource limits applied with setrlimit(2) in the child before exec: a number sets soft and hard
   * limit, `'unlimited'` is RLIM_INFINITY, `{ soft, hard }` sets them apart. Sizes (`as`, `core`,
   * `data`, `fsize`, `memlock`, `rss`, `stack`) are bytes; `cpu` seconds. A limit above the
   * manager's own hard limit fails the start with ERR_SPAWN_FAILED (EPERM) unless run as root.
   * @example { nofile: 1024, core: 0, as: 2 ** 31 }
   */
  limits?: ResourceLimits;
  /**
   * Put the child in a cgroup v2 of its own where one is writable (detected at run time; see
   * docs/architecture.md), so every descendant is killed with `cgroup.kill`. Where none is
   * writable, process group + subreaper containment is used alone. @default true
   */
  cgroup?: boolean;
}

export { RESOURCE_LIMIT_NAMES };
export type { ResourceLimitName, ResourceLimits };

/** One normalized limit: the resource's Linux number (RLIMIT_*, generic ABI), null = unlimited. */
export interface NormalizedResourceLimit {
  readonly name: ResourceLimitName;
  readonly resource: number;
  readonly soft: number | null;
  readonly hard: number | null;
}

export interface NormalizedSpawnOptions {
  readonly argv: readonly string[];
  readonly stdin: 'pipe' | 'ignore';
  readonly stdout: OutputPolicy;
  readonly stderr: OutputPolicy;
  readonly cwd: string;
  readonly env: readonly string[];
  readonly output: { readonly maxLines: number; readonly maxBytes: number; readonly maxLineBytes: number };
  readonly stop: { readonly signal: string; readonly signo: number; readonly timeoutMs: number };
  readonly drainTimeoutMs: number;
  readonly pipeSizeBytes: number | 'auto';
  readonly pty: { readonly columns: number; readonly rows: number } | null;
  readonly limits: readonly NormalizedResourceLimit[];
  readonly cgroup: boolean;
}

function invalid(option: string, expected: string, value: unknown): never {
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  throw new DroverError('ERR_INVALID_OPTION', `Expected \`${option}\` to be ${expected}, got ${shown} (${typeof value})`);
}

function validatePositiveInteger(option: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) invalid(option, 'a positive integer', value);
}

/**
 * A duration option in ms: 0 to {@link MAX_TIMER_MS} (about 24.8 days, the longest delay a Node
 * timer honours).
 * @throws {DroverError} ERR_INVALID_OPTION naming the option.
 */
export function validateDurationMs(option: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_TIMER_MS) {
    invalid(option, `a duration in ms from 0 to ${MAX_TIMER_MS} (about 24.8 days)`, value);
  }
}

/** Normalizes a signal name (`TERM` or `SIGTERM`) to `SIGTERM` and its number. */
export function normalizeSignal(option: string, value: unknown): { name: string; signo: number } {
  const signal = resolveSignal(value);
  if (signal !== undefined) return { ...signal };
  // Realtime signals have no name in os.constants, hence numbers up to Linux's 64 (signal(7)).
  return invalid(option, typeof value === 'number' ? `a signal number from 1 to ${MAX_SIGNAL_NUMBER}` : 'a signal name such as SIGTERM', value);
}

/**
 * The one normalizer of spawn options: copies, applies every default, validates in a fixed order.
 * @throws {DroverError} ERR_INVALID_OPTION naming the option.
 */
export function normalizeSpawnOptions(argv: readonly string[], options: SpawnOptions = {}): NormalizedSpawnOptions {
  if (!Array.isArray(argv) || argv.length === 0 || argv.some((a) => typeof a !== 'string')) {
    invalid('command', 'a non-empty array of strings', argv);
  }
  if (argv[0] === '') invalid('command[0]', 'a non-empty string', argv[0]);
  const {
    stdin = 'ignore',
    stdout = 'buffer',
    stderr = 'buffer',
    cwd = process.cwd(),
    env = {},
    extendEnv = true,
    output: { maxLines = DEFAULT_OUTPUT_MAX_LINES, maxBytes = DEFAULT_OUTPUT_MAX_BYTES, maxLineBytes = MAX_LINE_BYTES } = {},
    stop: { signal = DEFAULT_STOP_SIGNAL, timeoutMs = DEFAULT_STOP_TIMEOUT_MS } = {},
    drainTimeoutMs = 2000,
    pipeSizeBytes = 'auto',
    pty = false,
    limits = {},
    cgroup = true,
  } = { ...options };
  if (stdin !== 'pipe' && stdin !== 'ignore') invalid('stdin', "'pipe' or 'ignore'", stdin);
  for (const [name, value] of [['stdout', stdout], ['stderr', stderr]] as const) {
    if (value !== 'buffer' && value !== 'stream' && value !== 'ignore') invalid(name, "'buffer', 'stream' or 'ignore'", value);
  }
  if (typeof cwd !== 'string' || cwd === '') invalid('cwd', 'a non-empty string', cwd);
  if (env === null || typeof env !== 'object') invalid('env', 'an object', env);
  validatePositiveInteger('output.maxLines', maxLines);
  validatePositiveInteger('output.maxBytes', maxBytes);
  validatePositiveInteger('output.maxLineBytes', maxLineBytes);
  const stopSignal = normalizeSignal('stop.signal', signal);
  validateDurationMs('stop.timeoutMs', timeoutMs);
  validateDurationMs('drainTimeoutMs', drainTimeoutMs);
  if (pipeSizeBytes !== 'auto' && (!Number.isSafeInteger(pipeSizeBytes) || pipeSizeBytes < 0 || pipeSizeBytes > 64 * 1024 * 1024)) {
    invalid('pipeSizeBytes', "'auto' or an integer from 0 to 67108864", pipeSizeBytes);
  }
  const normalizedPty = normalizePty(pty);
  if (normalizedPty !== null && (stdout === 'ignore' || stderr === 'ignore')) {
    invalid(stdout === 'ignore' ? 'stdout' : 'stderr', "'buffer' or 'stream' with `pty` (the terminal is one stream)", 'ignore');
  }
  const normalizedLimits = normalizeLimits(limits);
  if (typeof cgroup !== 'boolean') invalid('cgroup', 'a boolean', cgroup);
  const merged: Record<string, string | undefined> = extendEnv ? { ...process.env, ...env } : { ...env };
  const envList: string[] = [];
  for (const [key, value] of Object.entries(merged)) {
    if (value === undefined) continue;
    if (typeof value !== 'string') invalid(`env.${key}`, 'a string', value);
    if (key === '' || key.includes('=')) invalid('env', 'keys without "="', key);
    envList.push(`${key}=${value}`);
  }
  return Object.freeze({
    argv: [...argv],
    stdin,
    stdout,
    stderr,
    cwd: path.resolve(cwd),
    env: envList,
    output: { maxLines, maxBytes, maxLineBytes },
    stop: { signal: stopSignal.name, signo: stopSignal.signo, timeoutMs },
    drainTimeoutMs,
    pipeSizeBytes,
    pty: normalizedPty,
    limits: normalizedLimits,
    cgroup,
  });
}

function normalizePty(value: unknown): { columns: number; rows: number } | null {
  if (value === false) return null;
  if (value === true) return { columns: 80, rows: 24 };
  if (value === null || typeof value !== 'object') return invalid('pty', 'a boolean or { columns, rows }', value);
  const { columns = 80, rows = 24 } = value as { columns?: number; rows?: number };
  for (const [name, v] of [['pty.columns', columns], ['pty.rows', rows]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > 65535) invalid(name, 'an integer from 1 to 65535', v);
  }
  return { columns, rows };
}

function normalizeLimitValue(option: string, value: unknown): number | null {
  if (value === 'unlimited') return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) return invalid(option, "a non-negative integer or 'unlimited'", value);
  return value;
}

/** Validates `limits` and maps names to Linux's RLIMIT_* numbers (their order in RESOURCE_LIMIT_NAMES). */
export function normalizeLimits(limits: unknown): NormalizedResourceLimit[] {
  if (limits === null || typeof limits !== 'object' || Array.isArray(limits)) return invalid('limits', 'an object', limits);
  const result: NormalizedResourceLimit[] = [];
  for (const [name, value] of Object.entries(limits)) {
    const resource = (RESOURCE_LIMIT_NAMES as readonly string[]).indexOf(name);
    if (resource < 0) invalid(`limits.${name}`, `one of ${RESOURCE_LIMIT_NAMES.join(', ')}`, name);
    if (value === undefined) continue;
    let soft: number | null;
    let hard: number | null;
    if (value !== null && typeof value === 'object') {
      soft = normalizeLimitValue(`limits.${name}.soft`, (value as { soft?: unknown }).soft);
      hard = normalizeLimitValue(`limits.${name}.hard`, (value as { hard?: unknown }).hard);
      if (hard !== null && (soft === null || soft > hard)) invalid(`limits.${name}.soft`, `at most hard (${hard})`, soft ?? 'unlimited');
    } else {
      soft = hard = normalizeLimitValue(`limits.${name}`, value);
    }
    result.push({ name: name as ResourceLimitName, resource, soft, hard });
  }
  return result;
}
