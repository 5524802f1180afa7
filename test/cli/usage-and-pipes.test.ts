import { mkdtempSync, writeFileSync } from 'node:fs';
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
  it('-f given twice: commands that read the config read every file (a missing one is named, exit 1); the first file names the cluster', async () => {
    const one = path.join(dir, 'one.yaml');
    writeFileSync(one, `name: one\nnodes:\n  a:\n    command: [${JSON.stringify(process.execPath)}, -e, '0']\n`);
    const two = path.join(dir, 'two.yaml');
    for (const command of [['up'], ['up', '--wait'], ['validate'], ['config', '--sources']]) {
      const result = await runCli([...command, '-f', one, '--file', two], env);
      expect(result.stderr, command.join(' ')).toMatch(new RegExp(`^drover: Cannot read config ${two}: `));
      expect(result.code, command.join(' ')).toBe(1);
    }
    const ps = await runCli(['ps', '-f', one, '-f', two], env);
    expect([ps.code, ps.stderr]).toEqual([1, expect.stringContaining(`no running cluster for ${one}`)]);
  });
});

describe('a closed stdout (`drover … | head`) ends the command as SIGPIPE ends git or ls, and leaves the cluster alone', () => {
  it('up -d, ps, logs and logs --follow with their stdout closed: killed by SIGPIPE, nothing on stderr; the cluster keeps running', { timeout: 90_000 }, async () => {
    const file = await writeRing(dir);
    const up = await runCli(['up', '--wait', '-f', file], env, { closeStdout: true, killAfterMs: 30_000 });
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
