import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanupDetachedRun, getUpPid, readPsRows, runCli } from '../helpers/cli.js';
import { expectAllGone, findShepherds, isAlive } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';

/** The documented cap of `up.log` (and of `up.log.1`). */
const UP_LOG_MAX_BYTES = 10 * 1024 * 1024;

let dir: string;
let state: string;
let env: NodeJS.ProcessEnv;
const pids = new Set<number>();

/**
 * Node `w` writes `bytes` of 100-byte lines on SIGUSR1 (then `burst done`); node `i` idles. The
 * nodes write no files, so a file-size limit on the cluster only hits drover's own up.log.
 */
function writeConfig(bytes: number): string {
  const file = path.join(dir, 'drover.yaml');
  const script = [
    "const { writeSync } = require('node:fs');",
    `const chunk = Buffer.from(('y'.repeat(99) + '\\n').repeat(640));`,
    'process.on("SIGUSR1", () => {',
    `  for (let left = ${bytes}; left > 0; ) left -= writeSync(1, chunk, 0, Math.min(chunk.length, left));`,
    "  writeSync(1, 'burst done\\n');",
    '});',
    "writeSync(1, 'ready\\n');",
    'setInterval(() => {}, 1 << 30);',
  ].join(' ');
  const idle = "console.log('ready'); setInterval(() => {}, 1 << 30)";
  writeFileSync(
    file,
    [
      'name: logs',
      'nodes:',
      `  w:\n    command: [${JSON.stringify(process.execPath)}, -e, ${JSON.stringify(script)}]\n    ready: { log: { pattern: ready } }`,
      `  i:\n    command: [${JSON.stringify(process.execPath)}, -e, ${JSON.stringify(idle)}]\n    ready: { log: { pattern: ready } }`,
      '',
    ].join('\n'),
  );
  return file;
}

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'drover-uplog-'));
  state = path.join(dir, 'state');
  env = { DROVER_STATE_DIR: state };
});

afterEach(() => cleanupDetachedRun(pids));

/** `up --detach` under `prefix` (e.g. prlimit); records the background up and the shepherds. */
async function upDetached(file: string, prefix: string[] = []): Promise<{ stdout: string; upPid: number }> {
  const result = await runCli(['up', '--wait', '-f', file], env, { prefix, killAfterMs: 30_000 });
  const upPid = await getUpPid(state).catch(() => 0);
  if (upPid > 0) pids.add(upPid);
  findShepherds().forEach((p) => pids.add(p));
  expect([result.code, result.stderr]).toEqual([0, '']);
  return { stdout: result.stdout, upPid };
}

/** Sends SIGUSR1 to node w and waits until its `burst done` is in its ring buffer. */
async function burst(file: string): Promise<void> {
  expect((await runCli(['kill', 'w', '-s', 'USR1', '-f', file], env)).code).toBe(0);
  await waitFor(async () => (await runCli(['logs', 'w', '-n', '1', '-f', file], env)).stdout, (out) => out === 'burst done\n', {
    timeoutMs: 60_000,
    intervalMs: 250,
    describe: 'node w to finish its burst',
  });
}

describe('up.log: capped and rotated; a write error never stops the cluster', () => {
  it('25 MB of node output: up.log and up.log.1 stay within 10 MiB each, and the newest lines are in up.log', { timeout: 120_000 }, async () => {
    const file = writeConfig(25_000_000);
    const { upPid } = await upDetached(file);
    await burst(file);
    const log = path.join(state, 'up.log');
    await waitFor(() => readFileSync(log, 'utf8'), (text) => text.includes('w      | burst done\n'), { describe: 'burst done in up.log' });
    const sizes = [statSync(log).size, statSync(`${log}.1`).size];
    expect(sizes.every((size) => size <= UP_LOG_MAX_BYTES), `sizes ${sizes.join(', ')}`).toBe(true);
    expect(sizes[1]).toBeGreaterThan(UP_LOG_MAX_BYTES / 2);
    expect(statSync(`${log}.1`).mode & 0o777).toBe(0o600);
    expect(existsSync(`${log}.2`)).toBe(false);
    const rows = await readPsRows(file, env, pids);
    expect(rows.map((r) => r.state)).toEqual(['ready', 'ready']);
    expect((await runCli(['down', '-f', file], env)).code).toBe(0);
    // A clean down leaves no log behind (a failed run would keep it as up.failed.log).
    await expectAllGone([upPid]);
    expect([existsSync(log), existsSync(`${log}.1`)]).toEqual([false, false]);
  });

  it('a file-size limit hit while running (EFBIG): the nodes keep running, ps reports it once, up.log starts over with a line saying what was lost', { timeout: 120_000 }, async () => {
    const file = writeConfig(3_000_000);
    // RLIMIT_FSIZE of 1 MiB on `up -d` and the background up it starts: writes past it fail with EFBIG.
    const { upPid } = await upDetached(file, ['prlimit', `--fsize=${1024 * 1024}`, '--']);
    await burst(file);
    expect(isAlive(upPid)).toBe(true);
    const rows = await readPsRows(file, env, pids);
    expect(rows.map((r) => [r.name, r.state])).toEqual([
      ['w', 'ready'],
      ['i', 'ready'],
    ]);
    const ps = await runCli(['ps', '-f', file], env);
    expect(ps.code).toBe(0);
    expect(ps.stderr).toMatch(
      new RegExp(`^drover: warning: the output log ${escape(path.join(state, 'up.log'))} could not be written \\(EFBIG: file too large, first at \\d\\d:\\d\\d:\\d\\d\\); \\d+ lines lost in all; the cluster keeps running\\n$`),
    );
    // The next line written after the error says what was lost.
    expect((await runCli(['restart', 'i', '-f', file], env)).code).toBe(0);
    await waitFor(() => readFileSync(path.join(state, 'up.log'), 'utf8'), (text) => /drover \| up\.log: \d+ lines lost: EFBIG: file too large/.test(text), {
      describe: 'the lost-lines line in the new up.log',
    });
    expect((await runCli(['down', '-f', file], env)).code).toBe(0);
  });

  it('a disk already full at start (no byte can be written): up -d says the cluster is up and warns; it keeps running', { timeout: 90_000 }, async () => {
    const file = writeConfig(1000);
    const { stdout, upPid } = await upDetached(file, ['prlimit', '--fsize=0', '--']);
    expect(stdout).toMatch(/^cluster logs is up in the background \(drover up pid \d+\): 2\/2 nodes ready$/m);
    expect(stdout).toMatch(/^warning: the output log .*up\.log could not be written \(EFBIG: file too large\); the cluster keeps running; read the nodes' output with `drover logs -f /m);
    expect(statSync(path.join(state, 'up.log')).size).toBe(0);
    const rows = await readPsRows(file, env, pids);
    expect(rows.map((r) => r.state)).toEqual(['ready', 'ready']);
    expect(isAlive(upPid)).toBe(true);
    expect((await runCli(['down', '-f', file], env)).code).toBe(0);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
