/**
 * The files of a consumer project as README and docs/api.md tell a new user to write them: a
 * tsconfig with TypeScript's defaults for declaration checks, a module using the public API with
 * `await using`, a two-service drover.yaml (HTTP services that read their port from the
 * environment), a vitest globalSetup through `drover/vitest`, a test of the provided ports and a
 * `startCluster` test, and the plain-`.mjs` `try/finally` equivalent for Node 20, where
 * `await using` does not parse.
 */

/** The consumer's tsconfig.json: strict, NodeNext, declarations checked (`skipLibCheck: false`). */
export function getConsumerTsconfig(lib: readonly string[] = ['ES2022', 'ESNext.Disposable']): object {
  return {
    compilerOptions: {
      target: 'ES2022',
      lib,
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      strict: true,
      skipLibCheck: false,
      noEmit: true,
      types: ['node'],
    },
    include: ['*.ts'],
  };
}

/** A module using the API the docs show: startCluster with `await using`, a node handle, errors, the vitest entry. */
export const CONSUMER_SOURCE = `import { DroverError, isDroverError, startCluster, type NodeState } from 'drover';
import { getProvidedCluster, setupCluster, type ProvidedCluster } from 'drover/vitest';

export const globalSetup = setupCluster('./drover.yaml', { strict: true });

export async function pingOnce(): Promise<NodeState> {
  await using cluster = await startCluster('./drover.yaml', { signal: AbortSignal.timeout(60_000) });
  const a = cluster.node('a');
  a.kill('SIGKILL');
  await a.waitFor('ready', { run: 'next', timeoutMs: 10_000 });
  const provided: ProvidedCluster = getProvidedCluster(cluster);
  const port: number | undefined = provided.nodes.a?.[0]?.ports.http;
  if (port === undefined) throw new DroverError('ERR_INVALID_OPTION', 'no port');
  return a.state;
}

export function describeError(error: unknown): string {
  return isDroverError(error) ? error.code : String(error);
}
`;

/**
 * The rest of the public surface as a consumer types it: a config object as `ConfigInput`, the
 * async `normalizeConfig`, the `ClusterNode` and `ManagedProcess` types and what their members
 * return, `drover/telemetry`; and what is not public: `ClusterNode`'s cluster-only methods and the
 * output buffer's writer are absent from the published types (each `@ts-expect-error` fails the
 * compile once the member is visible again).
 */
export const API_SURFACE_SOURCE = `import { DroverError, loadConfig, normalizeConfig, spawn, startCluster, type BufferedLine, type ClusterNode, type ConfigInput, type LoadedConfig, type ManagedProcess, type OutputBuffer, type PipeReader } from 'drover';
import { METRIC_GROUPS, ProcessMetrics, type MetricGroup } from 'drover/telemetry';

const config: ConfigInput = {
  name: 'typed',
  nodes: { a: { command: ['node', 'a.js'], ports: ['http'], ready: { http: { url: 'http://127.0.0.1:{{ports.http}}/health' } } } },
};

export async function useTheSurface(): Promise<LoadedConfig> {
  const { spec } = await normalizeConfig(config, { baseDir: '.' });
  await using cluster = await startCluster(spec);
  const node: ClusterNode = cluster.node('a');
  // @ts-expect-error cluster-only: the cluster turns output events on and off
  node.setOutputEvents(true);
  // @ts-expect-error cluster-only: the cluster allocates ports before a start
  await node.allocatePorts();
  // @ts-expect-error cluster-only: dependsOn conditions
  await node.waitForCondition('ready');
  // @ts-expect-error cluster-only: a node whose dependency failed
  node.failBeforeStart(new DroverError('ERR_DEPENDENCY_FAILED', 'x'));
  const p: ManagedProcess = await spawn(['true'], { stdout: 'stream' });
  const reader: PipeReader | null = p.stdout;
  const buffer: OutputBuffer = p.output;
  const lines: BufferedLine[] = buffer.tail(5);
  // @ts-expect-error the buffer is written by drover only
  buffer.write('stdout', Buffer.from('x'));
  const groups: MetricGroup[] = [...METRIC_GROUPS];
  new ProcessMetrics({ controller: cluster, metricGroups: groups }).register();
  void reader;
  void lines;
  return loadConfig('./drover.yaml', { strict: false });
}
`;

/** An HTTP service: GET /health answers its name; PEER_URL, when set, is fetched for GET /peer. */
export const SERVICE_SOURCE = `import http from 'node:http';
const name = process.env.SERVICE_NAME;
const server = http.createServer(async (req, res) => {
  if (req.url === '/health') return res.end(JSON.stringify({ ok: true, name }));
  if (req.url === '/peer') return res.end(await (await fetch(process.env.PEER_URL + '/health')).text());
  res.statusCode = 404;
  res.end();
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log(name + ' listening on ' + process.env.PORT));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

/** Two services; \`web\` starts once \`store\` is ready and gets its URL. */
export const CONSUMER_CONFIG = `# yaml-language-server: $schema=./node_modules/drover/config/schema.json
name: shop
nodes:
  store:
    command: [node, service.mjs]
    ports: [http]
    env: { PORT: "{{ports.http}}", SERVICE_NAME: store }
    ready: { http: { url: "http://127.0.0.1:{{ports.http}}/health" }, timeout: 20s, interval: 50ms }
  web:
    command: [node, service.mjs]
    ports: [http]
    env: { PORT: "{{ports.http}}", SERVICE_NAME: web, PEER_URL: "http://127.0.0.1:{{nodes.store.ports.http}}" }
    dependsOn: { store: ready }
    ready: { http: { url: "http://127.0.0.1:{{ports.http}}/health" }, timeout: 20s, interval: 50ms }
`;

export const VITEST_CONFIG = `import { defineConfig } from 'vitest/config';
export default defineConfig({ test: { include: ['*.test.ts'], globalSetup: ['./global-setup.ts'], testTimeout: 60_000, hookTimeout: 60_000 } });
`;

export const GLOBAL_SETUP = `import { fileURLToPath } from 'node:url';
import { setupCluster } from 'drover/vitest';
export default setupCluster(fileURLToPath(new URL('./drover.yaml', import.meta.url)), { strict: true });
`;

/** Tests against the globalSetup cluster, through inject(). */
export const PROVIDED_TEST = `import 'drover/vitest';
import { expect, inject, test } from 'vitest';

const { nodes } = inject('drover');

test('each service answers on the port drover allocated', async () => {
  const web = nodes.web![0]!;
  const store = nodes.store![0]!;
  expect(web.ports.http).not.toBe(store.ports.http);
  expect(await (await fetch(web.urls.http + '/health')).json()).toEqual({ ok: true, name: 'web' });
  expect(await (await fetch(web.urls.http + '/peer')).json()).toEqual({ ok: true, name: 'store' });
});
`;

/** A cluster of its own per test with startCluster and \`await using\`; a killed node's next run awaited. */
export const START_CLUSTER_TEST = `import { fileURLToPath } from 'node:url';
import { startCluster } from 'drover';
import { expect, test } from 'vitest';

test('startCluster with await using: kill a node, await its next run, stop on scope exit', async () => {
  let pids: number[] = [];
  {
    await using cluster = await startCluster(fileURLToPath(new URL('./drover.yaml', import.meta.url)), { strict: true, signal: AbortSignal.timeout(60_000) });
    const store = cluster.node('store');
    const first = store.pid!;
    store.kill('SIGKILL');
    await store.waitFor('ready', { run: 'next', timeoutMs: 20_000 });
    expect(store.pid).not.toBe(first);
    pids = [first, store.pid!, cluster.node('web').pid!];
  }
  for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
});
`;

/** The Node 20 equivalent of \`await using\` in a plain .mjs: try/finally around stop(). */
export const TRY_FINALLY_MJS = `import { startCluster } from 'drover';
const cluster = await startCluster(new URL('./drover.yaml', import.meta.url).pathname, { strict: true, signal: AbortSignal.timeout(60_000) });
try {
  const web = cluster.node('web');
  const res = await fetch('http://127.0.0.1:' + web.ports.http + '/peer');
  console.log('peer says ' + (await res.json()).name);
} finally {
  await cluster.stop();
}
`;

/** What does not parse on Node 20: \`await using\` in a plain .mjs. */
export const AWAIT_USING_MJS = `import { startCluster } from 'drover';
await using cluster = await startCluster('./drover.yaml');
`;
