// A cluster of this file's own beside the globalSetup one: a file-scoped fixture starts it for
// the first test that uses it, both tests share it, and it is stopped when the file is done.
import type { Cluster } from 'drover';
import { clusterFixture } from 'drover/vitest';
import { expect, inject, test as base } from 'vitest';
import { report } from './per-worker/fixture.js';

const test = base.extend<{ cluster: Cluster }>({
  cluster: clusterFixture(new URL('./drover.yaml', import.meta.url), { scope: 'file' }),
});

let first: Cluster | null = null;

test('the file cluster has ports of its own, not those of the globalSetup cluster', ({ cluster }) => {
  first = cluster;
  const shared = inject('drover').nodes.api![0]!;
  expect(cluster.node('api').ports.http).not.toBe(shared.ports.http);
  report('own', cluster);
});

test('the next test of the file gets the same cluster', async ({ cluster }) => {
  expect(cluster).toBe(first);
  const api = `http://127.0.0.1:${cluster.node('api').ports.http}`;
  expect((await fetch(`${api}/greetings/own`, { method: 'POST' })).status).toBe(201);
});
