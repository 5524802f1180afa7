// Drives the globalSetup cluster from a second test file: SIGKILL the store (a crash: the restart
// policy restarts it) and wait for its next run. What it kept in memory is gone; the api, which
// reaches it on the same port, works again.
import { useCluster } from 'drover/vitest';
import { expect, inject, test } from 'vitest';

const { nodes } = inject('drover');
const api = nodes.api![0]!;

test('a killed store is restarted by drover: next run, new pid, data gone, api working', async () => {
  const cluster = await useCluster();
  const store = cluster.node('store');
  expect((await fetch(`${api.urls.http}/greetings/grace`, { method: 'POST' })).status).toBe(201);
  await store.snapshot();
  const { pid, run, restarts } = store;
  expect(await store.kill('SIGKILL')).toBe(true);
  await store.waitFor('ready', { run: 'next', timeoutMs: 15_000 });
  expect(store.pid).not.toBe(pid);
  expect(store.run).toBe(run + 1);
  expect(store.restarts).toBe(restarts + 1);
  expect(store.lastExit).toMatchObject({ signal: 'SIGKILL' });
  expect((await fetch(`${api.urls.http}/greetings/grace`)).status).toBe(404);
  expect((await fetch(`${api.urls.http}/greetings/grace`, { method: 'POST' })).status).toBe(201);
});

test('lines() follows what the store prints from now on', async () => {
  const store = (await useCluster()).node('store');
  const signal = AbortSignal.timeout(15_000);
  const lines = store.lines({ signal });
  await store.restart();
  for await (const line of lines) {
    if (line.text.startsWith('store listening')) break;
  }
  expect(signal.aborted).toBe(false);
});
