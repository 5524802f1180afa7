/**
 * One function per (scenario, contender). Each runs ONE measurement in the current process and
 * returns its figures; bench/main.ts runs each in a fresh Node process (run-scenario.ts), so memory
 * held by one (2 GiB of Buffers, 1000 children) never skews another, and interleaves contenders
 * round by round so machine load hits them alike.
 */
import { spawn as spawnChild, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawn as droverSpawn, OutputBuffer, type ManagedProcess } from '../process/index.js';
import { startManagedProcess } from '../process/managed-process.js';
import { normalizeSpawnOptions } from '../process/options.js';
import { percentile } from './stats.js';
import { NetworkRelay } from '../network/relay-thread.js';
import { FULL_PEER_SIZES, measurePeers, QUICK_PEER_SIZES, type PeerContender, type PeerSizes } from './peers.js';
import { measureCold, type ColdContender } from './cold.js';

/** `drover`: defaults (buffer mode, launcher); `drover-direct`: shepherds via child_process (DROVER_LAUNCHER=0). */
/** `drover-byob`: stream mode read through `stdout.toByteStream()` with a BYOB reader reusing one buffer. */
/** `loopback`: a TCP client straight to a server on 127.0.0.1; `drover-relay`: the same through drover's network-fault relay. */
/** `pipe-cat`: the floor of the throughput scenarios, the producer piped into `cat > /dev/null` by a shell, no manager. */
export type Contender = 'child_process' | 'execa' | 'drover' | 'drover-stream' | 'drover-byob' | 'drover-buffer' | 'drover-subscribed' | 'drover-direct' | 'loopback' | 'drover-relay' | 'pipe-cat' | PeerContender | ColdContender;

/** Figures of one measurement; the first key is the headline figure. */
export type Figures = Record<string, number>;

export interface Sizes extends PeerSizes {
  /** Bytes for the throughput scenario. */
  readonly throughputBytes: number;
  readonly roundTripBytes: number;
  readonly spawnCount: number;
  readonly stallSpawns: number;
  readonly heldBytes: number;
  readonly exitCount: number;
  readonly idleProcesses: number;
  readonly idleSampleMs: number;
  readonly slowConsumerBytes: number;
  /** Bytes of 80-byte lines for the lines scenario. */
  readonly linesBytes: number;
  /** Bytes pushed through one TCP connection in the relay scenario. */
  readonly relayBytes: number;
  /** 64-byte request/answer round trips in the relay scenario. */
  readonly relayRoundTrips: number;
}

export const FULL: Sizes = {
  ...FULL_PEER_SIZES,
  throughputBytes: 1024 ** 3,
  roundTripBytes: 256 * 1024 ** 2,
  spawnCount: 300,
  stallSpawns: 30,
  heldBytes: 2 * 1024 ** 3,
  exitCount: 50,
  idleProcesses: 1000,
  idleSampleMs: 5000,
  slowConsumerBytes: 10 * 1024 ** 3,
  linesBytes: 512 * 1024 ** 2,
  relayBytes: 1024 ** 3,
  relayRoundTrips: 5000,
};

export const QUICK: Sizes = {
  ...QUICK_PEER_SIZES,
  throughputBytes: 256 * 1024 ** 2,
  roundTripBytes: 64 * 1024 ** 2,
  spawnCount: 60,
  stallSpawns: 10,
  heldBytes: 2 * 1024 ** 3,
  exitCount: 15,
  idleProcesses: 200,
  idleSampleMs: 1500,
  slowConsumerBytes: 1024 ** 3,
  linesBytes: 128 * 1024 ** 2,
  relayBytes: 256 * 1024 ** 2,
  relayRoundTrips: 1000,
};

/**
 * The producer: `dd if=/dev/zero bs=1M count=N`, one write(2) of 1 MiB at a time, so the manager's
 * read path, not the producer, sets the pace (`head -c` writes 8 KiB at a time).
 */
function getProducer(bytes: number): [string, string[]] {
  if (bytes % 2 ** 20 !== 0) throw new Error(`producer sizes are whole MiB, got ${bytes}`);
  return ['dd', ['if=/dev/zero', 'bs=1M', `count=${bytes / 2 ** 20}`, 'status=none']];
}

async function importExeca(): Promise<typeof import('execa')> {
  return import('execa');
}

async function waitClose(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    if (child.stdout === null || child.stdout.readableEnded || child.stdout.destroyed) return;
  }
  await once(child, 'close');
}

/**
 * One spawn of /bin/true before measuring, for every contender alike: loads lazy code paths (and
 * starts drover's launcher, which a long-running manager has running already).
 */
async function warmUp(contender: Contender): Promise<void> {
  if (contender === 'child_process' || contender === 'execa') {
    const child = spawnChild('/bin/true', [], { stdio: 'ignore' });
    await once(child, 'exit');
    if (contender === 'execa') await importExeca();
    return;
  }
  await (await droverSpawn(['/bin/true'])).exited;
}

/** Reads `p.stdout` to EOF with a BYOB reader that passes one 256 KiB buffer back and forth. */
async function readBytes(p: ManagedProcess, onChunk: (chunk: Uint8Array) => void): Promise<void> {
  const reader = p.stdout!.toByteStream().getReader({ mode: 'byob' });
  let view = new Uint8Array(256 * 1024);
  for (;;) {
    const { value, done } = await reader.read(view);
    if (done) return;
    onChunk(value);
    view = new Uint8Array(value.buffer);
  }
}

/**
 * The small-block producer: `head -c N /dev/zero`. Traced with strace (GNU coreutils 9.1): head
 * reads /dev/zero 8 KiB at a time, but writes a pipe in 4 KiB write(2)s (stdio's buffer takes the
 * pipe's st_blksize, 4096) after one first write of 8 KiB; so the reader wakes for every few KiB.
 */
function getSmallBlockProducer(bytes: number): [string, string[]] {
  return ['head', ['-c', String(bytes), '/dev/zero']];
}

/**
 * The floor of a producer: `sh -c '<producer> | cat > /dev/null'`, spawn to exit, no manager
 * reading anything. Its pipe is the kernel's default (64 KiB; drover's are 1 MiB where the
 * per-user budget allows). `cat` reports no byte count: the exit status is checked.
 */
async function runShellPipeline([command, args]: [string, string[]]): Promise<void> {
  const child = spawnChild('sh', ['-c', `${[command, ...args].join(' ')} | cat > /dev/null`], { stdio: ['ignore', 'ignore', 'inherit'] });
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`the shell pipeline of ${command} exited with ${code}`);
}

/**
 * stdout throughput with the small-block producer (`head -c`), GB/s: `pipe-cat` (the floor),
 * child_process, drover `stream` ('data') and `buffer` (ring buffer); manager CPU ms per GiB.
 */
export async function measureSmallBlockThroughput(contender: Contender, sizes: Sizes): Promise<Figures> {
  const bytes = sizes.throughputBytes;
  const [command, args] = getSmallBlockProducer(bytes);
  await warmUp(contender === 'pipe-cat' ? 'child_process' : contender);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let received = 0;
  if (contender === 'pipe-cat') {
    await runShellPipeline([command, args]);
    return { gbPerSecond: bytes / ((performance.now() - t0) / 1000) / 1e9 };
  } else if (contender === 'child_process') {
    const child = spawnChild(command, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    child.stdout!.on('data', (chunk: Buffer) => (received += chunk.length));
    await once(child, 'close');
  } else if (contender === 'drover-stream') {
    const p = await droverSpawn([command, ...args], { stdout: 'stream', stderr: 'ignore' });
    p.stdout!.on('data', (chunk: Buffer) => (received += chunk.length));
    await once(p.stdout!, 'end');
    await p.exited;
  } else if (contender === 'drover-buffer') {
    const p = await droverSpawn([command, ...args], { stdout: 'buffer', stderr: 'ignore' });
    await p.exited;
    received = p.stats().stdout.bytes;
  } else throw new Error(`no throughput-small-blocks contender ${contender}`);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  if (received !== bytes) throw new Error(`${contender} received ${received} of ${bytes} bytes`);
  return { gbPerSecond: bytes / seconds / 1e9, managerCpuMsPerGiB: ((cpu.user + cpu.system) / 1000) * (1024 ** 3 / bytes) };
}

/** stdout throughput, GB/s: N bytes from dd, every byte read by the manager. */
export async function measureThroughput(contender: Contender, sizes: Sizes): Promise<Figures> {
  const bytes = sizes.throughputBytes;
  if (contender === 'pipe-cat') {
    await warmUp('child_process');
    const t0 = performance.now();
    await runShellPipeline(getProducer(bytes));
    return { gbPerSecond: bytes / ((performance.now() - t0) / 1000) / 1e9 };
  }
  await warmUp(contender);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let received = 0;
  switch (contender) {
    case 'child_process': {
      const child = spawnChild(...getProducer(bytes), { stdio: ['ignore', 'pipe', 'ignore'] });
      child.stdout!.on('data', (chunk: Buffer) => (received += chunk.length));
      await once(child, 'close');
      break;
    }
    case 'execa': {
      const { execa } = await importExeca();
      const child = execa(...getProducer(bytes), { buffer: false, stdin: 'ignore', stderr: 'ignore' });
      child.stdout.on('data', (chunk: Buffer) => (received += chunk.length));
      await child;
      break;
    }
    case 'drover-stream': {
      const p = await droverSpawn(getProducer(bytes).flat(), { stdout: 'stream', stderr: 'ignore' });
      p.stdout!.on('data', (chunk: Buffer) => (received += chunk.length));
      await once(p.stdout!, 'end');
      await p.exited;
      break;
    }
    case 'drover-byob': {
      const p = await droverSpawn(getProducer(bytes).flat(), { stdout: 'stream', stderr: 'ignore' });
      await readBytes(p, (chunk) => (received += chunk.byteLength));
      await p.exited;
      break;
    }
    case 'drover-buffer': {
      const p = await droverSpawn(getProducer(bytes).flat(), { stdout: 'buffer', stderr: 'ignore' });
      await p.exited;
      received = p.stats().stdout.bytes;
      break;
    }
    default:
      throw new Error(`no throughput contender ${contender}`);
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  if (received !== bytes) throw new Error(`${contender} received ${received} of ${bytes} bytes`);
  // Manager CPU per GiB: what the read path costs, less sensitive than GB/s to a loaded machine.
  return { gbPerSecond: bytes / seconds / 1e9, managerCpuMsPerGiB: ((cpu.user + cpu.system) / 1000) * (1024 ** 3 / bytes) };
}

/**
 * The lines producer: `cat` of a file of 16 MiB of 80-byte log-like lines (79 characters and
 * '\n'), `bytes / 16 MiB` times, so the producer writes 128 KiB at a time and the reader sets the pace.
 */
function getLinesProducer(bytes: number): { argv: string[]; totalBytes: number } {
  const fileBytes = Math.floor((16 * 1024 ** 2) / 80) * 80; // whole lines
  const copies = Math.round(bytes / (16 * 1024 ** 2));
  const file = path.join(os.tmpdir(), `drover-bench-lines-${process.pid}.txt`);
  const line = Buffer.from(`${'2026-11-21T04:40:00.000Z INFO request handled path=/api/items status=200 ms=3'.padEnd(79, '.')}\n`);
  const content = Buffer.alloc(fileBytes);
  for (let offset = 0; offset < fileBytes; offset += line.length) line.copy(content, offset);
  writeFileSync(file, content);
  process.once('exit', () => rmSync(file, { force: true }));
  return { argv: ['cat', ...Array.from({ length: copies }, () => file)], totalBytes: copies * fileBytes };
}

/**
 * Line-heavy output, GB/s: 80-byte lines, every line split out. child_process: `readline` over
 * stdout (a string per line); execa: its line iteration (`for await (const line of subprocess)`);
 * drover buffer: the ring buffer (last 1000 lines kept; lines pushed out by the same read are
 * counted, not decoded); drover buffer + subscriber: every line as an object to a listener.
 */
export async function measureLines(contender: Contender, sizes: Sizes): Promise<Figures> {
  const { argv, totalBytes: bytes } = getLinesProducer(sizes.linesBytes);
  const [command, ...args] = argv;
  await warmUp(contender);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let lines = 0;
  switch (contender) {
    case 'child_process': {
      const child = spawnChild(command!, args, { stdio: ['ignore', 'pipe', 'ignore'] });
      for await (const _ of createInterface({ input: child.stdout!, crlfDelay: Infinity })) lines++;
      await waitClose(child);
      break;
    }
    case 'execa': {
      const { execa } = await importExeca();
      for await (const _ of execa(command!, args, { stdin: 'ignore', stderr: 'ignore', buffer: false })) lines++;
      break;
    }
    case 'drover-buffer': {
      const p = await droverSpawn([command!, ...args], { stdout: 'buffer', stderr: 'ignore' });
      await p.exited;
      lines = p.output.droppedLines + p.output.lineCount;
      break;
    }
    case 'drover-subscribed': {
      const output = new OutputBuffer({ maxLines: 1000, maxBytes: 1024 * 1024, maxLineBytes: 64 * 1024 });
      output.subscribe(() => lines++);
      const p = await startManagedProcess(normalizeSpawnOptions([command!, ...args], { stdout: 'buffer', stderr: 'ignore' }), output);
      await p.exited;
      break;
    }
    default:
      throw new Error(`no lines contender ${contender}`);
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  if (lines !== bytes / 80) throw new Error(`${contender} saw ${lines} of ${bytes / 80} lines`);
  return { gbPerSecond: bytes / seconds / 1e9, managerCpuMsPerGiB: ((cpu.user + cpu.system) / 1000) * (1024 ** 3 / bytes) };
}

/** stdin → cat → stdout, GB/s: N bytes written in 64 KiB chunks honoring backpressure, all read back. */
export async function measureRoundTrip(contender: Contender, sizes: Sizes): Promise<Figures> {
  const bytes = sizes.roundTripBytes;
  const chunk = Buffer.alloc(64 * 1024, 'z');
  await warmUp(contender);
  const t0 = performance.now();
  let received = 0;
  let stdin: NodeJS.WritableStream;
  let done: Promise<unknown>;
  if (contender === 'child_process') {
    const child = spawnChild('cat', [], { stdio: ['pipe', 'pipe', 'ignore'] });
    child.stdout!.on('data', (c: Buffer) => (received += c.length));
    stdin = child.stdin!;
    done = waitClose(child);
  } else if (contender === 'execa') {
    const { execa } = await importExeca();
    const child = execa('cat', [], { buffer: false, stderr: 'ignore' });
    child.stdout.on('data', (c: Buffer) => (received += c.length));
    stdin = child.stdin;
    done = child;
  } else if (contender === 'drover-stream') {
    const p = await droverSpawn(['cat'], { stdin: 'pipe', stdout: 'stream', stderr: 'ignore' });
    p.stdout!.on('data', (c: Buffer) => (received += c.length));
    stdin = p.stdin!;
    done = Promise.all([once(p.stdout!, 'end'), p.exited]);
  } else throw new Error(`no round-trip contender ${contender}`);
  for (let sent = 0; sent < bytes; sent += chunk.length) {
    if (!stdin.write(chunk)) await once(stdin, 'drain');
  }
  stdin.end();
  await done;
  const seconds = (performance.now() - t0) / 1000;
  if (received !== bytes) throw new Error(`${contender} received ${received} of ${bytes} bytes`);
  return { gbPerSecond: bytes / seconds / 1e9 };
}

/**
 * Spawn latency of /bin/true, ms. drover: spawn() → resolved (the child runs, pid and pipes in
 * hand). child_process: spawn() → 'spawn' event, and spawn() → 'exit' (the reference).
 */
export async function measureSpawn(contender: Contender, sizes: Sizes): Promise<Figures> {
  const running: number[] = [];
  const exited: number[] = [];
  if (contender === 'drover-direct') process.env.DROVER_LAUNCHER = '0';
  await warmUp(contender);
  for (let i = 0; i < sizes.spawnCount; i++) {
    const t0 = performance.now();
    if (contender === 'child_process') {
      const child = spawnChild('/bin/true', [], { stdio: ['ignore', 'pipe', 'pipe'] });
      const exit = once(child, 'exit');
      await once(child, 'spawn');
      running.push(performance.now() - t0);
      await exit;
      exited.push(performance.now() - t0);
      await waitClose(child);
    } else if (contender === 'execa') {
      const { execa } = await importExeca();
      const child = execa('/bin/true');
      await once(child, 'spawn');
      running.push(performance.now() - t0);
      await child;
      exited.push(performance.now() - t0);
    } else {
      const p = await droverSpawn(['/bin/true']);
      running.push(performance.now() - t0);
      await p.exited;
      exited.push(performance.now() - t0);
    }
  }
  return {
    runningP50Ms: percentile(running, 50),
    runningP99Ms: percentile(running, 99),
    exitP50Ms: percentile(exited, 50),
    exitP99Ms: percentile(exited, 99),
  };
}

/** Allocates and touches `bytes` of Buffers so the pages are resident (what fork must copy tables for). */
function holdMemory(bytes: number): Buffer[] {
  const held: Buffer[] = [];
  const piece = 256 * 1024 * 1024;
  for (let left = bytes; left > 0; left -= piece) held.push(Buffer.alloc(Math.min(piece, left), 1));
  return held;
}

/**
 * Event-loop stall per spawn with `heldBytes` of Buffers held, ms. For each spawn (of /bin/true,
 * awaited to its exit) the longest event-loop delay seen meanwhile (monitorEventLoopDelay max);
 * reported as the median and the maximum over spawns, with the median synchronous time of the
 * spawn call itself. drover's launcher is started before the memory is allocated (steady state).
 */
export async function measureStall(contender: Contender, sizes: Sizes): Promise<Figures> {
  if (contender === 'drover-direct') process.env.DROVER_LAUNCHER = '0';
  const spawnOne = async (): Promise<number> => {
    const t0 = performance.now();
    if (contender === 'child_process') {
      const child = spawnChild('/bin/true', [], { stdio: ['ignore', 'pipe', 'pipe'] });
      const sync = performance.now() - t0;
      await waitClose(child);
      return sync;
    }
    const pending = droverSpawn(['/bin/true']);
    const sync = performance.now() - t0;
    await (await pending).exited;
    return sync;
  };
  await spawnOne(); // warm-up: code paths, and drover's launcher
  const held = holdMemory(sizes.heldBytes);
  const syncTimes: number[] = [];
  const stalls: number[] = [];
  for (let i = 0; i < sizes.stallSpawns; i++) {
    const histogram = monitorEventLoopDelay({ resolution: 1 });
    histogram.enable();
    await sleep(5); // the histogram measures from its previous tick: let it tick first
    syncTimes.push(await spawnOne());
    await sleep(2); // let the histogram's timer see a delay caused by the last callback
    histogram.disable();
    stalls.push(histogram.max / 1e6);
  }
  if (held.length === 0) throw new Error('nothing held');
  return { stallP50Ms: percentile(stalls, 50), stallMaxMs: Math.max(...stalls), spawnCallP50Ms: percentile(syncTimes, 50) };
}

/** Child exit → exit event, ms: the manager SIGKILLs an idle child and times until it is told. */
export async function measureExitLatency(contender: Contender, sizes: Sizes): Promise<Figures> {
  const latencies: number[] = [];
  await warmUp(contender);
  for (let i = 0; i < sizes.exitCount; i++) {
    if (contender === 'child_process') {
      const child = spawnChild('sleep', ['1000'], { stdio: ['ignore', 'pipe', 'pipe'] });
      await once(child, 'spawn');
      const exit = once(child, 'exit');
      const t0 = performance.now();
      child.kill('SIGKILL');
      await exit;
      latencies.push(performance.now() - t0);
      await waitClose(child);
    } else {
      const p = await droverSpawn(['sleep', '1000']);
      const t0 = performance.now();
      process.kill(p.pid, 'SIGKILL');
      await p.exited; // exit status in AND stdout/stderr drained to EOF
      latencies.push(performance.now() - t0);
    }
  }
  return { exitP50Ms: percentile(latencies, 50), exitP99Ms: percentile(latencies, 99) };
}

/** N idle supervised `sleep` processes: manager CPU (% of one core) while idle, and RSS growth. */
export async function measureIdle(contender: Contender, sizes: Sizes): Promise<Figures> {
  await warmUp(contender);
  const rss0 = process.memoryUsage().rss;
  const children: ChildProcess[] = [];
  const managed: ManagedProcess[] = [];
  for (let i = 0; i < sizes.idleProcesses; i++) {
    if (contender === 'child_process') {
      const child = spawnChild('sleep', ['3600'], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout!.on('data', () => {});
      child.stderr!.on('data', () => {});
      children.push(child);
    } else managed.push(await droverSpawn(['sleep', '3600']));
  }
  if (children.length > 0) await Promise.all(children.map((c) => once(c, 'spawn')));
  await sleep(500); // let start-up work settle
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(sizes.idleSampleMs);
  const cpu = process.cpuUsage(cpu0);
  const elapsedUs = (performance.now() - t0) * 1000;
  const rss = process.memoryUsage().rss;
  for (const child of children) child.kill('SIGKILL');
  await Promise.all(children.map((c) => waitClose(c)));
  await Promise.all(managed.map((p) => p.stop({ signal: 'SIGKILL' })));
  return { idleCpuPercent: ((cpu.user + cpu.system) / elapsedUs) * 100, rssGrowthMiB: (rss - rss0) / 1024 ** 2 };
}

/**
 * A 10 GiB producer (dd from /dev/zero) read by a consumer slower than it: each chunk costs
 * the consumer ~20 µs of synchronous work per 64 KiB. Reports the manager's RSS growth (max sampled
 * minus baseline). `drover-buffer` has no consumer: the ring buffer keeps its bounds.
 */
export async function measureSlowConsumer(contender: Contender, sizes: Sizes): Promise<Figures> {
  const bytes = sizes.slowConsumerBytes;
  await warmUp(contender);
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage();
  const rss0 = before.rss;
  let maxRss = rss0;
  const sampler = setInterval(() => (maxRss = Math.max(maxRss, process.memoryUsage().rss)), 20);
  const consume = (chunk: Uint8Array) => {
    const until = performance.now() + (chunk.byteLength / 65536) * 0.02;
    while (performance.now() < until) {
      // busy: a consumer slower than the producer
    }
  };
  let received = 0;
  const t0 = performance.now();
  if (contender === 'child_process') {
    const child = spawnChild(...getProducer(bytes), { stdio: ['ignore', 'pipe', 'ignore'] });
    for await (const chunk of child.stdout!) {
      received += (chunk as Buffer).length;
      consume(chunk as Buffer);
    }
    await waitClose(child);
  } else if (contender === 'drover-stream') {
    const p = await droverSpawn(getProducer(bytes).flat(), { stdout: 'stream', stderr: 'ignore' });
    for await (const chunk of p.stdout!) {
      received += (chunk as Buffer).length;
      consume(chunk as Buffer);
    }
    await p.exited;
  } else if (contender === 'drover-byob') {
    const p = await droverSpawn(getProducer(bytes).flat(), { stdout: 'stream', stderr: 'ignore' });
    await readBytes(p, (chunk) => {
      received += chunk.byteLength;
      consume(chunk);
    });
    await p.exited;
  } else if (contender === 'drover-buffer') {
    const p = await droverSpawn(getProducer(bytes).flat(), { stdout: 'buffer', stderr: 'ignore' });
    await p.exited;
    received = p.stats().stdout.bytes;
  } else throw new Error(`no slow-consumer contender ${contender}`);
  clearInterval(sampler);
  maxRss = Math.max(maxRss, process.memoryUsage().rss);
  const gbPerSecond = bytes / ((performance.now() - t0) / 1000) / 1e9;
  if (received !== bytes) throw new Error(`${contender} received ${received} of ${bytes} bytes`);
  // What stays after a full collection (JS heap + external memory such as Buffers): growth that is
  // held, as opposed to garbage awaiting the GC, which the RSS peak includes.
  gc?.();
  const after = process.memoryUsage();
  const retained = after.heapUsed + after.external - (before.heapUsed + before.external);
  return { rssGrowthMiB: (maxRss - rss0) / 1024 ** 2, retainedAfterGcMiB: retained / 1024 ** 2, gbPerSecond };
}

/** The relay scenario's server (a child process): port 1 swallows bytes and answers their count at the end; port 2 echoes. */
const RELAY_SERVER = `
const net = require('node:net');
const sink = net.createServer((s) => { let n = 0; s.on('data', (c) => (n += c.length)); s.on('end', () => s.end(String(n))); });
const echo = net.createServer((s) => { s.setNoDelay(true); s.pipe(s); });
sink.listen(0, '127.0.0.1', () => echo.listen(0, '127.0.0.1', () => console.log(JSON.stringify([sink.address().port, echo.address().port]))));`;

/** The relay scenario's client (another child process): argv ports, bytes, round trips; prints its figures as JSON. */
const RELAY_CLIENT = `
const net = require('node:net');
const [sinkPort, echoPort, bytes, trips] = process.argv.slice(1).map(Number);
const chunk = Buffer.alloc(256 * 1024, 7);
function push() {
  return new Promise((resolve, reject) => {
    const s = net.connect(sinkPort, '127.0.0.1');
    const t0 = performance.now();
    let sent = 0; let answer = '';
    s.on('error', reject);
    s.on('data', (c) => (answer += c));
    s.on('end', () => { if (Number(answer) !== bytes) reject(new Error('sink got ' + answer + ' of ' + bytes)); resolve(bytes / ((performance.now() - t0) / 1000) / 1e9); });
    const write = () => { while (sent < bytes) { sent += chunk.length; if (!s.write(chunk)) return s.once('drain', write); } s.end(); };
    s.on('connect', write);
  });
}
function pingPong() {
  return new Promise((resolve, reject) => {
    const s = net.connect(echoPort, '127.0.0.1');
    s.setNoDelay(true);
    const times = []; const msg = Buffer.alloc(64, 1); let got = 0; let t0 = 0;
    s.on('error', reject);
    s.on('data', (c) => { got += c.length; if (got < 64) return; got -= 64; times.push(performance.now() - t0); if (times.length === trips) { s.destroy(); resolve(times.sort((a, b) => a - b)); } else { t0 = performance.now(); s.write(msg); } });
    s.on('connect', () => { t0 = performance.now(); s.write(msg); });
  });
}
(async () => {
  const gbPerSecond = await push();
  const times = await pingPong();
  const at = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
  console.log(JSON.stringify({ gbPerSecond, rttP50Ms: at(0.5), rttP99Ms: at(0.99) }));
})().catch((e) => { console.error(e.message); process.exit(1); });`;

/**
 * A TCP connection's throughput (bytes pushed into a sink) and 64-byte round trips (to an echo),
 * client and server in two child processes: `loopback` connects straight to the server;
 * `drover-relay` through a {@link NetworkRelay} of this process (the manager's place; its worker thread moves the bytes), with no
 * fault set, every connection identified through /proc as the real relay does (here: external).
 */
export async function measureRelay(contender: Contender, sizes: Sizes): Promise<Figures> {
  const server = spawnChild(process.execPath, ['-e', RELAY_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const [line] = (await once(createInterface({ input: server.stdout! }), 'line')) as [string];
    let [sinkPort, echoPort] = JSON.parse(line) as [number, number];
    let relay: NetworkRelay | null = null;
    if (contender === 'drover-relay') {
      const targets: Record<string, number> = { sink: sinkPort, echo: echoPort };
      relay = new NetworkRelay({ lookup: (_to, port) => ({ trees: [{ node: 'server', pid: server.pid!, cgroup: null }], target: targets[port] }) });
      const listen = await Promise.all([0, 1].map(() => import('get-port').then((m) => m.default())));
      await relay.addRoute('server', 'sink', listen[0]!);
      await relay.addRoute('server', 'echo', listen[1]!);
      [sinkPort, echoPort] = listen as [number, number];
    } else if (contender !== 'loopback') throw new Error(`no relay contender ${contender}`);
    const client = spawnChild(process.execPath, ['-e', RELAY_CLIENT, String(sinkPort), String(echoPort), String(sizes.relayBytes), String(sizes.relayRoundTrips)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    client.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    const [code] = (await once(client, 'close')) as [number | null];
    await relay?.close();
    if (code !== 0) throw new Error(`relay client exited ${code}`);
    return JSON.parse(out) as Figures;
  } finally {
    server.kill('SIGKILL');
    await waitClose(server);
  }
}

/** The load client: `connections` connections to the echo port, each sending 1 KiB and waiting for it back, in a loop. */
const RELAY_LOAD_CLIENT = `
const net = require('node:net');
const [port, connections] = process.argv.slice(1).map(Number);
const msg = Buffer.alloc(1024, 2);
let open = 0;
for (let i = 0; i < connections; i++) {
  const s = net.connect(port, '127.0.0.1');
  s.setNoDelay(true);
  let got = 0;
  s.on('connect', () => { if (++open === connections) console.log('ready'); s.write(msg); });
  s.on('data', (c) => { got += c.length; if (got >= 1024) { got -= 1024; s.write(msg); } });
  s.on('error', () => process.exit(1));
}`;

/**
 * Spawn → running and exit → known of the manager (as the spawn and exit-latency scenarios) while
 * `drover-relay`: 100 connections through a relay in this process echo 1 KiB back and forth
 * without pause; `drover`: the same manager with no relay.
 */
export async function measureRelayLoad(contender: Contender, sizes: Sizes): Promise<Figures> {
  if (contender === 'drover') return { ...(await measureSpawn('drover', sizes)), ...(await measureExitLatency('drover', sizes)) };
  if (contender !== 'drover-relay') throw new Error(`no relay-load contender ${contender}`);
  const server = spawnChild(process.execPath, ['-e', RELAY_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  let echoPort: number | undefined;
  const relay = new NetworkRelay({ lookup: () => ({ trees: [{ node: 'server', pid: server.pid!, cgroup: null }], target: echoPort }) });
  let load: ChildProcess | null = null;
  try {
    const [line] = (await once(createInterface({ input: server.stdout! }), 'line')) as [string];
    echoPort = (JSON.parse(line) as [number, number])[1];
    const listen = (await import('get-port')).default;
    const port = await listen();
    await relay.addRoute('server', 'echo', port);
    load = spawnChild(process.execPath, ['-e', RELAY_LOAD_CLIENT, String(port), '100'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await once(createInterface({ input: load.stdout! }), 'line'); // every connection open
    await sleep(200);
    return { ...(await measureSpawn('drover', sizes)), ...(await measureExitLatency('drover', sizes)) };
  } finally {
    load?.kill('SIGKILL');
    if (load !== null) await waitClose(load);
    await relay.close();
    server.kill('SIGKILL');
    await waitClose(server);
  }
}

export const SCENARIOS = {
  throughput: { run: measureThroughput, contenders: ['child_process', 'execa', 'drover-stream', 'drover-byob', 'drover-buffer', 'pipe-cat'] },
  'throughput-small-blocks': { run: measureSmallBlockThroughput, contenders: ['pipe-cat', 'child_process', 'drover-stream', 'drover-buffer'] },
  'round-trip': { run: measureRoundTrip, contenders: ['child_process', 'execa', 'drover-stream'] },
  spawn: { run: measureSpawn, contenders: ['child_process', 'execa', 'drover', 'drover-direct'] },
  stall: { run: measureStall, contenders: ['child_process', 'drover', 'drover-direct'] },
  'exit-latency': { run: measureExitLatency, contenders: ['child_process', 'drover'] },
  idle: { run: measureIdle, contenders: ['child_process', 'drover'] },
  lines: { run: measureLines, contenders: ['child_process', 'execa', 'drover-buffer', 'drover-subscribed'] },
  'slow-consumer': { run: measureSlowConsumer, contenders: ['child_process', 'drover-stream', 'drover-byob', 'drover-buffer'] },
  relay: { run: measureRelay, contenders: ['loopback', 'drover-relay'] },
  'relay-load': { run: measureRelayLoad, contenders: ['drover', 'drover-relay'] },
  // drover against pm2 and supervisord (bench/peers.ts), and the cold path against `node -e 0` (bench/cold.ts)
  peers: { run: measurePeers, contenders: ['drover', 'drover-wait', 'pm2', 'supervisord'] },
  cold: { run: measureCold, contenders: ['node-e0', 'import-spawn', 'cli-help', 'cli-ps', 'up-first-node', 'up-d-1'] },
} as const satisfies Record<string, { run: (c: Contender, s: Sizes) => Promise<Figures>; contenders: readonly Contender[] }>;

export type ScenarioName = keyof typeof SCENARIOS;
