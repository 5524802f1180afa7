/**
 * drover/vitest's globalSetup helper, driven with a stand-in for vitest's TestProject: it provides
 * plain data (ports, URLs, pids) and its teardown leaves nothing running. examples/vitest runs it
 * inside a real vitest globalSetup (CI: npm run example:vitest).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { setupCluster, type ProvidedCluster } from '../../vitest/index.js';
import { FIXTURES_DIR } from '../helpers/fixtures.js';
import { expectAllGone, expectNoShepherds } from '../helpers/processes.js';

const teardowns: (() => Promise<void>)[] = [];

afterEach(async () => {
  await Promise.all(teardowns.splice(0).map((teardown) => teardown()));
  await expectNoShepherds();
});

const config = {
  name: 'provided',
  nodes: {
    web: {
      command: [process.execPath, 'http-server.mjs', '{{ports.http}}'],
      ports: ['http'],
      replicas: 2,
      ready: { http: { url: 'http://127.0.0.1:{{ports.http}}/health' }, interval: '20ms' },
    },
  },
};

describe('setupCluster', () => {
  it('provides ports and URLs as plain data, and its teardown stops the cluster', async () => {
    const provided = new Map<string, unknown>();
    const teardown = await setupCluster(config, { baseDir: FIXTURES_DIR, key: 'cluster' })({ provide: (key, value) => provided.set(key, value) });
    teardowns.push(teardown);
    const value = provided.get('cluster') as ProvidedCluster;
    expect(structuredClone(value)).toEqual(value);
    const [w0, w1] = value.nodes['web']!;
    expect(w1).toMatchObject({ name: 'web', replica: 1, urls: { http: `http://127.0.0.1:${w1!.ports['http']}` } });
    expect(w0!.ports['http']).not.toBe(w1!.ports['http']);
    expect((await fetch(`${w0!.urls['http']}/health`)).status).toBe(200);
    await teardown();
    await expectAllGone([w0!.pid!, w1!.pid!]);
  });

  it('a start failure fails the setup with drover\'s message and leaves nothing running', async () => {
    const setup = setupCluster({ name: 'broken', nodes: { a: { command: ['drover-no-such-binary'] } } }, { baseDir: FIXTURES_DIR });
    await expect(setup({ provide: () => undefined })).rejects.toMatchObject({ code: 'ERR_COMMAND_NOT_FOUND', node: 'a' });
  });
});
