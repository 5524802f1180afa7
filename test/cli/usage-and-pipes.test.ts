import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanupDetachedRun, CliProcess, getUpPid, readPsRows, runCli, writeRing } from '../helpers/cli.js';
import { findShepherds } from '../helpers/processes.js';

let dir: string;
let env: NodeJS.ProcessEnv;
const pids = new Set<number>();
const followers: CliProcess[] = [];

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'drover-pipe-'));
  env = { DROVER_STATE_DIR: path.join(dir, 'state') };
});

afterEach(async () => {
  for (const f of followers) if (f.isRunning) f.child.kill('SIGKILL');
  await Promise.all(followers.splice(0).map((f) => f.closed));
  await cleanupDetachedRun(pids);
});

describe('usage errors', () => {
  it('-f given twice is a usage error (exit 1) naming both values, for every command', async () => {
    for (const command of [['up'], ['up', '-d'], ['ps'], ['logs', 'a'], ['down'], ['validate'], ['config']]) {
      const result = await runCli([...command, '-f', 'one.yaml', '--file', 'two.yaml'], env);
      expect(result.stderr, command.join(' ')).toBe(
        'drover: Expected `-f/--file` once, got 2 values ("one.yaml", "two.yaml"); one config file per command (several files are not supported yet)\nRun `drover --help` for usage, or `drover <command> --help` for a command\'s options and examples.\n',
      );
      expect(result.code, command.join(' ')).toBe(1);
    }
  });
});

describe('a closed stdout (`drover … | head`) ends the command as SIGPIPE ends git or ls, and leaves the cluster alone', () => {
  it('up -d, ps, logs and logs --follow with their stdout closed: killed by SIGPIPE, nothing on stderr; the cluster keeps running', { timeout: 90_000 }, async () => {
    const file = await writeRing(dir);
    const up = await runCli(['up', '--detach', '-f', file], env, { closeStdout: true, killAfterMs: 30_000 });
    // The pid of the background up: from its control API, since its stdout went nowhere.
    pids.add(await getUpPid(path.join(dir, 'state')));
    const rows = await readPsRows(file, env, pids);
    findShepherds().forEach((p) => pids.add(p));
    expect([up.code, up.signal, up.stderr]).toEqual([null, 'SIGPIPE', '']);
    expect(rows.map((r) => r.state)).toEqual(['ready', 'ready', 'ready']);

    for (const args of [['ps'], ['logs', '-n', 'all'], ['logs', 'a', '-n', 'all'], ['logs', '--json'], ['logs', '-F', '-n', '5'], ['config']]) {
      const result = await runCli([...args, '-f', file], env, { closeStdout: true, killAfterMs: 20_000 });
      expect([result.code, result.signal, result.stderr], args.join(' ')).toEqual([null, 'SIGPIPE', '']);
    }
    // A follower whose reader goes away later, mid-stream.
    const follower = new CliProcess(['logs', '-F', '-n', '0', '-f', file], env);
    followers.push(follower);
    await follower.waitForStdout(/ping:/, 'a ping line in the follower');
    follower.child.stdout!.destroy();
    await follower.closed;
    expect([follower.child.signalCode, follower.stderr]).toEqual(['SIGPIPE', '']);

    const after = await readPsRows(file, env, pids);
    expect(after.map((r) => [r.state, r.pid])).toEqual(rows.map((r) => ['ready', r.pid]));
    const down = await runCli(['down', '-f', file], env);
    expect([down.code, down.stderr]).toEqual([0, '']);
  });
});
