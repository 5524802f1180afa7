/**
 * Link faults through drover's TCP relay (`network: { faults: true }`) against a real 3-node
 * cluster of TCP servers (test/fixtures/tcp-peer.mjs) wired to each other through
 * `{{nodes.X.ports.p}}`. The test asks a node, over a direct connection to its own port, to fetch
 * from a peer; the node's own connection goes through the relay, which tells which node opened it.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Cluster } from '../../cluster/cluster.js';
import { DroverError } from '../../contract/errors.js';
import { startCluster } from '../../start-cluster.js';
import { fixture } from '../helpers/fixtures.js';
import { expectAllGone, expectNoShepherds } from '../helpers/processes.js';
import { makeCluster, makeNode } from '../helpers/specs.js';
import { waitFor } from '../helpers/wait-for.js';
import { planChaos } from '../../cluster/chaos.js';
import type { ClusterEvent, FaultKind } from '../../contract/types.js';

let cluster: Cluster | null = null;
const pids = new Set<number>();
const clients = new Set<net.Socket>();

afterEach(async () => {
  for (const socket of clients) socket.destroy();
  clients.clear();
  await cluster?.stop();
  cluster = null;
  await expectAllGone(pids);
  pids.clear();
  await expectNoShepherds();
});

const NAMES = ['a', 'b', 'c'] as const;

async function startTrio(faults = true, restart = false): Promise<Cluster> {
  const node = (name: string) => ({
    ...(restart ? { restart: { policy: 'always', backoff: { initial: '10ms' } } } : {}),
    command: fixture('tcp-peer', '{{ports.p}}', name, ...NAMES.map((peer) => `${peer}={{nodes.${peer}.ports.p}}`)),
    ports: ['p'],
    ready: { tcp: { port: '{{ports.p}}' }, interval: '20ms', timeout: '10s' },
  });
  cluster = await startCluster(
    { name: 'trio', network: { faults }, nodes: Object.fromEntries(NAMES.map((name) => [name, node(name)])) },
    { strict: true, onCreate: (c) => c.on('event', (e) => e.type === 'state' && e.pid !== null && pids.add(e.pid)) },
  );
  return cluster;
}

/** A connection to `port` that sends command lines and reads one answer line each. */
async function connect(port: number): Promise<(line: string) => Promise<string>> {
  const socket = net.connect({ host: '127.0.0.1', port });
  clients.add(socket);
  socket.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let buffer = '';
  const waiting: ((line: string) => void)[] = [];
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    for (let end = buffer.indexOf('\n'); end !== -1; end = buffer.indexOf('\n')) {
      waiting.shift()?.(buffer.slice(0, end));
      buffer = buffer.slice(end + 1);
    }
  });
  return (line) =>
    new Promise((resolve) => {
      waiting.push(resolve);
      socket.write(`${line}\n`);
    });
}

/** Asks node `name` (over a direct connection to its own port) to run `line`. */
async function tell(c: Cluster, name: string, line: string): Promise<string> {
  return (await connect(c.node(name).ports.p!))(line);
}

function rttOf(answer: string): number {
  const match = /^ok pong \S+ (\d+)$/.exec(answer);
  if (match === null) throw new Error(`not a successful fetch: ${answer}`);
  return Number(match[1]);
}

describe('link faults through the relay', () => {
  it('without network.faults, peers get real ports and link() says how to enable it', async () => {
    const c = await startTrio(false);
    expect(c.resolvedConfig().nodes[0]!.command).toContain(`b=${c.node('b').ports.p}`);
    expect(() => c.link('a', 'b')).toThrow(DroverError);
    expect(() => c.link('a', 'b')).toThrow(/network: \{ faults: true \}/);
    expect(await tell(c, 'a', 'fetch b 2000')).toMatch(/^ok pong b /);
  });

  it('routes {{nodes.X.ports.p}} through the relay and names the node that opened each connection', async () => {
    const c = await startTrio();
    const a = c.resolvedConfig().nodes.find((n) => n.name === 'a')!;
    const relayB = Number(/b=(\d+)/.exec(a.command.join(' '))![1]);
    expect(relayB).not.toBe(c.node('b').ports.p);
    expect(a.command).toContain(`${a.ports.p}`); // its own {{ports.p}} stays the port it binds
    expect(await tell(c, 'a', 'hold b')).toBe('held 1');
    expect(await tell(c, 'c', 'hold b')).toBe('held 1');
    expect(await tell(c, 'c', 'hold b')).toBe('held 2');
    expect(await tell(c, 'b', 'hold b')).toBe('held 1'); // b reaching itself through its advertised address
    const outsider = await connect(relayB);
    expect(await outsider('ping')).toBe('pong b');
    // `held` is answered once connect() is called; the relay identifies the peer right after accepting.
    const links = ['a', 'c', 'b', 'external'] as const;
    const counts = await waitFor(
      async () => Object.fromEntries(await Promise.all(links.map(async (from) => [from, await c.link(from, 'b').openConnections()]))),
      (seen) => Object.values(seen).reduce((sum: number, n) => sum + (n as number), 0) === 5,
      { describe: 'the relay to have identified the 5 connections to b' },
    );
    expect(counts).toEqual({ a: 1, c: 2, b: 1, external: 1 });
    expect(await c.link('a', 'c').openConnections()).toBe(0);
  });

  it('a partition isolates one node both ways, stalls open connections, and heal restores it', async () => {
    const c = await startTrio();
    expect(await tell(c, 'a', 'hold b')).toBe('held 1');
    expect(await tell(c, 'a', 'ask 1 2000')).toMatch(/^ok pong b /);
    const fault = await c.partition([['a'], ['b', 'c']]);
    // One fault for the four cut links (a→b, a→c, b→a, c→a), named by its groups.
    expect(fault).toMatchObject({ kind: 'partition', nodes: ['a', 'b', 'c'], link: null, partition: { groups: [['a'], ['b', 'c']], oneWay: false }, detail: 'partition: 4 links cut' });
    expect(c.faults()).toEqual([fault]);
    const [aToB, bToA, cToA, aHeld, bToC] = await Promise.all([
      tell(c, 'a', 'fetch b 500'),
      tell(c, 'b', 'fetch a 500'),
      tell(c, 'c', 'fetch a 500'),
      tell(c, 'a', 'ask 1 500'),
      tell(c, 'b', 'fetch c 2000'),
    ]);
    expect({ aToB, bToA, cToA, aHeld }).toEqual({ aToB: 'error timeout', bToA: 'error timeout', cToA: 'error timeout', aHeld: 'error timeout' });
    expect(bToC).toMatch(/^ok pong c /); // inside a group, links stay
    await c.heal();
    expect(c.faults()).toEqual([]);
    expect(await tell(c, 'a', 'fetch b 2000')).toMatch(/^ok pong b /);
    expect(await tell(c, 'b', 'fetch a 2000')).toMatch(/^ok pong a /);
    expect(await tell(c, 'a', 'ask 1 2000')).toMatch(/^ok pong b /); // the stalled connection flows again
  });

  it('a one-way cut stops a → b only', async () => {
    const c = await startTrio();
    const fault = await c.link('a', 'b').partition();
    expect(fault).toMatchObject({ kind: 'partition', nodes: ['a', 'b'], link: { from: 'a', to: 'b', port: null } });
    expect(await tell(c, 'a', 'fetch b 500')).toBe('error timeout');
    expect(await tell(c, 'b', 'fetch a 2000')).toMatch(/^ok pong a /);
    expect(await tell(c, 'c', 'fetch b 2000')).toMatch(/^ok pong b /);
    await c.link('a', 'b').heal();
    expect(await tell(c, 'a', 'fetch b 2000')).toMatch(/^ok pong b /);
  });

  it('latency 200 ms adds ≥ 200 ms round trip on that link only', async () => {
    const c = await startTrio();
    await c.link('a', 'b').latency({ ms: 200 });
    expect(rttOf(await tell(c, 'a', 'fetch b 3000'))).toBeGreaterThanOrEqual(200);
    // Every other link (and a → b once healed) is below the 200 ms a delayed link cannot beat; a
    // fixed bound nearer loopback's RTT failed on a machine at load average 8 (155 ms).
    expect(rttOf(await tell(c, 'c', 'fetch b 3000'))).toBeLessThan(200);
    expect(rttOf(await tell(c, 'b', 'fetch a 3000'))).toBeLessThan(200);
    expect(rttOf(await tell(c, 'a', 'fetch c 3000'))).toBeLessThan(200);
    await c.heal();
    expect(rttOf(await tell(c, 'a', 'fetch b 3000'))).toBeLessThan(200);
  });

  it('reset RSTs the open connections of the link; blackhole swallows bytes until healed', async () => {
    const c = await startTrio();
    expect(await tell(c, 'a', 'hold b')).toBe('held 1');
    expect(await tell(c, 'c', 'hold b')).toBe('held 1');
    await waitFor(() => Promise.all([c.link('a', 'b').openConnections(), c.link('c', 'b').openConnections()]), ([ab, cb]) => ab === 1 && cb === 1, { describe: 'both held connections identified' });
    const reset = await c.link('a', 'b').reset();
    expect(reset).toMatchObject({ kind: 'reset', detail: 'reset (1 connection)' });
    expect(c.faults()).toEqual([]); // over at once
    expect(await tell(c, 'a', 'ask 1 1000')).toMatch(/^error (ECONNRESET|closed)$/);
    expect(await tell(c, 'c', 'ask 1 1000')).toMatch(/^ok pong b /);
    await c.link('c', 'b').blackhole();
    expect(await tell(c, 'c', 'fetch b 500')).toBe('error timeout');
    expect(await tell(c, 'a', 'fetch b 2000')).toMatch(/^ok pong b /);
    await c.heal();
    expect(await tell(c, 'c', 'fetch b 2000')).toMatch(/^ok pong b /);
  });

  it('a fault injected before the start acts once the relay listens', async () => {
    const spec = makeCluster(
      NAMES.map((name) =>
        makeNode(name, fixture('tcp-peer', '{{ports.p}}', name, ...NAMES.map((peer) => `${peer}={{nodes.${peer}.ports.p}}`)), {
          ports: ['p'],
          ready: { kind: 'tcp', host: '127.0.0.1', port: '{{ports.p}}', timeoutMs: 10_000, intervalMs: 20 },
        }),
      ),
      'early',
    );
    cluster = new Cluster({ ...spec, network: { faults: true } });
    cluster.on('event', (e) => e.type === 'state' && e.pid !== null && pids.add(e.pid));
    await cluster.link('a', 'b').partition();
    await cluster.start();
    expect(await tell(cluster, 'a', 'fetch b 500')).toBe('error timeout');
    expect(await tell(cluster, 'a', 'fetch c 2000')).toMatch(/^ok pong c /);
  });

  it('a node that is down is a reset connection through the relay, and reachable again once it runs', async () => {
    const c = await startTrio();
    await c.stopNode('b');
    expect(await tell(c, 'a', 'fetch b 2000')).toMatch(/^error (ECONNRESET|closed)$/);
    await c.startNode('b');
    expect(await tell(c, 'a', 'fetch b 2000')).toMatch(/^ok pong b /);
  });

  it('refuses bad links with a clear error', async () => {
    const c = await startTrio();
    expect(() => c.link('a', 'zz')).toThrow(/no node "zz"/);
    expect(() => c.link('a', 'b', 'q')).toThrow(/node b has no port "q"; its ports: p/);
    await expect(c.link('a', 'b').latency({ ms: -1 })).rejects.toThrow(/`ms` of a latency fault to be a number ≥ 0/);
    await expect(c.partition([['a'], ['a', 'b']])).rejects.toThrow(/node a is in two partition groups/);
    await expect(c.partition([['a']])).rejects.toThrow(/at least two non-empty groups/);
  });
});

describe('chaos with process and network faults', () => {
  it('a seeded schedule of pause, crash, partition and latency runs on real nodes, heals everything, and the cluster serves again', { timeout: 60_000 }, async () => {
    const c = await startTrio(true, true);
    c.on('event', (e) => e.type === 'state' && e.pid !== null && pids.add(e.pid));
    const options = { seed: 7, faults: ['pause', 'crash', 'partition', 'latency'] as const, intervalMs: 250, durationMs: 3000, faultDurationMs: 400 };
    const plan = planChaos({ ...options, faults: [...options.faults], targets: [...NAMES] });
    const events: ClusterEvent[] = [];
    c.on('event', (e) => events.push(e));
    const entries = await c.chaos({ ...options, faults: [...options.faults] });
    // The same seed gives the same schedule, and the run followed it step by step.
    expect(entries.map((e) => [e.fault, e.targets])).toEqual(plan.map((s) => [s.fault, s.targets]));
    expect(planChaos({ ...options, faults: [...options.faults], targets: [...NAMES] })).toEqual(plan);
    // Every kind was injected at least once on this seed; a partition is one fault for its four cut links.
    for (const kind of options.faults) expect(entries.some((e) => e.fault === kind && e.error === null), `${kind} injected`).toBe(true);
    expect(entries.filter((e) => e.fault === 'partition' && e.error === null).every((e) => e.ids.length === 1)).toBe(true);
    // A step may find its node not ready (a crash still restarting it): that is recorded, nothing else.
    for (const e of entries.filter((x) => x.error !== null)) expect(e.error).toMatch(/^ERR_ILLEGAL_TRANSITION|^ERR_PROCESS_EXITED/);
    // Everything injected was healed, by chaos.
    const faults = events.filter((e): e is Extract<ClusterEvent, { type: 'fault' }> => e.type === 'fault');
    const injected = new Set(faults.filter((e) => e.phase === 'injected').map((e) => e.fault.id));
    expect(new Set(faults.filter((e) => e.phase === 'healed').map((e) => e.fault.id))).toEqual(injected);
    expect(faults.filter((e) => e.phase === 'injected').every((e) => e.fault.by === 'chaos 7')).toBe(true);
    expect(c.faults()).toEqual([]);
    // And the cluster serves again: every node ready, a reaches b through the relay.
    for (const name of NAMES) await c.node(name).waitFor('ready', { timeoutMs: 20_000 });
    await waitFor(() => tell(c, 'a', 'fetch b 2000'), (answer) => answer.startsWith('ok pong b'), { timeoutMs: 10_000, describe: 'a fetches from b after chaos' });
  });

  it('a seeded schedule of bandwidth, blackhole and reset on the links heals everything, and the cluster serves again', { timeout: 30_000 }, async () => {
    const c = await startTrio();
    const events: ClusterEvent[] = [];
    c.on('event', (e) => events.push(e));
    const options = { seed: 3, faults: ['bandwidth', 'blackhole', 'reset'] as FaultKind[], intervalMs: 150, durationMs: 1500, faultDurationMs: 300 };
    const entries = await c.chaos(options);
    expect(entries.map((e) => [e.fault, e.targets])).toEqual(planChaos({ ...options, targets: [...NAMES] }).map((s) => [s.fault, s.targets]));
    for (const kind of options.faults) expect(entries.some((e) => e.fault === kind && e.error === null), `${kind} injected`).toBe(true);
    const injected = events.filter((e): e is Extract<ClusterEvent, { type: 'fault' }> => e.type === 'fault' && e.phase === 'injected');
    expect(new Set(injected.map((e) => e.fault.kind))).toEqual(new Set(options.faults));
    expect(c.faults()).toEqual([]);
    for (const [from, to] of [['a', 'b'], ['b', 'c'], ['c', 'a']]) {
      await waitFor(() => tell(c, from!, `fetch ${to} 2000`), (answer) => answer.startsWith(`ok pong ${to}`), { timeoutMs: 10_000, describe: `${from} fetches from ${to} after chaos` });
    }
  });
});
