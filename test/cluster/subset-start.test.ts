/**
 * Starting a subset through the API (`startCluster(config, { only, noDeps })`) and
 * `cluster.startNode` of a node whose dependency is down, with real processes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Cluster } from '../../cluster/cluster.js';
import { startCluster, type StartClusterOptions } from '../../start-cluster.js';
import { isDroverError } from '../../contract/errors.js';
import { FIXTURES_DIR } from '../helpers/fixtures.js';
import { createClusterTracker } from '../helpers/cluster-tracker.js';

const { track, cleanup } = createClusterTracker();
afterEach(cleanup);

const NODE = process.execPath;

async function start(config: Record<string, unknown>, options: StartClusterOptions): Promise<Cluster> {
  return track(await startCluster(config, { baseDir: FIXTURES_DIR, ...options, onCreate: (created) => void track(created) }));
}

const states = (cluster: Cluster) => Object.fromEntries(cluster.snapshot().nodes.map((n) => [n.name, n.state]));

describe('subset start', () => {
  it('only: [c] starts c and its dependencies transitively; the others stay pending', async () => {
    const cluster = await start(
      {
        name: 'subset-api',
        nodes: {
          a: { command: [NODE, 'forever.mjs'] },
          b: { command: [NODE, 'forever.mjs'], dependsOn: { a: 'ready' } },
          c: { command: [NODE, 'forever.mjs'], dependsOn: { b: 'started' } },
          d: { command: [NODE, 'forever.mjs'] },
        },
      },
      { only: ['c'] },
    );
    expect(states(cluster)).toEqual({ a: 'ready', b: 'ready', c: 'ready', d: 'pending' });
    await cluster.startNode('d');
    expect(states(cluster).d).toBe('ready');
  });

  it('an unknown name in only is ERR_UNKNOWN_NODE and nothing starts', async () => {
    const error = await startCluster({ name: 'subset-unknown', nodes: { a: { command: [NODE, 'forever.mjs'] } } }, { baseDir: FIXTURES_DIR, only: ['zz'], onCreate: (c) => void track(c) }).catch((e: unknown) => e);
    expect(isDroverError(error, 'ERR_UNKNOWN_NODE')).toBe(true);
  });

  it('startNode of a node whose dependency cannot start fails naming the dependency; the node does not run', async () => {
    const cluster = await start(
      {
        name: 'subset-bad-dep',
        nodes: {
          other: { command: [NODE, 'forever.mjs'] },
          bad: { command: [NODE, 'exit-with.mjs', '3'], restart: { policy: 'no' } },
          web: { command: [NODE, 'forever.mjs'], dependsOn: { bad: 'ready' } },
        },
      },
      { only: ['other'] },
    );
    expect(states(cluster)).toEqual({ other: 'ready', bad: 'pending', web: 'pending' });
    const error = await cluster.startNode('web').catch((e: unknown) => e);
    expect(isDroverError(error, 'ERR_DEPENDENCY_FAILED'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(/^node web was not started: dependency bad \(ready\) was not met/);
    expect(states(cluster)).toMatchObject({ bad: 'exited', web: 'failed' });
    expect(cluster.node('web').pid).toBeNull();
  });
});
