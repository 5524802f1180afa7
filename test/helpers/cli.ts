import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expectAllGone, expectNoShepherds, isAlive } from './processes.js';
import getPort from 'get-port';
import { waitFor } from './wait-for.js';

/** The CLI as published: the bundle (scripts/bundle.mjs) package.json's "bin" names. */
export const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'bin', 'drover.js');
/** tsc's output of the same CLI, one file per module (for tests of which modules a command loads). */
export const TSC_CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'cli', 'main.js');
export const RING_NODE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'ring', 'node.mjs');

export interface CliResult {
  readonly code: number | null;
  /** The signal that ended the CLI (e.g. SIGPIPE), or null when it exited. */
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** True when the CLI was still running after `killAfterMs` and the helper SIGKILLed it. */
  readonly killed: boolean;
}

export interface RunCliOptions {
  /** Run the CLI as this user (and its group) through `setpriv`, e.g. `nobody`. */
  readonly user?: { readonly name: string; readonly group: string };
  /** Program and arguments the CLI runs under, e.g. `['prlimit', '--fsize=0', '--']`. */
  readonly prefix?: readonly string[];
  /** Close the read end of the CLI's stdout at once, as `drover … | true` does (its writes get EPIPE). */
  readonly closeStdout?: boolean;
  /** SIGKILL the CLI when it still runs after this long (a guard for "never hangs" tests; `killed` says so). */
  readonly killAfterMs?: number;
  /** Working directory of the CLI. @default this process's */
  readonly cwd?: string;
  /** The CLI's main module. @default {@link CLI} */
  readonly cli?: string;
}

function getArgv(args: string[], options: RunCliOptions): [string, string[]] {
  const user = options.user === undefined ? [] : ['setpriv', `--reuid=${options.user.name}`, `--regid=${options.user.group}`, '--clear-groups'];
  const [file, ...rest] = [...user, ...(options.prefix ?? []), process.execPath, options.cli ?? CLI, ...args];
  return [file!, rest];
}

/** Runs the built CLI to completion (NO_COLOR=1 unless `env` says otherwise). */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, options: RunCliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const [file, argv] = getArgv(args, options);
    const child = spawn(file, argv, { env: { ...process.env, NO_COLOR: '1', ...env }, ...(options.cwd === undefined ? {} : { cwd: options.cwd }) });
    let stdout = '';
    let stderr = '';
    let killed = false;
    if (options.closeStdout === true) child.stdout.destroy();
    else child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const guard =
      options.killAfterMs === undefined
        ? null
        : setTimeout(() => {
            killed = true;
            child.kill('SIGKILL');
          }, options.killAfterMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (guard !== null) clearTimeout(guard);
      resolve({ code, signal, stdout, stderr, killed });
    });
  });
}

/** A long-running CLI process (`drover up`, `drover logs --follow`) whose output is collected as it comes. */
export class CliProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly closed: Promise<number | null>;

  constructor(args: string[], env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, NO_COLOR: '1', ...env } });
    this.child.stdout!.on('data', (d: Buffer) => (this.stdout += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.closed = new Promise((resolve) => this.child.on('close', (code) => resolve(code)));
  }

  get isRunning(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Waits until stdout matches; the failure message shows the output so far. */
  async waitForStdout(pattern: string | RegExp, describe: string, timeoutMs = 20_000): Promise<string> {
    const test = (out: string) => (typeof pattern === 'string' ? out.includes(pattern) : pattern.test(out));
    return waitFor(() => this.stdout, test, { timeoutMs, describe });
  }
}

export interface RingOptions {
  /** Extra YAML appended under `nodes:` (indented two spaces per node). */
  readonly extraNodes?: string;
  /** `stop.timeout` of the ring nodes. @default '3s' */
  readonly stopTimeout?: string;
}

/**
 * Writes the example ring (three HTTP nodes a, b, c pinging each other) with free ports from
 * get-port to `<dir>/drover.yaml` and returns its path.
 */
export async function writeRing(dir: string, options: RingOptions = {}): Promise<string> {
  const ports = [await getPort(), await getPort(), await getPort()];
  const names = ['a', 'b', 'c'];
  const nodes = names
    .map((name, i) => {
      const peers = ports.filter((_, j) => j !== i).map((p) => `127.0.0.1:${p}`).join(',');
      return [
        `  ${name}:`,
        `    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(RING_NODE)}]`,
        `    env: { PORT: ${ports[i]}, PEERS: "${peers}" }`,
        `    ready: { http: { url: "http://127.0.0.1:${ports[i]}/health" }, timeout: 10s, interval: 50ms }`,
        `    restart: { policy: on-failure, backoff: { initial: 50ms, max: 1s } }`,
        `    stop: { timeout: ${options.stopTimeout ?? '3s'} }`,
      ].join('\n');
    })
    .join('\n');
  const file = path.join(dir, 'drover.yaml');
  writeFileSync(file, `name: ring\nnodes:\n${nodes}\n${options.extraNodes ?? ''}`);
  return file;
}

/**
 * afterEach of a CLI test: signals every `up` still running (SIGKILL unless told otherwise), waits
 * for them to close, empties `ups`, and proves every pid in `pids` and every shepherd gone.
 */
export async function cleanupCliRun(ups: CliProcess[], pids: Set<number>, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  for (const up of ups) if (up.isRunning) up.child.kill(signal);
  await Promise.all(ups.splice(0).map((u) => u.closed));
  if (pids.size > 0) await expectAllGone(pids);
  pids.clear();
  await expectNoShepherds();
}

/** One row of `drover ps --json` (`replica` is null on the row of a node scaled to 0). */
export interface PsRow {
  name: string;
  replica: number | null;
  state: string;
  pid: number | null;
  restarts: number;
  ports: Record<string, number>;
  uptimeMs: number | null;
  exitCode: number | null;
  signal: string | null;
  error: string | null;
  /** Present while injected faults act on the node. */
  faults?: string[];
}

/**
 * The rows of `drover ps --json` for the cluster of `file`. Every pid seen is added to `pids`, so
 * the test's cleanup can prove them gone. Throws with ps's stderr when it does not exit 0.
 */
export async function readPsRows(file: string, env: NodeJS.ProcessEnv, pids: Set<number>): Promise<PsRow[]> {
  const result = await runCli(['ps', '-f', file, '--json'], env);
  if (result.code !== 0) throw new Error(`ps exited ${result.code}: ${result.stderr}`);
  const rows = JSON.parse(result.stdout) as PsRow[];
  for (const row of rows) if (row.pid !== null) pids.add(row.pid);
  return rows;
}

/**
 * After a test that ran `up --detach`: SIGKILLs a detached `up` (the CLI's drover.js) among `pids`
 * that a failed test left running (its shepherds then stop the nodes), and proves every pid and
 * shepherd gone.
 */
export async function cleanupDetachedRun(pids: Set<number>): Promise<void> {
  for (const pid of pids) {
    if (isAlive(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('/drover.js')) process.kill(pid, 'SIGKILL');
  }
  if (pids.size > 0) await expectAllGone(pids);
  pids.clear();
  await expectNoShepherds();
}

/** One request to a control API socket: the status and the parsed JSON body. */
export function callControlApi(socketPath: string, method: 'GET' | 'POST', urlPath: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path: urlPath }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) as unknown }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The pid of the `drover up` serving the control socket in `stateDir` (from `GET /v1/cluster`). */
export async function getUpPid(stateDir: string): Promise<number> {
  const { status, body } = await callControlApi(path.join(stateDir, 'control.sock'), 'GET', '/v1/cluster');
  if (status !== 200) throw new Error(`GET /v1/cluster answered ${status}: ${JSON.stringify(body)}`);
  return (body as { pid: number }).pid;
}
