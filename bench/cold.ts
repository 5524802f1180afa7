/**
 * The cold scenario: what a user waits for before drover does anything, each command timed from
 * its spawn, against the floor `node -e 0` spawned the same way in the same run. Every contender
 * times `coldRepeats` fresh processes and reports the median (and the fastest).
 *
 * The CLI's code cache (cli/compile-cache.ts) starts empty in each measurement (a directory of its
 * own): the first run compiles everything and fills it, as the first run after an install does.
 * `firstMs` is that run; `ms` the median of the runs after it (of the only run when there is one).
 */
import { spawn as spawnChild, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { DROVER_CLI, DROVER_ENTRY, runCommand, writeDroverConfig, type PeerSizes } from './peers.js';
import { getTree, SeenProcesses } from './proc.js';
import { median } from './stats.js';

/**
 * `node-e0`: the floor; `import-spawn`: `import { spawn }` from the built package; `cli-help`:
 * `drover --help`; `cli-ps`: `drover ps` against a running cluster of `coldPsNodes` sleeps;
 * `up-first-node`: foreground `drover up` of one node until that node runs (it writes to a fifo);
 * `up-d-1`: `drover up -d` of one node until it returns.
 */
export type ColdContender = 'node-e0' | 'import-spawn' | 'cli-help' | 'cli-ps' | 'up-first-node' | 'up-d-1';

interface Temp {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
}

function makeTemp(): Temp {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'drover-bench-cold-'));
  const env: NodeJS.ProcessEnv = { ...process.env, DROVER_STATE_DIR: path.join(dir, 'state'), DROVER_COMPILE_CACHE: path.join(dir, 'compile-cache'), NO_COLOR: '1' };
  delete env.DROVER_LAUNCHER;
  return { dir, env };
}

/** Spawn → exit of a command that must exit 0, ms. */
async function timeCommand(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const r = await runCommand(argv, env, 60_000);
  if (r.code !== 0) throw new Error(`\`${argv.join(' ')}\` exited with ${r.code ?? r.signal}: ${(r.stderr || r.stdout).trim().slice(-1000)}`);
  return r.endedAt - r.startedAt;
}

let fifoCount = 0;

/**
 * Foreground `drover up` of one node whose command writes to a fifo: spawn → the fifo's line read,
 * ms. Then SIGINT to that `drover up` (which stops its node and exits).
 */
async function timeFirstNode(temp: Temp, seen: SeenProcesses): Promise<number> {
  const fifo = path.join(temp.dir, `first-node-${++fifoCount}.fifo`);
  const made = spawnSync('mkfifo', [fifo]);
  if (made.status !== 0) throw new Error(`mkfifo ${fifo} failed: ${made.stderr}`);
  const config = writeDroverConfig(temp.dir, 1, ['/bin/sh', '-c', `echo up > ${fifo}; exec sleep 3600`]);
  // Opening a fifo for reading blocks (on a libuv thread) until the node opens it for writing.
  const reading = open(fifo, 'r').then(async (handle) => {
    try {
      await handle.readFile();
      return performance.now();
    } finally {
      await handle.close();
    }
  });
  const t0 = performance.now();
  const up = spawnChild(process.execPath, [DROVER_CLI, 'up', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'], env: temp.env });
  let stderr = '';
  up.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = once(up, 'exit');
  const failed = exited.then(() => {
    throw new Error(`foreground drover up exited before its node ran: ${stderr.trim().slice(-1000)}`);
  });
  try {
    const t1 = await Promise.race([reading, failed]);
    seen.add(getTree(up.pid!));
    return t1 - t0;
  } finally {
    if (up.exitCode === null && up.signalCode === null) {
      if (up.pid !== undefined) seen.add(getTree(up.pid));
      up.kill('SIGINT');
      const timer = setTimeout(() => up.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    failed.catch(() => {});
    // A reader still blocked in open() is released by opening the fifo for writing once.
    spawnSync('/bin/sh', ['-c', `exec 3<>${fifo}`]);
    await reading.catch(() => {});
  }
}

/** One cold-path measurement: `coldRepeats` timed runs of the contender's command; the first, then median and fastest of the others, ms. */
export async function measureCold(contender: string, sizes: PeerSizes): Promise<Record<string, number>> {
  const temp = makeTemp();
  const seen = new SeenProcesses();
  let psConfig: string | null = null;
  try {
    let argv: string[] | null = null;
    switch (contender) {
      case 'node-e0':
        argv = [process.execPath, '-e', '0'];
        break;
      case 'import-spawn':
        argv = [process.execPath, '--input-type=module', '-e', `import { spawn } from ${JSON.stringify(pathToFileURL(DROVER_ENTRY).href)}; if (typeof spawn !== 'function') process.exit(3);`];
        break;
      case 'cli-help':
        argv = [process.execPath, DROVER_CLI, '--help'];
        break;
      case 'cli-ps': {
        psConfig = writeDroverConfig(temp.dir, sizes.coldPsNodes);
        const up = await runCommand([process.execPath, DROVER_CLI, 'up', '-d', '-f', psConfig], temp.env);
        const pid = /drover up pid (\d+)/.exec(up.stdout + up.stderr)?.[1];
        if (pid !== undefined) seen.add(getTree(Number(pid)));
        if (up.code !== 0) throw new Error(`drover up -d for the ps measurement failed: ${(up.stderr || up.stdout).trim().slice(-1000)}`);
        argv = [process.execPath, DROVER_CLI, 'ps', '-f', psConfig];
        break;
      }
      case 'up-d-1':
      case 'up-first-node':
        break;
      default:
        throw new Error(`no cold contender ${contender}`);
    }
    const times: number[] = [];
    for (let i = 0; i < sizes.coldRepeats; i++) {
      if (argv !== null) times.push(await timeCommand(argv, temp.env));
      else if (contender === 'up-first-node') times.push(await timeFirstNode(temp, seen));
      else {
        const config = writeDroverConfig(temp.dir, 1);
        const up = [process.execPath, DROVER_CLI, 'up', '-d', '-f', config];
        const r = await runCommand(up, temp.env);
        const pid = /drover up pid (\d+)/.exec(r.stdout + r.stderr)?.[1];
        if (pid !== undefined) seen.add(getTree(Number(pid)));
        if (r.code !== 0) throw new Error(`\`${up.join(' ')}\` exited with ${r.code}: ${(r.stderr || r.stdout).trim().slice(-1000)}`);
        times.push(r.endedAt - r.startedAt);
        await timeCommand([process.execPath, DROVER_CLI, 'down', '-f', config], temp.env);
      }
    }
    const warm = times.length > 1 ? times.slice(1) : times;
    return { ms: median(warm), minMs: Math.min(...warm), firstMs: times[0]! };
  } finally {
    if (psConfig !== null) await runCommand([process.execPath, DROVER_CLI, 'down', '-f', psConfig], temp.env).catch(() => {});
    seen.killAll();
    const left = await seen.waitAllGone(10_000);
    rmSync(temp.dir, { recursive: true, force: true });
    if (left.length > 0) throw new Error(`cold ${contender}: processes left behind: ${left.map((p) => `${p.pid} (${p.comm})`).join(', ')}`);
  }
}
