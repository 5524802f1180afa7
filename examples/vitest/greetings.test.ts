// Tests against the running two-service cluster: ports and URLs come from drover through inject().
import 'drover/vitest';
import { expect, inject, test } from 'vitest';

const { nodes } = inject('drover');
const api = nodes.api![0]!;
const store = nodes.store![0]!;

test('each service got its own allocated port, with its address and (an HTTP port) its URL', () => {
  expect(api.ports.http).toBeGreaterThan(0);
  expect(store.ports.http).toBeGreaterThan(0);
  expect(api.ports.http).not.toBe(store.ports.http);
  expect(api.addresses.http).toBe(`127.0.0.1:${api.ports.http}`);
  expect(api.urls.http).toBe(`http://127.0.0.1:${api.ports.http}`);
});

test('a greeting stored through the api is read back, and it lives in the store', async () => {
  const created = await fetch(`${api.urls.http}/greetings/ada`, { method: 'POST' });
  expect(created.status).toBe(201);
  const read = await fetch(`${api.urls.http}/greetings/ada`);
  expect(await read.text()).toBe('hello ada');
  const direct = await fetch(`${store.urls.http}/kv/ada`);
  expect(await direct.text()).toBe('hello ada');
});

test('an unknown greeting is a 404 from the store, passed through', async () => {
  const read = await fetch(`${api.urls.http}/greetings/nobody`);
  expect(read.status).toBe(404);
});
