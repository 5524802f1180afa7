/**
 * drover/vitest's `useCluster`: a handle on the setupCluster cluster through its control socket,
 * against real processes. setupCluster runs with a stand-in for vitest's TestProject (as in
 * setup-cluster.test.ts); the handle then finds the socket through DROVER_CONTROL_SOCKET, as a
 * command run by `drover run` would (examples/vitest covers inject() in real vitest workers).
 */
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../cluster/cluster.js';
import { setupCluster, useCluster, type ProvidedCluster, type RemoteCluster } from '../../vitest/index.js';
import { FIXTURES_DIR, fixture } from '../helpers/fixtures.js';
import { expectAllGone, expectNoShepherds, isAlive } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';

const config = {
  name: 'remote',
  nodes: {
    web: {
      command: [process.execPath, 'http-server.mjs', '{{ports.http}}'],
      ports: ['http'],
      ready: { http: { url: 'http://127.0.0.1:{{ports.http}}/health' }, interval: '20ms' },
    },
    ticker: { command: fixture('forever', 'tick'), ready: { log: { pattern: '^ready$' } } },
  },
};

let cluster: Cluster;
let provided: ProvidedCluster;
let teardown: () => Promise<void>;
let remote: RemoteCluster;
const pids = new Set<number>();

function remember(pid: number | null): void {
  if (pid !== null) pids.add(pid);
}

beforeAll(async () => {
  const values = new Map<string, unknown>();
  teardown = await setupCluster(config, {
    baseDir: FIXTURES_DIR,
    onReady: (c) => {
      cluster = c;
    },
  })({ provide: (key, value) => values.set(key, value) });
  provided = values.get('drover') as ProvidedCluster;
  remote = await useCluster();
});

afterAll(async () => {
  const socket = provided.controlSocket!;
  for (const node of cluster.nodes()) remember(node.pid);
  await teardown();
  expect(process.env.DROVER_CONTROL_SOCKET).toBeUndefined();
  expect(() => lstatSync(path.dirname(socket))).toThrow(/ENOENT/);
  await expectAllGone(pids);
  await expectNoShepherds();
});

describe('setupCluster serves the control API', () => {
  it('on a 0600 socket in a private 0700 dir, provided as controlSocket and set as DROVER_CONTROL_SOCKET', () => {
    const socket = provided.controlSocket!;
    expect(socket).toMatch(/control\.sock$/);
    expect(process.env.DROVER_CONTROL_SOCKET).toBe(socket);
    const dir = lstatSync(path.dirname(socket));
    expect(dir.isDirectory() && (dir.mode & 0o777).toString(8)).toBe('700');
    expect((lstatSync(socket).mode & 0o777).toString(8)).toBe('600');
    expect(readdirSync(path.dirname(socket))).toEqual(['control.sock']);
    expect(structuredClone(provided)).toEqual(provided);
  });
});

describe('useCluster', () => {
  it('sees every replica with the fields the cluster has (state, pid, run, restarts, ports)', async () => {
    expect(remote.name).toBe('remote');
    expect(remote.socket).toBe(provided.controlSocket);
    const web = remote.node('web');
    expect(web).toBe(remote.node('web', 0));
    expect(web).toMatchObject({ name: 'web', replica: 0, state: 'ready', pid: cluster.node('web').pid, run: cluster.node('web').run, restarts: 0, ports: cluster.node('web').ports });
    expect(remote.nodes().map((n) => n.name)).toEqual(['web', 'ticker']);
    const info = await web.snapshot();
    expect(info).toMatchObject({ state: 'ready', pid: cluster.node('web').pid });
  });

  it('an unknown node is ERR_UNKNOWN_NODE naming it and the known ones; a server error keeps its code and message', async () => {
    expect(() => remote.node('nope')).toThrow(expect.objectContaining({ code: 'ERR_UNKNOWN_NODE', message: expect.stringMatching(/no node "nope" \(replica 0\) in cluster remote; nodes: web, ticker/) }));
    expect(() => remote.node('web', 3)).toThrow(expect.objectContaining({ code: 'ERR_UNKNOWN_NODE' }));
    await expect(remote.node('web').waitFor('sleeping' as never, { timeoutMs: 10 })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', message: expect.stringContaining('Expected `state` to be one of') });
  });

  it('kill, then waitFor ready in the next run: a new pid, run and restart count, and the new run in the output', async () => {
    const ticker = remote.node('ticker');
    await ticker.snapshot();
    const { pid: before, run, restarts } = ticker;
    remember(before);
    expect(await ticker.kill()).toBe(true);
    expect(ticker.run).toBe(run); // the run that was signalled
    await ticker.waitFor('ready', { run: 'next', timeoutMs: 10_000 });
    expect(ticker.run).toBe(run + 1);
    expect(ticker.pid).not.toBe(before);
    expect(ticker.restarts).toBe(restarts + 1);
    remember(ticker.pid);
    await expectAllGone([before!]);
    const lines = await ticker.output.tail(Number.POSITIVE_INFINITY);
    expect(lines.filter((l) => l.text === 'ready')).toHaveLength(run + 1);
  });

  it("waitFor 'next' counts from the run the handle observed: a restart that finished before the call still counts", async () => {
    const ticker = remote.node('ticker');
    await ticker.snapshot();
    const run = ticker.run;
    await ticker.kill();
    // The restarted run is ready before the remote waitFor is even sent.
    await cluster.node('ticker').waitFor('ready', { run: run + 1, timeoutMs: 10_000 });
    await ticker.waitFor('ready', { run: 'next', timeoutMs: 1000 });
    expect(ticker.run).toBe(run + 1);
    remember(ticker.pid);
  });

  it('restart, stop and start act on the replica and resolve when it got there', async () => {
    const web = remote.node('web');
    await web.snapshot();
    const { run, restarts, pid } = web;
    remember(pid);
    await web.restart();
    expect(web).toMatchObject({ state: 'ready', run: run + 1, restarts: restarts + 1 });
    expect(web.pid).not.toBe(pid);
    expect(cluster.node('web').pid).toBe(web.pid);
    const restartedPid = web.pid!;
    await web.stop();
    expect(web).toMatchObject({ state: 'stopped', pid: null });
    expect(isAlive(restartedPid)).toBe(false);
    await web.start();
    expect(web).toMatchObject({ state: 'ready', run: run + 2 });
    remember(web.pid);
    expect((await fetch(`http://127.0.0.1:${web.ports.http}/health`)).status).toBe(200);
  });

  it('pause and resume freeze and thaw the tree; crash without restart keeps it exited until started', async () => {
    const ticker = remote.node('ticker');
    await ticker.pause();
    expect(ticker.state).toBe('paused');
    expect((await remote.faults()).map((f) => f.kind)).toEqual(['pause']);
    await ticker.resume();
    expect(ticker.state).toBe('ready');
    expect(await remote.faults()).toEqual([]);
    remember(ticker.pid);
    await ticker.crash({ restart: false });
    expect(ticker.state).toBe('exited');
    await expect(ticker.pause()).rejects.toMatchObject({ code: 'ERR_ILLEGAL_TRANSITION', message: expect.stringContaining('ticker') });
    await ticker.start();
    expect(ticker.state).toBe('ready');
    remember(ticker.pid);
  });

  it('waitForLine finds a line; its timeout names the pattern and shows the output tail', async () => {
    const ticker = remote.node('ticker');
    const line = await ticker.waitForLine(/^ti.k$/, { timeoutMs: 5000 });
    expect(line).toMatchObject({ text: 'tick', stream: 'stdout' });
    const error = await ticker.waitForLine(/never printed/i, { timeoutMs: 200 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_READY_TIMEOUT' });
    expect((error as Error).message).toMatch(/^node ticker: no output line matched \/never printed\/i within 200 ms; last output:\n( {2}stdout: .*\n)* {2}stdout: tick$/);
  });

  it('waitFor times out with the state, run, restarts and output tail', async () => {
    const ticker = remote.node('ticker');
    await ticker.snapshot();
    const error = await ticker.waitFor('ready', { run: 'next', timeoutMs: 200 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_READY_TIMEOUT' });
    expect((error as Error).message).toMatch(new RegExp(`^node ticker not ready in a run after run ${ticker.run} after 200 ms \\(state: ready, run ${ticker.run}, restarts \\d+(; last exit: [^)]*)?\\); last output:\\n( {2}stdout: .*\\n)* {2}stdout: tick$`));
  });

  it('lines() follows new output of the replica until the signal aborts', async () => {
    const controller = new AbortController();
    const seen: string[] = [];
    const started = Date.now();
    for await (const line of remote.node('ticker').lines({ signal: controller.signal })) {
      expect(line.time).toBeGreaterThanOrEqual(started);
      seen.push(line.text);
      if (seen.length === 3) controller.abort();
    }
    expect(seen).toEqual(['tick', 'tick', 'tick']);
  });

  it('lines() of a quiet node: the follow stream answers at once, not only with the first line (no client timeout meanwhile)', async () => {
    const quick = await useCluster({ requestTimeoutMs: 200 });
    const web = quick.node('web');
    const lines = web.lines({ signal: AbortSignal.timeout(10_000) });
    const first = lines.next();
    // Longer than the request timeout passes without a line of web's: a server-side wait times out.
    await expect(web.waitForLine(/never printed/, { timeoutMs: 400 })).rejects.toMatchObject({ code: 'ERR_READY_TIMEOUT' });
    await web.restart();
    expect((await first).value).toMatchObject({ text: `listening ${web.ports.http}` });
    await lines.return();
    remember(web.pid);
  });

  it('lines() starts from the moment of the call, not of the first next()', async () => {
    const web = remote.node('web');
    const lines = web.lines({ signal: AbortSignal.timeout(10_000) });
    await web.restart();
    expect((await lines.next()).value).toMatchObject({ text: `listening ${web.ports.http}` });
    await lines.return();
    remember(web.pid);
  });

  it('events() delivers every event after it resolved, in order: a kill, the exit, the restart, the next run ready', async () => {
    const controller = new AbortController();
    const events = await remote.events({ signal: controller.signal });
    const ticker = remote.node('ticker');
    await ticker.kill();
    const killedRun = ticker.run;
    const seen: string[] = [];
    for await (const event of events) {
      if (event.type === 'state' && event.node === 'ticker') {
        seen.push(`${event.from}→${event.to} run ${event.run - killedRun}`);
        if (event.to === 'ready') controller.abort();
      } else if (event.type === 'restarting' && event.node === 'ticker') {
        seen.push(`restarting ${event.reason}`);
      }
    }
    expect(seen).toEqual(['restarting crashed', 'ready→backoff run 0', 'backoff→starting run 1', 'starting→running run 1', 'running→ready run 1']);
    remember((await ticker.snapshot()).pid);
  });

  it('link faults go through the fault routes: a cluster without network faults says so; heal and faults work', async () => {
    await expect(remote.link('web', 'ticker').partition()).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED' });
    expect(await remote.faults()).toEqual([]);
    expect(await remote.heal()).toEqual([]);
  });

  it('link faults of a cluster with network faults: injected, listed and healed through the handle', async () => {
    const values = new Map<string, unknown>();
    const peer = (name: string) => ({
      command: fixture('tcp-peer', '{{ports.p}}', name, 'a={{nodes.a.ports.p}}', 'b={{nodes.b.ports.p}}'),
      ports: ['p'],
      ready: { tcp: { port: '{{ports.p}}' }, interval: '20ms' },
    });
    const ownTeardown = await setupCluster({ name: 'linked', network: { faults: true }, nodes: { a: peer('a'), b: peer('b') } })({ provide: (key, value) => values.set(key, value) });
    try {
      const own = await useCluster({ socket: (values.get('drover') as ProvidedCluster).controlSocket! });
      for (const node of own.nodes()) remember(node.pid);
      const cut = await own.link('a', 'b').partition();
      expect(cut).toMatchObject({ kind: 'partition', link: { from: 'a', to: 'b', port: null }, by: 'api' });
      const slow = await own.link('b', 'a', 'p').latency({ ms: 50 });
      expect(slow).toMatchObject({ kind: 'latency', link: { from: 'b', to: 'a', port: 'p' } });
      expect((await own.faults()).map((f) => f.id)).toEqual([cut.id, slow.id]);
      expect(await own.link('a', 'b').heal()).toEqual([cut.id]);
      expect((await own.faults()).map((f) => f.id)).toEqual([slow.id]);
      await expect(own.link('a', 'b').latency({ ms: -1 })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
      expect(await own.heal()).toEqual([slow.id]);
      const split = await own.partition([['a'], ['b']]);
      expect(split.map((f) => [f.kind, f.link?.from, f.link?.to])).toEqual([['partition', 'a', 'b'], ['partition', 'b', 'a']]);
      await expect(own.partition([['a', 'b']])).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
      expect((await own.heal()).sort()).toEqual(split.map((f) => f.id).sort());
    } finally {
      await ownTeardown();
    }
  });

  it("a teardown does not wait for the long-polls in progress: they end with ERR_STOPPED", async () => {
    const values = new Map<string, unknown>();
    const ownTeardown = await setupCluster({ name: 'closing', nodes: { a: { command: fixture('forever'), ready: { log: { pattern: '^ready$' } } } } })({ provide: (key, value) => values.set(key, value) });
    const own = await useCluster({ socket: (values.get('drover') as ProvidedCluster).controlSocket! });
    const a = own.node('a');
    remember(a.pid);
    const waiting = a.waitFor('ready', { run: 'next', timeoutMs: 120_000 }).catch((e: unknown) => e);
    const waitingLine = a.waitForLine(/never printed/, { timeoutMs: 120_000 }).catch((e: unknown) => e);
    // Both requests are in the server (this process) once it accepted their connections: a
    // connection accepted on the socket shows in /proc/net/unix with its path, connected (03).
    const socket = own.socket;
    await waitFor(
      () => readFileSync('/proc/net/unix', 'utf8').split('\n').filter((line) => line.endsWith(` ${socket}`) && line.split(/\s+/)[5] === '03').length,
      (accepted) => accepted >= 2,
      { describe: `2 connections accepted on ${socket}` },
    );
    const started = Date.now();
    await ownTeardown();
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await waiting).toMatchObject({ code: 'ERR_STOPPED', message: expect.stringContaining('the control API closed') });
    expect(await waitingLine).toMatchObject({ code: 'ERR_STOPPED' });
    expect(process.env.DROVER_CONTROL_SOCKET).toBe(provided.controlSocket);
  });

  it('an explicit socket wins over DROVER_CONTROL_SOCKET; a socket nobody serves is named in the error', async () => {
    const gone = path.join(path.dirname(provided.controlSocket!), 'gone', 'control.sock');
    await expect(useCluster({ socket: gone })).rejects.toMatchObject({ code: 'ERR_CONTROL_API' });
    await expect(useCluster({ socket: '/tmp/not-a-socket-name' })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', message: expect.stringContaining('/tmp/not-a-socket-name') });
  });
});
