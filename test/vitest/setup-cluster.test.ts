/**
 * drover/vitest's globalSetup helper, driven with a stand-in for vitest's TestProject: it provides
 * plain data (ports, URLs, pids) and its teardown leaves nothing running. examples/vitest runs it
 * inside a real vitest globalSetup (CI: npm run example:vitest).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { setupCluster, type ProvidedCluster } from '../../vitest/index.js';
import { FIXTURES_DIR, fixture } from '../helpers/fixtures.js';
import { expectAllGone, expectNoShepherds } from '../helpers/processes.js';

const teardowns: (() => Promise<void>)[] = [];
const roots: string[] = [];

afterEach(async () => {
  await Promise.all(teardowns.splice(0).map((teardown) => teardown()));
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
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
    expect(w1).toMatchObject({ name: 'web', replica: 1, host: '127.0.0.1', urls: { http: `http://127.0.0.1:${w1!.ports['http']}` } });
    expect(w0!.ports['http']).not.toBe(w1!.ports['http']);
    expect((await fetch(`${w0!.urls['http']}/health`)).status).toBe(200);
    await teardown();
    await expectAllGone([w0!.pid!, w1!.pid!]);
  });

  it('a start failure fails the setup with drover\'s message and leaves nothing running', async () => {
    const setup = setupCluster({ name: 'broken', nodes: { a: { command: ['drover-no-such-binary'] } } }, { baseDir: FIXTURES_DIR });
    await expect(setup({ provide: () => undefined })).rejects.toMatchObject({ code: 'ERR_COMMAND_NOT_FOUND', node: 'a' });
  });

  it('urls only for the ports that speak HTTP: named http*, or checked by an http readiness or liveness probe; every port has an address', async () => {
    const provided = new Map<string, unknown>();
    const teardown = await setupCluster(
      {
        name: 'kinds',
        nodes: {
          svc: {
            command: [process.execPath, 'http-server.mjs', '{{ports.admin}}'],
            ports: ['admin', 'redis', 'http-api'],
            ready: { http: { url: 'http://127.0.0.1:{{ports.admin}}/health' }, interval: '20ms' },
          },
        },
      },
      { baseDir: FIXTURES_DIR },
    )({ provide: (key, value) => provided.set(key, value) });
    teardowns.push(teardown);
    const svc = (provided.get('drover') as ProvidedCluster).nodes['svc']![0]!;
    const { admin, redis } = svc.ports as Record<string, number>;
    expect(svc.urls).toEqual({ admin: `http://127.0.0.1:${admin}`, 'http-api': `http://127.0.0.1:${svc.ports['http-api']}` });
    expect(svc.addresses).toEqual({ admin: `127.0.0.1:${admin}`, redis: `127.0.0.1:${redis}`, 'http-api': `127.0.0.1:${svc.ports['http-api']}` });
    expect(svc.host).toBe('127.0.0.1');
  });

  it("a relative config path resolves against the vitest project's root, not the current directory", async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'drover-vitest-root-'));
    roots.push(root);
    writeFileSync(path.join(root, 'drover.yaml'), `name: rooted\nnodes:\n  a:\n    command: ${JSON.stringify(fixture('forever'))}\n    ready: { log: { pattern: "." } }\n`);
    expect(process.cwd()).not.toBe(root);
    const provided = new Map<string, unknown>();
    const teardown = await setupCluster('./drover.yaml')({ provide: (key, value) => provided.set(key, value), config: { root } });
    teardowns.push(teardown);
    expect((provided.get('drover') as ProvidedCluster).name).toBe('rooted');
  });

  it("a readiness failure says why once: the cause chain repeats no message, and the output quoted is the node's own, not its answer to drover's stop", async () => {
    const script = "echo starting api; trap 'echo got TERM; exit 0' TERM; while true; do sleep 0.05; done";
    const setup = setupCluster({ name: 'slow', nodes: { api: { command: ['sh', '-c', script], ready: { log: { pattern: 'never' }, timeout: '500ms' } } } });
    const error = (await setup({ provide: () => undefined }).then(
      () => null,
      (e: unknown) => e,
    )) as Error & { code: string };
    expect(error).toMatchObject({ code: 'ERR_READY_TIMEOUT', node: 'api' });
    expect(error.message).toContain('last output:\n  stdout: starting api');
    expect(error.message).not.toContain('got TERM');
    const messages: string[] = [];
    for (let e: unknown = error; e instanceof Error; e = e.cause) messages.push(e.message);
    for (let i = 1; i < messages.length; i++) expect(messages[i - 1], `cause ${i} repeats its parent`).not.toContain(messages[i]!);
  });
});
