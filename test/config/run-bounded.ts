/**
 * Runs the built CLI on hostile input with a time and memory budget, so a test of "never a hang,
 * never unbounded memory" cannot hang or exhaust the machine itself: the child runs under
 * `prlimit --data` (RLIMIT_DATA bounds its heap and buffers) and is SIGKILLed when the time budget
 * is spent.
 */
import { spawn } from 'node:child_process';
import { CLI } from '../helpers/cli.js';

export interface BoundedResult {
  /** Exit code, or null when the child was killed by a signal. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** The budget ran out and the child was SIGKILLed. */
  readonly timedOut: boolean;
  /** Pid of the CLI process (prlimit execs node in place), for `expectAllGone`. */
  readonly pid: number;
  readonly elapsedMs: number;
}

export interface BoundedOptions {
  /** @default 15000 */
  readonly timeoutMs?: number;
  /** RLIMIT_DATA of the child. @default 1 GiB */
  readonly dataBytes?: number;
  readonly cwd?: string;
}

/** Output kept per stream: enough for any message, bounded against a runaway child. */
const MAX_OUTPUT_CHARS = 256 * 1024;

/** `node dist/bin/drover.js ...args` with a time and memory budget. */
export function runCliBounded(args: readonly string[], options: BoundedOptions = {}): Promise<BoundedResult> {
  const { timeoutMs = 15_000, dataBytes = 1024 ** 3, cwd } = options;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn('prlimit', [`--data=${dataBytes}`, process.execPath, CLI, ...args], {
      env: { ...process.env, NO_COLOR: '1' },
      ...(cwd === undefined ? {} : { cwd }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => {
      if (stdout.length < MAX_OUTPUT_CHARS) stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < MAX_OUTPUT_CHARS) stderr += d.toString();
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut, pid: child.pid!, elapsedMs: Date.now() - started });
    });
  });
}
