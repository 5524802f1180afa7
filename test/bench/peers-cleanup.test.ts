/**
 * The peers bench's harness leaves nothing behind: every process a contender started (manager,
 * supervision processes, the nodes that survive the manager's SIGKILL) is killed by the bench,
 * and only a process it saw (pid AND start time) is ever signalled. The harness runs from the
 * built bench (dist/, whose CLI the drover contender runs) as `nobody` in a session of its own
 * (test/fixtures/bench-peer-run.mjs): a bug in its kill path cannot reach anything else.
 */
import { spawn as spawnChild } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isAlive } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// Loaded from dist/ at run time (typed by the sources: the typecheck runs before the build).
const peers = (await import(pathToFileURL(path.join(root, 'dist/bench/peers.js')).href)) as typeof import('../../bench/peers.js');
const proc = (await import(pathToFileURL(path.join(root, 'dist/bench/proc.js')).href)) as typeof import('../../bench/proc.js');

interface Seen {
  readonly pid: number;
  readonly starttime: number;
  readonly comm: string;
}

/** Runs the harness for `contender` with `count` nodes as nobody, in a session of its own. */
async function runAsNobody(contender: string, count: number): Promise<{ figures?: Record<string, number>; seen?: Seen[]; error?: string }> {
  const argv = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', 'setsid', process.execPath, path.join(root, 'test/fixtures/bench-peer-run.mjs'), contender, String(count)];
  const child = spawnChild(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOME: '/tmp' } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  await once(child, 'close');
  const line = stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as { figures?: Record<string, number>; seen?: Seen[]; error?: string };
  } catch {
    return { error: `no JSON from the harness (exit ${child.exitCode}): ${stdout} ${stderr}` };
  }
}

describe('bench peers harness', () => {
  it('signals only the process it saw: the same pid with another start time is left alone', async () => {
    const child = spawnChild('sleep', ['30'], { stdio: 'ignore' });
    await once(child, 'spawn');
    try {
      const stat = (await waitFor(() => proc.readStat(child.pid!), (s) => s !== null && s.comm === 'sleep', { describe: 'the sleep in /proc' }))!;
      const impostor = new proc.SeenProcesses();
      impostor.add([{ ...stat, starttime: stat.starttime + 1 }]); // the same pid, another process
      impostor.killAll();
      expect(impostor.alive()).toEqual([]);
      expect(isAlive(child.pid!)).toBe(true);
      const seen = new proc.SeenProcesses();
      seen.add([stat]);
      seen.killAll();
      await once(child, 'exit');
      expect(child.signalCode).toBe('SIGKILL');
    } finally {
      child.kill('SIGKILL');
    }
  });

  for (const contender of ['drover', 'pm2', 'supervisord'] as const) {
    it.skipIf(peers.getPeerUnavailable(contender) !== null)(`${contender}: survivors of the manager's SIGKILL are counted, then every process it started is gone`, async () => {
      const { figures, seen, error } = await runAsNobody(contender, 2);
      expect(error).toBeUndefined();
      expect(figures!.survivors2).toBe(contender === 'drover' ? 0 : 2);
      expect(figures!.up2Ms).toBeGreaterThan(0);
      expect(figures!.pss2MiB).toBeGreaterThan(0);
      // The start's CPU by part: the manager and the nodes' own exec always used some; only drover
      // has a layer between them (its launcher and shepherds).
      expect(figures!.startCpuManager2Ms).toBeGreaterThan(0);
      expect(figures!.startCpuNodes2Ms).toBeGreaterThan(0);
      if (contender === 'drover') expect(figures!.startCpuLayer2Ms).toBeGreaterThan(0);
      else expect(figures!.startCpuLayer2Ms).toBe(0);
      expect(seen!.filter((p) => p.comm === 'sleep')).toHaveLength(2);
      // Gone, not zombies: no pid of them names the same process any more.
      await waitFor(
        () => seen!.filter((p) => proc.readStat(p.pid)?.starttime === p.starttime).map((p) => `${p.pid} ${p.comm} ${proc.readStat(p.pid)?.state}`),
        (left) => left.length === 0,
        { describe: `every process ${contender} started to be gone` },
      );
    });
  }
});
