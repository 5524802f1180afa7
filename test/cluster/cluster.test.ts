import getPort from 'get-port';
import { afterEach, describe, expect, it } from 'vitest';
import { Cluster } from '../../cluster/cluster.js';
import type { ClusterEvent } from '../../contract/types.js';
import { fixture } from '../helpers/fixtures.js';
import { createClusterTracker } from '../helpers/cluster-tracker.js';
import { makeCluster, makeNode } from '../helpers/specs.js';
import { waitFor } from '../helpers/wait-for.js';

const { track, pids, cleanup } = createClusterTracker();

afterEach(cleanup);

describe('Cluster', () => {
  it('starts nodes, waits for log/tcp/http readiness, and stops them all', async () => {
    const [tcpPort, httpPort] = [await getPort(), await getPort()];
    const cluster = track(
      new Cluster(
        makeCluster([
          makeNode('log', fixture('forever'), { ready: { kind: 'log', pattern: '^ready$', stream: 'stdout', count: 1, timeoutMs: 5000 } }),
          makeNode('tcp', fixture('http-server', tcpPort), { ready: { kind: 'tcp', host: '127.0.0.1', port: tcpPort, timeoutMs: 5000, intervalMs: 20 } }),
          makeNode('http', fixture('http-server', httpPort, 300), {
            ready: { kind: 'http', url: `http://127.0.0.1:${httpPort}/health`, timeoutMs: 5000, intervalMs: 20 },
          }),
          makeNode('plain', fixture('forever')),
        ]),
      ),
    );
    const events: ClusterEvent[] = [];
    cluster.on('event', (e) => events.push(e));
    await cluster.start();
    expect(cluster.snapshot().nodes.map((n) => [n.name, n.state])).toEqual([
      ['log', 'ready'],
      ['tcp', 'ready'],
      ['http', 'ready'],
      ['plain', 'ready'],
    ]);
    // The http node answered 503 for 300 ms: readiness waited for the 200.
    const http = cluster.node('http');
    expect(http.pid).toBeGreaterThan(0);
    const states = events.filter((e) => e.type === 'state' && e.node === 'http').map((e) => (e.type === 'state' ? e.to : ''));
    expect(states).toEqual(['starting', 'running', 'ready']);
    await cluster.stop();
    expect(cluster.snapshot().nodes.every((n) => n.state === 'stopped')).toBe(true);
    expect(cluster.snapshot().nodes.every((n) => n.lastExit?.signal === 'SIGTERM')).toBe(true);
  });

  it('restarts a crashed node with backoff and counts the restart', async () => {
    const cluster = track(new Cluster(makeCluster([makeNode('a', fixture('forever'), { ready: { kind: 'log', pattern: 'ready', stream: 'both', count: 1, timeoutMs: 5000 } })])));
    const events: ClusterEvent[] = [];
    cluster.on('event', (e) => events.push(e));
    await cluster.start();
    const a = cluster.node('a');
    const firstPid = a.pid!;
    a.kill('SIGKILL');
    await waitFor(() => ({ state: a.state, restarts: a.restarts, pid: a.pid }), (s) => s.state === 'ready' && s.restarts === 1, { describe: 'a restarted and ready' });
    expect(a.pid).not.toBe(firstPid);
    const restarting = events.find((e) => e.type === 'restarting');
    expect(restarting).toMatchObject({ type: 'restarting', node: 'a', attempt: 1, delayMs: 10, reason: 'crashed' });
    const backoff = events.find((e) => e.type === 'state' && e.to === 'backoff');
    expect(backoff).toMatchObject({ exit: { signal: 'SIGKILL', exitCode: null } });
  });

  it('killNode signals every replica by name or number, and rejects unknown signals and nodes', async () => {
    const cluster = track(new Cluster(makeCluster([makeNode('a', fixture('forever'), { ready: { kind: 'log', pattern: 'ready', stream: 'both', count: 1, timeoutMs: 5000 } })])));
    await cluster.start();
    const a = cluster.node('a');
    await expect(cluster.killNode('a', 'SIGNOPE')).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
    await expect(cluster.killNode('a', 65)).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
    await expect(cluster.killNode('zz', 'SIGKILL')).rejects.toMatchObject({ code: 'ERR_UNKNOWN_NODE' });
    expect(await cluster.killNode('a', 9)).toBe(1);
    await waitFor(() => ({ state: a.state, restarts: a.restarts }), (s) => s.state === 'ready' && s.restarts === 1, { describe: 'a restarted after SIGKILL' });
    expect(a.snapshot().lastExit).toMatchObject({ signal: 'SIGKILL' });
  });

  it('marks a node failed after more than maxRestarts in the window', async () => {
    const cluster = track(new Cluster(makeCluster([makeNode('crashy', fixture('exit-with', 3), { restart: { maxRestarts: 2 } })])));
    // The node becomes ready (no check) and then keeps crashing.
    await cluster.start();
    const node = cluster.node('crashy');
    await waitFor(() => node.state, (s) => s === 'failed', { describe: 'crashy failed' });
    expect(node.restarts).toBe(2);
    expect(node.error?.code).toBe('ERR_RESTART_LIMIT');
    expect(cluster.snapshot().nodes[0]!.error).toMatch(/^ERR_RESTART_LIMIT: node crashy restarted more than 2 times/);
    expect(cluster.snapshot().nodes[0]!.lastExit?.exitCode).toBe(3);
  });

  it('fails a node whose command does not exist at once, without restarts', async () => {
    const cluster = track(
      new Cluster(makeCluster([makeNode('ok', fixture('forever')), makeNode('missing', ['drover-no-such-binary'], { restart: { policy: 'always' } })])),
    );
    await expect(cluster.start()).rejects.toMatchObject({ code: 'ERR_COMMAND_NOT_FOUND', node: 'missing' });
    const missing = cluster.node('missing');
    expect(missing.state).toBe('failed');
    expect(missing.restarts).toBe(0);
    // What it started was stopped before the rejection.
    expect(cluster.node('ok').state).toBe('stopped');
  });

  it('rejects a start whose readiness times out, with the output tail, leaving nothing running', async () => {
    const cluster = track(
      new Cluster(
        makeCluster([makeNode('slow', fixture('forever', 'still booting'), { ready: { kind: 'log', pattern: 'never', stream: 'both', count: 1, timeoutMs: 2000 } })]),
      ),
    );
    const error = await cluster.start().then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'ERR_READY_TIMEOUT', node: 'slow' });
    expect((error as Error).message).toMatch(/not ready after \d+ ms: waited for a line of output matching \/never\//);
    expect((error as Error).message).toContain('stdout: still booting');
    expect(cluster.node('slow').state).toBe('failed');
    expect(cluster.node('slow').pid).toBeNull();
  });

  it('lets a stop during backoff win over the pending relaunch', async () => {
    const cluster = track(
      new Cluster(makeCluster([makeNode('b', fixture('exit-with', 1), { restart: { backoff: { initialMs: 60_000, maxMs: 60_000, multiplier: 1, jitter: 0 } } })])),
    );
    await cluster.start();
    const b = cluster.node('b');
    await waitFor(() => b.state, (s) => s === 'backoff', { describe: 'b in backoff' });
    const started = Date.now();
    await cluster.stop();
    expect(Date.now() - started).toBeLessThan(5000);
    expect(b.state).toBe('stopped');
    expect(b.pid).toBeNull();
  });

  it('restarts a node on request and delivers a snapshot then events to subscribers', async () => {
    const cluster = track(new Cluster(makeCluster([makeNode('a', fixture('forever'))])));
    await cluster.start();
    const seen: string[] = [];
    const sub = cluster.subscribe({
      onSnapshot: (s) => seen.push(`snapshot:${s.nodes[0]!.state}`),
      onEvent: (e) => {
        if (e.type === 'state') seen.push(e.to);
        if (e.type === 'restarting') seen.push(`restarting:${e.reason}`);
      },
    });
    await cluster.restartNode('a');
    sub.unsubscribe();
    expect(seen).toEqual(['snapshot:ready', 'restarting:manual', 'stopping', 'stopped', 'starting', 'running', 'ready']);
    expect(cluster.node('a').restarts).toBe(1);
    expect(() => cluster.node('nope')).toThrow(/no node "nope"/);
  });

  it('makes output events only while an observer or listener may want them, and keeps every line either way', async () => {
    // No track(): its 'event' listener would want output. Pids come from the snapshots instead.
    const cluster = new Cluster(makeCluster([makeNode('a', fixture('forever', 'tick'))]));
    track(cluster, { listen: false });
    const ignoring: string[] = [];
    cluster.subscribe({ wantsOutput: false, onEvent: (e) => ignoring.push(e.type) });
    await cluster.start();
    pids.add(cluster.node('a').pid!);
    const node = cluster.node('a');
    // Lines are kept and numbered while nobody listens; the observer that ignores output gets none.
    await waitFor(() => node.output.tail().map((l) => l.text), (texts) => texts.filter((t) => t === 'tick').length >= 3, { describe: 'three ticks in the ring buffer' });
    expect(ignoring).not.toContain('output');
    const heard: string[] = [];
    const listener = (e: ClusterEvent) => {
      if (e.type === 'output') heard.push(`${e.line.seq}:${e.line.text}`);
    };
    cluster.on('event', listener);
    await waitFor(() => heard.length, (n) => n >= 3, { describe: 'three output events after a listener came' });
    // Events continue the ring buffer's numbering.
    const kept = node.output.tail().map((l) => `${l.seq}:${l.text}`);
    expect(kept).toEqual(expect.arrayContaining(heard.slice(0, 3)));
    // While the listener was there, every observer saw output events, the ignoring one too.
    expect(ignoring).toContain('output');
    cluster.off('event', listener);
    const count = heard.length;
    const outputsAtOff = ignoring.filter((t) => t === 'output').length;
    const seqAtOff = node.output.nextSequence;
    await waitFor(() => node.output.nextSequence, (seq) => seq >= seqAtOff + 3, { describe: 'three more lines after the listener left' });
    expect(heard.length).toBe(count);
    // The nodes stopped making output events: the observer still subscribed gets no more.
    expect(ignoring.filter((t) => t === 'output').length).toBe(outputsAtOff);
    // An observer that does not say otherwise wants output.
    const observed: string[] = [];
    const sub = cluster.subscribe({ onEvent: (e) => e.type === 'output' && observed.push(e.line.text) });
    await waitFor(() => observed.length, (n) => n >= 2, { describe: 'output events for a default observer' });
    sub.unsubscribe();
    await cluster.stop();
  });
});

describe('Cluster without a usable shepherd', () => {
  it('fails a node at once on ERR_NATIVE_LOAD instead of retrying it', async () => {
    const previous = process.env.DROVER_SHEPHERD;
    process.env.DROVER_SHEPHERD = '/nonexistent/drover-shepherd';
    try {
      const cluster = track(new Cluster(makeCluster([makeNode('a', fixture('forever'), { restart: { policy: 'always' } })])));
      await expect(cluster.start()).rejects.toMatchObject({ node: 'a', code: 'ERR_NATIVE_LOAD' });
      expect(cluster.node('a').restarts).toBe(0);
      expect(cluster.node('a').state).toBe('failed');
    } finally {
      if (previous === undefined) delete process.env.DROVER_SHEPHERD;
      else process.env.DROVER_SHEPHERD = previous;
    }
  });
});
