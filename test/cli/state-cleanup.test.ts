/**
 * What an `up` leaves in its state dir: nothing after a clean down (the dir goes, the per-user dir
 * stays; a `$DROVER_STATE_DIR` is emptied, not removed; nothing but drover's own files is touched,
 * and no symlink is followed); after a failed run, its log as `up.failed.log`, which `up -d`, `ps`
 * and the next `up -d` point to instead of overwriting it.
 */
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanupDetachedRun, CliProcess, readPsRows, runCli, type CliResult } from '../helpers/cli.js';
import { fixture } from '../helpers/fixtures.js';
import { expectAllGone, findByEnv, findShepherds } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';

let dir: string;
/** `$TMPDIR` of the runs: the default state dir is `<tmp>/drover-<uid>/<config dir>-<hash>`. */
let tmp: string;
let env: NodeJS.ProcessEnv;
const pids = new Set<number>();
const ups: CliProcess[] = [];

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'drover-clean-'));
  tmp = path.join(dir, 'tmp');
  mkdirSync(tmp);
  chmodSync(tmp, 0o1777);
  env = { TMPDIR: tmp, DROVER_STATE_DIR: undefined, XDG_RUNTIME_DIR: undefined };
});

afterEach(async () => {
  for (const up of ups) if (up.isRunning) up.child.kill('SIGKILL');
  await Promise.all(ups.splice(0).map((up) => up.closed));
  await cleanupDetachedRun(pids);
});

function getDefaultStateDir(file: string): { perUser: string; state: string } {
  const absolute = path.resolve(file);
  const hash = createHash('sha256').update(absolute).digest('hex').slice(0, 12);
  const perUser = path.join(tmp, `drover-${process.getuid!()}`);
  return { perUser, state: path.join(perUser, `${path.basename(path.dirname(absolute))}-${hash}`) };
}

const GOOD = `name: clean\nnodes:\n  a:\n    command: ${JSON.stringify(fixture('forever'))}\n    ready: { log: { pattern: "^ready$" } }\n`;
const FAILING = `name: clean\nonNodeFailure: stop-cluster\nnodes:\n  a:\n    command: ${JSON.stringify(fixture('forever'))}\n    ready: { log: { pattern: never }, timeout: 300ms }\n`;

function writeConfig(yaml: string): string {
  const file = path.join(dir, 'drover.yaml');
  writeFileSync(file, yaml);
  return file;
}

async function upDetached(file: string, upEnv = env): Promise<CliResult> {
  const result = await runCli(['up', '--wait', '-f', file], upEnv, { killAfterMs: 60_000 });
  const pid = Number(/drover up pid (\d+)/.exec(result.stdout + result.stderr)?.[1]);
  if (pid > 0) pids.add(pid);
  findShepherds().forEach((p) => pids.add(p));
  return result;
}

describe('the state dir after an up', () => {
  it('a clean down removes the state dir and everything drover put there; the per-user dir stays (up -d, and up with Ctrl-C)', { timeout: 60_000 }, async () => {
    const file = writeConfig(GOOD);
    const { perUser, state } = getDefaultStateDir(file);
    const detached = await upDetached(file);
    expect(detached.code).toBe(0);
    expect(readdirSync(state).sort()).toEqual(['control.sock', 'lock', 'up.log']);
    expect((await runCli(['down', '-f', file], env)).code).toBe(0);
    await expectAllGone(pids);
    expect(existsSync(state)).toBe(false);
    expect(existsSync(perUser)).toBe(true);

    const up = new CliProcess(['up', '--no-tty', '-f', file], env);
    ups.push(up);
    await up.waitForStdout('1/1 nodes ready', 'the foreground up ready');
    expect(readdirSync(state).sort()).toEqual(['control.sock', 'lock']);
    up.child.kill('SIGINT');
    expect(await up.closed).toBe(0);
    expect(existsSync(state)).toBe(false);
  });

  it("a $DROVER_STATE_DIR is the user's: a clean down empties it of drover's files and keeps it, with what else is in it; no symlink is followed", { timeout: 60_000 }, async () => {
    const file = writeConfig(GOOD);
    const state = path.join(dir, 'state');
    mkdirSync(state, { mode: 0o700 });
    const victim = path.join(dir, 'victim.txt');
    writeFileSync(victim, 'precious\n');
    symlinkSync(victim, path.join(state, 'up.failed.log.1'));
    writeFileSync(path.join(state, 'notes.txt'), 'mine\n');
    const stateEnv = { ...env, DROVER_STATE_DIR: state };
    expect((await upDetached(file, stateEnv)).code).toBe(0);
    expect((await runCli(['down', '-f', file], stateEnv)).code).toBe(0);
    await expectAllGone(pids);
    expect(readdirSync(state)).toEqual(['notes.txt']);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
  });

  it('a failed run keeps its log as up.failed.log and says where; ps points to it; the next up -d does not overwrite it; a clean down ends it', { timeout: 90_000 }, async () => {
    const file = writeConfig(FAILING);
    const { state } = getDefaultStateDir(file);
    const failedLog = path.join(state, 'up.failed.log');
    const failed = await upDetached(file);
    expect(failed.code).toBe(2);
    expect(failed.stderr).toContain(`its log is kept as ${failedLog}\n`);
    await expectAllGone(pids);
    expect(readdirSync(state)).toEqual(['up.failed.log']);
    const log = readFileSync(failedLog, 'utf8');
    expect(log).toMatch(/^\d\d:\d\d:\d\d\.\d{3} a +\| ready$/m);
    expect(log).toMatch(/drover +\| a: FAILED: ERR_READY_TIMEOUT/);
    const ps = await runCli(['ps', '-f', file], env);
    expect([ps.code, ps.stderr]).toEqual([1, `drover: no running cluster for ${file}; the last run failed: its log is kept as ${failedLog}; start one with \`drover up -f ${file}\`\n`]);

    writeConfig(GOOD);
    expect((await upDetached(file)).code).toBe(0);
    expect(readFileSync(failedLog, 'utf8')).toBe(log);
    expect(readFileSync(path.join(state, 'up.log'), 'utf8')).not.toContain('FAILED');
    expect((await runCli(['down', '-f', file], env)).code).toBe(0);
    await expectAllGone(pids);
    expect(existsSync(state)).toBe(false);
  });

  it('up -d of a config that does not load leaves no state dir and no background up: the one it started before loading the config is cancelled', { timeout: 60_000 }, async () => {
    const file = writeConfig('name: clean\nnodes:\n  a:\n    command: 42\n');
    const { perUser, state } = getDefaultStateDir(file);
    const result = await runCli(['up', '-d', '-f', file], env, { killAfterMs: 30_000 });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('nodes.a.command');
    // up -d returns once the cancelled background up has removed the state dir and exited.
    expect(existsSync(state)).toBe(false);
    expect(existsSync(perUser)).toBe(true);
    expect(findByEnv('TMPDIR', tmp)).toEqual([]);
  });

  it('Ctrl-C while up -d still loads the config cancels the background up it started: exit 130, the state dir goes, nothing starts', { timeout: 60_000 }, async () => {
    // 5000 nodes of a profile that is not enabled: loading them takes seconds (only `a` would start).
    const hidden = Array.from({ length: 5000 }, (_, i) => `  h${i}: { command: ["true"], profiles: [hidden] }`).join('\n');
    const file = writeConfig(`name: clean\nnodes:\n  a:\n    command: ${JSON.stringify(fixture('forever'))}\n${hidden}\n`);
    const { state } = getDefaultStateDir(file);
    const up = new CliProcess(['up', '-d', '-f', file], env);
    ups.push(up);
    const isBackgroundUp = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--background-up');
    const background = await waitFor(
      () => findByEnv('TMPDIR', tmp).filter(isBackgroundUp),
      (found) => found.length > 0,
      { timeoutMs: 20_000, describe: 'the background up started before the config is loaded' },
    );
    up.child.kill('SIGINT');
    expect(await up.closed).toBe(130);
    await expectAllGone(background);
    expect(existsSync(state)).toBe(false);
    expect(findShepherds()).toEqual([]);
  });

  it('the log of a background up that was killed is kept as up.failed.log by the next up -d, not overwritten', { timeout: 60_000 }, async () => {
    const file = writeConfig(GOOD);
    const { state } = getDefaultStateDir(file);
    const first = await upDetached(file);
    expect(first.code).toBe(0);
    const upPid = Number(/drover up pid (\d+)/.exec(first.stdout)![1]);
    await readPsRows(file, env, pids);
    process.kill(upPid, 'SIGKILL');
    await expectAllGone(pids);
    const killedLog = readFileSync(path.join(state, 'up.log'), 'utf8');
    expect(killedLog).toContain('cluster clean: 1/1 nodes ready');

    const second = await upDetached(file);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain(`note: the last background \`drover up\` of this config ended without cleaning up (it was killed); its log is kept as ${path.join(state, 'up.failed.log')}\n`);
    expect(readFileSync(path.join(state, 'up.failed.log'), 'utf8')).toBe(killedLog);
    await waitFor(() => readFileSync(path.join(state, 'up.log'), 'utf8'), (text) => text.includes('1/1 nodes ready') && !text.includes(killedLog.split('\n')[0]!), { describe: 'a fresh up.log' });
    expect((await runCli(['down', '-f', file], env)).code).toBe(0);
  });
});
