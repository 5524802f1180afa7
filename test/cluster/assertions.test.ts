/**
 * Assertions over what a cluster did, with real processes: waiting for a line of the current run,
 * restarts since a mark, the event iterator, and the facts every wait failure reports (output
 * tail, last exit, readiness attempts).
 */
import getPort from 'get-port';
import { afterEach, describe, expect, it } from 'vitest';
import { Cluster } from '../../cluster/cluster.js';
import { isDroverError } from '../../contract/errors.js';
import type { ClusterEvent } from '../../contract/types.js';
import { startCluster } from '../../start-cluster.js';
import { FIXTURES_DIR } from '../helpers/fixtures.js';
import { createClusterTracker } from '../helpers/cluster-tracker.js';

const { track, cleanup } = createClusterTracker();
afterEach(cleanup);

async function start(config: Record<string, unknown>): Promise<Cluster> {
  return track(await startCluster(config, { baseDir: FIXTURES_DIR, onCreate: (created: Cluster) => void track(created) }));
}

/** The error `promise` rejects with (fails the test when it resolves). */
async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  const outcome = await promise.then(
    () => null,
    (error: unknown) => error,
  );
  expect(outcome, 'the promise rejects').toBeInstanceOf(Error);
  return outcome as Error;
}

/** A node that prints its pid once per run, then sleeps (exec: the pid stays the same). */
const PID_THEN_SLEEP = ['sh', '-c', 'echo "pid $$"; exec sleep 1000'];
const READY_ON_PID = { log: { pattern: '^pid ' } };

describe('waitForLine / waitForOutput', () => {
  it('matches lines of the current run only, not a line an earlier run printed', async () => {
    const cluster = await start({ name: 'lines', nodes: { a: { command: PID_THEN_SLEEP, ready: READY_ON_PID } } });
    const a = cluster.node('a');
    const first = a.pid;
    expect((await a.waitForLine(/^pid \d+$/, { timeoutMs: 5000 })).text).toBe(`pid ${first}`);
    a.kill('SIGKILL');
    await a.waitFor('ready', { run: 'next', timeoutMs: 10_000 });
    const second = a.pid;
    expect(second).not.toBe(first);
    // The buffer still holds run 1's line; only run 2's may answer.
    expect(a.output.tail().map((line) => line.text)).toContain(`pid ${first}`);
    expect((await a.waitForOutput(/^pid \d+$/, { timeoutMs: 5000 })).text).toBe(`pid ${second}`);
    expect((await a.waitForLine(/^pid \d+$/, { timeoutMs: 5000 })).text).toBe(`pid ${second}`);
  });
});

describe('restarts since a mark', () => {
  it('counts automatic and requested restarts after the mark only', async () => {
    const cluster = await start({ name: 'marks', nodes: { a: { command: PID_THEN_SLEEP, ready: READY_ON_PID }, b: { command: PID_THEN_SLEEP, ready: READY_ON_PID } } });
    const a = cluster.node('a');
    a.kill('SIGKILL');
    await a.waitFor('ready', { run: 'next', timeoutMs: 10_000 });
    const mark = a.mark();
    expect(mark).toMatchObject({ node: 'a', replica: 0, restarts: 1, run: 2 });
    expect(a.restartsSince(mark)).toBe(0);
    a.kill('SIGKILL');
    await a.waitFor('ready', { run: 'next', timeoutMs: 10_000 });
    await a.restart();
    expect(a.restarts).toBe(3);
    expect(a.restartsSince(mark)).toBe(2);
    // A mark of another node is refused, naming both.
    const error = (() => {
      try {
        cluster.node('b').restartsSince(mark);
      } catch (caught) {
        return caught;
      }
      return null;
    })();
    expect(isDroverError(error, 'ERR_INVALID_OPTION')).toBe(true);
    expect((error as Error).message).toBe('restartsSince() of node b needs a mark from b.mark(), got a mark of a');
  });
});

describe('cluster.events()', () => {
  it('yields the events from the call on, in order, and ends once the cluster stopped', async () => {
    const cluster = await start({ name: 'events', nodes: { a: { command: PID_THEN_SLEEP, ready: READY_ON_PID } } });
    const a = cluster.node('a');
    const events = cluster.events();
    a.kill('SIGKILL');
    await a.waitFor('ready', { run: 'next', timeoutMs: 10_000 });
    await cluster.stop();
    const seen: ClusterEvent[] = [];
    for await (const event of events) seen.push(event); // ends by itself: the cluster stopped
    const summary = seen.map((e) => (e.type === 'state' ? `${e.from}→${e.to}` : e.type));
    expect(summary.slice(0, 2)).toEqual(['restarting', 'ready→backoff']);
    expect(summary).toEqual(expect.arrayContaining(['backoff→starting', 'starting→running', 'readiness', 'running→ready', 'cluster-stopping', 'ready→stopping', 'stopping→stopped']));
    expect(summary.indexOf('running→ready')).toBeLessThan(summary.indexOf('cluster-stopping'));
    expect(seen.some((e) => e.type === 'output')).toBe(false);
    expect(events.dropped).toBe(0);
  });

  it('drops the oldest events past maxQueued and counts them, and ends at once on abort', async () => {
    const cluster = await start({ name: 'bounded', nodes: { a: { command: PID_THEN_SLEEP, ready: READY_ON_PID } } });
    const a = cluster.node('a');
    const abort = new AbortController();
    const events = cluster.events({ maxQueued: 2, signal: abort.signal });
    a.kill('SIGKILL');
    await a.waitFor('ready', { run: 'next', timeoutMs: 10_000 });
    // Nobody read: backoff, restarting, starting, running, readiness…, ready: only the last 2 are held.
    const first = await events.next();
    expect(first.done).toBe(false);
    expect(first.value).toMatchObject({ type: 'readiness', ok: true });
    expect(await events.next()).toMatchObject({ done: false, value: { type: 'state', to: 'ready' } });
    expect(events.dropped).toBeGreaterThanOrEqual(4);
    const waiting = events.next();
    abort.abort();
    expect(await waiting).toEqual({ done: true, value: undefined });
    expect(() => cluster.events({ maxQueued: 0 })).toThrow(/Expected `maxQueued` of events\(\) to be an integer from 1 to 1000000, got 0/);
  });
});

describe('wait failure messages', () => {
  it('waitFor and waitForLine timeouts end with the output tail, the last exit and the readiness attempts', async () => {
    const cluster = await start({ name: 'facts', nodes: { a: { command: ['sh', '-c', 'echo "pid $$"; echo "warming up" >&2; exec sleep 1000'], ready: READY_ON_PID } } });
    const a = cluster.node('a');

    const before = await rejectionOf(a.waitFor('exited', { timeoutMs: 200 }));
    expect(isDroverError(before, 'ERR_READY_TIMEOUT')).toBe(true);
    expect(before.message).toBe(
      [
        'node a not exited after 200 ms (state: ready, run 1)',
        'last output:',
        `  stdout: pid ${a.pid}`,
        '  stderr: warming up',
        'last exit: none (no run has ended)',
        'readiness attempts (run 1, 1):',
        '  #1 log ok: 1 of 1 matching lines',
      ].join('\n'),
    );

    const killed = a.pid;
    a.kill('SIGKILL');
    await a.waitFor('ready', { run: 'next', timeoutMs: 10_000 });
    const line = await rejectionOf(a.waitForLine(/never printed/, { timeoutMs: 200 }));
    expect(isDroverError(line, 'ERR_READY_TIMEOUT')).toBe(true);
    expect(line.message).toBe(
      [
        'node a: no output line of run 2 matched /never printed/ within 200 ms (state: ready)',
        'last output:',
        `  stdout: pid ${killed}`,
        '  stderr: warming up',
        `  stdout: pid ${a.pid}`,
        '  stderr: warming up',
        'last exit: killed by SIGKILL (run 1)',
        'readiness attempts (run 2, 1):',
        '  #1 log ok: 1 of 1 matching lines',
      ].join('\n'),
    );
  });

  it('a ready timeout at start ends with the output tail, the last exit and the last readiness attempts', async () => {
    const port = await getPort();
    const error = await rejectionOf(
      startCluster(
        {
          name: 'slow',
          nodes: { a: { command: ['sh', '-c', 'echo starting; echo "no config found" >&2; exec sleep 1000'], ready: { tcp: { port }, timeout: '1500ms', interval: '100ms' } } },
        },
        { onCreate: (created) => void track(created) },
      ),
    );
    expect(isDroverError(error, 'ERR_READY_TIMEOUT')).toBe(true);
    const [headline, ...facts] = error.message.split('\n');
    expect(headline).toMatch(new RegExp(`^node a failed before it was ready: node a: not ready after \\d+ ms: waited for a TCP connection to 127\\.0\\.0\\.1:${port} \\(last seen: connect failed: ECONNREFUSED\\)$`));
    expect(facts.slice(0, 4)).toEqual(['last output:', '  stdout: starting', '  stderr: no config found', 'last exit: killed by SIGTERM (run 1)']);
    expect(facts[4]).toMatch(/^readiness attempts \(run 1, last 5 of \d+\):$/);
    expect(facts.slice(5)).toHaveLength(5);
    for (const attempt of facts.slice(5)) expect(attempt).toMatch(/^ {2}#\d+ tcp not ready: connect failed: ECONNREFUSED$/);
  });

  it('a node that exits before it is ready is not told twice how it exited', async () => {
    const error = await rejectionOf(
      startCluster({ name: 'early', nodes: { a: { command: ['sh', '-c', 'echo "bad flag" >&2; exit 3'], restart: { policy: 'no' }, ready: { log: { pattern: '^up$' } } } } }, { onCreate: (created) => void track(created) }),
    );
    expect(error.message).toBe(
      ['node a exited before it was ready: exited with code 3', 'last output:', '  stderr: bad flag', 'readiness attempts: none in run 1'].join('\n'),
    );
  });
});
