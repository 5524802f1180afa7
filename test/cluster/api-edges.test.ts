/** Edges of the programmatic API found by trying it the way a hostile or unlucky user would. */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Cluster } from '../../cluster/cluster.js';
import { spawn } from '../../process/managed-process.js';
import { startCluster } from '../../start-cluster.js';
import type { ClusterEvent } from '../../contract/types.js';
import { fixture } from '../helpers/fixtures.js';
import { createClusterTracker } from '../helpers/cluster-tracker.js';
import { getParentPid } from '../helpers/processes.js';
import { makeCluster, makeNode } from '../helpers/specs.js';
import { waitFor } from '../helpers/wait-for.js';

const { track, pids, cleanup } = createClusterTracker();

afterEach(cleanup);

describe('API edges', () => {
  it('stdin.write() after the child exited calls back with EPIPE', async () => {
    const p = await spawn(['true'], { stdin: 'pipe' });
    pids.add(p.pid);
    await p.exited;
    const error = await new Promise<NodeJS.ErrnoException | null | undefined>((resolve) => p.stdin!.write('late\n', resolve));
    expect(error).toMatchObject({ code: 'EPIPE' });
  });

  it('pty: true works with the default stdin (ignore), from spawn() and from a cluster node', async () => {
    const p = await spawn(['sh', '-c', 'tty >/dev/null && echo "is a tty"'], { pty: true });
    pids.add(p.pid);
    expect(p.stdin).toBeNull();
    await p.exited;
    expect(p.output.tail().map((l) => l.text)).toContain('is a tty');

    const cluster = track(new Cluster(makeCluster([makeNode('t', ['sh', '-c', 'tty >/dev/null && echo "node tty"; exec sleep 1000'], { pty: true, ready: { kind: 'log', pattern: 'node tty', stream: 'stdout', count: 1, timeoutMs: 5000 } })])));
    await cluster.start();
    expect(cluster.node('t').state).toBe('ready');
    expect(cluster.node('t').restarts).toBe(0);
  });

  it('a start that can never work (ENOEXEC: a script without #!) fails at once with its own error, even under restart: always', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'drover-noexec-'));
    const script = path.join(dir, 'no-shebang');
    writeFileSync(script, 'echo hi\n');
    chmodSync(script, 0o755);
    const events: ClusterEvent[] = [];
    const cluster = track(new Cluster(makeCluster([makeNode('x', [script], { restart: { policy: 'always' } })])));
    cluster.on('event', (e) => events.push(e));
    await expect(cluster.start()).rejects.toMatchObject({ code: 'ERR_SPAWN_FAILED', errno: 'ENOEXEC', message: expect.stringContaining('exec format error') });
    expect(events.filter((e) => e.type === 'restarting')).toEqual([]);
  });

  it('startCluster aborted before it starts rejects with ERR_ABORTED, not a DOMException', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(startCluster({ name: 'x', nodes: { a: { command: fixture('forever') } } }, { signal: controller.signal })).rejects.toMatchObject({
      name: 'DroverError',
      code: 'ERR_ABORTED',
    });
    const started = startCluster({ name: 'y', nodes: { a: { command: fixture('forever') } } }, { signal: AbortSignal.timeout(1), onCreate: (c) => track(c) });
    await expect(started).rejects.toMatchObject({ code: 'ERR_ABORTED' });
  });

  it('restart policy no is honoured when the shepherd is lost: the node fails with ERR_SHEPHERD_LOST, no restart', async () => {
    const events: ClusterEvent[] = [];
    const cluster = track(new Cluster(makeCluster([makeNode('once', fixture('forever'), { restart: { policy: 'no' } })])));
    cluster.on('event', (e) => events.push(e));
    await cluster.start();
    const pid = cluster.node('once').pid!;
    process.kill(getParentPid(pid), 'SIGKILL');
    await cluster.node('once').waitFor('failed', { timeoutMs: 5000 });
    expect(cluster.node('once').error).toMatchObject({ code: 'ERR_SHEPHERD_LOST' });
    expect(events.filter((e) => e.type === 'restarting')).toEqual([]);
  });

  it('concurrent scale requests run one after another: no replica lost or duplicated', async () => {
    const cluster = track(new Cluster(makeCluster([makeNode('a', fixture('forever'))])));
    await cluster.start();
    const targets = [3, 1, 4, 2, 0, 5, 2, 3, 1, 4, 6, 2, 0, 3, 5, 1, 2, 4, 3, 2, 1, 5, 0, 2, 3, 4, 1, 6, 3, 2, 4, 3];
    await Promise.all(targets.map((n) => cluster.scale('a', n)));
    const replicas = cluster.nodes('a').map((n) => n.replica);
    expect(replicas).toEqual([0, 1, 2]);
    await waitFor(() => cluster.nodes('a').map((n) => n.state), (states) => states.every((s) => s === 'ready'), { describe: 'every replica of a ready' });
    for (const n of cluster.nodes('a')) pids.add(n.pid!);
  });
});

describe('durations beyond what a Node timer holds', () => {
  it('a wait longer than 2^31-1 ms does not fire at once (setTimeout overflow), and API options beyond it are refused by name', async () => {
    const cluster = track(new Cluster(makeCluster([makeNode('slow', fixture('forever'), { ready: { kind: 'log', pattern: '^never$', stream: 'stdout', count: 1, timeoutMs: 1000 * 3600 * 1000 } })])));
    const events: ClusterEvent[] = [];
    cluster.on('event', (e) => events.push(e));
    const starting = cluster.start();
    starting.catch(() => {
      // Rejected by the stop below (ERR_STOPPED); only the early timeout matters here.
    });
    await waitFor(() => cluster.node('slow').state, (s) => s === 'running', { describe: 'slow running' });
    // An overflowed timer fires after 1 ms: had it, the node would have failed with ERR_READY_TIMEOUT
    // during these 100 ms.
    await expect(cluster.node('slow').waitFor('ready', { timeoutMs: 100 })).rejects.toMatchObject({ code: 'ERR_READY_TIMEOUT' });
    expect(cluster.node('slow').state).toBe('running');
    expect(events.filter((e) => e.type === 'state' && e.to === 'failed')).toEqual([]);
    await expect(cluster.node('slow').waitFor('ready', { timeoutMs: 2 ** 31 })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', message: expect.stringContaining('`timeoutMs`') });
    await expect(spawn(['true'], { stop: { timeoutMs: 1e12 } })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', message: expect.stringContaining('`stop.timeoutMs`') });
    await cluster.stop();
  });
});

describe('large dependency graphs', () => {
  it('a dependsOn chain of 10,000 nodes is ordered and stopped without recursion', async () => {
    const nodes = Array.from({ length: 10_000 }, (_, i) => makeNode(`n${i}`, ['true'], { dependsOn: i === 0 ? {} : { [`n${i - 1}`]: 'ready' } }));
    const cluster = new Cluster(makeCluster(nodes));
    await cluster.stop();
    expect(cluster.nodes().every((n) => n.state === 'stopped')).toBe(true);
  });
});

describe('waiting for the next run', () => {
  it("kill then waitFor('ready', { run: 'next' }) waits for the restarted run; without it the killed run's state answers at once", async () => {
    const cluster = track(new Cluster(makeCluster([makeNode('a', fixture('forever'), { ready: { kind: 'log', pattern: '^ready$', stream: 'stdout', count: 1, timeoutMs: 5000 } })])));
    await cluster.start();
    const node = cluster.node('a');
    const [firstPid, firstRun] = [node.pid, node.run];
    expect(firstRun).toBe(1);
    node.kill('SIGKILL');
    await node.waitFor('ready', { run: 'next', timeoutMs: 10_000 });
    expect(node.run).toBe(2);
    expect(node.pid).not.toBe(firstPid);
    expect(node.restarts).toBe(1);
    pids.add(node.pid!);
    await expect(node.waitFor('ready', { run: 0 as never })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
    await expect(node.waitFor('ready', { run: 'next', timeoutMs: 50 })).rejects.toMatchObject({ code: 'ERR_READY_TIMEOUT', message: expect.stringContaining('in a run after run 2') });
  });

  it('a node without a readiness check is running, not ready, until it stayed up minUptime; one that crashes at once never shows ready', async () => {
    const events: ClusterEvent[] = [];
    const cluster = track(
      new Cluster(
        makeCluster([
          makeNode('steady', fixture('forever'), { minUptimeMs: 300 }),
          makeNode('crashy', ['sh', '-c', 'exit 3'], { minUptimeMs: 300, restart: { policy: 'on-failure', maxRestarts: 2 } }),
        ]),
      ),
    );
    cluster.on('event', (e) => events.push(e));
    const started = Date.now();
    await expect(cluster.start()).rejects.toMatchObject({ code: 'ERR_RESTART_LIMIT' });
    const stateTime = (to: string) => events.find((e): e is Extract<ClusterEvent, { type: 'state' }> => e.type === 'state' && e.node === 'steady' && e.to === to)?.time;
    const [readyAt, runningAt] = [stateTime('ready'), stateTime('running')];
    expect(readyAt! - runningAt!).toBeGreaterThanOrEqual(300);
    expect(readyAt! - started).toBeGreaterThanOrEqual(300);
    expect(events.filter((e) => e.type === 'state' && e.node === 'crashy' && e.to === 'ready')).toEqual([]);
  });
});
