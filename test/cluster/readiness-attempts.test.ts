/**
 * `readiness` events: one per attempt of a run's readiness wait, numbered across the sub-checks
 * of `all`/`any`, from real processes through the real shepherd.
 */
import getPort from 'get-port';
import { afterEach, describe, expect, it } from 'vitest';
import { Cluster } from '../../cluster/cluster.js';
import type { ClusterEvent, ReadinessAttemptEvent } from '../../contract/types.js';
import { fixture } from '../helpers/fixtures.js';
import { createClusterTracker } from '../helpers/cluster-tracker.js';
import { makeCluster, makeNode } from '../helpers/specs.js';

const tracker = createClusterTracker();

afterEach(tracker.cleanup);

function track(cluster: Cluster): ClusterEvent[] {
  tracker.track(cluster);
  const events: ClusterEvent[] = [];
  cluster.on('event', (e) => events.push(e));
  return events;
}

function attemptsOf(events: readonly ClusterEvent[], node: string): ReadinessAttemptEvent[] {
  return events.filter((e): e is ReadinessAttemptEvent => e.type === 'readiness' && e.node === node);
}

describe('readiness attempt events', () => {
  it('reports every attempt of a run between running and ready, numbered across all/any sub-checks', async () => {
    const [httpPort, bothPort] = [await getPort(), await getPort()];
    const cluster = new Cluster(
      makeCluster([
        makeNode('log', fixture('forever', 'tick'), { ready: { kind: 'log', pattern: '^tick$', stream: 'stdout', count: 2, timeoutMs: 10_000 } }),
        makeNode('http', fixture('http-server', httpPort, 400), {
          ready: { kind: 'http', url: `http://127.0.0.1:${httpPort}/health`, timeoutMs: 10_000, intervalMs: 50 },
        }),
        makeNode('both', fixture('http-server', bothPort), {
          ready: {
            kind: 'all',
            timeoutMs: 10_000,
            checks: [
              { kind: 'log', pattern: '^listening', stream: 'stdout', count: 1, timeoutMs: 10_000 },
              { kind: 'tcp', host: '127.0.0.1', port: bothPort, timeoutMs: 10_000, intervalMs: 50 },
            ],
          },
        }),
        makeNode('plain', fixture('forever')),
      ]),
    );
    const events = track(cluster);
    await cluster.start();

    // A log check reports each matching line; the second of two makes it ready.
    expect(attemptsOf(events, 'log').map(({ attempt, ok, kind, message, run, replica }) => ({ attempt, ok, kind, message, run, replica }))).toEqual([
      { attempt: 1, ok: false, kind: 'log', message: '1 of 2 matching lines', run: 1, replica: 0 },
      { attempt: 2, ok: true, kind: 'log', message: '2 of 2 matching lines', run: 1, replica: 0 },
    ]);

    // The http node answers 503 (or refuses) for 400 ms: several failed probes, then one 200.
    const http = attemptsOf(events, 'http');
    expect(http.length).toBeGreaterThanOrEqual(2);
    expect(http.map((e) => e.attempt)).toEqual(http.map((_, index) => index + 1));
    expect(http.slice(0, -1).every((e) => !e.ok && /^(status 503|request failed: ECONNREFUSED)$/.test(e.message ?? ''))).toBe(true);
    expect(http.at(-1)).toMatchObject({ ok: true, kind: 'http', message: 'status 200' });
    const running = events.findIndex((e) => e.type === 'state' && e.node === 'http' && e.to === 'running');
    const ready = events.findIndex((e) => e.type === 'state' && e.node === 'http' && e.to === 'ready');
    expect(events.indexOf(http[0]!)).toBeGreaterThan(running);
    expect(events.indexOf(http.at(-1)!)).toBeLessThan(ready);
    expect(http.every((e, index) => index === 0 || e.time >= http[index - 1]!.time)).toBe(true);

    // all[log, tcp]: one numbering for the whole wait, each attempt tagged with its sub-check.
    const both = attemptsOf(events, 'both');
    expect(both.map((e) => e.attempt)).toEqual(both.map((_, index) => index + 1));
    expect(new Set(both.map((e) => e.kind))).toEqual(new Set(['log', 'tcp']));
    expect(both.filter((e) => e.ok).map((e) => e.kind).sort()).toEqual(['log', 'tcp']);

    // No readiness check: no attempts. After ready: none either (no liveness probe reports).
    expect(attemptsOf(events, 'plain')).toEqual([]);
    const count = events.filter((e) => e.type === 'readiness').length;
    await cluster.node('log').waitForOutput(/^tick$/, { timeoutMs: 5000 });
    await cluster.stop();
    expect(events.filter((e) => e.type === 'readiness')).toHaveLength(count);
  });

  it('numbers attempts per run: a restarted node starts again at 1', async () => {
    const port = await getPort();
    const cluster = new Cluster(
      makeCluster([
        makeNode('a', fixture('http-server', port), {
          ready: { kind: 'tcp', host: '127.0.0.1', port, timeoutMs: 10_000, intervalMs: 50 },
          restart: { policy: 'always' },
        }),
      ]),
    );
    const events = track(cluster);
    await cluster.start();
    await cluster.restartNode('a');
    const attempts = attemptsOf(events, 'a');
    const runs = [...new Set(attempts.map((e) => e.run))];
    expect(runs).toEqual([1, 2]);
    for (const run of runs) {
      const ofRun = attempts.filter((e) => e.run === run);
      expect(ofRun.map((e) => e.attempt)).toEqual(ofRun.map((_, index) => index + 1));
      expect(ofRun.at(-1)).toMatchObject({ ok: true, kind: 'tcp', message: 'connected' });
    }
  });
});
