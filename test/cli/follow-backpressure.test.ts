import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanupDetachedRun, CliProcess, getUpPid, readPsRows, runCli } from '../helpers/cli.js';
import { findShepherds, getProcessState, isAlive } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';

/** What the spam node writes each time it is told to (SIGUSR1): 64 MB of 100-byte lines. */
const SPAM_BYTES = 64_000_000;
/**
 * Bound on the manager's peak RSS growth over the first 64 MB with two followers that do not
 * read. Most of it is V8's heap sizing itself to the garbage of per-line events (two followers
 * that read cost as much); each follower's own share is at most its 1 MiB bound plus the socket
 * buffers. Without a bound each follower holds the whole spam as JSON (~110 MB each).
 */
const MAX_GROWTH_BYTES = 192 * 1024 * 1024;
/** Bound on the peak RSS growth over a second 64 MB: none of the first was kept. */
const MAX_SECOND_GROWTH_BYTES = 32 * 1024 * 1024;

let dir: string;
let state: string;
let env: NodeJS.ProcessEnv;
const pids = new Set<number>();
const followers: CliProcess[] = [];
let suspended: number | null = null;

/** `$$` is a literal `$` in drover.yaml (`${VAR}` is interpolated). `spam` writes SPAM_BYTES of lines on each SIGUSR1 (blocking writes to its stdout pipe), then `spam done <n>`. */
function writeConfig(): string {
  const file = path.join(dir, 'drover.yaml');
  const script = [
    "const { writeSync } = require('node:fs');",
    `const chunk = Buffer.from(('x'.repeat(99) + '\\n').repeat(640)); let bursts = 0;`,
    'process.on("SIGUSR1", () => {',
    `  for (let left = ${SPAM_BYTES}; left > 0; ) left -= writeSync(1, chunk, 0, Math.min(chunk.length, left));`,
    "  writeSync(1, `spam done ${++bursts}\\n`);",
    '});',
    "writeSync(1, 'ready\\n');",
    'setInterval(() => {}, 1 << 30);',
  ].join(' ');
  writeFileSync(file, `name: spam\nnodes:\n  spam:\n    command: [${JSON.stringify(process.execPath)}, -e, ${JSON.stringify(script).replace(/\$/g, '$$$$')}]\n    ready: { log: { pattern: ready } }\n`);
  return file;
}

/** VmRSS or VmHWM (peak) of `pid`, in bytes. */
function getMemory(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/** A raw follower of the API (`/v1/nodes/spam/logs?follow=1`) that reads the first line, then stops reading. */
function startRawFollower(): Promise<{ res: http.IncomingMessage; request: http.ClientRequest }> {
  return new Promise((resolve, reject) => {
    const request = http.request({ socketPath: path.join(state, 'control.sock'), path: '/v1/nodes/spam/logs?follow=1&n=1' }, (res) => {
      res.once('data', () => {
        res.pause(); // from here on nothing is read: the socket's buffers fill, then the server's
        resolve({ res, request });
      });
    });
    request.on('error', reject);
    request.end();
  });
}

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'drover-follow-'));
  state = path.join(dir, 'state');
  env = { DROVER_STATE_DIR: state };
});

afterEach(async () => {
  if (suspended !== null && isAlive(suspended)) process.kill(suspended, 'SIGCONT');
  suspended = null;
  for (const f of followers) if (f.isRunning) f.child.kill('SIGKILL');
  await Promise.all(followers.splice(0).map((f) => f.closed));
  await cleanupDetachedRun(pids);
});

describe('logs --follow: a follower that does not read costs the manager bounded memory', () => {
  it('a suspended `logs -F` and a raw client that stopped reading, on 2 × 64 MB of output: bounded RSS growth, then "N lines skipped" once they read again', { timeout: 120_000 }, async () => {
    const file = writeConfig();
    const up = await runCli(['up', '--wait', '-f', file], env);
    expect([up.code, up.stderr]).toEqual([0, '']);
    const upPid = await getUpPid(state);
    pids.add(upPid);
    await readPsRows(file, env, pids);
    findShepherds().forEach((p) => pids.add(p));

    // Follower 1: `drover logs -F`, suspended like a Ctrl-Z once it is following.
    const cli = new CliProcess(['logs', 'spam', '-F', '-n', '1', '-f', file], env);
    followers.push(cli);
    await cli.waitForStdout('ready\n', 'the CLI follower to print the backlog line');
    process.kill(cli.child.pid!, 'SIGSTOP');
    suspended = cli.child.pid!;
    await waitFor(() => getProcessState(cli.child.pid!), (s) => s === 'T', { describe: 'the CLI follower to be stopped' });
    // Follower 2: a raw API client that stops reading.
    const raw = await startRawFollower();

    const burst = async (n: number) => {
      expect((await runCli(['kill', 'spam', '-s', 'USR1', '-f', file], env)).code).toBe(0);
      await waitFor(
        async () => (await runCli(['logs', 'spam', '-n', '1', '-f', file], env)).stdout,
        (out) => out === `spam done ${n}\n`,
        { timeoutMs: 60_000, intervalMs: 250, describe: `the spam node to finish its burst ${n} of 64 MB` },
      );
    };
    const before = getMemory(upPid, 'VmRSS');
    await burst(1);
    const afterFirst = getMemory(upPid, 'VmHWM');
    expect(afterFirst - before, `manager peak RSS grew by ${((afterFirst - before) / 1048576).toFixed(1)} MiB over the first 64 MB`).toBeLessThan(MAX_GROWTH_BYTES);
    await burst(2);
    const afterSecond = getMemory(upPid, 'VmHWM');
    expect(afterSecond - afterFirst, `manager peak RSS grew by ${((afterSecond - afterFirst) / 1048576).toFixed(1)} MiB over the second 64 MB`).toBeLessThan(MAX_SECOND_GROWTH_BYTES);
    expect((await readPsRows(file, env, pids))[0]!.state).toBe('ready'); // the node was never blocked

    // Both read again: each sees what it missed as one marker, then new lines.
    process.kill(cli.child.pid!, 'SIGCONT');
    suspended = null;
    await waitFor(() => cli.stderr, (err) => /^drover: \d+ lines of spam skipped: this follower read more slowly than the node wrote/m.test(err), {
      timeoutMs: 30_000,
      describe: 'the skipped-lines marker on the CLI follower',
    });
    let rawText = '';
    raw.res.setEncoding('utf8');
    raw.res.on('data', (text: string) => (rawText += text));
    raw.res.resume();
    const marker = await waitFor(
      () => rawText.split('\n').find((line) => line.includes('"skipped"')),
      (line) => line !== undefined,
      { timeoutMs: 30_000, describe: 'a skipped marker on the raw follower' },
    );
    const parsed = JSON.parse(marker!) as { skipped: number; nodes: Record<string, number>; time: number };
    expect(parsed.skipped).toBeGreaterThan(0);
    expect(parsed.nodes).toEqual({ spam: parsed.skipped });
    raw.request.destroy();

    expect((await runCli(['down', '-f', file], env)).code).toBe(0);
    expect(await cli.closed).toBe(0);
  });
});
