/**
 * `stop.command`: run on stop through drover's own spawn, then the rest of the stop timeout for
 * the node to exit, then the signal escalation. Real processes; the redis case against a real
 * redis-server (`redis-cli shutdown`), skipped only where redis is missing and
 * DROVER_REQUIRE_REDIS is not set.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Cluster } from '../../cluster/cluster.js';
import { startCluster, type TelemetryCluster } from '../../start-cluster.js';
import { normalizeConfig } from '../../config/index.js';
import type { ClusterEvent, StopReport } from '../../contract/types.js';
import { FIXTURES_DIR } from '../helpers/fixtures.js';
import { createClusterTracker } from '../helpers/cluster-tracker.js';
import { hasCommand } from '../helpers/commands.js';
import { expectAllGone } from '../helpers/processes.js';

const { track, cleanup } = createClusterTracker();
let dir: string | null = null;
afterEach(async () => {
  await cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = null;
});

const NODE = process.execPath;
const redisAvailable = hasCommand('redis-server') && hasCommand('redis-cli');
const redisRequired = process.env['DROVER_REQUIRE_REDIS'] === '1';

type Stopped = Extract<ClusterEvent, { type: 'state' }> & { stop: StopReport };

/** Starts the config with memory telemetry, recording events; returns the `stopped` event getter. */
async function start(config: Record<string, unknown>): Promise<{ cluster: TelemetryCluster; stopped: (node: string) => Stopped }> {
  const events: ClusterEvent[] = [];
  const cluster = (await startCluster(config, {
    baseDir: FIXTURES_DIR,
    telemetry: { exporter: 'memory' },
    onCreate: (created: Cluster) => {
      track(created);
      created.on('event', (e) => events.push(e));
    },
  })) as TelemetryCluster;
  track(cluster);
  const stopped = (node: string): Stopped => {
    const event = events.find((e) => e.type === 'state' && e.node === node && e.to === 'stopped');
    expect(event, `a stopped event of ${node}`).toBeDefined();
    return event as Stopped;
  };
  return { cluster, stopped };
}

const stopSpan = (cluster: TelemetryCluster, node: string) => {
  const span = cluster.telemetry.spans().find((s) => s.name === `stop ${node}`);
  expect(span, `a stop ${node} span`).toBeDefined();
  return span!;
};

describe('stop.command', () => {
  it.runIf(redisAvailable || redisRequired)('redis-cli shutdown stops a real redis-server: exit 0, no signal sent, well within the timeout', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'drover-stop-redis-'));
    const { cluster, stopped } = await start({
      name: 'stop-redis',
      nodes: {
        redis: {
          command: ['redis-server', '--port', '{{ports.redis}}', '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
          ports: ['redis'],
          ready: { exec: { command: ['redis-cli', '-p', '{{ports.redis}}', 'ping'] }, interval: '50ms', timeout: '10s' },
          stop: { command: ['redis-cli', '-p', '{{ports.redis}}', 'shutdown', 'nosave'], timeout: '10s' },
        },
      },
    });
    const pid = cluster.node('redis').pid!;
    const began = Date.now();
    await cluster.stopNode('redis');
    const tookMs = Date.now() - began;
    const event = stopped('redis');
    expect(event.exit).toMatchObject({ exitCode: 0, signal: null, forcedKill: false });
    expect(event.stop.signal).toBeNull();
    expect(event.stop.command).toMatchObject({ outcome: 'exited', exitCode: 0, error: null });
    expect(tookMs).toBeLessThan(10_000);
    await expectAllGone([pid]);
    await cluster.stop();
    const span = stopSpan(cluster, 'redis');
    expect(span.attributes).toMatchObject({ 'drover.stop.command.outcome': 'exited', 'drover.stop.command.exit_code': 0, 'drover.stop.forced_kill': false, 'process.exit.code': 0 });
    expect(span.attributes['drover.stop.signal']).toBeUndefined();
  });

  it('a failing stop command is noted and the escalation goes on at once (stop.signal)', async () => {
    const { cluster, stopped } = await start({
      name: 'stop-fails',
      nodes: { a: { command: [NODE, 'forever.mjs'], stop: { command: [NODE, 'exit-with.mjs', '3'], timeout: '5s' } } },
    });
    const began = Date.now();
    await cluster.stopNode('a');
    const tookMs = Date.now() - began;
    const event = stopped('a');
    expect(event.exit).toMatchObject({ signal: 'SIGTERM', forcedKill: false });
    expect(event.stop).toMatchObject({ signal: 'SIGTERM', forcedKill: false, command: { outcome: 'exited', exitCode: 3 } });
    expect(tookMs).toBeLessThan(5000);
    const lines = cluster.tail('a', 10).map((l) => l.text);
    expect(lines).toContainEqual(expect.stringMatching(/^\[stop\.command\] started \d+$/));
    expect(lines).toContainEqual(expect.stringMatching(/^\[stop\.command\] drover: ".*exit-with\.mjs 3" exited with code 3; sending SIGTERM$/));
    await cluster.stop();
    expect(stopSpan(cluster, 'a').attributes).toMatchObject({ 'drover.stop.command.outcome': 'exited', 'drover.stop.command.exit_code': 3, 'drover.stop.signal': 'SIGTERM' });
  });

  it('a hanging stop command is killed when the stop timeout runs out, then the node gets stop.signal; nothing is left', async () => {
    const { cluster, stopped } = await start({
      name: 'stop-hangs',
      nodes: { a: { command: [NODE, 'forever.mjs'], stop: { command: [NODE, 'exit-with.mjs', '0', '60000'], timeout: '1s' } } },
    });
    const began = Date.now();
    await cluster.stopNode('a');
    const tookMs = Date.now() - began;
    const event = stopped('a');
    expect(event.stop).toMatchObject({ signal: 'SIGTERM', forcedKill: false, command: { outcome: 'timed-out', exitCode: null } });
    expect(event.exit).toMatchObject({ signal: 'SIGTERM' });
    expect(tookMs).toBeGreaterThanOrEqual(1000);
    expect(tookMs).toBeLessThan(4000);
    const started = cluster.tail('a', 10).map((l) => /^\[stop\.command\] started (\d+)$/.exec(l.text)).find((m) => m !== null);
    expect(started, 'the stop command printed its pid').toBeDefined();
    await expectAllGone([Number(started![1])]);
  });

  it('a stop command that succeeds but does not stop the node: the rest of the timeout, then the signal', async () => {
    const { cluster, stopped } = await start({
      name: 'stop-ignored',
      nodes: { a: { command: [NODE, 'forever.mjs'], stop: { command: 'true', timeout: '1s' } } },
    });
    const began = Date.now();
    await cluster.stopNode('a');
    const tookMs = Date.now() - began;
    expect(stopped('a').stop).toMatchObject({ signal: 'SIGTERM', command: { outcome: 'exited', exitCode: 0 } });
    expect(tookMs).toBeGreaterThanOrEqual(900);
    expect(tookMs).toBeLessThan(4000);
  });
});

describe('stop.command in the config', () => {
  it('argv stays argv; a string runs through /bin/sh -c; signal and timeout keep their defaults', () => {
    const { spec } = normalizeConfig(
      { name: 'cfg', nodes: { a: { command: ['x'], stop: { command: ['redis-cli', '-p', '{{ports.redis}}', 'shutdown'] }, ports: ['redis'] }, b: { command: ['y'], stop: { command: 'pg_ctl stop -m fast' } } } },
      { baseDir: FIXTURES_DIR, configPath: null, strict: true },
    );
    expect(spec.nodes[0]!.stop).toEqual({ signal: 'SIGTERM', timeoutMs: 10_000, command: ['redis-cli', '-p', '{{ports.redis}}', 'shutdown'] });
    expect(spec.nodes[1]!.stop.command).toEqual(['/bin/sh', '-c', 'pg_ctl stop -m fast']);
  });

  it('a bad stop.command is an error naming its path', () => {
    expect(() => normalizeConfig({ name: 'cfg', nodes: { a: { command: ['x'], stop: { command: 3 } } } }, { baseDir: FIXTURES_DIR, configPath: null, strict: true })).toThrow(/nodes\.a\.stop\.command/);
  });

  it('a template naming an unknown port is an error naming stop.command', () => {
    expect(() => normalizeConfig({ name: 'cfg', nodes: { a: { command: ['x'], stop: { command: ['cli', '{{ports.nope}}'] } } } }, { baseDir: FIXTURES_DIR, configPath: null, strict: true })).toThrow(/nodes\.a\.stop\.command/);
  });
});
