/**
 * The controller interface of a real cluster, beyond start/stop: event delivery (an observer that
 * makes the cluster publish while it handles an event — stop() inside onEvent — must not overtake
 * that event: events published during delivery are queued and reach every observer and 'event'
 * listener after the current one, in one order), and the spawn environment extension point.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Cluster } from '../../cluster/cluster.js';
import type { ClusterEvent, ClusterObserver } from '../../contract/types.js';
import { createClusterTracker } from '../helpers/cluster-tracker.js';
import { fixture } from '../helpers/fixtures.js';
import { makeCluster, makeNode } from '../helpers/specs.js';
import { waitFor } from '../helpers/wait-for.js';

const { track, cleanup } = createClusterTracker();
afterEach(cleanup);

/** A compact, comparable form of an event: `type node to/reason`. */
function describeEvent(event: ClusterEvent): string {
  switch (event.type) {
    case 'state':
      return `state ${event.node} ${event.from}->${event.to}`;
    case 'cluster-stopping':
      return `cluster-stopping ${event.reason}`;
    case 'scaled':
      return `scaled ${event.node} ${event.from}->${event.to}`;
    default:
      return `${event.type} ${'node' in event ? event.node : ''}`;
  }
}

/** An observer recording every event (not output lines) in the order it received them. */
function createRecorder(onEvent?: (event: ClusterEvent) => void): ClusterObserver & { readonly seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    wantsOutput: false,
    onEvent(event) {
      if (event.type === 'output') return;
      seen.push(describeEvent(event));
      onEvent?.(event);
    },
  };
}

describe('publish is not reentrant', () => {
  it('an event published inside onEvent (stop() on scaled) reaches every observer after the current one', async () => {
    // No process: node a is never started; scale(a, 0) publishes `scaled` and stops the pending replica.
    const cluster = track(new Cluster(makeCluster([makeNode('a', fixture('forever'))], 'reentrant-scale')));
    const first = createRecorder((event) => {
      if (event.type === 'scaled') void cluster.stop();
    });
    const second = createRecorder();
    const listened: string[] = [];
    cluster.subscribe(first);
    cluster.subscribe(second);
    cluster.on('event', (event) => listened.push(describeEvent(event)));
    await cluster.scale('a', 0);
    await cluster.stop();
    expect(first.seen.slice(0, 2)).toEqual(['scaled a 1->0', 'cluster-stopping requested']);
    expect(second.seen).toEqual(first.seen);
    expect(listened).toEqual(first.seen);
  });

  it('an observer subscribing during delivery gets a snapshot and only the events published after it', async () => {
    const cluster = track(new Cluster(makeCluster([makeNode('a', fixture('forever'))], 'subscribe-during-delivery')));
    const late = createRecorder();
    const snapshots: string[] = [];
    const first = createRecorder((event) => {
      if (event.type !== 'scaled') return;
      void cluster.stop(); // queued: cluster-stopping
      cluster.subscribe({ ...late, onEvent: late.onEvent, onSnapshot: (snapshot) => snapshots.push(snapshot.nodes.map((n) => `${n.name} ${n.state}`).join()) });
    });
    cluster.subscribe(first);
    await cluster.scale('a', 0);
    await cluster.stop();
    expect(first.seen).toEqual(['scaled a 1->0', 'cluster-stopping requested', 'state a pending->stopped']);
    expect(snapshots).toEqual(['a pending']);
    expect(late.seen).toEqual(['state a pending->stopped']);
  });

  it('stop() called by an observer when a node is ready: later observers see ready before cluster-stopping', async () => {
    const cluster = track(new Cluster(makeCluster([makeNode('a', fixture('forever'))], 'reentrant-stop')));
    const first = createRecorder((event) => {
      if (event.type === 'state' && event.to === 'ready') void cluster.stop();
    });
    const second = createRecorder();
    const listened: string[] = [];
    cluster.subscribe(first);
    cluster.subscribe(second);
    cluster.on('event', (event) => listened.push(describeEvent(event)));
    await cluster.start().catch(() => {
      // The stop may overtake the start's own wait; the order of events is what is checked here.
    });
    await cluster.stop();
    await waitFor(() => cluster.node('a').state, (state) => state === 'stopped', { describe: 'node a stopped' });
    const ready = first.seen.indexOf('state a running->ready');
    expect(ready, first.seen.join('\n')).toBeGreaterThanOrEqual(0);
    expect(first.seen[ready + 1]).toBe('cluster-stopping requested');
    expect(second.seen).toEqual(first.seen);
    expect(listened).toEqual(first.seen);
  });

  it('onNodeFailure: stop-cluster reacts after the failure and what observers did about it reached every observer', async () => {
    // crashy exits 2 after its start and may not restart: it fails once the cluster runs.
    const spec = {
      ...makeCluster([makeNode('steady', fixture('forever')), makeNode('crashy', fixture('exit-with', 2, 100), { restart: { maxRestarts: 0 } })], 'reentrant-failure'),
      onNodeFailure: 'stop-cluster' as const,
    };
    const cluster = track(new Cluster(spec));
    // An observer that stops steady the moment crashy fails: steady's `stopping` is published
    // from inside the delivery of crashy's failure.
    const first = createRecorder((event) => {
      if (event.type === 'state' && event.node === 'crashy' && event.to === 'failed') void cluster.stopNode('steady');
    });
    const second = createRecorder();
    cluster.subscribe(first);
    cluster.subscribe(second);
    await cluster.start();
    await waitFor(() => cluster.node('steady').state, (state) => state === 'stopped', { describe: 'steady stopped' });
    await cluster.stop();
    const failed = first.seen.findIndex((text) => text.startsWith('state crashy') && text.endsWith('->failed'));
    expect(failed, first.seen.join('\n')).toBeGreaterThanOrEqual(0);
    expect(first.seen.slice(failed + 1, failed + 3)).toEqual(['state steady ready->stopping', 'cluster-stopping node-failed']);
    expect(second.seen).toEqual(first.seen);
  });
});

describe('provideSpawnEnvironment', () => {
  it('adds each provider’s variables to every spawn, asked after the run’s starting event; later keys win; a throw is a warning', async () => {
    const node = makeNode('a', fixture('echo-env', 'EXTRA', 'SHARED', 'OWN'), { env: { SHARED: 'node', OWN: 'node' } });
    const cluster = track(new Cluster(makeCluster([node], 'spawn-env')));
    const seen: string[] = [];
    cluster.subscribe(createRecorder((event) => seen.push(describeEvent(event))));
    const asked: string[] = [];
    cluster.provideSpawnEnvironment({
      getSpawnEnvironment: (name, replica, run) => {
        asked.push(`${name}/${replica}/${run} after ${seen.at(-1) ?? 'nothing'}`);
        return { EXTRA: `run-${run}`, SHARED: 'first' };
      },
    });
    cluster.provideSpawnEnvironment({ getSpawnEnvironment: () => ({ SHARED: 'second' }) });
    const broken = cluster.provideSpawnEnvironment({
      getSpawnEnvironment: () => {
        throw new Error('provider bug');
      },
    });
    // Recorded instead of emitted: test/setup.ts turns every process warning into a failure.
    const emitWarning = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const warnings = () => emitWarning.mock.calls.map(([warning, type]) => `${String(type)}: ${String(warning)}`);
    await cluster.start();
    const lines = () => cluster.node('a').output.tail(10).map((line) => line.text);
    await waitFor(lines, (text) => text.includes('ready'), { describe: 'a printed its environment' });
    expect(lines()).toEqual(expect.arrayContaining(['env EXTRA=run-1', 'env SHARED=second', 'env OWN=node']));
    expect(asked).toEqual(['a/0/1 after state a pending->starting']);
    expect(warnings()).toEqual(['DroverWarning: drover: spawn environment provider threw: provider bug']);

    broken.unsubscribe();
    await cluster.restartNode('a');
    await waitFor(lines, (text) => text.includes('env EXTRA=run-2'), { describe: 'run 2 printed its environment' });
    expect(asked.at(-1)).toMatch(/^a\/0\/2 after state a \w+->starting$/);
    expect(warnings()).toHaveLength(1);
  });
});
