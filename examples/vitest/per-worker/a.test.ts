import { expect } from 'vitest';
import { report, test } from './fixture.js';

test('this worker\'s cluster stores and reads a greeting (a)', async ({ cluster }) => {
  const api = `http://127.0.0.1:${cluster.node('api').ports.http}`;
  expect((await fetch(`${api}/greetings/a`, { method: 'POST' })).status).toBe(201);
  expect(await (await fetch(`${api}/greetings/a`)).text()).toBe('hello a');
  report('a', cluster);
});
