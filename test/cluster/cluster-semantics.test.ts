/**
 * Cluster semantics with real processes: ports and templates across replicas, dependsOn order,
 * the readiness set, liveness, jobs, ordered stop with diagnostics, scale, abort, onNodeFailure.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Cluster } from '../../cluster/cluster.js';
import { startCluster } from '../../start-cluster.js';
import type { ClusterEvent } from '../../contract/types.js';
import { FIXTURES_DIR } from '../helpers/fixtures.js';
import { makeCluster, makeNode } from '../helpers/specs.js';
import { createClusterTracker } from '../helpers/cluster-tracker.js';
import { expectAllGone } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';

const { track, cleanup } = createClusterTracker();

/** Starts a cluster from a config object, recording events from the first one on. */
async function start(config: Record<string, unknown>, options: { signal?: AbortSignal; stopProgressIntervalMs?: number } = {}): Promise<{ cluster: Cluster; events: ClusterEvent[] }> {
  const events: ClusterEvent[] = [];
  const cluster = track(
    await startCluster(config, {
      baseDir: FIXTURES_DIR,
      ...options,
      onCreate: (created: Cluster) => {
        track(created);
        created.on('event', (e) => events.push(e));
      },
    }),
  );
  return { cluster, events };
}

afterEach(cleanup);

const NODE = process.execPath;
const stateEvents = (events: ClusterEvent[], node: string) =>
  events.filter((e): e is Extract<ClusterEvent, { type: 'state' }> => e.type === 'state' && e.node === node);
const indexOfState = (events: ClusterEvent[], node: string, to: string) =>
  events.findIndex((e) => e.type === 'state' && e.node === node && e.to === to);

describe('ports and templates', () => {
  it('gives every replica its own ports, fills templates and sets DROVER_* env', async () => {
    const { cluster } = await start({
      name: 'ports',
      nodes: {
        a: {
          command: [NODE, 'echo-env.mjs', '--listen={{ports.http}}', '{{name}}-{{replica}}'],
          ports: ['http', 'admin-ui'],
          replicas: 2,
          ready: { log: { pattern: '^ready$' } },
        },
        b: {
          command: [NODE, 'echo-env.mjs', 'PEER'],
          env: { PEER: '127.0.0.1:{{nodes.a.ports.http}}' },
          dependsOn: { a: 'ready' },
        },
      },
    });
    const [a0, a1] = cluster.nodes('a');
    const ports = [a0!.ports.http, a0!.ports['admin-ui'], a1!.ports.http, a1!.ports['admin-ui']];
    expect(ports.every((p) => Number.isInteger(p) && p! > 0)).toBe(true);
    expect(new Set(ports).size).toBe(4);
    const text = (node: typeof a0) => node!.output.tail().map((l) => l.text);
    expect(text(a1)).toContain(`argv ${JSON.stringify([`--listen=${a1!.ports.http}`, 'a-1'])}`);
    expect(text(a1)).toContain(`env DROVER_PORT_ADMIN_UI=${a1!.ports['admin-ui']}`);
    expect(text(a1)).toContain('env DROVER_REPLICA=1');
    await cluster.node('b').waitForOutput(/^ready$/, { timeoutMs: 10_000 });
    expect(text(cluster.node('b'))).toContain(`env PEER=127.0.0.1:${a0!.ports.http}`);
    expect(cluster.snapshot().nodes.map((n) => [n.name, n.replica, n.ports])).toEqual([
      ['a', 0, a0!.ports],
      ['a', 1, a1!.ports],
      ['b', 0, {}],
    ]);
    const resolved = cluster.resolvedConfig();
    expect(resolved.nodes[1]).toMatchObject({ name: 'a', replica: 1, command: [NODE, 'echo-env.mjs', `--listen=${a1!.ports.http}`, 'a-1'] });
    expect(JSON.parse(JSON.stringify(resolved))).toEqual(resolved);
  });

  it('two clusters started in parallel from one config get different ports', async () => {
    const config = {
      name: 'twins',
      nodes: {
        web: {
          command: [NODE, 'http-server.mjs', '{{ports.http}}'],
          ports: ['http'],
          replicas: 3,
          ready: { tcp: { port: '{{ports.http}}' }, interval: '20ms', timeout: '10s' },
        },
      },
    };
    const [one, two] = await Promise.all([start(config), start(config)]);
    const all = [...one.cluster.nodes(), ...two.cluster.nodes()].map((n) => n.ports.http);
    expect(new Set(all).size).toBe(6);
    expect([...one.cluster.nodes(), ...two.cluster.nodes()].every((n) => n.state === 'ready')).toBe(true);
  });
});

describe('port re-allocation', () => {
  it('a node whose port was taken (EADDRINUSE) gets a fresh port before its relaunch', async () => {
    const { normalizeConfig } = await import('../../config/index.js');
    const { spec } = normalizeConfig(
      {
        name: 'taken',
        nodes: {
          web: {
            command: [NODE, 'http-server.mjs', '{{ports.http}}'],
            ports: ['http'],
            ready: { http: { url: 'http://127.0.0.1:{{ports.http}}/health' }, interval: '20ms', timeout: '10s' },
            restart: { backoff: { initial: '10ms', max: '50ms' } },
          },
        },
      },
      { baseDir: FIXTURES_DIR },
    );
    const cluster = track(new Cluster(spec));
    const web = cluster.node('web');
    await web.allocatePorts();
    const taken = web.ports.http!;
    // Someone else binds the allocated port before the node starts.
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(taken, '127.0.0.1', resolve));
    try {
      await cluster.start();
    } finally {
      squatter.close();
    }
    expect(web.state).toBe('ready');
    expect(web.restarts).toBe(1);
    expect(web.ports.http).not.toBe(taken);
    expect(web.output.tail().some((l) => l.stream === 'stderr' && l.text.includes('EADDRINUSE'))).toBe(true);
    expect(cluster.resolvedConfig().nodes[0]!.ready).toMatchObject({ url: `http://127.0.0.1:${web.ports.http}/health` });
  });
});

describe('dependsOn', () => {
  it('never starts a node before its dependency meets the condition; jobs gate with completed-successfully', async () => {
    const { cluster, events } = await start({
      name: 'deps',
      nodes: {
        web: { command: [NODE, 'forever.mjs'], dependsOn: { db: 'ready', migrate: 'completed-successfully' }, ready: { log: { pattern: 'ready' } } },
        db: { command: [NODE, 'http-server.mjs', '{{ports.pg}}', '300'], ports: ['pg'], ready: { http: { url: 'http://127.0.0.1:{{ports.pg}}/health' }, interval: '20ms' } },
        migrate: { command: [NODE, 'exit-with.mjs', '0', '200'], dependsOn: { db: 'started' }, restart: { policy: 'no' }, ready: { exit: {} } },
      },
    });
    expect(indexOfState(events, 'migrate', 'starting')).toBeGreaterThan(indexOfState(events, 'db', 'running'));
    expect(indexOfState(events, 'web', 'starting')).toBeGreaterThan(indexOfState(events, 'db', 'ready'));
    expect(indexOfState(events, 'web', 'starting')).toBeGreaterThan(indexOfState(events, 'migrate', 'exited'));
    expect(cluster.node('migrate').state).toBe('exited');
    expect(cluster.node('web').state).toBe('ready');
  });

  it('a failed job fails its dependents with ERR_DEPENDENCY_FAILED and the start rejects with the root cause', async () => {
    const cluster = track(
      new Cluster(
        (await import('../../config/index.js')).normalizeConfig(
          {
            name: 'deps-fail',
            nodes: {
              migrate: { command: [NODE, 'exit-with.mjs', '3'], restart: { policy: 'no' }, ready: { exit: { code: 0 } } },
              web: { command: [NODE, 'forever.mjs'], dependsOn: { migrate: 'completed-successfully' } },
            },
          },
          { baseDir: FIXTURES_DIR },
        ).spec,
      ),
    );
    const error = await cluster.start().then(() => null, (e: unknown) => e as Error & { code: string });
    expect(error).toMatchObject({ code: 'ERR_PROCESS_EXITED', node: 'migrate' });
    expect(error!.message).toMatch(/exited with code 3 \(expected exit code 0\)/);
    expect(cluster.node('web').state).toBe('failed');
    expect(cluster.node('web').error).toMatchObject({ code: 'ERR_DEPENDENCY_FAILED' });
    expect(cluster.node('web').error!.message).toMatch(/^node web was not started: dependency migrate \(completed-successfully\) was not met: node migrate did not become completed-successfully: exited with code 3$/);
    expect(cluster.node('web').pid).toBeNull();
  });
});

describe('readiness set', () => {
  it('exec, http with method/status/body/headers, all and any', async () => {
    const { cluster } = await start({
      name: 'ready-set',
      nodes: {
        api: {
          command: [NODE, 'http-server.mjs', '{{ports.http}}', '200'],
          ports: ['http'],
          ready: {
            all: [
              { http: { url: 'http://127.0.0.1:{{ports.http}}/health', method: 'GET', status: 200, body: '^ok$', headers: { 'x-probe': 'drover' } }, interval: '20ms' },
              {
                exec: { command: [NODE, '-e', 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))', 'http://127.0.0.1:{{ports.http}}/health'] },
                interval: '50ms',
              },
              { any: [{ log: { pattern: 'never printed' } }, { tcp: { port: '{{ports.http}}' }, interval: '20ms' }] },
            ],
            timeout: '15s',
          },
        },
      },
    });
    expect(cluster.node('api').state).toBe('ready');
  });

  it('an exec check that keeps failing times out with what it awaited and what it last saw', async () => {
    const error = await start({
      name: 'exec-timeout',
      nodes: { a: { command: [NODE, 'forever.mjs', 'booting'], ready: { exec: { command: [NODE, '-e', 'console.log("nope"); process.exit(4)'] }, interval: '50ms', timeout: '1500ms' } } },
    }).then(() => null, (e: unknown) => e as Error);
    expect(error).toMatchObject({ code: 'ERR_READY_TIMEOUT', node: 'a' });
    expect(error!.message).toMatch(/not ready after \d+ ms: waited for command .* to exit 0 \(last seen: exit code 4, last output "nope"\)/);
    expect(error!.message).toContain('stdout: booting');
  });

  it('tcp, any and exit time out saying what they awaited and what they last saw', async () => {
    const failure = (config: Record<string, unknown>) => start(config).then(() => null, (e: unknown) => e as Error & { code: string });
    const [tcp, any, exit] = await Promise.all([
      failure({ name: 't1', nodes: { a: { command: [NODE, 'forever.mjs'], ports: ['p'], ready: { tcp: { port: '{{ports.p}}' }, interval: '50ms', timeout: '1s' } } } }),
      failure({
        name: 't2',
        nodes: { a: { command: [NODE, 'forever.mjs'], ready: { any: [{ log: { pattern: 'never' } }, { exec: { command: [NODE, '-e', 'process.exit(2)'] }, interval: '50ms' }], timeout: '1500ms' } } },
      }),
      failure({ name: 't3', nodes: { a: { command: [NODE, 'forever.mjs'], restart: { policy: 'no' }, ready: { exit: { code: 0 }, timeout: '1s' } } } }),
    ]);
    expect(tcp).toMatchObject({ code: 'ERR_READY_TIMEOUT', node: 'a' });
    expect(tcp!.message).toMatch(/not ready after \d+ ms: waited for a TCP connection to 127\.0\.0\.1:\d+ \(last seen: connect failed: ECONNREFUSED\)/);
    expect(tcp!.message).toContain('stdout: ready');
    expect(any).toMatchObject({ code: 'ERR_READY_TIMEOUT' });
    expect(any!.message).toMatch(/waited for any of \[a line of output matching \/never\/; command .* to exit 0\] \(last seen: a line of output matching \/never\/: 0 matching so far; last line "ready"; command .* to exit 0: exit code 2\)/);
    expect(exit).toMatchObject({ code: 'ERR_READY_TIMEOUT' });
    expect(exit!.message).toMatch(/waited for the process to exit with code 0 \(last seen: still running\)/);
  });

  it('http body mismatch times out naming the body it saw', async () => {
    const error = await start({
      name: 'http-body',
      nodes: { a: { command: [NODE, 'http-server.mjs', '{{ports.http}}'], ports: ['http'], ready: { http: { url: 'http://127.0.0.1:{{ports.http}}/health', body: 'healthy' }, interval: '50ms', timeout: '1s' } } },
    }).then(() => null, (e: unknown) => e as Error);
    expect(error).toMatchObject({ code: 'ERR_READY_TIMEOUT' });
    expect(error!.message).toMatch(/with body matching \/healthy\/ \(last seen: status 200, body "ok"\)/);
  });
});

describe('liveness, restart semantics', () => {
  it('restarts a node whose liveness probe keeps failing', async () => {
    const { cluster, events } = await start({
      name: 'liveness',
      nodes: {
        a: {
          command: [NODE, 'health-toggle.mjs', '{{ports.http}}'],
          ports: ['http'],
          ready: { tcp: { port: '{{ports.http}}' }, interval: '20ms' },
          liveness: { http: { url: 'http://127.0.0.1:{{ports.http}}/health' }, interval: '100ms', timeout: '1s', failureThreshold: 2 },
          restart: { backoff: { initial: '10ms', max: '50ms' } },
        },
      },
    });
    const a = cluster.node('a');
    const firstPid = a.pid;
    await fetch(`http://127.0.0.1:${a.ports.http}/sick`).then((r) => r.text());
    await waitFor(() => ({ state: a.state, restarts: a.restarts, pid: a.pid }), (s) => s.state === 'ready' && s.restarts === 1, { describe: 'a restarted by liveness' });
    expect(a.pid).not.toBe(firstPid);
    expect(events.find((e) => e.type === 'restarting')).toMatchObject({ cause: 'liveness', reason: 'crashed' });
  });

  it('successExitCodes: on-failure does not restart an exit code listed as success', async () => {
    const { cluster } = await start({
      name: 'success-codes',
      // It prints "started" before it exits: ready by its check (without one, a 100 ms run would never count as ready).
      nodes: { a: { command: [NODE, 'exit-with.mjs', '3', '100'], ready: { log: { pattern: '^started' } }, restart: { policy: 'on-failure', successExitCodes: [0, 3] } } },
    });
    const a = cluster.node('a');
    await a.waitFor('exited', { timeoutMs: 10_000 });
    expect(a.restarts).toBe(0);
    expect(a.snapshot().lastExit?.exitCode).toBe(3);
  });

  it('a restart request during backoff wins over the pending relaunch', async () => {
    const { cluster } = await start({
      name: 'restart-backoff',
      nodes: { b: { command: [NODE, 'exit-with.mjs', '1', '100'], ready: { log: { pattern: '^started' } }, restart: { backoff: { initial: '60s', max: '60s', multiplier: 1, jitter: 0 } } } },
    });
    const b = cluster.node('b');
    await b.waitFor('backoff', { timeoutMs: 10_000 });
    const runs: number[] = [];
    cluster.on('event', (e) => {
      if (e.type === 'state' && e.to === 'starting') runs.push(e.run);
    });
    const started = Date.now();
    await b.restart();
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(runs).toEqual([2]);
  });

  it('onNodeFailure: stop-cluster stops every node once one fails', async () => {
    const { cluster, events } = await start({
      name: 'stop-on-failure',
      onNodeFailure: 'stop-cluster',
      nodes: {
        steady: { command: [NODE, 'forever.mjs'] },
        crashy: { command: [NODE, 'exit-with.mjs', '2', '100'], ready: { log: { pattern: '^started' } }, restart: { maxRestarts: 1, backoff: { initial: '10ms', max: '20ms' } } },
      },
    });
    await waitFor(() => cluster.node('steady').state, (s) => s === 'stopped', { describe: 'steady stopped by stop-cluster' });
    expect(events.find((e) => e.type === 'cluster-stopping')).toMatchObject({ reason: 'node-failed', node: 'crashy' });
  });
});

describe('stop', () => {
  it('stops in reverse dependency order and reports how each stop went, with progress while it waits', async () => {
    const { cluster, events } = await start(
      {
        name: 'ordered-stop',
        nodes: {
          db: { command: [NODE, 'stop-slowly.mjs', '1200'], ready: { log: { pattern: 'ready' } }, stop: { timeout: '10s' } },
          api: { command: [NODE, 'stop-slowly.mjs', '600'], dependsOn: { db: 'ready' }, ready: { log: { pattern: 'ready' } } },
          stubborn: { command: [NODE, 'ignore-sigterm.mjs'], ready: { log: { pattern: 'ready' } }, stop: { timeout: '300ms' } },
        },
      },
      { stopProgressIntervalMs: 200 },
    );
    const dbPid = cluster.node('db').pid;
    await cluster.stop();
    // api (the dependent) is stopped before db is even asked to stop.
    expect(indexOfState(events, 'api', 'stopped')).toBeLessThan(indexOfState(events, 'db', 'stopping'));
    const dbStopped = stateEvents(events, 'db').find((e) => e.to === 'stopped')!;
    expect(dbStopped.stop).toMatchObject({ signal: 'SIGTERM', forcedKill: false });
    expect(dbStopped.stop!.waitedMs).toBeGreaterThanOrEqual(1000);
    const progress = events.filter((e) => e.type === 'stopping' && e.node === 'db');
    expect(progress.length).toBeGreaterThan(0);
    expect(progress[0]).toMatchObject({ pid: dbPid, signal: 'SIGTERM', timeoutMs: 10_000, command: [NODE, 'stop-slowly.mjs', '1200'] });
    expect((progress[0] as { message: string }).message).toMatch(new RegExp(`^node db \\(pid ${dbPid}: .*stop-slowly.mjs 1200\\) still running \\d+ ms after SIGTERM; SIGKILL in \\d+ ms$`));
    expect(stateEvents(events, 'stubborn').find((e) => e.to === 'stopped')!.stop).toMatchObject({ forcedKill: true });
  });

  it('an AbortSignal cancels startCluster and leaves nothing running', async () => {
    const controller = new AbortController();
    const created: Cluster[] = [];
    const pending = startCluster(
      { name: 'abort', nodes: { a: { command: [NODE, 'forever.mjs'], ready: { log: { pattern: 'never' } } }, b: { command: [NODE, 'forever.mjs'], dependsOn: ['a'] } } },
      { baseDir: FIXTURES_DIR, signal: controller.signal, onCreate: (c: Cluster) => created.push(track(c)) },
    );
    await waitFor(() => created[0]?.node('a').state, (s) => s === 'running', { describe: 'a running' });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    expect(created[0]!.nodes().map((n) => n.state)).toEqual(['stopped', 'stopped']);
  });
});

describe('scale', () => {
  it('adds replicas with their own ports and removes the highest indices first', async () => {
    const { cluster, events } = await start({
      name: 'scale',
      nodes: { web: { command: [NODE, 'http-server.mjs', '{{ports.http}}'], ports: ['http'], ready: { tcp: { port: '{{ports.http}}' }, interval: '20ms' } } },
    });
    await cluster.scale('web', 3);
    const nodes = cluster.nodes('web');
    expect(nodes.map((n) => [n.replica, n.state])).toEqual([[0, 'ready'], [1, 'ready'], [2, 'ready']]);
    expect(new Set(nodes.map((n) => n.ports.http)).size).toBe(3);
    const removed = [nodes[1]!.pid!, nodes[2]!.pid!];
    const stopOrder: number[] = [];
    cluster.on('event', (e) => {
      if (e.type === 'state' && e.to === 'stopped') stopOrder.push(e.replica);
    });
    await cluster.scale('web', 1);
    expect(stopOrder).toEqual([2, 1]);
    expect(cluster.snapshot().nodes.map((n) => n.replica)).toEqual([0]);
    await expectAllGone(removed);
    expect(events.filter((e) => e.type === 'scaled').map((e) => (e.type === 'scaled' ? [e.from, e.to] : []))).toEqual([[1, 3], [3, 1]]);
    await expect(cluster.scale('web', -1)).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
    await expect(cluster.scale('nope', 1)).rejects.toMatchObject({ code: 'ERR_UNKNOWN_NODE' });
  });
});

describe('a node scaled to 0', () => {
  it('stops and kills as a no-op, refuses start and restart with a hint, and is not unknown', async () => {
    const { cluster } = await start({
      name: 'zero',
      nodes: {
        a: { command: [NODE, 'forever.mjs'] },
        idle: { command: [NODE, 'forever.mjs'], replicas: 0 },
      },
    });
    await cluster.scale('a', 0);
    for (const name of ['a', 'idle']) {
      await expect(cluster.stopNode(name)).resolves.toBeUndefined();
      await expect(cluster.killNode(name, 'SIGKILL')).resolves.toBe(0);
      expect(cluster.tail(name, 10)).toEqual([]);
      for (const action of ['start', 'restart'] as const) {
        const error = await (action === 'start' ? cluster.startNode(name) : cluster.restartNode(name)).then(() => null, (e: unknown) => e as Error & { code: string; node: string });
        expect(error).toMatchObject({ code: 'ERR_INVALID_OPTION', node: name });
        expect(error!.message).toBe(`node ${name} has 0 replicas (scaled to 0): nothing to ${action}; scale it up instead (\`drover scale ${name} N\`, cluster.scale('${name}', N))`);
      }
    }
    expect(cluster.snapshot().nodes).toEqual([]);
    await expect(cluster.stopNode('nope')).rejects.toMatchObject({ code: 'ERR_UNKNOWN_NODE' });
    await expect(cluster.startNode('nope')).rejects.toMatchObject({ code: 'ERR_UNKNOWN_NODE' });
    await cluster.scale('idle', 1);
    expect(cluster.node('idle').state).toBe('ready');
  });
});

describe('dependencies and scale to 0', () => {
  it('refuses to scale a dependency to 0 while a dependent runs, and to start a dependent whose dependency has 0 replicas', async () => {
    const { cluster } = await start({
      name: 'deps',
      nodes: {
        db: { command: [NODE, 'forever.mjs'] },
        api: { command: [NODE, 'forever.mjs'], replicas: 2, dependsOn: { db: 'ready' } },
      },
    });
    const refused = await cluster.scale('db', 0).then(() => null, (e: unknown) => e as Error & { code: string });
    expect(refused).toMatchObject({ code: 'ERR_INVALID_OPTION' });
    expect(refused!.message).toBe('cannot scale db to 0: api, api[1] depend on it and are running; stop or scale them to 0 first');
    expect(cluster.nodes('db').map((n) => n.state)).toEqual(['ready']); // nothing changed

    await cluster.stopNode('api');
    await cluster.scale('db', 0); // no running dependent any more
    expect(cluster.nodes('db')).toEqual([]);
    for (const attempt of [() => cluster.startNode('api'), () => cluster.restartNode('api'), () => cluster.scale('api', 3)]) {
      const error = await attempt().then(() => null, (e: unknown) => e as Error & { code: string });
      expect(error).toMatchObject({ code: 'ERR_INVALID_OPTION' });
      expect(error!.message).toBe('node api depends on db, which has 0 replicas: the dependency cannot be met; scale db up first (`drover scale db N`)');
    }
    expect(cluster.nodes('api').map((n) => n.state)).toEqual(['stopped', 'stopped']);

    await cluster.scale('db', 1);
    await cluster.startNode('api');
    expect(cluster.nodes('api').map((n) => n.state)).toEqual(['ready', 'ready']);
  });

  it('a spec built in code with a dependency on a node with replicas: 0 is refused like the config', () => {
    const spec = makeCluster([makeNode('db', [NODE, 'forever.mjs'], { replicas: 0 }), makeNode('api', [NODE, 'forever.mjs'], { dependsOn: { db: 'ready' } })]);
    expect(() => new Cluster(spec)).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID', message: 'node api depends on db, which has replicas: 0; the dependency could never be met' }));
    const bothIdle = makeCluster([makeNode('db', [NODE, 'forever.mjs'], { replicas: 0 }), makeNode('api', [NODE, 'forever.mjs'], { replicas: 0, dependsOn: { db: 'ready' } })]);
    expect(new Cluster(bothIdle).nodes()).toEqual([]);
  });
});

describe('await using', () => {
  it('disposing the cluster at the end of the block stops every node', async () => {
    let pid: number | null = null;
    {
      await using cluster = await startCluster({ name: 'dispose', nodes: { a: { command: [NODE, 'forever.mjs'] } } }, { baseDir: FIXTURES_DIR, onCreate: (c) => void track(c) });
      pid = cluster.node('a').pid;
      expect(pid).toBeGreaterThan(0);
    }
    await expectAllGone([pid!]);
  });
});

describe('node handle', () => {
  it('iterates output lines and waits for a line', async () => {
    const { cluster } = await start({ name: 'lines', nodes: { a: { command: [NODE, 'forever.mjs', 'tick'] } } });
    const a = cluster.node('a');
    await expect(a.waitForOutput(/^tick$/, { timeoutMs: 5000 })).resolves.toMatchObject({ stream: 'stdout', text: 'tick' });
    const seen: string[] = [];
    for await (const line of a.lines({ signal: AbortSignal.timeout(10_000) })) {
      seen.push(line.text);
      if (seen.length === 3) break;
    }
    expect(seen).toEqual(['tick', 'tick', 'tick']);
    await expect(a.waitForOutput(/never/, { timeoutMs: 200 })).rejects.toMatchObject({ code: 'ERR_READY_TIMEOUT' });
  });
});
