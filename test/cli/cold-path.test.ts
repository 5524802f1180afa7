/**
 * The CLI's cold path loads only what a command uses: `drover --help` and the client commands
 * (`ps` …) load yargs and the control client, never cluster, config (zod, yaml) or OpenTelemetry
 * code; `drover up --detach` waits without cluster, OpenTelemetry or control-client code, and the
 * background `up` it starts gets the validated config from it (no yargs, zod or yaml there) and
 * loads the OpenTelemetry SDK only when an `OTEL_*` variable asks for an export.
 *
 * Each CLI runs with `NODE_OPTIONS=--import <register>`: a module resolve hook (`module.register`)
 * that appends `<pid> <url>` for every module resolved, in every node process of the run (the
 * background `up` inherits NODE_OPTIONS). The positive control proves the hook sees the
 * OpenTelemetry packages in the background `up` when telemetry is asked for.
 *
 * The CLI here is tsc's output (dist/cli/main.js), where each module is a file the hook names. The
 * published bundle keeps every module loaded on demand behind the same dynamic import, as a chunk
 * of its own (test/api/cold-import.test.ts checks the bundle's package entry).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { CLI, cleanupDetachedRun, runCli, TSC_CLI } from '../helpers/cli.js';
import { writeLoadRecorder } from '../helpers/load-recorder.js';
import { findShepherds } from '../helpers/processes.js';

const CONFIG_OR_TELEMETRY = ['/node_modules/zod/', '/node_modules/yaml/', '/node_modules/@opentelemetry/'];
const CLUSTER = ['/dist/cluster/', '/node_modules/re2js/', '/node_modules/chokidar/'];

let dir: string;
let register: string;
const pids = new Set<number>();

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'drover-cold-path-'));
  register = writeLoadRecorder(dir, { withPid: true });
  writeFileSync(path.join(dir, 'drover.yaml'), 'name: cold\nnodes:\n  a:\n    command: [sleep, "600"]\n    minUptime: 0s\n');
});

afterEach(async () => {
  await cleanupDetachedRun(pids);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The URLs each process of a CLI run resolved, by pid. */
async function runRecorded(name: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const log = path.join(dir, `${name}.log`);
  writeFileSync(log, '');
  const result = await runCli(['-f', path.join(dir, 'drover.yaml'), ...args], {
    DROVER_STATE_DIR: path.join(dir, 'state'),
    DROVER_LOAD_LOG: log,
    NODE_OPTIONS: `--import ${pathToFileURL(register).href}`,
    ...env,
  }, { cli: TSC_CLI });
  const byPid = new Map<number, string[]>();
  for (const line of readFileSync(log, 'utf8').split('\n').filter(Boolean)) {
    const [pid, url] = line.split(' ') as [string, string];
    byPid.set(Number(pid), [...(byPid.get(Number(pid)) ?? []), url]);
  }
  return { result, byPid };
}

function matching(urls: readonly string[], parts: readonly string[]): string[] {
  return [...new Set(urls.filter((url) => parts.some((part) => url.includes(part))))];
}

describe('the CLI loads only what a command uses', () => {
  test('drover --help and drover ps load no cluster, config or OpenTelemetry module', { timeout: 30_000 }, async () => {
    const help = await runRecorded('help', ['--help']);
    expect(help.result.code).toBe(0);
    const helpUrls = [...help.byPid.values()].flat();
    expect(helpUrls.some((url) => url.includes('/node_modules/yargs/'))).toBe(true); // the hook saw the CLI load
    expect(matching(helpUrls, [...CONFIG_OR_TELEMETRY, ...CLUSTER])).toEqual([]);

    // No cluster runs for this config: ps goes through the whole client path and says so.
    const ps = await runRecorded('ps', ['ps']);
    expect([ps.result.code, ps.result.stderr]).toEqual([1, expect.stringContaining('no running cluster')]);
    const psUrls = [...ps.byPid.values()].flat();
    expect(psUrls.some((url) => url.endsWith('/dist/cli/control-client.js'))).toBe(true);
    expect(matching(psUrls, [...CONFIG_OR_TELEMETRY, ...CLUSTER])).toEqual([]);
  });

  test('up --detach: the waiting process loads no cluster or OpenTelemetry code, the background up no OpenTelemetry without OTEL_* exports; with one it does', { timeout: 60_000 }, async () => {
    const runs = [
      { name: 'plain', env: {}, expectTelemetry: false },
      // Positive control: an exporter asked for loads the SDK (console: nothing leaves the process).
      { name: 'traced', env: { OTEL_TRACES_EXPORTER: 'console' }, expectTelemetry: true },
    ];
    for (const { name, env, expectTelemetry } of runs) {
      const up = await runRecorded(`up-${name}`, ['up', '--wait'], env);
      const upPid = Number(/drover up pid (\d+)/.exec(up.result.stdout)?.[1]);
      if (upPid > 0) pids.add(upPid);
      findShepherds().forEach((pid) => pids.add(pid));
      expect([up.result.code, up.result.stderr]).toEqual([0, '']);
      const down = await runCli(['down', '-f', path.join(dir, 'drover.yaml')], { DROVER_STATE_DIR: path.join(dir, 'state') });
      expect(down.code).toBe(0);

      const background = up.byPid.get(upPid) ?? [];
      expect(background.some((url) => url.endsWith('/dist/cluster/cluster.js'))).toBe(true); // the hook saw the background up
      expect(matching(background, ['/node_modules/@opentelemetry/']).length > 0).toBe(expectTelemetry);
      // It gets its options and the validated config from the waiting up: no argument parser, no
      // second config load. (The OpenTelemetry SDK's own configuration package requires yaml.)
      const secondLoad = ['/node_modules/yargs/', '/node_modules/zod/', '/dist/config/loader.js', '/dist/config/yaml.js', ...(expectTelemetry ? [] : ['/node_modules/yaml/'])];
      expect(matching(background, secondLoad)).toEqual([]);
      const waiting = [...up.byPid].filter(([pid]) => pid !== upPid).flatMap(([, urls]) => urls);
      expect(waiting.some((url) => url.endsWith('/dist/cli/up-detached.js') || url.endsWith('/dist/cli/up.js'))).toBe(true);
      // It validates the config (zod, yaml; re2js only for a config with patterns), nothing more.
      expect(matching(waiting, ['/node_modules/@opentelemetry/', '/dist/cluster/', '/node_modules/chokidar/'])).toEqual([]);
      // The background up's notice carries the cluster's state: no request to the control API
      // (no control client, no Node http) to learn how the start went.
      expect(waiting.filter((url) => url === 'node:http' || url.endsWith('/dist/cli/control-client.js'))).toEqual([]);
    }
  });
});

describe('the background up entry', () => {
  test('without the hand-over of up --detach on stdin it exits 1 with a clear error, no stack trace', () => {
    for (const input of ['', '{"options":']) {
      const result = spawnSync(process.execPath, [CLI, '--background-up'], { input, encoding: 'utf8', timeout: 20_000, env: { ...process.env, DROVER_STATE_DIR: path.join(dir, 'state') } });
      expect(result.status).toBe(1);
      expect(result.stderr).toBe(
        `drover: --background-up: expected the options and config of \`drover up --detach\` as JSON on stdin, got ${Buffer.byteLength(input)} bytes that are not (did the detaching \`drover up\` go away before it handed them over?)\n`,
      );
    }
  });

  test('a cancel from up --detach (the config did not load) starts nothing: it removes the prepared state dir and exits 0 without a word', () => {
    const stateDir = path.join(dir, 'cancelled-state');
    mkdirSync(stateDir, { mode: 0o700 });
    for (const name of ['lock', 'up.log']) writeFileSync(path.join(stateDir, name), '');
    writeFileSync(path.join(stateDir, 'up.failed.log'), 'an earlier failed run\n');
    const input = JSON.stringify({ cancelled: { file: path.join(dir, 'drover.yaml') } });
    const result = spawnSync(process.execPath, [CLI, '--background-up'], { input, encoding: 'utf8', timeout: 20_000, env: { ...process.env, DROVER_STATE_DIR: stateDir } });
    expect(result.status).toBe(0);
    expect(result.stdout + result.stderr).toBe('');
    // A $DROVER_STATE_DIR is the user's: emptied of drover's files, a kept failed log included in what stays.
    expect(readdirSync(stateDir)).toEqual(['up.failed.log']);
  });
});
