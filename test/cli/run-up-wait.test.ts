import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLI, runCli } from '../helpers/cli.js';
import { FIXTURES_DIR } from '../helpers/fixtures.js';
import { expectAllGone, findByEnv } from '../helpers/processes.js';

/** Runs the built CLI in `cwd` to completion (NO_COLOR=1). */
const runIn = (cwd: string, args: string[], env: NodeJS.ProcessEnv = {}) => runCli(args, env, { cwd });

/** One HTTP node with a readiness check. */
function writeConfig(dir: string): string {
  const file = path.join(dir, 'drover.yaml');
  writeFileSync(
    file,
    `name: runtest
nodes:
  web:
    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(path.join(FIXTURES_DIR, 'http-server.mjs'))}, "{{ports.http}}"]
    ports: [http]
    ready: { http: { url: "http://127.0.0.1:{{ports.http}}/health" }, interval: 50ms, timeout: 10s }
    stop: { timeout: 3s }
`,
  );
  return file;
}

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'drover-up-wait-'));
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('drover up --wait', () => {
  it('returns 0 once every node is ready, as docker compose up --wait does; the cluster runs in the background', async () => {
    const file = writeConfig(dir);
    const env = { DROVER_STATE_DIR: path.join(dir, 'state') };
    const up = await runIn(dir, ['up', '--wait', '-f', file], env);
    expect(up.code, up.stdout + up.stderr).toBe(0);
    expect(up.stdout).toMatch(/^cluster runtest is up in the background \(drover up pid (\d+)\): 1\/1 nodes ready$/m);
    const manager = Number(/drover up pid (\d+)/.exec(up.stdout)![1]);
    const ps = await runIn(dir, ['ps', '--json', '-f', file], env);
    const rows = JSON.parse(ps.stdout) as { name: string; state: string; pid: number }[];
    expect(rows.map((r) => [r.name, r.state])).toEqual([['web', 'ready']]);
    const down = await runIn(dir, ['down', '-f', file], env);
    expect(down.code, down.stderr).toBe(0);
    await expectAllGone([manager, ...rows.map((r) => r.pid)]);
  });
});

describe('drover up --detach', () => {
  it('returns once every node has started, not once it is ready (docker compose up -d); --wait is for ready', async () => {
    const file = path.join(dir, 'drover.yaml');
    // Without a ready check a node is ready once it has run minUptime: 60 s here, so a `-d` that
    // waited for ready would not return within the test's timeout.
    writeFileSync(
      file,
      `name: detached
nodes:
  slow:
    command: [sleep, "3600"]
    minUptime: 60s
  after:
    command: [sleep, "3600"]
    dependsOn: { slow: started }
    minUptime: 60s
  job:
    command: ["true"]
    ready: { exit: {} }
    restart: { policy: "no" }
`,
    );
    const env = { DROVER_STATE_DIR: path.join(dir, 'state') };
    const up = await runIn(dir, ['up', '-d', '-f', file], env);
    expect(up.code, up.stdout + up.stderr).toBe(0);
    expect(up.stdout).toMatch(/^cluster detached started in the background \(drover up pid (\d+)\): 2\/2 nodes started, 1\/1 job started or completed$/m);
    const manager = Number(/drover up pid (\d+)/.exec(up.stdout)![1]);
    const ps = await runIn(dir, ['ps', '--json', '-f', file], env);
    const rows = JSON.parse(ps.stdout) as { name: string; state: string; pid: number | null }[];
    expect(rows.filter((r) => r.name !== 'job').map((r) => [r.name, r.state])).toEqual([
      ['slow', 'running'],
      ['after', 'running'],
    ]);
    const down = await runIn(dir, ['down', '-f', file], env);
    expect(down.code, down.stderr).toBe(0);
    await expectAllGone([manager, ...rows.flatMap((r) => (r.pid === null ? [] : [r.pid]))]);
  });

  it('exits 2 naming the node that could not start', async () => {
    const file = path.join(dir, 'drover.yaml');
    writeFileSync(file, `name: nostart\nnodes:\n  ok:\n    command: [sleep, "3600"]\n    minUptime: 60s\n  gone:\n    command: [/nonexistent/drover-command]\n`);
    const env = { DROVER_STATE_DIR: path.join(dir, 'state') };
    const up = await runIn(dir, ['up', '-d', '-f', file], env);
    expect(up.code, up.stdout + up.stderr).toBe(2);
    expect(up.stdout).toMatch(/^cluster nostart started in the background with failed nodes \(drover up pid (\d+)\): 1\/2 nodes started; failed: gone$/m);
    const manager = Number(/drover up pid (\d+)/.exec(up.stdout)![1]);
    const ps = await runIn(dir, ['ps', '--json', '-f', file], env);
    const rows = JSON.parse(ps.stdout) as { name: string; state: string; pid: number | null }[];
    const down = await runIn(dir, ['down', '-f', file], env);
    expect(down.code, down.stderr).toBe(0);
    await expectAllGone([manager, ...rows.flatMap((r) => (r.pid === null ? [] : [r.pid]))]);
  });

  it('with onNodeFailure: stop-cluster, a node that could not start stops the cluster: exits 2 once it is stopped, naming the node', async () => {
    const file = path.join(dir, 'drover.yaml');
    writeFileSync(file, `name: strict\nonNodeFailure: stop-cluster\nnodes:\n  ok:\n    command: [sleep, "3600"]\n    minUptime: 1s\n    env: { DROVER_TEST_RUN: ${JSON.stringify(dir)} }\n  gone:\n    command: [/nonexistent/drover-command]\n`);
    const env = { DROVER_STATE_DIR: path.join(dir, 'state') };
    const up = await runIn(dir, ['up', '-d', '-f', file], env);
    expect(up.code, up.stdout + up.stderr).toBe(2);
    expect(up.stderr).toMatch(/^drover: cluster strict failed to start \(drover up pid \d+\): .*failed: gone$/m);
    expect(up.stderr).toContain('the cluster was stopped (onNodeFailure: stop-cluster)');
    const manager = Number(/drover up pid (\d+)/.exec(up.stderr)![1]);
    await expectAllGone([manager, ...findByEnv('DROVER_TEST_RUN', dir)]);
    const ps = await runIn(dir, ['ps', '-f', file], env);
    expect(ps.code).toBe(1);
  });
});
