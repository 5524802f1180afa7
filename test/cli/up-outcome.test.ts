/**
 * What `up` and `up --detach` say about how the start went, and the lines of the commands around
 * it: a telemetry endpoint that cannot listen is an error at start; a start where nodes failed says
 * so and exits 2 (the manager keeps running with `onNodeFailure: continue`, stops with
 * `stop-cluster`); a completed job is counted as completed, a crash-looping node never as ready;
 * `stop` prints one word per node; replicas added at run time keep the prefix column aligned.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanupDetachedRun, readPsRows, runCli, type CliResult } from '../helpers/cli.js';
import { fixture } from '../helpers/fixtures.js';
import { expectAllGone, findShepherds } from '../helpers/processes.js';

let dir: string;
let env: NodeJS.ProcessEnv;
const pids = new Set<number>();
const holders: Server[] = [];

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'drover-outcome-'));
  env = { DROVER_STATE_DIR: path.join(dir, 'state') };
});

afterEach(async () => {
  await Promise.all(holders.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
  await cleanupDetachedRun(pids);
});

function writeConfig(yaml: string): string {
  const file = path.join(dir, 'drover.yaml');
  writeFileSync(file, yaml);
  return file;
}

/** `up --detach`; the background up's pid (when it printed one) and every shepherd go to the leak check. */
async function upDetached(file: string): Promise<CliResult> {
  const result = await runCli(['up', '--wait', '-f', file], env, { killAfterMs: 60_000 });
  const pid = Number(/drover up pid (\d+)/.exec(result.stdout + result.stderr)?.[1]);
  if (pid > 0) pids.add(pid);
  findShepherds().forEach((p) => pids.add(p));
  return result;
}

/** A TCP listener on 127.0.0.1 held by this test process: a port someone else uses. */
async function holdPort(): Promise<number> {
  const server = createServer();
  holders.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return (server.address() as { port: number }).port;
}

const FOREVER = (name: string) => `  ${name}:\n    command: ${JSON.stringify(fixture('forever'))}\n    ready: { log: { pattern: "^ready$" } }\n`;

describe('up and up --detach say how the start went', () => {
  it('the Prometheus port is taken: up and up -d exit 1 naming the address and the process holding it; nothing is left running', { timeout: 60_000 }, async () => {
    const port = await holdPort();
    const file = writeConfig(`name: busy\ntelemetry: { prometheus: { port: ${port} } }\nnodes:\n${FOREVER('a')}`);
    const expected = `the Prometheus metrics endpoint cannot listen on 127.0.0.1:${port}: the port is in use (EADDRINUSE) by pid ${process.pid} (`;

    const foreground = await runCli(['up', '--no-tty', '-f', file], env, { killAfterMs: 30_000 });
    expect(foreground.killed).toBe(false);
    expect(foreground.stderr).toContain(`drover: ${expected}`);
    expect(foreground.stderr).toContain(`choose another one with telemetry.prometheus.port in ${file}`);
    expect(foreground.code).toBe(1);
    expect(foreground.stdout).not.toMatch(/a: ready/);

    const detached = await upDetached(file);
    expect(detached.killed).toBe(false);
    expect(detached.stderr).toContain(expected);
    expect(detached.code).toBe(1);
    expect(findShepherds()).toEqual([]);
    const ps = await runCli(['ps', '-f', file], env);
    expect(ps.code).toBe(1);
    expect(ps.stderr).toContain('no running cluster');
  });

  it('a start that fails as a whole (no port to lease): up and up --wait stop, exit 2 and say why instead of waiting forever', { timeout: 60_000 }, async () => {
    // The one port of DROVER_PORT_RANGE is held by this process: nothing can be leased, nothing starts.
    const port = await holdPort();
    const file = writeConfig(`name: noport\nnodes:\n  a:\n    command: ${JSON.stringify(fixture('forever'))}\n    ports: [http]\n`);
    const noPort = { ...env, DROVER_PORT_RANGE: `${port}-${port}` };
    const expected = `no free port for noport/a port http in DROVER_PORT_RANGE=${port}-${port}`;

    const foreground = await runCli(['up', '--no-tty', '-f', file], noPort, { killAfterMs: 20_000 });
    expect(foreground.killed).toBe(false);
    expect(foreground.stdout + foreground.stderr).toContain(expected);
    expect(foreground.code).toBe(2);

    const detached = await runCli(['up', '--wait', '-f', file], noPort, { killAfterMs: 20_000 });
    const pid = Number(/drover up pid (\d+)/.exec(detached.stdout + detached.stderr)?.[1]);
    if (pid > 0) pids.add(pid);
    expect(detached.killed).toBe(false);
    expect(detached.stdout + detached.stderr).toContain(expected);
    expect(detached.code).toBe(2);
    expect(findShepherds()).toEqual([]);
    const ps = await runCli(['ps', '-f', file], env);
    expect(ps.stderr).toContain('no running cluster');
  });

  it('every node failed: up -d says the start failed, exits 2, and with onNodeFailure: continue the manager keeps running to inspect and retry', { timeout: 60_000 }, async () => {
    const file = writeConfig(`name: dud\nnodes:\n  api:\n    command: ${JSON.stringify(fixture('forever'))}\n    ready: { log: { pattern: never }, timeout: 500ms }\n`);
    const detached = await upDetached(file);
    expect(detached.stdout).toMatch(/^cluster dud failed to start in the background \(drover up pid \d+\): 0\/1 nodes ready; failed: api$/m);
    expect(detached.stdout).not.toContain('is up in the background');
    expect(detached.stdout).toMatch(/^api: failed: ERR_READY_TIMEOUT: /m);
    expect(detached.stdout).toContain('drover up keeps running (onNodeFailure: continue)');
    expect(detached.code).toBe(2);
    const rows = await readPsRows(file, env, pids);
    expect(rows.map((r) => [r.name, r.state])).toEqual([['api', 'failed']]);
    expect((await runCli(['down', '-f', file], env)).code).toBe(0);
  });

  it('onNodeFailure: stop-cluster: a node failing at start stops the cluster; up -d exits 2 and says so', { timeout: 60_000 }, async () => {
    const file = writeConfig(
      `name: strict\nonNodeFailure: stop-cluster\nnodes:\n${FOREVER('ok')}  api:\n    command: ${JSON.stringify(fixture('forever'))}\n    ready: { log: { pattern: never }, timeout: 500ms }\n`,
    );
    const detached = await upDetached(file);
    expect(detached.stderr, JSON.stringify(detached)).toMatch(/^drover: cluster strict failed to start \(drover up pid \d+\): 1\/2 nodes ready; failed: api$/m);
    expect(detached.stderr).toMatch(/^api: failed: ERR_READY_TIMEOUT: node api: not ready after \d+ ms/m);
    expect(detached.stderr).toContain(`the cluster was stopped (onNodeFailure: stop-cluster); its log is kept as ${path.join(dir, 'state', 'up.failed.log')}\n`);
    expect(detached.stderr).not.toContain('ready\n'); // no node output quoted: the failure says why
    expect(detached.code).toBe(2);
    await expectAllGone(pids);
    const ps = await runCli(['ps', '-f', file], env);
    expect(ps.code).toBe(1);
  });

  it('a job that completed counts as completed, not as a failed node: up -d exits 0', { timeout: 60_000 }, async () => {
    const file = writeConfig(
      `name: jobs\nnodes:\n  migrate:\n    command: ${JSON.stringify(fixture('exit-with', 0))}\n    ready: { exit: { code: 0 } }\n${FOREVER('api')}    dependsOn: { migrate: completed-successfully }\n`,
    );
    const detached = await upDetached(file);
    expect(detached.stdout).toMatch(/^cluster jobs is up in the background \(drover up pid \d+\): 1\/1 nodes ready, 1\/1 job completed$/m);
    expect(detached.code).toBe(0);
    expect((await runCli(['down', '-f', file], env)).code).toBe(0);
  });

  it('a crash-looping node without a readiness check never counts as ready: up -d says it failed', { timeout: 60_000 }, async () => {
    const file = writeConfig(
      `name: loop\nnodes:\n  flaky:\n    command: ${JSON.stringify(fixture('exit-with', 1, 100))}\n    restart: { policy: on-failure, backoff: { initial: 10ms, max: 20ms }, maxRestarts: 2, window: 1m }\n`,
    );
    const detached = await upDetached(file);
    expect(detached.stdout).toMatch(/: 0\/1 nodes ready; failed: flaky$/m);
    expect(detached.stdout).toMatch(/^flaky: failed: ERR_RESTART_LIMIT: /m);
    expect(detached.code).toBe(2);
    const log = readFileSync(path.join(dir, 'state', 'up.log'), 'utf8');
    expect(log).not.toMatch(/flaky: ready/);
    expect((await runCli(['down', '-f', file], env)).code).toBe(0);
  });

  it('stop prints one word per node; a replica added by scale keeps the prefix column aligned in up.log and logs', { timeout: 60_000 }, async () => {
    const gateway = `  gateway:\n    command: ["sh", "-c", "echo hello $DROVER_REPLICA; exec sleep 60"]\n    ready: { log: { pattern: hello } }\n`;
    const file = writeConfig(`name: cols\nnodes:\n${gateway}${FOREVER('db')}`);
    expect((await upDetached(file)).code).toBe(0);
    const scale = await runCli(['scale', 'gateway', '2', '-f', file], env);
    expect(scale.code).toBe(0);
    findShepherds().forEach((p) => pids.add(p));
    await readPsRows(file, env, pids);

    const logs = await runCli(['logs', '-f', file], env);
    const prefixes = logs.stdout.trimEnd().split('\n').map((line) => line.indexOf(' | '));
    expect(new Set(prefixes), logs.stdout).toEqual(new Set([prefixes[0]]));
    const upLog = readFileSync(path.join(dir, 'state', 'up.log'), 'utf8');
    const columns = upLog.trimEnd().split('\n').map((line) => line.indexOf(' | '));
    expect(new Set(columns.slice(columns.length - 3)), upLog).toEqual(new Set([columns.at(-1)]));
    expect(upLog).toMatch(/^\d\d:\d\d:\d\d\.\d{3} gateway\[1\] \| hello 1$/m);
    expect(upLog).toMatch(/^\d\d:\d\d:\d\d\.\d{3} drover {5}\| gateway\[1\]: ready/m);

    const stop = await runCli(['stop', 'gateway', 'db', '-f', file], env);
    expect([stop.code, stop.stdout, stop.stderr]).toEqual([0, 'gateway: stopped (2 replicas)\ndb: stopped\n', '']);
    expect((await runCli(['down', '-f', file], env)).code).toBe(0);
  });
});
