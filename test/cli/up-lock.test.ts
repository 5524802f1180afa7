import { mkdtempSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanupDetachedRun, CliProcess, readPsRows, runCli } from '../helpers/cli.js';
import { fixture } from '../helpers/fixtures.js';
import { findShepherds } from '../helpers/processes.js';

let dir: string;
let state: string;
let env: NodeJS.ProcessEnv;
const ups: CliProcess[] = [];
const pids = new Set<number>();

/** One idle node, no ports: a duplicate cluster of this config would start without any clash. */
function writeIdle(): string {
  const file = path.join(dir, 'drover.yaml');
  const command = fixture('forever').map((arg) => JSON.stringify(arg)).join(', ');
  writeFileSync(file, `name: idle\nnodes:\n  i:\n    command: [${command}]\n    ready: { log: { pattern: ready } }\n`);
  return file;
}

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'drover-lock-'));
  state = path.join(dir, 'state');
  env = { DROVER_STATE_DIR: state };
});

afterEach(async () => {
  // Foreground ups first (SIGKILL: their shepherds stop the nodes), then every pid seen, detached ups included.
  for (const up of ups) if (up.isRunning) up.child.kill('SIGKILL');
  await Promise.all(ups.splice(0).map((u) => u.closed));
  await cleanupDetachedRun(pids);
});

/** `up --detach`; records the background `up`'s pid (when one started) and the shepherds. */
async function upDetached(file: string): Promise<Awaited<ReturnType<typeof runCli>>> {
  const result = await runCli(['up', '--wait', '-f', file], env, { killAfterMs: 30_000 });
  const pid = Number(/drover up pid (\d+)/.exec(result.stdout)?.[1]);
  if (pid > 0) pids.add(pid);
  findShepherds().forEach((p) => pids.add(p));
  return result;
}

describe('one `drover up` per config, even without its control socket', () => {
  it('foreground up holds the lock: with control.sock deleted, a second up (foreground or detached) is refused naming the pid', { timeout: 90_000 }, async () => {
    const file = writeIdle();
    const first = new CliProcess(['up', '--no-tty', '-f', file], env);
    ups.push(first);
    pids.add(first.child.pid!);
    await first.waitForStdout('1/1 nodes ready', 'the first up to be ready');
    await readPsRows(file, env, pids);
    findShepherds().forEach((p) => pids.add(p));
    unlinkSync(path.join(state, 'control.sock'));
    const expected = `drover: a cluster is already running for this config: drover up pid ${first.child.pid} holds ${path.join(state, 'lock')}, but its control socket ${path.join(state, 'control.sock')} is gone (deleted, or not created yet); stop it with \`kill ${first.child.pid}\` (a graceful down)\n`;
    const detached = await upDetached(file);
    expect([detached.code, detached.stderr]).toEqual([1, expected]);
    const foreground = await runCli(['up', '--no-tty', '-f', file], env, { killAfterMs: 30_000 });
    expect(foreground.killed).toBe(false);
    expect([foreground.code, foreground.stderr]).toEqual([1, expected]);
    expect(findShepherds()).toHaveLength(1); // no duplicate node was started
    const lock = statSync(path.join(state, 'lock'));
    expect([lock.isFile(), lock.mode & 0o777]).toEqual([true, 0o600]);
    expect(readFileSync(path.join(state, 'lock'), 'utf8')).toBe(`${first.child.pid}\n`);

    first.child.kill('SIGTERM');
    expect(await first.closed).toBe(0);
  });

  it('up -d: the background up holds the lock from the start; a second up -d is refused with ps/down hints while the socket lives', { timeout: 90_000 }, async () => {
    const file = writeIdle();
    const first = await upDetached(file);
    expect([first.code, first.stderr]).toEqual([0, '']);
    const upPid = Number(/drover up pid (\d+)/.exec(first.stdout)![1]);
    await readPsRows(file, env, pids);

    const second = await upDetached(file);
    expect([second.code, second.stderr]).toEqual([
      1,
      `drover: a cluster is already running for this config: drover up pid ${upPid} (control socket ${path.join(state, 'control.sock')}); see it with \`drover ps -f ${file}\`, stop it with \`drover down -f ${file}\`\n`,
    ]);
    unlinkSync(path.join(state, 'control.sock'));
    const third = await upDetached(file);
    expect(third.code).toBe(1);
    expect(third.stderr).toContain(`drover up pid ${upPid} holds ${path.join(state, 'lock')}, but its control socket`);
    expect(findShepherds()).toHaveLength(1);
    expect(readFileSync(path.join(state, 'lock'), 'utf8')).toBe(`${upPid}\n`);
    process.kill(upPid, 'SIGTERM'); // the pid `up -d` printed: the background up it started
    await cleanupDetachedRun(pids);
  });
});
