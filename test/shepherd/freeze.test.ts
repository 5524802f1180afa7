// The shepherd's FREEZE (pause/resume without a cgroup), run as nobody in a session of its own
// (nested-manager.ts) so a walk that reached too far could only stop nobody's processes of this
// run: every process of the child's tree, setsid daemons and a setsid fork bomb included, is in
// state T after pause() and none after resume(), while the manager and the shepherd keep running.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.js';
import { getProcessState } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';
import { NestedManager } from './nested-manager.js';

const runs: NestedManager[] = [];
afterEach(async () => {
  for (const run of runs.splice(0)) await run.cleanup();
});

async function startRun(): Promise<NestedManager> {
  const run = await NestedManager.start({ cgroup: false });
  runs.push(run);
  return run;
}

function countProcessesOf(uid: number): number {
  let count = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (new RegExp(`^Uid:\\s+${uid}\\s`, 'm').test(readFileSync(`/proc/${entry}/status`, 'utf8'))) count++;
    } catch {
      // gone
    }
  }
  return count;
}

const states = (pids: number[]) => pids.map((pid) => getProcessState(pid) ?? 'gone');

describe('FREEZE without a cgroup', () => {
  it('pause stops the leader and its setsid daemon, not the manager or the shepherd; resume continues them', async () => {
    const run = await startRun();
    const spawned = await run.spawn(fixture('daemonize', 'stay'));
    if (spawned.op !== 'spawned') throw new Error(spawned.message);
    const daemon = Number((await run.waitForOutput(1, /^daemon \d+$/)).split(' ')[1]);
    const tree = [spawned.pid, daemon];
    expect(run.observe().sort()).toEqual([...tree].sort());
    expect(await run.freeze(1, true)).toMatchObject({ op: 'paused', done: true });
    expect(states(tree)).toEqual(['T', 'T']);
    expect(getProcessState(run.pid)).not.toBe('T');
    expect(getProcessState(spawned.shepherdPid)).not.toBe('T');
    expect(await run.freeze(1, false)).toMatchObject({ op: 'resumed', done: true });
    expect(states(tree).filter((s) => s === 'T')).toEqual([]);
    const result = await run.stop(1, 2000);
    expect(result).toMatchObject({ signal: 'SIGTERM', forcedKill: false, error: null });
    await waitFor(() => run.survivors(), (left) => left.length === 0, { describe: 'the tree gone after stop' });
  });

  it('pause freezes a growing setsid fork bomb whole (it stops growing), and stop() of the frozen tree leaves nothing', async () => {
    const run = await startRun();
    const spawned = await run.spawn(fixture('setsid-bomb', 10), { limits: { nproc: countProcessesOf(65534) + 250 } });
    expect(spawned.op).toBe('spawned');
    await waitFor(() => run.observe(), (pids) => pids.length >= 50, { describe: 'the bomb to grow to 50 processes', timeoutMs: 30_000 });
    expect(await run.freeze(1, true)).toMatchObject({ op: 'paused', done: true });
    const frozen = run.observe();
    const running = frozen.filter((pid) => !['T', 'Z'].includes(getProcessState(pid) ?? 'T'));
    expect(running, `of ${frozen.length} processes`).toEqual([]);
    // Frozen whole: no member can fork, so the set stays what it was.
    expect(run.observe().sort()).toEqual(frozen.sort());
    const result = await run.stop(1, 300);
    expect(result.error).toBeNull();
    const shepherd = spawned.op === 'spawned' ? spawned.shepherdPid : 0;
    await waitFor(() => getProcessState(shepherd), (state) => state === null, { describe: `shepherd ${shepherd} to exit` });
    expect(run.survivors()).toEqual([]);
  });
});

describe('a paused node whose manager dies', () => {
  it('with a cgroup: the shepherd thaws the frozen cgroup, so every process gets its SIGTERM within the grace', async () => {
    const run = await NestedManager.start({ cgroup: true });
    runs.push(run);
    const log = path.join(run.tempDir, 'signals.log');
    const spawned = await run.spawn(fixture('signal-log', log), { stop: { timeoutMs: 5000 } });
    if (spawned.op !== 'spawned') throw new Error(spawned.message);
    expect(spawned.cgroup).not.toBeNull();
    const [, leader, member, daemon] = (await run.waitForOutput(1, /^ready \d+ \d+ \d+$/)).split(' ').map(Number);
    expect(await run.freeze(1, true)).toMatchObject({ op: 'paused', done: true });
    expect(readFileSync(path.join(spawned.cgroup!, 'cgroup.events'), 'utf8')).toMatch(/^frozen 1$/m);
    await run.kill();
    // The hang-up stop: SIGTERM once to each, well before the 5 s grace would end in SIGKILL.
    const lines = await waitFor(
      () => {
        try {
          return readFileSync(log, 'utf8').trim().split('\n').sort();
        } catch {
          return [];
        }
      },
      (l) => l.length === 3,
      { describe: 'three SIGTERM lines in the log', timeoutMs: 3000 },
    );
    expect(lines).toEqual([`daemon ${daemon} SIGTERM`, `leader ${leader} SIGTERM`, `member ${member} SIGTERM`].sort());
  });
});
