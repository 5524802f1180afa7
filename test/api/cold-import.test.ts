/**
 * A cold `import { spawn } from 'drover'` loads no zod, yaml or OpenTelemetry module: config and
 * telemetry are imported by the entry only when a call needs them (loadConfig, normalizeConfig,
 * startTelemetry, startCluster given a path or a config object). Nor does it load what only some
 * clusters use (chokidar, re2js, get-port, the readiness checks, the relay's worker thread): the
 * cluster imports each when a node's config asks for it.
 *
 * Each case runs a fresh `node` whose `--import` preload registers a module resolve hook
 * (`module.register`) that appends every resolved URL to a file: it sees every ESM load, and the
 * first load of each CommonJS package imported from ESM. The positive controls prove the hook
 * sees the modules the other cases must not load.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { writeLoadRecorder } from '../helpers/load-recorder.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const ENTRY = pathToFileURL(path.join(ROOT, 'dist', 'index.js')).href;
/** The entry as published (package.json "exports"): scripts/bundle.mjs's output. */
const BUNDLE_ENTRY = pathToFileURL(path.join(ROOT, 'dist', 'bundle', 'index.js')).href;
/** Chunks of the bundle that only some clusters or calls load (rolldown names a chunk after its first module). */
const BUNDLE_ON_DEMAND = ['ready-', 'relay-thread-', 'file-watch-', 'pattern-', 'loader-', 'config-', 'telemetry-', 'zod-', 'yaml-'];
const FORBIDDEN = ['/node_modules/zod/', '/node_modules/yaml/', '/node_modules/@opentelemetry/'];
/** Loaded by a cluster only when its config uses them (watch, patterns, ports, ready checks, network faults). */
const ON_DEMAND = [
  '/node_modules/chokidar/',
  '/node_modules/re2js/',
  '/node_modules/get-port/',
  ...['ready', 'http-check', 'tcp-check', 'exec-check', 'log-line-check', 'composite-check', 'port-owner'].map((name) => `/dist/cluster/readiness/${name}.js`),
  '/dist/network/relay-thread.js',
  '/dist/network/relay.js',
  'node:worker_threads',
  'node:crypto',
];

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'drover-cold-import-'));
  writeLoadRecorder(dir, { withPid: false });
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Runs `source` as an ES module in a fresh node with the recording hook; returns the URLs it loaded, plus the CommonJS cache. */
async function getLoadedUrls(name: string, source: string): Promise<string[]> {
  const log = path.join(dir, `${name}.log`);
  writeFileSync(log, '');
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', pathToFileURL(path.join(dir, 'register.mjs')).href, '--input-type=module', '-e', source], {
    env: { ...process.env, DROVER_LOAD_LOG: log },
    cwd: dir,
    timeout: 20_000,
  });
  // The script prints the CommonJS module cache last (anything required from CJS the hook may not see).
  const cjs = JSON.parse(stdout.trim().split('\n').at(-1)!) as string[];
  return [...readFileSync(log, 'utf8').split('\n').filter(Boolean), ...cjs.map((file) => pathToFileURL(file).href)];
}

/** The script's last line: the CommonJS cache as JSON. */
const PRINT_CJS_CACHE = `import { createRequire } from 'node:module'; console.log(JSON.stringify(Object.keys(createRequire(import.meta.url).cache)));`;

/** The URLs a fresh node loads for `loadConfig(config)` through the published entry. */
function getLoadConfigUrls(name: string, config: string): Promise<string[]> {
  return getLoadedUrls(
    name,
    `import { loadConfig } from ${JSON.stringify(BUNDLE_ENTRY)};
const { spec } = await loadConfig(${JSON.stringify(config)});
if (spec.nodes[0].name !== 'a') throw new Error('bad spec');
${PRINT_CJS_CACHE}`,
  );
}

function findForbidden(urls: readonly string[]): string[] {
  return urls.filter((url) => FORBIDDEN.some((part) => url.includes(part)));
}

describe('cold import of the package entry', () => {
  test("import { spawn } from 'drover' loads no zod, yaml or @opentelemetry module", async () => {
    const urls = await getLoadedUrls('spawn', `import { spawn } from ${JSON.stringify(ENTRY)}; if (typeof spawn !== 'function') throw new Error('no spawn'); ${PRINT_CJS_CACHE}`);
    // The hook saw the entry and the process layer it pulls in (the positive control below shows it sees node_modules).
    expect(urls).toContain(ENTRY);
    expect(urls.some((url) => url.endsWith('/dist/process/managed-process.js'))).toBe(true);
    expect(findForbidden(urls)).toEqual([]);
    // Nor what only some clusters use: file watching, the pattern engine, port allocation,
    // readiness checks, the network-fault relay's worker thread.
    expect(urls.filter((url) => ON_DEMAND.some((part) => url.includes(part)))).toEqual([]);
  }, 30_000);

  test('startCluster given a ClusterSpec loads no config module', async () => {
    const spec = { name: 'cold', configPath: null, nodes: [] };
    const urls = await getLoadedUrls(
      'spec',
      `import { startCluster } from ${JSON.stringify(ENTRY)};
const cluster = await startCluster(${JSON.stringify(spec)});
await cluster.stop();
${PRINT_CJS_CACHE}`,
    );
    expect(urls.filter((url) => url.includes('/dist/config/'))).toEqual([]);
    expect(findForbidden(urls)).toEqual([]);
    expect(urls.filter((url) => ON_DEMAND.some((part) => url.includes(part)))).toEqual([]);
  }, 30_000);

  test('the hook sees zod, yaml and @opentelemetry when they load (positive control: loadConfig through the entry, the telemetry SDK module directly)', async () => {
    const config = path.join(dir, 'drover.yaml');
    writeFileSync(config, 'name: cold\nnodes:\n  a:\n    command: ["true"]\n');
    const urls = await getLoadedUrls(
      'on-demand',
      `import { loadConfig, startTelemetry } from ${JSON.stringify(ENTRY)};
const { spec } = await loadConfig(${JSON.stringify(config)});
if (spec.nodes[0].name !== 'a') throw new Error('bad spec');
if (typeof startTelemetry !== 'function') throw new Error('no startTelemetry');
await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'dist', 'telemetry', 'sdk.js')).href)});
${PRINT_CJS_CACHE}`,
    );
    expect(urls.some((url) => url.includes('/node_modules/zod/'))).toBe(true);
    expect(urls.some((url) => url.includes('/node_modules/yaml/'))).toBe(true);
    expect(urls.some((url) => url.includes('/node_modules/@opentelemetry/'))).toBe(true);
  }, 30_000);

  test('loadConfig of a config without patterns loads no pattern engine (re2js); a log pattern loads it (positive control)', async () => {
    const plain = path.join(dir, 'plain.yaml');
    writeFileSync(plain, 'name: cold\nnodes:\n  a:\n    command: ["true"]\n    ready:\n      tcp: 4000\n');
    const patterned = path.join(dir, 'patterned.yaml');
    writeFileSync(patterned, 'name: cold\nnodes:\n  a:\n    command: ["true"]\n    ready:\n      log: "listening on (?P<port>\\\\d+)"\n');
    for (const [name, config, expected] of [['plain', plain, false], ['patterned', patterned, true]] as const) {
      const urls = await getLoadConfigUrls(`patterns-${name}`, config);
      expect(urls.some((url) => url.includes('/node_modules/re2js/')), name).toBe(expected);
    }
  }, 30_000);

  test("the published entry (dist/bundle/index.js): import { spawn } loads a few bundled chunks, no zod, yaml or @opentelemetry, nothing on demand", async () => {
    const urls = await getLoadedUrls('bundle-spawn', `import { spawn } from ${JSON.stringify(BUNDLE_ENTRY)}; if (typeof spawn !== 'function') throw new Error('no spawn'); ${PRINT_CJS_CACHE}`);
    const own = urls.filter((url) => url.startsWith(pathToFileURL(ROOT).href) && !url.includes('/node_modules/'));
    expect(own).toContain(BUNDLE_ENTRY);
    // Every file of drover's it loads is a chunk of the bundle, and there are few of them (tsc's
    // output is 38 files on the same path: each costs a resolve, a read and a compile).
    expect(own.filter((url) => !url.includes('/dist/bundle/'))).toEqual([]);
    expect(new Set(own).size).toBeLessThanOrEqual(16);
    expect(findForbidden(urls)).toEqual([]);
    expect(own.filter((url) => BUNDLE_ON_DEMAND.some((prefix) => path.basename(url).startsWith(prefix)))).toEqual([]);
  }, 30_000);

  test('the published entry loads its on-demand chunks when a call needs them (positive control: loadConfig loads the loader, zod and yaml chunks)', async () => {
    const config = path.join(dir, 'drover.yaml');
    writeFileSync(config, 'name: cold\nnodes:\n  a:\n    command: ["true"]\n');
    const urls = await getLoadConfigUrls('bundle-on-demand', config);
    // zod and yaml are inlined into the bundle, each a chunk of its own (scripts/bundle.mjs).
    // The loader's chunk is named after one of its modules (rolldown's choice): config- or loader-.
    for (const chunk of [/\/dist\/bundle\/(loader|config)-/, /\/dist\/bundle\/zod-/, /\/dist\/bundle\/yaml-/]) expect(urls.some((url) => chunk.test(url)), String(chunk)).toBe(true);
    expect(urls.filter((url) => url.includes('/node_modules/zod/') || url.includes('/node_modules/yaml/'))).toEqual([]);
  }, 30_000);
});
