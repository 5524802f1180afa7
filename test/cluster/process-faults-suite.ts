/**
 * Process faults against real processes: pause/resume freeze and thaw a node's whole tree (a
 * setsid daemon included), a paused node's clients time out, stop of a paused node completes
 * within its grace, the restart policy does not fire while paused, crash with and without
 * restart. Run twice: with a cgroup leaf per node (cgroup.freeze) and without (the shepherd's
 * SIGSTOP walk): process-faults.test.ts and process-faults-no-cgroup.test.ts.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Cluster } from '../../cluster/cluster.js';
import type { ClusterNode } from '../../cluster/cluster-node.js';
import { getCgroupSupport } from '../../process/cgroup.js';
import { startCluster } from '../../start-cluster.js';
import type { ClusterEvent } from '../../contract/types.js';
import { FIXTURES_DIR } from '../helpers/fixtures.js';
import { createClusterTracker } from '../helpers/cluster-tracker.js';
import { getProcessState } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';

/** GET / on 127.0.0.1:port; resolves the body, or 'timeout' when no answer came within timeoutMs. */
function get(port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(body));
    });
    req.setTimeout(timeoutMs, () => {
      req.destroy();
      resolve('timeout');
    });
    req.on('error', reject);
  });
}

export function describeProcessFaults(mode: 'cgroup' | 'signals'): void {
  const { track, pids, cleanup } = createClusterTracker();
  afterEach(cleanup);

  async function start(nodes: Record<string, unknown>): Promise<{ cluster: Cluster; events: ClusterEvent[] }> {
    const events: ClusterEvent[] = [];
    const cluster = await startCluster(
      { name: 'faults', nodes },
      {
        baseDir: FIXTURES_DIR,
        onCreate: (created: Cluster) => {
          track(created);
          created.on('event', (e) => events.push(e));
        },
      },
    );
    return { cluster, events };
  }

  const server = (extra: Record<string, unknown> = {}) => ({
    command: [process.execPath, path.join(FIXTURES_DIR, 'http-daemon.mjs'), '{{ports.http}}'],
    ports: ['http'],
    ready: { log: '^listening' },
    stop: { timeout: '2s' },
    restart: { policy: 'on-failure', backoff: { initial: '10ms', max: '50ms' } },
    ...extra,
  });

  /** The daemon's pid, from the fixture's first line. */
  async function daemonOf(node: ClusterNode): Promise<number> {
    const line = await node.waitForOutput(/^daemon \d+$/);
    const pid = Number(line.text.split(' ')[1]);
    pids.add(pid);
    return pid;
  }

  /** What freezing shows for `pid`: its /proc state letter (signals), or whether its cgroup says frozen and lists it. */
  function frozenView(node: ClusterNode, pid: number): string {
    const cgroup = node.snapshot().cgroup ?? null;
    if (mode === 'signals') return getProcessState(pid) ?? 'gone';
    const procs = readFileSync(path.join(cgroup!, 'cgroup.procs'), 'utf8').split('\n');
    const frozen = /^frozen 1$/m.test(readFileSync(path.join(cgroup!, 'cgroup.events'), 'utf8'));
    return `${procs.includes(String(pid)) ? 'member' : 'outside'} ${frozen ? 'frozen' : 'thawed'}`;
  }
  const FROZEN = mode === 'signals' ? 'T' : 'member frozen';

  describe(`process faults (${mode})`, () => {
    it(`runs ${mode === 'cgroup' ? 'with a cgroup leaf per node' : 'without cgroups'}`, async () => {
      const { cluster } = await start({ a: server() });
      const cgroup = cluster.node('a').snapshot().cgroup ?? null;
      if (mode === 'cgroup') expect(cgroup, `cgroup support here: ${JSON.stringify(getCgroupSupport())}`).not.toBeNull();
      else expect(cgroup).toBeNull();
    });

    it('pause freezes the whole tree (setsid daemon included), clients time out, resume serves again', async () => {
      const { cluster, events } = await start({ a: server() });
      const node = cluster.node('a');
      const daemon = await daemonOf(node);
      const port = node.ports.http!;
      const pid = node.pid!;
      expect(await get(port, 5000)).toBe(`pong ${pid}`);

      await node.pause();
      expect(node.state).toBe('paused');
      expect(frozenView(node, pid)).toBe(FROZEN);
      expect(frozenView(node, daemon)).toBe(FROZEN);
      expect(getProcessState(node.snapshot().pid!)).not.toBeNull();
      // The kernel still accepts the connection into the backlog; nobody answers it.
      expect(await get(port, 400)).toBe('timeout');
      expect(cluster.faults()).toMatchObject([{ kind: 'pause', nodes: ['a'], by: 'api' }]);

      await node.resume();
      expect(node.state).toBe('ready');
      expect(frozenView(node, pid)).not.toBe(FROZEN);
      expect(frozenView(node, daemon)).not.toBe(FROZEN);
      expect(await get(port, 5000)).toBe(`pong ${pid}`);
      expect(node.pid).toBe(pid); // the same run, no restart
      expect(cluster.faults()).toEqual([]);
      const faultEvents = events.filter((e) => e.type === 'fault').map((e) => (e.type === 'fault' ? `${e.phase} ${e.fault.kind}` : ''));
      expect(faultEvents).toEqual(['injected pause', 'healed pause']);
      const states = events.filter((e) => e.type === 'state' && e.node === 'a').map((e) => (e.type === 'state' ? e.to : ''));
      expect(states.slice(-2)).toEqual(['paused', 'ready']);
    });

    it('healFaults() resumes a paused node', async () => {
      const { cluster } = await start({ a: server() });
      const node = cluster.node('a');
      await cluster.pauseNode('a');
      expect(node.state).toBe('paused');
      await cluster.healFaults();
      expect(node.state).toBe('ready');
      expect(await get(node.ports.http!, 5000)).toBe(`pong ${node.pid}`);
    });

    it('stop of a paused node completes within its grace, without SIGKILL, and ends the pause fault', async () => {
      const { cluster, events } = await start({ a: server() });
      const node = cluster.node('a');
      const daemon = await daemonOf(node);
      await node.pause();
      expect(frozenView(node, daemon)).toBe(FROZEN);
      const began = Date.now();
      await node.stop();
      const tookMs = Date.now() - began;
      expect(node.state).toBe('stopped');
      expect(tookMs).toBeLessThan(2000);
      expect(node.snapshot().lastExit).toMatchObject({ signal: 'SIGTERM', forcedKill: false });
      expect(cluster.faults()).toEqual([]);
      expect(events.filter((e) => e.type === 'fault').map((e) => (e.type === 'fault' ? e.phase : ''))).toEqual(['injected', 'healed']);
    });

    it('while paused the restart policy does not fire (probes suspended); with probes kept a hung node is restarted', async () => {
      const liveness = { http: { url: 'http://127.0.0.1:{{ports.http}}/' }, interval: '100ms', timeout: '200ms', failureThreshold: 2 };
      const { cluster } = await start({ quiet: server({ liveness }), watched: server({ liveness }) });
      const quiet = cluster.node('quiet');
      const watched = cluster.node('watched');
      const quietPid = quiet.pid;
      await quiet.pause();
      await watched.pause({ probes: 'keep' });
      // The watched node fails its probes while frozen and is restarted as a hung node would be;
      // the quiet one, paused the same way with probes suspended, must not be.
      await watched.waitFor('ready', { run: 'next', timeoutMs: 10_000 });
      expect(watched.restarts).toBe(1);
      expect(quiet.state).toBe('paused');
      expect(quiet.restarts).toBe(0);
      expect(quiet.pid).toBe(quietPid);
      expect(cluster.faults().map((f) => `${f.kind} ${f.nodes.join()}`)).toEqual(['pause quiet']);
      await quiet.resume();
      // Probes run again after resume and pass.
      expect(await get(quiet.ports.http!, 5000)).toBe(`pong ${quietPid}`);
      expect(quiet.state).toBe('ready');
    });

    it('refuses to pause a node that is not ready, naming it and its state', async () => {
      const { cluster } = await start({ a: server() });
      const node = cluster.node('a');
      await node.stop();
      await expect(node.pause()).rejects.toMatchObject({ code: 'ERR_ILLEGAL_TRANSITION', message: expect.stringContaining('node a is stopped') });
      await expect(node.pause({ probes: 'sometimes' as 'keep' })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
      await expect(node.crash()).rejects.toMatchObject({ code: 'ERR_ILLEGAL_TRANSITION' });
    });

    it('pauseNode pauses every replica, or none when one is not ready', async () => {
      const { cluster } = await start({ a: server({ replicas: 2 }) });
      const [first, second] = cluster.nodes('a');
      await second!.stop();
      await expect(cluster.pauseNode('a')).rejects.toMatchObject({ code: 'ERR_ILLEGAL_TRANSITION', message: expect.stringContaining('a[1] is stopped') });
      expect(first!.state).toBe('ready');
      expect(cluster.faults()).toEqual([]);
      await second!.start();
      await cluster.pauseNode('a');
      expect(cluster.nodes('a').map((n) => n.state)).toEqual(['paused', 'paused']);
      expect(cluster.faults().map((f) => f.nodes.join()).sort()).toEqual(['a', 'a[1]']);
      await cluster.resumeNode('a');
      expect(cluster.nodes('a').map((n) => n.state)).toEqual(['ready', 'ready']);
    });

    it('crash with restart: false kills the whole tree and keeps the node down until start()', async () => {
      const { cluster, events } = await start({ a: server() });
      const node = cluster.node('a');
      const daemon = await daemonOf(node);
      const pid = node.pid!;
      await node.crash({ restart: false });
      expect(node.state).toBe('exited');
      expect(node.pid).toBeNull();
      expect(node.snapshot().lastExit).toMatchObject({ signal: 'SIGKILL' });
      await waitFor(() => [pid, daemon].map((p) => getProcessState(p)), (s) => s.every((x) => x === null), { describe: 'the crashed tree gone' });
      expect(cluster.faults()).toMatchObject([{ kind: 'crash', nodes: ['a'] }]);
      // Nothing restarts it: the supervision ended (no backoff, no starting after the exit).
      expect(events.filter((e) => e.type === 'restarting')).toEqual([]);
      expect(node.restarts).toBe(0);
      await node.start();
      expect(node.state).toBe('ready');
      expect(node.pid).not.toBe(pid);
      expect(cluster.faults()).toEqual([]);
    });

    it('crash with restart: the restart policy brings it back, and waitFor(ready, { run: next }) awaits that run', async () => {
      const { cluster } = await start({ a: server() });
      const node = cluster.node('a');
      const run = node.run;
      const pid = node.pid!;
      await node.crash();
      await node.waitFor('ready', { run: 'next' });
      expect(node.run).toBe(run + 1);
      expect(node.pid).not.toBe(pid);
      expect(await get(node.ports.http!, 5000)).toBe(`pong ${node.pid}`);
      await waitFor(() => cluster.faults().length, (n) => n === 0, { describe: 'the crash fault healed once the next run is ready' });
    });

    it('crash of a paused node kills the frozen tree and ends the pause', async () => {
      const { cluster } = await start({ a: server() });
      const node = cluster.node('a');
      const daemon = await daemonOf(node);
      await node.pause();
      await node.crash({ restart: false });
      expect(node.state).toBe('exited');
      await waitFor(() => getProcessState(daemon), (s) => s === null, { describe: 'the frozen daemon killed' });
      expect(cluster.faults().map((f) => f.kind)).toEqual(['crash']);
    });
  });
}
