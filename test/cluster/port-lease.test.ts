/**
 * The machine-wide port lease registry: lease text and the staleness verdict (pure, injected
 * facts), the lease directory's checks, reclaiming the lease of a dead owner (a real process
 * SIGKILLed while it held leases), and the cluster's release paths (scale down, stop).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Cluster } from '../../cluster/cluster.js';
import {
  DEFAULT_PORT_LEASE_DIR,
  PORT_LEASE_DIR_ENV,
  PortLeaseRegistry,
  UNREADABLE_LEASE_GRACE_MS,
  ensureLeaseDirectory,
  formatLease,
  getPortLeaseDirectory,
  judgeLease,
  parseLease,
  readStartTime,
  type LeaseFacts,
  type PortLease,
} from '../../cluster/port-lease.js';
import { allocatePorts, getPortRange } from '../../cluster/ports.js';
import { isDroverError } from '../../contract/errors.js';
import { createClusterTracker } from '../helpers/cluster-tracker.js';
import { fixture } from '../helpers/fixtures.js';
import { expectAllGone, isAlive } from '../helpers/processes.js';
import { makeCluster, makeNode } from '../helpers/specs.js';
import { waitFor } from '../helpers/wait-for.js';

const LEASE: PortLease = {
  port: 41_234,
  pid: 4242,
  startTime: 1000,
  bootId: 'boot-a',
  pidNamespace: 'pid:[1]',
  token: 'token-a',
  owner: 'ring/api[0]:http',
  createdAt: 1_700_000_000_000,
};

function facts(overrides: Partial<LeaseFacts> = {}): LeaseFacts {
  return { now: 1_700_000_100_000, mtimeMs: 1_700_000_000_000, bootId: 'boot-a', pidNamespace: 'pid:[1]', startTimeOf: (pid) => (pid === 4242 ? 1000 : null), ...overrides };
}

describe('lease text and staleness (pure)', () => {
  it('a lease survives formatting and parsing; empty, truncated, foreign and mistyped texts are not leases', () => {
    expect(parseLease(formatLease(LEASE))).toEqual(LEASE);
    const text = formatLease(LEASE);
    for (const bad of ['', text.slice(0, 20), 'hello\n', '[]', JSON.stringify({ ...LEASE, pid: 'x' }), JSON.stringify({ ...LEASE, port: 70_000 })]) {
      expect(parseLease(bad), bad).toBeNull();
    }
  });

  it('held while the owner pid lives with the same start time; stale when it is gone, recycled, or from another boot', () => {
    expect(judgeLease(LEASE, facts())).toEqual({ stale: false, reason: 'held by live pid 4242 (ring/api[0]:http)' });
    expect(judgeLease(LEASE, facts({ startTimeOf: () => null }))).toEqual({ stale: true, reason: 'owner pid 4242 is gone' });
    expect(judgeLease(LEASE, facts({ startTimeOf: () => 2000 }))).toMatchObject({ stale: true, reason: expect.stringContaining('reused by another process') });
    expect(judgeLease(LEASE, facts({ bootId: 'boot-b' }))).toMatchObject({ stale: true, reason: expect.stringContaining('earlier boot') });
  });

  it('a lease from another pid namespace is held (its pid cannot be checked from here)', () => {
    expect(judgeLease(LEASE, facts({ pidNamespace: 'pid:[2]', startTimeOf: () => null }))).toMatchObject({ stale: false, reason: expect.stringContaining('another pid namespace') });
  });

  it('an unreadable lease file is held for the grace period after its mtime, then stale (injected clock)', () => {
    const mtimeMs = 1_000_000;
    expect(judgeLease(null, facts({ mtimeMs, now: mtimeMs + UNREADABLE_LEASE_GRACE_MS }))).toMatchObject({ stale: false });
    expect(judgeLease(null, facts({ mtimeMs, now: mtimeMs + UNREADABLE_LEASE_GRACE_MS + 1 }))).toMatchObject({ stale: true });
  });

  it('DROVER_PORT_RANGE parses low-high; anything else is refused naming the variable', () => {
    expect(getPortRange({})).toBeNull();
    expect(getPortRange({ DROVER_PORT_RANGE: '20000-20999' })).toEqual({ low: 20_000, high: 20_999 });
    for (const bad of ['20000', '80-90', '30000-20000', '20000-70000', 'a-b']) {
      expect(() => getPortRange({ DROVER_PORT_RANGE: bad }), bad).toThrow(/DROVER_PORT_RANGE=.* is not a port range/);
    }
  });

  it('the lease directory is /tmp/drover-ports unless DROVER_PORT_LEASE_DIR names another', () => {
    expect(getPortLeaseDirectory({})).toBe(DEFAULT_PORT_LEASE_DIR);
    expect(getPortLeaseDirectory({ [PORT_LEASE_DIR_ENV]: '/var/tmp/leases' })).toBe('/var/tmp/leases');
  });
});

const directories: string[] = [];
const children: ChildProcess[] = [];

function makeDirectory(): string {
  const directory = mkdtempSync(path.join(tmpdir(), 'drover-port-lease-test-'));
  directories.push(directory);
  return directory;
}

function leaseFiles(directory: string): string[] {
  return readdirSync(directory).filter((name) => /^\d+$/.test(name)).sort();
}

function readLease(directory: string, port: number): PortLease | null {
  return parseLease(readFileSync(path.join(directory, String(port)), 'utf8'));
}

afterEach(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  const pids = children.splice(0).map((c) => c.pid!);
  if (pids.length > 0) await expectAllGone(pids);
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

describe('the lease directory', () => {
  it('is created world-writable and sticky (mode 1777), like /tmp', () => {
    const directory = path.join(makeDirectory(), 'ports');
    ensureLeaseDirectory(directory);
    expect(lstatSync(directory).mode & 0o7777).toBe(0o1777);
  });

  it('a symbolic link or a file in its place is refused with ERR_PORT_ALLOCATION naming the path', () => {
    const parent = makeDirectory();
    const link = path.join(parent, 'link');
    mkdirSync(path.join(parent, 'real'));
    symlinkSync(path.join(parent, 'real'), link);
    expect(() => ensureLeaseDirectory(link)).toThrow(expect.objectContaining({ code: 'ERR_PORT_ALLOCATION', path: link, message: expect.stringContaining('is a symbolic link') }));
    const file = path.join(parent, 'file');
    writeFileSync(file, '');
    expect(() => ensureLeaseDirectory(file)).toThrow(expect.objectContaining({ code: 'ERR_PORT_ALLOCATION', message: expect.stringContaining(`${file} is not a directory`) }));
  });
});

describe('leases between live and dead processes', () => {
  /** An allocator process holding 3 leases in `directory` until its stdin closes. */
  async function startHolder(directory: string): Promise<{ child: ChildProcess; ports: number[]; exited: Promise<unknown> }> {
    const [node, script, ...args] = fixture('port-allocator', 1, 'a', 'b', 'c');
    const child = spawn(node!, [script!, ...args], { env: { ...process.env, [PORT_LEASE_DIR_ENV]: directory }, stdio: ['pipe', 'pipe', 'inherit'] });
    children.push(child);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    const line = await waitFor(() => out, (text) => text.includes('\n'), { timeoutMs: 20_000, describe: 'the allocator report' });
    const report = JSON.parse(line.slice(0, line.indexOf('\n'))) as { ports: number[] };
    return { child, ports: report.ports, exited };
  }

  it("a live owner's lease is refused; once the owner is SIGKILLed (no exit hook ran) its leases are reclaimed by the next process", async () => {
    const directory = makeDirectory();
    const holder = await startHolder(directory);
    expect(leaseFiles(directory)).toEqual(holder.ports.map(String).sort());
    expect(readLease(directory, holder.ports[0]!)).toMatchObject({ pid: holder.child.pid, startTime: readStartTime(holder.child.pid!) });

    const registry = new PortLeaseRegistry(directory);
    expect(await registry.tryAcquire(holder.ports[0]!, 'test:a')).toBe(false);
    expect(registry.describe(holder.ports[0]!)).toMatchObject({ stale: false, reason: expect.stringContaining(`live pid ${holder.child.pid}`) });

    holder.child.kill('SIGKILL');
    await holder.exited;
    expect(isAlive(holder.child.pid!)).toBe(false);
    expect(leaseFiles(directory)).toHaveLength(3); // left behind by the killed owner
    for (const port of holder.ports) {
      expect(await registry.tryAcquire(port, 'test:a')).toBe(true);
      expect(readLease(directory, port)).toMatchObject({ pid: process.pid, token: registry.token });
    }
    registry.releaseAllSync();
    expect(leaseFiles(directory)).toEqual([]);
  });

  it('a lease whose pid is alive but started at another time (a recycled pid) is reclaimed', async () => {
    const directory = makeDirectory();
    const registry = new PortLeaseRegistry(directory);
    ensureLeaseDirectory(directory);
    // A lease naming this very (live) process, but with another start time: the pid was reused.
    const stale: PortLease = { ...LEASE, pid: process.pid, startTime: readStartTime(process.pid)! + 1, bootId: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(), pidNamespace: readlinkSync('/proc/self/ns/pid') };
    writeFileSync(path.join(directory, String(LEASE.port)), formatLease(stale));
    expect(registry.describe(LEASE.port)).toMatchObject({ stale: true, reason: expect.stringContaining('reused') });
    expect(await registry.tryAcquire(LEASE.port, 'test:a')).toBe(true);
    expect(readLease(directory, LEASE.port)?.token).toBe(registry.token);
    // One lease, one owner: the same registry is not handed the port twice.
    expect(await registry.tryAcquire(LEASE.port, 'test:b')).toBe(false);
    await registry.release(LEASE.port);
    expect(leaseFiles(directory)).toEqual([]);
  });

  it("a dead owner's private lease file (killed between writing and linking it) is swept at first use; a live owner's is kept", async () => {
    const directory = makeDirectory();
    const holder = await startHolder(directory);
    const dead = `.41234.${holder.child.pid}.${readStartTime(holder.child.pid!)}.0f0e-dead.tmp`;
    const live = `.41235.${process.pid}.${readStartTime(process.pid)}.0f0e-live.tmp`;
    holder.child.kill('SIGKILL');
    await holder.exited;
    writeFileSync(path.join(directory, dead), formatLease(LEASE));
    writeFileSync(path.join(directory, live), formatLease(LEASE));
    const registry = new PortLeaseRegistry(directory);
    expect(await registry.tryAcquire(holder.ports[0]!, 'test:a')).toBe(true);
    expect(readdirSync(directory).filter((name) => name.endsWith('.tmp'))).toEqual([live]);
    registry.releaseAllSync();
  });

  it.skipIf(process.getuid?.() !== 0)(
    "several users share the sticky directory: another user leases beside root's leases, skips root's dead lease it may not remove, and releases its own",
    async () => {
      const parent = makeDirectory();
      chmodSync(parent, 0o755);
      const directory = path.join(parent, 'ports');
      const root = new PortLeaseRegistry(directory);
      const [low, middle, high] = [23_180, 23_181, 23_182];
      expect(await root.tryAcquire(low, 'root:live')).toBe(true);
      // A dead owner's lease, root's file: only root (or that owner's user) may remove it.
      const gone = spawn(process.execPath, ['-e', '']);
      children.push(gone);
      await new Promise((resolve) => gone.once('exit', resolve));
      writeFileSync(path.join(directory, String(middle)), formatLease({ ...readLease(directory, low)!, port: middle, pid: gone.pid!, owner: 'root:dead' }));
      writeFileSync(path.join(directory, '.reclaim.lock'), '', { mode: 0o644 }); // root's lock file: opened read-only by others

      const [node, script, ...args] = fixture('port-allocator', 1, 'http');
      const other = spawn('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', node!, script!, ...args], {
        env: { ...process.env, [PORT_LEASE_DIR_ENV]: directory, DROVER_PORT_RANGE: `${low}-${high}` },
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      children.push(other);
      const exited = new Promise((resolve) => other.once('exit', resolve));
      let out = '';
      other.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
      const line = await waitFor(() => out, (text) => text.includes('\n'), { timeoutMs: 20_000, describe: "nobody's allocator report" });
      const report = JSON.parse(line.slice(0, line.indexOf('\n'))) as { pid: number; ports?: number[]; error?: string };
      expect(report.error).toBeUndefined();
      expect(report.ports).toEqual([high]);
      expect(lstatSync(path.join(directory, String(high))).uid).toBe(65_534);
      expect(root.describe(high)).toMatchObject({ stale: false, reason: expect.stringContaining(`live pid ${report.pid}`) });
      expect(root.describe(middle)).toMatchObject({ stale: true }); // still there: nobody could not remove it

      other.stdin!.end();
      await exited;
      expect(other.exitCode).toBe(0);
      expect(leaseFiles(directory)).toEqual([String(low), String(middle)]);
      expect(await root.tryAcquire(middle, 'root:reclaimed')).toBe(true); // root reclaims its own user's dead lease
      root.releaseAllSync();
      expect(leaseFiles(directory)).toEqual([]);
    },
  );

  it('a range whose every port is leased elsewhere fails with ERR_PORT_ALLOCATION naming the range', async () => {
    const directory = makeDirectory();
    const other = new PortLeaseRegistry(directory);
    const mine = new PortLeaseRegistry(directory);
    const range = { low: 23_170, high: 23_172 };
    const taken = await allocatePorts(['a', 'b', 'c'], { leases: other, range });
    expect(Object.values(taken).sort()).toEqual([23_170, 23_171, 23_172]);
    const error = await allocatePorts(['x'], { leases: mine, range, owner: 'ring/api[0]' }).catch((e: unknown) => e);
    expect(isDroverError(error, 'ERR_PORT_ALLOCATION')).toBe(true);
    expect((error as Error).message).toMatch(/no free port for ring\/api\[0\] port x in DROVER_PORT_RANGE=23170-23172/);
    other.releaseAllSync();
    expect(leaseFiles(directory)).toEqual([]);
  });
});

describe('a cluster leases its ports and releases them', () => {
  const tracker = createClusterTracker();
  let directory: string;
  let previous: string | undefined;

  beforeEach(() => {
    directory = makeDirectory();
    previous = process.env[PORT_LEASE_DIR_ENV];
    process.env[PORT_LEASE_DIR_ENV] = directory;
  });

  afterEach(async () => {
    await tracker.cleanup();
    if (previous === undefined) delete process.env[PORT_LEASE_DIR_ENV];
    else process.env[PORT_LEASE_DIR_ENV] = previous;
  });

  it('every replica port is leased while the cluster runs (kept across a node restart); scale down releases that replica\'s, stop releases the rest', async () => {
    const cluster = tracker.track(
      new Cluster(
        makeCluster([
          makeNode('web', fixture('http-server', '{{ports.http}}'), {
            ports: ['http', 'admin'],
            replicas: 2,
            ready: { kind: 'tcp', host: '127.0.0.1', port: '{{ports.http}}', timeoutMs: 10_000, intervalMs: 50 },
          }),
        ], 'leases'),
      ),
    );
    await cluster.start();
    const [first, second] = cluster.nodes('web');
    const all = [...Object.values(first!.ports), ...Object.values(second!.ports)];
    expect(leaseFiles(directory)).toEqual(all.map(String).sort());
    expect(readLease(directory, first!.ports['http']!)).toMatchObject({ pid: process.pid, owner: 'leases/web:http' });
    expect(readLease(directory, second!.ports['admin']!)).toMatchObject({ owner: 'leases/web[1]:admin' });

    await cluster.restartNode('web');
    expect(leaseFiles(directory)).toEqual(all.map(String).sort());

    await cluster.scale('web', 1);
    expect(leaseFiles(directory)).toEqual(Object.values(first!.ports).map(String).sort());

    await cluster.stop();
    expect(leaseFiles(directory)).toEqual([]);
  });
});
