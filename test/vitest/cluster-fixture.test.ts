/**
 * drover/vitest's `clusterFixture` in vitest's own `test.extend`, against real processes: a
 * test-scoped cluster is started for each test and stopped after it; a file-scoped one is shared
 * by the tests of the file. (examples/vitest runs a worker-scoped one with 4 workers and checks
 * nothing is left after the run: test/vitest/example.test.ts.)
 */
import { afterAll, describe, expect, test as base } from 'vitest';
import type { Cluster } from '../../cluster/cluster.js';
import { clusterFixture } from '../../vitest/index.js';
import { fixture } from '../helpers/fixtures.js';
import { expectAllGone, isAlive } from '../helpers/processes.js';

const config = { name: 'fixture', nodes: { a: { command: fixture('forever'), ready: { log: { pattern: '^ready$' } } } } };

const seen: { cluster: Cluster; pid: number; scope: 'test' | 'file' }[] = [];

// vitest wants file- and worker-scoped fixtures defined at the top level of a file.
const perTest = base.extend<{ cluster: Cluster }>({ cluster: clusterFixture(config) });
const perFile = base.extend<{ cluster: Cluster }>({ cluster: clusterFixture(config, { scope: 'file' }) });

afterAll(async () => {
  // The file-scoped cluster is stopped after afterAll (when the file's fixtures end): only the
  // test-scoped ones are checked here; example.test.ts checks that file and worker scopes end.
  await expectAllGone(seen.filter((s) => s.scope === 'test').map((s) => s.pid));
});

describe("scope 'test'", () => {
  const test = perTest;

  test('the first test gets a running cluster', ({ cluster }) => {
    expect(cluster.node('a').state).toBe('ready');
    seen.push({ cluster, pid: cluster.node('a').pid!, scope: 'test' });
  });

  test('the next test gets another one: the first was stopped when its test ended', async ({ cluster }) => {
    const first = seen[0]!;
    expect(cluster).not.toBe(first.cluster);
    expect(first.cluster.node('a').state).toBe('stopped');
    await expectAllGone([first.pid]);
    seen.push({ cluster, pid: cluster.node('a').pid!, scope: 'test' });
  });
});

describe("scope 'file'", () => {
  const test = perFile;
  let first: Cluster | null = null;

  test('a test gets the file cluster', ({ cluster }) => {
    first = cluster;
    seen.push({ cluster, pid: cluster.node('a').pid!, scope: 'file' });
    expect(isAlive(cluster.node('a').pid!)).toBe(true);
  });

  test('the next test of the file gets the same cluster, still running', ({ cluster }) => {
    expect(cluster).toBe(first);
    expect(cluster.node('a').state).toBe('ready');
  });
});

describe('the fixture function', () => {
  base("a start failure rejects with drover's error (node, reason) and leaves nothing running", async () => {
    const [setUp, options] = clusterFixture({ name: 'broken', nodes: { a: { command: ['drover-no-such-binary'] } } }, { scope: 'worker' });
    expect(options).toEqual({ scope: 'worker' });
    await expect(setUp({}, async () => undefined)).rejects.toMatchObject({ code: 'ERR_COMMAND_NOT_FOUND', node: 'a' });
  });

  base('a test that throws still gets its cluster stopped', async () => {
    const [setUp] = clusterFixture(config);
    let pid = 0;
    const failing = setUp({}, async (cluster) => {
      pid = cluster.node('a').pid!;
      throw new Error('the test failed');
    });
    await expect(failing).rejects.toThrow('the test failed');
    await expectAllGone([pid]);
  });
});
