// Drives the globalSetup cluster from a test file: useCluster() finds its control socket through
// inject('drover'). Restarting the api gives it a new process (pid, run, restart count) on the
// same port, and it serves again once ready.
import { useCluster } from 'drover/vitest';
import { expect, test } from 'vitest';

test('a restarted api gets a new pid and run, and serves again', async () => {
  const cluster = await useCluster();
  const api = cluster.node('api');
  const { pid, run, restarts, ports } = await api.snapshot();
  await api.restart(); // resolves once the new run is ready
  expect(api.pid).not.toBe(pid);
  expect(api.run).toBe(run + 1);
  expect(api.restarts).toBe(restarts + 1);
  expect(api.ports).toEqual(ports);
  const read = await fetch(`http://127.0.0.1:${api.ports.http}/greetings/nobody`);
  expect(read.status).toBe(404);
  const tail = await api.output.tail(Infinity);
  expect(tail.filter((line) => line.text.startsWith('api listening'))).not.toHaveLength(0);
});

test('a line the api prints is awaited with waitForLine, and a timeout shows what it printed', async () => {
  const api = (await useCluster()).node('api');
  await expect(api.waitForLine(/^api listening on \d+$/, { timeoutMs: 5000 })).resolves.toMatchObject({ stream: 'stdout' });
  await expect(api.waitForLine(/never printed/, { timeoutMs: 100 })).rejects.toThrow(/last output:\n {2}stdout: api listening/);
});
