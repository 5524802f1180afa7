/**
 * Ports across processes: 8 managers in 8 OS processes allocate at the same moment and must all
 * get distinct ports. The candidate range is pinned (DROVER_PORT_RANGE) so that every process
 * sees the same free candidates in the same order, which forces the race get-port alone loses
 * (it only checks that a port is free to bind, and none of them binds): without the lease
 * registry every process is handed the same ports.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { formatLease, parseLease } from '../../cluster/port-lease.js';
import { fixture } from '../helpers/fixtures.js';
import { expectAllGone } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';

const PROCESSES = 8;
const TRIALS = 10;
/** Rounds × names per process: 2 nodes of 3 ports each. */
const ROUNDS = 2;
const NAMES = ['http', 'grpc', 'metrics'];
/** 8 × 6 = 48 ports wanted from 64 candidates: enough, and tight enough that most candidates are contended. */
const RANGE = { low: 23_100, high: 23_163 };

/** The cluster-level variant: nodes per cluster, and fewer trials (each trial starts 8 managers and 16 nodes on a shared 2-core machine). */
const CLUSTER_NODES = 2;
const CLUSTER_TRIALS = 3;

const directories: string[] = [];
const children: ChildProcess[] = [];

afterEach(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  const pids = children.map((c) => c.pid!).filter((pid) => pid !== undefined);
  children.length = 0;
  if (pids.length > 0) await expectAllGone(pids);
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

interface AllocatorReport {
  readonly pid: number;
  readonly ports?: number[];
  readonly nodePids?: number[];
  readonly error?: string;
}

/** Starts one allocator process; its first stdout line is its report. */
function startAllocator(leaseDir: string): { child: ChildProcess; report: () => AllocatorReport | null; exited: Promise<number | null> } {
  return startScript(['port-allocator', ROUNDS, ...NAMES], leaseDir);
}

/** Starts fixture `name` with `args` in a process of its own, the candidate range pinned; its first stdout line is its report. */
function startScript([name, ...rest]: [string, ...(string | number)[]], leaseDir: string): { child: ChildProcess; report: () => AllocatorReport | null; exited: Promise<number | null> } {
  const [node, script, ...args] = fixture(name, ...rest);
  const child = spawn(node!, [script!, ...args], {
    env: { ...process.env, DROVER_PORT_LEASE_DIR: leaseDir, DROVER_PORT_RANGE: `${RANGE.low}-${RANGE.high}` },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.push(child);
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    report: () => (out.includes('\n') ? (JSON.parse(out.slice(0, out.indexOf('\n'))) as AllocatorReport) : null),
    exited,
  };
}

/** Writes a lease of a process that has exited on every port of {@link RANGE}. */
async function seedDeadLeases(leaseDir: string): Promise<void> {
  const gone = spawn(process.execPath, ['-e', '']);
  children.push(gone);
  await new Promise((resolve) => gone.once('exit', resolve));
  const self = { bootId: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(), pidNamespace: readlinkSync('/proc/self/ns/pid') };
  for (let port = RANGE.low; port <= RANGE.high; port++) {
    writeFileSync(path.join(leaseDir, String(port)), formatLease({ port, pid: gone.pid!, startTime: 1, ...self, token: 'dead', owner: 'dead/owner', createdAt: Date.now() }));
  }
}

describe('ports across processes', () => {
  it(`${PROCESSES} allocator processes at once, ${TRIALS} trials (every other one reclaiming a dead owner's lease on every port): every handed-out port is distinct, and every lease is gone once they release`, async () => {
    const collisions: string[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      const leaseDir = mkdtempSync(path.join(tmpdir(), 'drover-port-leases-'));
      directories.push(leaseDir);
      // Every other trial starts with a dead owner's lease on every port of the range: all 8 reclaim at once.
      if (trial % 2 === 1) await seedDeadLeases(leaseDir);
      const allocators = Array.from({ length: PROCESSES }, () => startAllocator(leaseDir));
      // Every process holds its ports until all have reported: a port handed out twice is a collision.
      const reports = await waitFor(
        () => allocators.map((a) => a.report()),
        (all) => all.every((r) => r !== null),
        { timeoutMs: 30_000, describe: `${PROCESSES} allocator reports (trial ${trial + 1})` },
      );
      const holders = new Map<number, number[]>();
      for (const report of reports) {
        expect(report!.error, `allocator ${report!.pid} failed`).toBeUndefined();
        expect(report!.ports).toHaveLength(ROUNDS * NAMES.length);
        for (const port of report!.ports!) {
          expect(port).toBeGreaterThanOrEqual(RANGE.low);
          expect(port).toBeLessThanOrEqual(RANGE.high);
          holders.set(port, [...(holders.get(port) ?? []), report!.pid]);
        }
      }
      for (const [port, pids] of holders) if (pids.length > 1) collisions.push(`trial ${trial + 1}: port ${port} handed to pids ${pids.join(', ')}`);
      for (const a of allocators) a.child.stdin!.end();
      expect(await Promise.all(allocators.map((a) => a.exited))).toEqual(Array(PROCESSES).fill(0));
      await expectAllGone(allocators.map((a) => a.child.pid!));
      // Released on the way out: no lease of theirs is left (seeded dead leases nobody needed stay until a process wants their port).
      const left = readdirSync(leaseDir).filter((name) => /^\d+$/.test(name));
      expect(left.filter((name) => parseLease(readFileSync(path.join(leaseDir, name), 'utf8'))?.token !== 'dead')).toEqual([]);
    }
    expect(collisions).toEqual([]);
  }, 120_000);

  it(`${PROCESSES} managers start clusters of the same config at once (nodes listen, ready: tcp owned), ${CLUSTER_TRIALS} trials: distinct ports, nothing left`, async () => {
    const collisions: string[] = [];
    for (let trial = 0; trial < CLUSTER_TRIALS; trial++) {
      const leaseDir = mkdtempSync(path.join(tmpdir(), 'drover-port-leases-'));
      directories.push(leaseDir);
      const managers = Array.from({ length: PROCESSES }, () => startScript(['port-cluster', CLUSTER_NODES], leaseDir));
      const reports = await waitFor(
        () => managers.map((m) => m.report()),
        (all) => all.every((r) => r !== null),
        { timeoutMs: 60_000, describe: `${PROCESSES} cluster reports (trial ${trial + 1})` },
      );
      const holders = new Map<number, number[]>();
      const nodePids: number[] = [];
      for (const report of reports) {
        expect(report!.error, `manager ${report!.pid} failed`).toBeUndefined();
        expect(report!.ports).toHaveLength(CLUSTER_NODES);
        nodePids.push(...report!.nodePids!);
        for (const port of report!.ports!) holders.set(port, [...(holders.get(port) ?? []), report!.pid]);
      }
      for (const [port, pids] of holders) if (pids.length > 1) collisions.push(`trial ${trial + 1}: port ${port} handed to pids ${pids.join(', ')}`);
      for (const m of managers) m.child.stdin!.end();
      expect(await Promise.all(managers.map((m) => m.exited))).toEqual(Array(PROCESSES).fill(0));
      await expectAllGone([...managers.map((m) => m.child.pid!), ...nodePids]);
      expect(readdirSync(leaseDir).filter((name) => /^\d+$/.test(name))).toEqual([]);
    }
    expect(collisions).toEqual([]);
  }, 300_000);
});
