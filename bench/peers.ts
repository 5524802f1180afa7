/**
 * The peers scenario: drover against the process managers users would pick instead, pm2 (npm, a
 * devDependency) and supervisord (Debian's `supervisor`), each starting N idle `sleep 3600`
 * processes with its own state in a temp dir. For each N: time until all run, idle CPU and PSS of
 * the supervision layer, and how many of the N survive a SIGKILL of the manager. Every process a
 * contender started is recorded (pid + start time) as it is seen and killed by the bench on every
 * path; a contender that is not installed is skipped by main.ts ({@link getPeerUnavailable}).
 */
import { spawn as spawnChild, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { getClockTicks, getTree, getUptimeSeconds, readCpuNs, readPssKiB, SeenProcesses, type ProcStat } from './proc.js';

export type PeerContender = 'pm2' | 'supervisord' | 'drover-wait';

/** Sizes of the peers and cold scenarios (part of bench/scenarios.ts `Sizes`). */
export interface PeerSizes {
  /** N of the peers scenario: each contender starts N idle processes, for each N in turn. */
  readonly peerCounts: readonly number[];
  /** How long the idle supervision layer's CPU is sampled, ms. */
  readonly peerIdleMs: number;
  /** How long after the manager's SIGKILL its nodes are counted, ms. */
  readonly peerSurvivorWaitMs: number;
  /** Timed runs of each cold-path command per measurement (the median is reported). */
  readonly coldRepeats: number;
  /** Nodes of the running cluster `drover ps` is timed against. */
  readonly coldPsNodes: number;
}

export const FULL_PEER_SIZES: PeerSizes = { peerCounts: [10, 100, 300], peerIdleMs: 20_000, peerSurvivorWaitMs: 3000, coldRepeats: 5, coldPsNodes: 100 };
export const QUICK_PEER_SIZES: PeerSizes = { peerCounts: [10], peerIdleMs: 1000, peerSurvivorWaitMs: 1000, coldRepeats: 2, coldPsNodes: 10 };

const here = path.dirname(fileURLToPath(import.meta.url));
/** The CLI as published (dist/bin/drover.js, what package.json's "bin" names) next to the built bench. */
export const DROVER_CLI = path.join(here, '..', 'bin', 'drover.js');
/** The package entry as published (dist/bundle/index.js, what package.json's "exports" names). */
export const DROVER_ENTRY = path.join(here, '..', 'bundle', 'index.js');

/** The one idle command every contender runs, by absolute path (pm2 and supervisord do not search PATH alike). */
function getSleepPath(): string {
  return ['/usr/bin/sleep', '/bin/sleep'].find((candidate) => existsSync(candidate)) ?? 'sleep';
}
const SLEEP = getSleepPath();

function getPm2Bin(): string | null {
  try {
    return path.join(path.dirname(createRequire(import.meta.url).resolve('pm2/package.json')), 'bin', 'pm2');
  } catch {
    return null;
  }
}

/** Why a peer cannot be measured on this machine (not installed), or null when it can. */
export function getPeerUnavailable(contender: string): string | null {
  if (contender === 'pm2') return getPm2Bin() === null ? 'pm2 is not installed (npm install: it is a devDependency)' : null;
  if (contender === 'supervisord') {
    const found = spawnSync('supervisord', ['--version'], { encoding: 'utf8' });
    return found.status === 0 ? null : 'supervisord is not installed (bash scripts/install-test-deps.sh installs Debian\'s supervisor)';
  }
  return null;
}

export interface CommandResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** performance.now() just before the spawn and at its exit. */
  readonly startedAt: number;
  readonly endedAt: number;
}

/** Runs a command to its exit (stdin ignored), collecting its output; SIGKILLs it after `timeoutMs`. */
export async function runCommand(argv: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<CommandResult> {
  const startedAt = performance.now();
  const child = spawnChild(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  return { code, signal, stdout, stderr, startedAt, endedAt: performance.now() };
}

function describe(argv: readonly string[], r: CommandResult): string {
  return `\`${argv.join(' ')}\` exited with ${r.code ?? r.signal}: ${(r.stderr || r.stdout).trim().slice(-2000)}`;
}

/** A drover.yaml of `count` nodes n0… each running `command`, with drover's defaults. */
export function writeDroverConfig(dir: string, count: number, command: readonly string[] = [SLEEP, '3600']): string {
  const file = path.join(dir, 'drover.yaml');
  const nodes = Array.from({ length: count }, (_, i) => `  n${i}: { command: ${JSON.stringify(command)} }`);
  writeFileSync(file, `name: bench\nnodes:\n${nodes.join('\n')}\n`);
  return file;
}

/** A started contender: its manager, and how to stop it gracefully. */
interface Started {
  /** The manager: drover's background `up`, pm2's God daemon, supervisord. */
  readonly managerPid: number;
  /** Start command spawned → the contender says all N run (drover: `up -d` returned, or `up --wait` for drover-wait; pm2: `jlist` all online; supervisord: `supervisorctl status` all RUNNING), ms. */
  readonly upMs: number;
  /** Start command spawned → it returned (pm2 start; drover up -d), ms. */
  readonly returnMs?: number;
  /** When the start command was spawned, in seconds since boot (the clock of the nodes' start times). */
  readonly t0Uptime: number;
}

interface PeerRun {
  start(count: number, seen: SeenProcesses): Promise<Started>;
  /** The manager's pid once it is known (also after a failed start), else null. */
  getManagerPid(): number | null;
  /** Stops the contender gracefully (after a failed start too); throws when that fails. */
  stop(): Promise<void>;
}

/** Polls a status command back to back until `done(stdout)`; the time is when the answering query STARTED (generous to the peer). */
async function pollStatus(argv: readonly string[], env: NodeJS.ProcessEnv, done: (stdout: string) => boolean, timeoutMs: number, what: string): Promise<number> {
  const until = performance.now() + timeoutMs;
  let last = '';
  for (;;) {
    const r = await runCommand(argv, env, 60_000);
    if (done(r.stdout)) return r.startedAt;
    last = (r.stdout + r.stderr).trim().slice(-1000);
    if (performance.now() > until) throw new Error(`${what}: not all running after ${timeoutMs} ms; last \`${argv.join(' ')}\`: ${last}`);
  }
}

/** drover's contender: `up -d` (returns once every node started) or, with `wait`, `up --wait` (once every node is ready). */
function droverRun(dir: string, wait = false): PeerRun {
  const env: NodeJS.ProcessEnv = { ...process.env, DROVER_STATE_DIR: path.join(dir, 'state'), NO_COLOR: '1' };
  delete env.DROVER_LAUNCHER;
  let config: string | null = null;
  let managerPid: number | null = null;
  return {
    async start(count) {
      config = writeDroverConfig(dir, count);
      const argv = [process.execPath, DROVER_CLI, 'up', wait ? '--wait' : '-d', '-f', config];
      const t0Uptime = getUptimeSeconds();
      const r = await runCommand(argv, env);
      const pid = /drover up pid (\d+)/.exec(r.stdout + r.stderr)?.[1];
      if (pid !== undefined) managerPid = Number(pid);
      if (r.code !== 0 || managerPid === null) throw new Error(`drover: ${describe(argv, r)}`);
      const upMs = r.endedAt - r.startedAt;
      return { managerPid, upMs, returnMs: upMs, t0Uptime };
    },
    getManagerPid: () => managerPid,
    async stop() {
      if (config === null) return;
      const down = [process.execPath, DROVER_CLI, 'down', '-f', config];
      const d = await runCommand(down, env);
      if (d.code !== 0) throw new Error(`drover: ${describe(down, d)}`);
    },
  };
}

function pm2Run(dir: string): PeerRun {
  const bin = getPm2Bin()!;
  const home = path.join(dir, 'pm2-home');
  const env = { ...process.env, PM2_HOME: home };
  const pm2 = (...args: string[]) => [process.execPath, bin, ...args];
  const getManagerPid = () => {
    try {
      const pid = Number(readFileSync(path.join(home, 'pm2.pid'), 'utf8').trim());
      return Number.isInteger(pid) && pid > 0 ? pid : null;
    } catch {
      return null;
    }
  };
  let started = false;
  return {
    async start(count) {
      const ecosystem = path.join(dir, 'ecosystem.config.cjs');
      const apps = Array.from({ length: count }, (_, i) => ({ name: `n${i}`, script: SLEEP, args: '3600', interpreter: 'none', exec_mode: 'fork', autorestart: true }));
      writeFileSync(ecosystem, `module.exports = ${JSON.stringify({ apps }, null, 1)};\n`);
      const argv = pm2('start', ecosystem);
      const t0Uptime = getUptimeSeconds();
      started = true;
      const r = await runCommand(argv, env);
      if (r.code !== 0) throw new Error(`pm2: ${describe(argv, r)}`);
      const allOnline = (stdout: string) => {
        try {
          const list = JSON.parse(stdout.slice(stdout.indexOf('['))) as { pm2_env?: { status?: string } }[];
          return list.length === count && list.every((app) => app.pm2_env?.status === 'online');
        } catch {
          return false;
        }
      };
      const onlineAt = await pollStatus(pm2('jlist'), env, allOnline, 60_000, 'pm2');
      const managerPid = getManagerPid();
      if (managerPid === null) throw new Error(`pm2: no daemon pid in ${home}/pm2.pid`);
      return { managerPid, upMs: Math.max(onlineAt, r.endedAt) - r.startedAt, returnMs: r.endedAt - r.startedAt, t0Uptime };
    },
    getManagerPid,
    async stop() {
      if (!started) return;
      const kill = pm2('kill');
      const k = await runCommand(kill, env);
      if (k.code !== 0) throw new Error(`pm2: ${describe(kill, k)}`);
    },
  };
}

function supervisordRun(dir: string): PeerRun {
  const conf = path.join(dir, 'supervisord.conf');
  let daemon: ChildProcess | null = null;
  let exited: Promise<unknown> = Promise.resolve();
  const running = () => daemon !== null && daemon.exitCode === null && daemon.signalCode === null;
  return {
    async start(count, seen) {
      const programs = Array.from({ length: count }, (_, i) => `[program:n${i}]\ncommand=${SLEEP} 3600\n`);
      writeFileSync(
        conf,
        [
          `[unix_http_server]\nfile=${dir}/supervisor.sock\n`,
          `[supervisord]\nlogfile=${dir}/supervisord.log\npidfile=${dir}/supervisord.pid\nchildlogdir=${dir}\n`,
          '[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n',
          `[supervisorctl]\nserverurl=unix://${dir}/supervisor.sock\n`,
          ...programs,
        ].join('\n'),
      );
      const t0Uptime = getUptimeSeconds();
      const startedAt = performance.now();
      // -n: in the foreground, as this process's child (its pid known, no pidfile to trust).
      daemon = spawnChild('supervisord', ['-n', '-c', conf], { stdio: 'ignore', detached: true });
      exited = once(daemon, 'exit');
      if (daemon.pid === undefined) throw new Error('supervisord: could not be started');
      seen.add(getTree(daemon.pid));
      const allRunning = (stdout: string) => stdout.split('\n').filter((line) => /\sRUNNING\s/.test(line)).length === count;
      const runningAt = await pollStatus(['supervisorctl', '-c', conf, 'status'], process.env, allRunning, 60_000, 'supervisord');
      return { managerPid: daemon.pid, upMs: runningAt - startedAt, t0Uptime };
    },
    getManagerPid: () => (running() ? daemon!.pid! : null),
    async stop() {
      if (running()) daemon!.kill('SIGTERM'); // supervisord stops its programs, then exits
      await exited;
    },
  };
}

function getRun(contender: string, dir: string): PeerRun {
  if (contender === 'drover') return droverRun(dir);
  // Until every node is ready: a node without a ready check is ready once it has run minUptime
  // (500 ms by default), as supervisord's RUNNING waits its startsecs (1 s by default).
  if (contender === 'drover-wait') return droverRun(dir, true);
  if (contender === 'pm2') return pm2Run(dir);
  if (contender === 'supervisord') return supervisordRun(dir);
  throw new Error(`no peers contender ${contender}`);
}

/** The nodes (the N sleeps) and the supervision layer (everything else) of a manager's tree. */
function splitTree(managerPid: number): { nodes: ProcStat[]; layer: ProcStat[] } {
  const tree = getTree(managerPid);
  return { nodes: tree.filter((p) => p.comm === 'sleep'), layer: tree.filter((p) => p.comm !== 'sleep') };
}

/**
 * CPU ns used between two {@link readCpuNs} samples by the processes alive in both (the same pid
 * and start time); null when the kernel has no schedstat.
 */
function sumCpuNs(processes: readonly ProcStat[], before: ReadonlyMap<number, number | null>, after: ReadonlyMap<number, number | null>, now: Map<number, ProcStat>): number | null {
  let ns = 0;
  for (const p of processes) {
    const current = now.get(p.pid);
    const start = before.get(p.pid);
    const end = after.get(p.pid);
    if (current === undefined || current.starttime !== p.starttime || start === undefined || start === null || end === undefined) continue;
    if (end === null) return null;
    ns += end - start;
  }
  return ns;
}

/** CPU ms used so far by the manager, the rest of the supervision layer and the nodes; null without schedstat. */
function getStartCpuMs(managerPid: number, layer: readonly ProcStat[], nodes: readonly ProcStat[]): { manager: number; layer: number; nodes: number } | null {
  const sum = (processes: readonly ProcStat[]): number | null => {
    let ns = 0;
    for (const p of processes) {
      const cpu = readCpuNs(p.pid);
      if (cpu === null) return null;
      ns += cpu;
    }
    return ns / 1e6;
  };
  const manager = sum(layer.filter((p) => p.pid === managerPid));
  const rest = sum(layer.filter((p) => p.pid !== managerPid));
  const own = sum(nodes);
  return manager === null || rest === null || own === null ? null : { manager, layer: rest, nodes: own };
}

function sumTicks(processes: readonly ProcStat[], now: Map<number, ProcStat>): number {
  let ticks = 0;
  for (const p of processes) {
    const current = now.get(p.pid);
    if (current !== undefined && current.starttime === p.starttime) ticks += current.utime + current.stime - (p.utime + p.stime);
  }
  return ticks;
}

/**
 * One contender, N idle processes: start (timed), idle CPU and PSS of the supervision layer,
 * SIGKILL of the manager and its surviving nodes counted; then everything it started is killed
 * (also when a step fails: a graceful stop first). `seen` collects every process of the contender
 * the bench saw; all of them are gone when this returns, else it throws naming those left.
 */
export async function measurePeerCount(
  contender: string,
  count: number,
  sizes: Pick<PeerSizes, 'peerIdleMs' | 'peerSurvivorWaitMs'>,
  seen = new SeenProcesses(),
): Promise<Record<string, number>> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `drover-bench-${contender}-`));
  const run = getRun(contender, dir);
  let killed = false;
  try {
    const started = await run.start(count, seen);
    const { managerPid } = started;
    let { nodes, layer } = splitTree(managerPid);
    seen.add(layer);
    seen.add(nodes);
    if (nodes.length !== count) throw new Error(`${contender}: ${nodes.length} of ${count} sleeps run under manager pid ${managerPid}`);
    const ticks = getClockTicks();
    const lastStart = Math.max(...nodes.map((p) => p.starttime));
    const spawnedMs = Math.max(0, (lastStart / ticks - started.t0Uptime) * 1000);
    // CPU the start has used so far, by part: every process of the tree started with it, so its
    // whole CPU time is the start's (the manager's includes its own Node start-up). The start
    // command itself (drover's waiting `up`, `pm2 start`, `supervisorctl`) has exited and is not
    // counted. Null where the kernel has no schedstat.
    const startCpu = getStartCpuMs(managerPid, layer, nodes);

    await sleep(Math.min(2000, sizes.peerIdleMs / 4)); // start-up work settles
    ({ nodes, layer } = splitTree(managerPid));
    seen.add(layer);
    const cpuBefore = new Map(layer.map((p) => [p.pid, readCpuNs(p.pid)]));
    const t0 = performance.now();
    await sleep(sizes.peerIdleMs);
    const seconds = (performance.now() - t0) / 1000;
    const cpuAfter = new Map(layer.map((p) => [p.pid, readCpuNs(p.pid)]));
    const after = splitTree(managerPid);
    seen.add(after.layer);
    const now = new Map(after.layer.map((p) => [p.pid, p]));
    // In ns where the kernel has schedstat (readCpuNs), else in clock ticks.
    const layerNs = sumCpuNs(layer, cpuBefore, cpuAfter, now);
    const managerNs = sumCpuNs(layer.filter((p) => p.pid === managerPid), cpuBefore, cpuAfter, now);
    const idleCpuPct = layerNs !== null ? (layerNs / 1e9 / seconds) * 100 : (sumTicks(layer, now) / ticks / seconds) * 100;

    const pss = after.layer.map((p) => ({ p, kib: readPssKiB(p.pid) }));
    const pssKiB = pss.reduce((sum, x) => sum + x.kib, 0);
    const shepherds = pss.filter((x) => x.p.comm === 'shepherd');

    // The manager dies without warning: how many of its nodes are left running?
    const manager = after.layer.find((p) => p.pid === managerPid)!;
    if (!SeenProcesses.isAlive(manager)) throw new Error(`${contender}: the manager pid ${managerPid} is gone before the SIGKILL`);
    process.kill(managerPid, 'SIGKILL');
    killed = true;
    await sleep(sizes.peerSurvivorWaitMs);
    const survivors = nodes.filter((p) => SeenProcesses.isAlive(p)).length;

    const n = String(count);
    const figures: Record<string, number> = { [`up${n}Ms`]: started.upMs, [`spawned${n}Ms`]: spawnedMs };
    if (started.returnMs !== undefined && !contender.startsWith('drover')) figures[`return${n}Ms`] = started.returnMs;
    if (startCpu !== null) {
      figures[`startCpuManager${n}Ms`] = startCpu.manager;
      figures[`startCpuLayer${n}Ms`] = startCpu.layer;
      figures[`startCpuNodes${n}Ms`] = startCpu.nodes;
    }
    figures[`idleCpu${n}Pct`] = idleCpuPct;
    figures[`idleTicks${n}`] = sumTicks(layer, now);
    // drover's manager alone (its launcher and shepherds are the rest of the layer).
    if (contender.startsWith('drover')) {
      figures[`idleCpuManager${n}Pct`] = managerNs !== null ? (managerNs / 1e9 / seconds) * 100 : (sumTicks(layer.filter((p) => p.pid === managerPid), now) / ticks / seconds) * 100;
    }
    figures[`pss${n}MiB`] = pssKiB / 1024;
    figures[`pssPerNode${n}KiB`] = pssKiB / count;
    if (shepherds.length > 0) figures[`pssPerShepherd${n}KiB`] = shepherds.reduce((sum, x) => sum + x.kib, 0) / shepherds.length;
    figures[`survivors${n}`] = survivors;
    return figures;
  } finally {
    const managerPid = run.getManagerPid();
    if (managerPid !== null) seen.add(getTree(managerPid));
    if (!killed) {
      try {
        await run.stop();
      } catch (error) {
        process.stderr.write(`bench peers: ${contender} did not stop cleanly (its processes are killed): ${(error as Error).message}\n`);
      }
    }
    seen.killAll();
    const left = await seen.waitAllGone(10_000);
    rmSync(dir, { recursive: true, force: true });
    if (left.length > 0) throw new Error(`${contender}: processes left behind: ${left.map((p) => `${p.pid} (${p.comm})`).join(', ')}`);
  }
}

/** The peers scenario for one contender: {@link measurePeerCount} for each N of `peerCounts`. */
export async function measurePeers(contender: string, sizes: PeerSizes): Promise<Record<string, number>> {
  const figures: Record<string, number> = {};
  for (const count of sizes.peerCounts) Object.assign(figures, await measurePeerCount(contender, count, sizes));
  return figures;
}
