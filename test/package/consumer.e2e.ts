/**
 * drover as a new user gets it, end to end (slow: `npm run test:package`): `npm pack`, the tarball
 * installed into a fresh project with vitest, TypeScript and @types/node from the registry (npm's
 * cache first: `--prefer-offline`; nothing but npm packages is fetched: the addon and the shepherd
 * are built from source at install against the running Node's headers), the consumer type-checked
 * with `skipLibCheck: false`, `npx drover --version`, a two-service cluster through
 * `drover/vitest`'s globalSetup and a `startCluster` test with `await using`, the CLI's background
 * `up`, the Node 20 `try/finally` form in a plain .mjs; nothing may be left running.
 */
import { execFile, type ExecFileException } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AWAIT_USING_MJS,
  CONSUMER_CONFIG,
  CONSUMER_SOURCE,
  getConsumerTsconfig,
  GLOBAL_SETUP,
  PROVIDED_TEST,
  SERVICE_SOURCE,
  START_CLUSTER_TEST,
  TRY_FINALLY_MJS,
  VITEST_CONFIG,
} from './consumer-files.js';
import { waitFor } from '../helpers/wait-for.js';
import { cleanUpProject, findProcessesUnder, getConsumerEnv, makeStateDir, NATIVE_BUILD_FILES, PACKAGE_JSON, REPO_ROOT } from './staging.js';

interface Result {
  readonly code: number;
  readonly out: string;
}

/** Runs a command to completion; `out` is stdout and stderr together (for failure messages). */
function run(file: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Result> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: options.cwd, env: options.env ?? getConsumerEnv(), timeout: options.timeoutMs ?? 120_000, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 }, (error: ExecFileException | null, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

let work = '';
let app = '';
let tarball = '';
let install: Result;

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'drover-e2e-'));
  // The tarball npm publishes; dist/ is built by `npm run test:package` before this runs.
  const pack = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: REPO_ROOT });
  expect(pack.code, pack.out).toBe(0);
  tarball = path.join(work, (JSON.parse(pack.out.slice(pack.out.indexOf('['))) as [{ filename: string }])[0].filename);
  app = path.join(work, 'app');
  mkdirSync(app);
  const dev = PACKAGE_JSON.devDependencies;
  writeFileSync(
    path.join(app, 'package.json'),
    JSON.stringify(
      {
        name: 'consumer-app',
        version: '3.4.5',
        private: true,
        type: 'module',
        scripts: { drover: 'drover', test: 'vitest run' },
        dependencies: { drover: `file:${path.relative(app, tarball)}` },
        // The versions this repository tests with, so npm's cache has them.
        devDependencies: { vitest: dev.vitest, typescript: dev.typescript, '@types/node': dev['@types/node'] },
      },
      null,
      2,
    ),
  );
  // --foreground-scripts: node-gyp's log (what it compiled, against which headers) is in the output.
  install = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--foreground-scripts'], { cwd: app, timeoutMs: 600_000 });
  expect(install.code, install.out).toBe(0);
}, 900_000);

afterAll(async () => {
  if (app !== '') expect(await cleanUpProject({ dir: app }, 15_000), 'processes of the consumer project left behind').toEqual([]);
  if (work !== '') rmSync(work, { recursive: true, force: true });
});

describe('drover installed from its tarball into a fresh project', () => {
  it('builds the addon, the shepherd and the launcher from source at install, against the running Node headers', () => {
    const pkg = path.join(app, 'node_modules', 'drover');
    for (const name of NATIVE_BUILD_FILES) expect(existsSync(path.join(pkg, 'native', 'build', 'Release', name)), name).toBe(true);
    // Compiled here: node-gyp's Makefile names this project's path, and its headers are this Node's.
    expect(readFileSync(path.join(pkg, 'native', 'build', 'Makefile'), 'utf8')).toContain(pkg);
    const nodedir = path.dirname(path.dirname(process.execPath));
    expect(readFileSync(path.join(pkg, 'native', 'build', 'config.gypi'), 'utf8')).toContain(`"nodedir": "${nodedir}"`);
    expect(install.out).toContain('gyp info ok');
    // node-gyp downloads headers with `gyp http GET`: never here.
    expect(install.out).not.toMatch(/gyp http|Downloading/i);
    // The files README points to are there.
    for (const file of ['config/schema.json', 'examples/grafana/drover.json', 'docs/telemetry.md']) expect(existsSync(path.join(pkg, file)), file).toBe(true);
  });

  it('type-checks a consumer with skipLibCheck: false (lib ES2022 + ESNext.Disposable; and ES2022 alone, @types/node declaring the disposables)', async () => {
    writeFileSync(path.join(app, 'consumer.ts'), CONSUMER_SOURCE);
    for (const lib of [['ES2022', 'ESNext.Disposable'], ['ES2022']]) {
      writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify(getConsumerTsconfig(lib), null, 2));
      const tsc = await run(path.join(app, 'node_modules', '.bin', 'tsc'), ['-p', app], { cwd: app });
      expect(tsc, `lib ${lib.join(', ')}`).toEqual({ code: 0, out: '' });
    }
  }, 120_000);

  it("npx drover --version and npm run drover -- --version print drover's version, not the project's", async () => {
    expect(await run('npx', ['drover', '--version'], { cwd: app })).toEqual({ code: 0, out: `${PACKAGE_JSON.version}\n` });
    const viaScript = await run('npm', ['run', '--silent', 'drover', '--', '--version'], { cwd: app });
    expect(viaScript).toEqual({ code: 0, out: `${PACKAGE_JSON.version}\n` });
  }, 60_000);

  it('runs a two-service cluster through drover/vitest globalSetup and a startCluster test with await using', async () => {
    writeFileSync(path.join(app, 'service.mjs'), SERVICE_SOURCE);
    writeFileSync(path.join(app, 'drover.yaml'), CONSUMER_CONFIG);
    writeFileSync(path.join(app, 'vitest.config.ts'), VITEST_CONFIG);
    writeFileSync(path.join(app, 'global-setup.ts'), GLOBAL_SETUP);
    writeFileSync(path.join(app, 'provided.test.ts'), PROVIDED_TEST);
    writeFileSync(path.join(app, 'cluster.test.ts'), START_CLUSTER_TEST);
    const vitest = await run('npx', ['vitest', 'run'], { cwd: app, timeoutMs: 180_000 });
    expect(vitest.code, vitest.out).toBe(0);
    expect(vitest.out).toMatch(/Tests\s+2 passed \(2\)/);
    const left = await cleanUpProjectProcessesOnly();
    expect(left, 'processes left behind by the vitest run').toEqual([]);
  }, 240_000);

  it('the CLI from the installed bin: up --wait, ps, down', async () => {
    const env = getConsumerEnv({ DROVER_STATE_DIR: makeStateDir(app) });
    const up = await run('npx', ['drover', 'up', '--wait'], { cwd: app, env, timeoutMs: 60_000 });
    expect(up.code, up.out).toBe(0);
    expect(up.out).toContain('cluster shop is up in the background');
    const ps = await run('npx', ['drover', 'ps', '--json'], { cwd: app, env });
    expect(ps.code, ps.out).toBe(0);
    expect((JSON.parse(ps.out) as { name: string; state: string }[]).map((r) => `${r.name} ${r.state}`).sort()).toEqual(['store ready', 'web ready']);
    const down = await run('npx', ['drover', 'down'], { cwd: app, env, timeoutMs: 60_000 });
    expect(down.code, down.out).toBe(0);
    expect(await cleanUpProjectProcessesOnly(), 'processes left behind by up --wait').toEqual([]);
  }, 180_000);

  it('a plain .mjs uses try/finally on Node 20, where await using does not parse', async () => {
    writeFileSync(path.join(app, 'try-finally.mjs'), TRY_FINALLY_MJS);
    const plain = await run(process.execPath, ['try-finally.mjs'], { cwd: app, timeoutMs: 90_000 });
    expect(plain).toEqual({ code: 0, out: 'peer says store\n' });
    writeFileSync(path.join(app, 'await-using.mjs'), AWAIT_USING_MJS);
    const check = await run(process.execPath, ['--check', 'await-using.mjs'], { cwd: app });
    if (Number(process.versions.node.split('.')[0]) === 20) {
      expect(check.code).not.toBe(0);
      expect(check.out).toContain('SyntaxError');
    }
    expect(await cleanUpProjectProcessesOnly(), 'processes left behind by the .mjs').toEqual([]);
  }, 120_000);
});

/** Processes of the consumer project still running after a step (the directory stays). */
async function cleanUpProjectProcessesOnly(): Promise<{ pid: number; state: string; cmdline: string }[]> {
  try {
    await waitFor(() => findProcessesUnder(app), (list) => list.length === 0, { timeoutMs: 10_000, describe: 'no process of the consumer project' });
    return [];
  } catch {
    return findProcessesUnder(app);
  }
}
