import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanupDetachedRun, CliProcess, getUpPid, readPsRows, runCli } from '../helpers/cli.js';
import { fixture } from '../helpers/fixtures.js';
import { findShepherds, getProcessState, isAlive } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';

let dir: string;
let state: string;
let env: NodeJS.ProcessEnv;
const pids = new Set<number>();
const followers: CliProcess[] = [];
/** A `drover up` this test stopped with SIGSTOP: resumed before the cleanup so it can be killed and reaped. */
let stopped: number | null = null;

/**
 * Node `t` prints a numbered tick every 50 ms; node `s` takes 2.5 s to stop (SIGTERM → exit after
 * 2500 ms), so `restart s` takes longer than the 1 s client timeout the tests set.
 */
function writeConfig(): string {
  const file = path.join(dir, 'drover.yaml');
  // `$$` is a literal `$` in drover.yaml (`${VAR}` is interpolated); the ticker's JS has a template literal.
  const q = (argv: string[]) => argv.map((arg) => JSON.stringify(arg).replace(/\$/g, '$$$$')).join(', ');
  const ticker = [process.execPath, '-e', "let i = 0; console.log('ready'); setInterval(() => console.log(`tick ${++i} ${Date.now()}`), 50)"];
  writeFileSync(
    file,
    [
      'name: slow',
      'nodes:',
      `  t:\n    command: [${q(ticker)}]\n    ready: { log: { pattern: ready } }`,
      `  s:\n    command: [${q(fixture('stop-slowly', 2500))}]\n    ready: { log: { pattern: ready } }\n    stop: { timeout: 10s }`,
      '',
    ].join('\n'),
  );
  return file;
}

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'drover-timeout-'));
  state = path.join(dir, 'state');
  env = { DROVER_STATE_DIR: state, DROVER_CLIENT_TIMEOUT: '1s' };
});

afterEach(async () => {
  if (stopped !== null && isAlive(stopped)) process.kill(stopped, 'SIGCONT');
  stopped = null;
  for (const f of followers) if (f.isRunning) f.child.kill('SIGKILL');
  await Promise.all(followers.splice(0).map((f) => f.closed));
  await cleanupDetachedRun(pids);
});

async function upDetached(file: string): Promise<number> {
  const result = await runCli(['up', '--wait', '-f', file], env);
  expect([result.code, result.stderr]).toEqual([0, '']);
  const pid = await getUpPid(state);
  pids.add(pid);
  await readPsRows(file, env, pids);
  findShepherds().forEach((p) => pids.add(p));
  return pid;
}

describe('client requests time out on a manager that does not answer', () => {
  it('ps, logs, logs --follow, restart and down against a SIGSTOPped `up`: exit 1 within the timeout, naming the socket, the pid and the way out', { timeout: 120_000 }, async () => {
    const file = writeConfig();
    const upPid = await upDetached(file);
    process.kill(upPid, 'SIGSTOP'); // the background up this test started (its pid from its own API)
    stopped = upPid;
    await waitFor(() => getProcessState(upPid), (s) => s === 'T', { describe: `drover up pid ${upPid} to be stopped` });
    const socket = path.join(state, 'control.sock');
    const expected = `drover: the cluster's manager did not answer within 1 s (drover up pid ${upPid}, control socket ${socket}): it is stopped (SIGSTOP or Ctrl-Z); resume it with \`kill -CONT ${upPid}\`, or wait longer with DROVER_CLIENT_TIMEOUT=30s\n`;
    for (const args of [['ps'], ['logs', 't'], ['logs', 't', '-F'], ['restart', 's'], ['down']]) {
      const began = Date.now();
      const result = await runCli([...args, '-f', file], env, { killAfterMs: 10_000 });
      expect(result.killed, `${args.join(' ')} still waiting after 10 s`).toBe(false);
      expect([result.code, result.stderr], args.join(' ')).toEqual([1, expected]);
      expect(Date.now() - began, args.join(' ')).toBeLessThan(8000);
    }
    process.kill(upPid, 'SIGCONT');
    stopped = null;
    const rows = await readPsRows(file, env, pids);
    expect(rows.map((r) => [r.name, r.state, r.restarts])).toEqual([
      ['t', 'ready', 0],
      ['s', 'ready', 0],
    ]);
    expect((await runCli(['down', '-f', file], env)).code).toBe(0);
  });

  it('a request that takes longer than the timeout while the manager answers is not cut: restart of a slow node, logs --follow', { timeout: 90_000 }, async () => {
    const file = writeConfig();
    await upDetached(file);
    const follower = new CliProcess(['logs', 't', '-F', '-n', '1', '-f', file], env);
    followers.push(follower);
    const began = Date.now();
    const restart = await runCli(['restart', 's', '-f', file], env);
    expect([restart.code, restart.stderr]).toEqual([0, '']);
    expect(Date.now() - began).toBeGreaterThan(2500); // s took 2.5 s to stop: longer than the 1 s timeout
    await readPsRows(file, env, pids);
    findShepherds().forEach((p) => pids.add(p));
    // The follower keeps printing ticks read more than 3 timeouts after it started.
    await waitFor(
      () => follower.stdout,
      (out) => [...out.matchAll(/^tick \d+ (\d+)$/gm)].some((m) => Number(m[1]) > began + 3000),
      { timeoutMs: 15_000, describe: 'a tick read 3 s after the follower started' },
    );
    expect(follower.isRunning).toBe(true);
    expect((await runCli(['down', '-f', file], env)).code).toBe(0);
    expect(await follower.closed).toBe(0);
    expect(follower.stderr).toBe('');
  });
});
