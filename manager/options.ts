import path from 'node:path';
import { constants as osConstants } from 'node:os';
import { getSignalName } from '../config/index.js';
import { DroverError } from './errors.js';

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
  /** Pseudo-terminal mode; not available yet (issue 3). @default false */
  pty?: false;
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
}

function invalid(option: string, expected: string, value: unknown): never {
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  throw new DroverError('ERR_INVALID_OPTION', `Expected \`${option}\` to be ${expected}, got ${shown} (${typeof value})`);
}

function validatePositiveInteger(option: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) invalid(option, 'a positive integer', value);
}

function validateNonNegative(option: string, value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) invalid(option, 'a non-negative number', value);
}

/** Normalizes a signal name (`TERM` or `SIGTERM`) to `SIGTERM` and its number. */
export function normalizeSignal(option: string, value: unknown): { name: string; signo: number } {
  if (typeof value === 'number') {
    // Realtime signals have no name in os.constants; 1..64 is Linux's range (signal(7)).
    if (!Number.isInteger(value) || value < 1 || value > 64) return invalid(option, 'a signal number from 1 to 64', value);
    const known = Object.entries(osConstants.signals).find(([, signo]) => signo === value);
    return { name: known?.[0] ?? `SIG${value}`, signo: value };
  }
  const name = typeof value === 'string' ? getSignalName(value) : undefined;
  if (name === undefined) return invalid(option, 'a signal name such as SIGTERM', value);
  return { name, signo: (osConstants.signals as Record<string, number>)[name]! };
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
    output: { maxLines = 1000, maxBytes = 1024 * 1024, maxLineBytes = 64 * 1024 } = {},
    stop: { signal = 'SIGTERM', timeoutMs = 10_000 } = {},
    drainTimeoutMs = 2000,
    pty = false,
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
  validateNonNegative('stop.timeoutMs', timeoutMs);
  validateNonNegative('drainTimeoutMs', drainTimeoutMs);
  if (pty !== false) invalid('pty', 'false (pty mode is not available yet)', pty);
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
  });
}
