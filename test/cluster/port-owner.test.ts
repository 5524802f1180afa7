/**
 * `ready: { tcp: { port, owned: true } }`: ready only once a process of the node's own tree
 * listens on the port. A stray listener holding the node's port is reported by pid and command,
 * not taken for the node. Real processes through the real shepherd; /proc parsing unit-tested.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { Cluster } from '../../cluster/cluster.js';
import { describeForeignListener, findListeningInodes } from '../../cluster/readiness/port-owner.js';
import { normalizeConfig, type ConfigInvalidError } from '../../config/index.js';
import { isDroverError } from '../../contract/errors.js';
import type { ClusterEvent, ReadinessAttemptEvent } from '../../contract/types.js';
import { createClusterTracker } from '../helpers/cluster-tracker.js';
import { fixture } from '../helpers/fixtures.js';
import { expectAllGone } from '../helpers/processes.js';
import { makeCluster, makeNode } from '../helpers/specs.js';
import { waitFor } from '../helpers/wait-for.js';

const PROC_NET_TCP = [
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
  '   0: 0100007F:A112 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 111 1 0000000000000000 100 0 0 10 0',
  '   1: 0100007F:A112 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 222 1 0000000000000000 20 4 30 10 -1',
  '   2: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 333 1 0000000000000000 100 0 0 10 0',
].join('\n');

describe('listening sockets in /proc/net/tcp (pure)', () => {
  it('finds the inodes of LISTEN sockets on the port only (not connections from or to it)', () => {
    expect(findListeningInodes(PROC_NET_TCP, 0xa112)).toEqual([111]);
    expect(findListeningInodes(PROC_NET_TCP, 8080)).toEqual([333]);
    expect(findListeningInodes(PROC_NET_TCP, 50_000)).toEqual([]);
    expect(findListeningInodes('', 80)).toEqual([]);
  });

  it('names the port, its name, the node and the holder', () => {
    expect(describeForeignListener(41_234, 'http', 'api', { pid: 999, command: 'nc' })).toBe("port 41234 (http) of node api is held by pid 999 (nc), not by the node's processes");
    expect(describeForeignListener(41_234, null, 'api[1]', { pid: null, command: null })).toBe(
      "port 41234 of node api[1] is held by a process this user cannot inspect (another user's?), not by the node's processes",
    );
  });
});

describe('config: tcp owned', () => {
  const TIMING = { timeoutMs: 30_000, intervalMs: 250, initialDelayMs: 0 };
  const normalizeNode = (fields: Record<string, unknown>) => normalizeConfig({ name: 'x', nodes: { a: { command: ['x'], ...fields } } }, { baseDir: '/srv' }).spec.nodes[0]!;

  it('`tcp: { port: http, owned: true }` takes a port name like the shorthand; without owned the spec is as before', () => {
    expect(normalizeNode({ ports: ['http'], ready: { tcp: { port: 'http', owned: true } } }).ready).toEqual({ kind: 'tcp', host: '127.0.0.1', port: '{{ports.http}}', owned: true, ...TIMING });
    expect(normalizeNode({ ports: ['http'], liveness: { tcp: { port: '{{ports.http}}', owned: true } } }).liveness?.check).toMatchObject({ kind: 'tcp', port: '{{ports.http}}', owned: true });
    expect(normalizeNode({ ports: ['http'], ready: { tcp: { port: 'http' } } }).ready).toEqual({ kind: 'tcp', host: '127.0.0.1', port: '{{ports.http}}', ...TIMING });
  });

  it('a non-boolean owned and an unknown port name are errors naming the key', () => {
    let issues: readonly { path: string; message: string }[] = [];
    try {
      normalizeNode({ ports: ['http'], ready: { tcp: { port: 'http', owned: 'yes' } } });
    } catch (error) {
      if (!isDroverError(error, 'ERR_CONFIG_INVALID')) throw error;
      issues = (error as ConfigInvalidError).issues;
    }
    expect(issues).toEqual([expect.objectContaining({ path: 'nodes.a.ready.tcp.owned', message: expect.stringContaining('true or false') })]);
    expect(() => normalizeNode({ ports: ['http'], ready: { tcp: { port: 'grpc', owned: true } } })).toThrow(/grpc/);
  });
});

describe('ownership against real processes', () => {
  const tracker = createClusterTracker();
  const strays: ChildProcess[] = [];

  afterEach(async () => {
    await tracker.cleanup();
    for (const stray of strays) stray.kill('SIGKILL');
    const pids = strays.splice(0).map((s) => s.pid!);
    if (pids.length > 0) await expectAllGone(pids);
  });

  function attempts(cluster: Cluster): ReadinessAttemptEvent[] {
    const seen: ReadinessAttemptEvent[] = [];
    cluster.on('event', (e: ClusterEvent) => {
      if (e.type === 'readiness') seen.push(e);
    });
    return seen;
  }

  it("a descendant of the node's process listening on the port makes it ready, and the attempt says which pid", async () => {
    const [node, script] = fixture('http-server');
    const cluster = tracker.track(
      new Cluster(
        makeCluster([
          // sh stays the node's process; the listener is its child.
          makeNode('api', ['/bin/sh', '-c', `"${node}" "${script}" "$1"; exit 0`, 'sh', '{{ports.http}}'], {
            ports: ['http'],
            ready: { kind: 'tcp', host: '127.0.0.1', port: '{{ports.http}}', owned: true, timeoutMs: 10_000, intervalMs: 50 },
          }),
        ]),
      ),
    );
    const seen = attempts(cluster);
    await cluster.start();
    const api = cluster.node('api');
    const last = seen.at(-1)!;
    expect(last).toMatchObject({ ok: true, kind: 'tcp' });
    const listener = Number(/listened on by pid (\d+) of node api/.exec(last.message ?? '')?.[1]);
    expect(listener).not.toBe(api.pid);
    tracker.pids.add(listener);
  });

  /** A cluster whose node `api` never listens, and a stray process (outside its tree) listening on the node's port. */
  async function clusterWithStray(owned: boolean): Promise<{ cluster: Cluster; port: number; stray: ChildProcess }> {
    const cluster = tracker.track(
      new Cluster(
        makeCluster([
          makeNode('api', fixture('forever'), {
            ports: ['http'],
            ready: { kind: 'tcp', host: '127.0.0.1', port: '{{ports.http}}', ...(owned ? { owned } : {}), timeoutMs: 1500, intervalMs: 50 },
          }),
        ]),
      ),
    );
    await cluster.node('api').allocatePorts();
    const port = cluster.node('api').ports['http']!;
    const [node, script] = fixture('tcp-peer', port, 'stray');
    const stray = spawn(node!, [script!, String(port), 'stray'], { stdio: ['ignore', 'pipe', 'inherit'] });
    strays.push(stray);
    let out = '';
    stray.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    await waitFor(() => out, (text) => text.includes('listening'), { describe: 'the stray listener to listen' });
    return { cluster, port, stray };
  }

  it('without owned, a stray listener on the port makes a node that never listens look ready (what owned prevents)', async () => {
    const { cluster } = await clusterWithStray(false);
    await cluster.start();
    expect(cluster.node('api').state).toBe('ready');
  });

  it("a stray listener holding the node's port is reported by pid and command, not taken for the node (ERR_READY_TIMEOUT)", async () => {
    const { cluster, port, stray } = await clusterWithStray(true);
    const seen = attempts(cluster);
    const error = await cluster.start().catch((e: unknown) => e);
    expect(isDroverError(error, 'ERR_READY_TIMEOUT')).toBe(true);
    const message = `port ${port} (http) of node api is held by pid ${stray.pid} (node), not by the node's processes`;
    expect((error as Error).message).toContain(message);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((a) => !a.ok)).toBe(true);
    expect(seen.at(-1)?.message).toBe(message);
  });
});
