// Without a cgroup nothing of a node escapes either: the shepherd kills by freezing the whole
// descendant tree first (SIGSTOP, re-scan until no new member, SIGKILL), and the launcher is a
// subreaper that kills the trees of a shepherd that died. The manager runs as nobody in a session
// of its own (nested-manager.ts), so a containment bug cannot reach anything else.
import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.js';
import { getProcessState, isAlive } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';
import { NestedManager, type NestedMessage } from './nested-manager.js';

const runs: NestedManager[] = [];
/** Processes the bomb may add to nobody's (RLIMIT_NPROC counts all of a user's processes), and the size it must reach before it is stopped. */
const BOMB_ROOM = 250;
const BOMB_SIZE = 200;

/** Processes of uid `uid` on the machine now (/proc/<pid>/status "Uid:" real uid). */
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
afterEach(async () => {
  for (const run of runs.splice(0)) await run.cleanup();
});

async function startRun(): Promise<NestedManager> {
  const run = await NestedManager.start({ cgroup: false });
  runs.push(run);
  return run;
}

describe('without a cgroup', () => {
  it('a setsid fork bomb that ignores SIGTERM leaves no survivor and no zombie after stop()', async () => {
    const run = await startRun();
    // Every process forks a setsid'd copy of itself every 10 ms until RLIMIT_NPROC (counted over
    // all of nobody's processes, so other users of nobody keep their room; only this tree is held
    // to the limit), then keeps retrying.
    const spawned = await run.spawn(fixture('setsid-bomb', 10), { limits: { nproc: countProcessesOf(65534) + BOMB_ROOM } });
    expect(spawned.op).toBe('spawned');
    const grown = await waitFor(() => run.observe(), (pids) => pids.length >= BOMB_SIZE, { describe: `the bomb to grow to ${BOMB_SIZE} processes`, timeoutMs: 30_000 });
    expect(grown.length).toBeGreaterThanOrEqual(BOMB_SIZE);
    const result = await run.stop(1, 300);
    expect(result).toMatchObject({ signal: 'SIGKILL', forcedKill: true, error: null });
    // The shepherd exits once it has nothing left to kill: from then on nothing supervises the
    // tree, so whatever is left now stays (re-parented to init, where it would regrow).
    const shepherd = spawned.op === 'spawned' ? spawned.shepherdPid : 0;
    await waitFor(() => getProcessState(shepherd), (state) => state === null, { describe: `shepherd ${shepherd} to exit` });
    expect(run.survivors()).toEqual([]);
    // Its last reaps may race its exit; what it leaves unreaped, its parent (the launcher) reaps.
    await waitFor(() => run.zombies(), (zombies) => zombies.length === 0, { describe: 'no zombie of the bomb', timeoutMs: 2000 });
    expect(run.survivors()).toEqual([]);
    expect(run.seen.size).toBeGreaterThanOrEqual(BOMB_SIZE);
  });

  it('a grandchild that leaves with setsid and SIGKILLs the shepherd does not survive; the node is reported lost', async () => {
    const run = await startRun();
    const spawned = await run.spawn(fixture('shepherd-killer'));
    expect(spawned.op).toBe('spawned');
    // Watch the tree while it runs (pids and start times, for the zombie check) until the loss is reported.
    const exited = await waitFor(
      () => {
        run.observe();
        return run.messages.find((m) => m.op === 'exited' && m.id === 1) as Extract<NestedMessage, { op: 'exited' }> | undefined;
      },
      (m) => m !== undefined,
      { describe: 'the node to be reported lost' },
    );
    expect(exited!.result.error?.code).toBe('ERR_SHEPHERD_LOST');
    const killer = exited!.output.find((l) => l.startsWith('killer '));
    expect(killer, `output: ${exited!.output.join(' | ')}`).toBeDefined();
    // The manager kills the recorded group; the setsid'd grandchild is the launcher's (subreaper) to kill.
    const after = await waitFor(
      () => ({ survivors: run.survivors(), zombies: run.zombies() }),
      (s) => s.survivors.length === 0 && s.zombies.length === 0,
      { describe: 'no survivor of the escaped tree while the manager runs on', timeoutMs: 5000 },
    );
    expect(after).toEqual({ survivors: [], zombies: [] });
    // The manager still runs: its launcher, not its exit, ended the escaped tree.
    expect(spawned.op === 'spawned' && isAlive(spawned.launcherPid!)).toBe(true);
  });
});
