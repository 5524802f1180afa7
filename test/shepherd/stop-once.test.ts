// Each process of a node gets the stop signal exactly once, with and without a cgroup: the process
// group, the cgroup's members and the shepherd's other descendants overlap, and a process signalled
// twice runs its SIGTERM handler twice (redis logged "Received SIGTERM" twice; a Python node's
// KeyboardInterrupt cleanup was interrupted by the second one). The tree: a leader, a member of its
// group and a daemon in a session of its own (test/fixtures/signal-log.mjs), each logging every
// SIGTERM it receives and ignoring it, so the grace runs out and a second delivery is logged.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/wait-for.js';
import { getProcessIds, NestedManager } from './nested-manager.js';

const runs: NestedManager[] = [];
afterEach(async () => {
  for (const run of runs.splice(0)) await run.cleanup();
});

/**
 * Trees per case. Two SIGTERMs sent a few microseconds apart merge into one delivery when the
 * target did not run in between, so one tree may hide a duplicate; several trees do not.
 */
const TREES = 4;
const GRACE_MS = 400;

function readLog(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

interface Tree {
  readonly id: number;
  readonly log: string;
  /** Leader, group member, setsid'd daemon. */
  readonly pids: readonly [number, number, number];
}

/** Starts one signal-log tree in `run` and checks its shape: two processes in one group, one in a session of its own. */
async function startTree(run: NestedManager, index: number): Promise<Tree> {
  const log = path.join(run.tempDir, `signals-${index}.log`);
  const spawned = await run.spawn(fixture('signal-log', log), { stop: { timeoutMs: GRACE_MS } });
  if (spawned.op !== 'spawned') throw new Error(`spawn failed: ${spawned.message}`);
  const ready = await run.waitForOutput(spawned.id, /^ready /);
  const pids = ready.split(' ').slice(1).map(Number) as [number, number, number];
  run.observe();
  const [leader, member, daemon] = pids.map(getProcessIds);
  expect(member!.pgrp).toBe(leader!.pgrp);
  expect(daemon!.session).toBe(pids[2]);
  return { id: spawned.id, log, pids };
}

/** SIGTERM deliveries per role once every process of `tree` is gone (a late second delivery would be logged by then). */
async function countDeliveries(run: NestedManager, tree: Tree): Promise<Record<string, number>> {
  await waitFor(() => tree.pids.map((pid) => getProcessIds(pid)?.state ?? 'gone'), (states) => states.every((s) => s === 'gone'), {
    describe: `the processes of tree ${tree.id} to be gone`,
  });
  const roles = ['leader', 'member', 'daemon'] as const;
  const counts: Record<string, number> = { leader: 0, member: 0, daemon: 0 };
  for (const line of readLog(tree.log)) {
    const [role, pid, signal] = line.split(' ');
    const index = roles.indexOf(role as (typeof roles)[number]);
    if (signal === 'SIGTERM' && tree.pids[index] === Number(pid)) counts[role!]! += 1;
  }
  void run;
  return counts;
}

for (const cgroup of [false, true]) {
  describe(cgroup ? 'with a cgroup' : 'without a cgroup', () => {
    it('stop(): every process of the tree gets SIGTERM exactly once', async () => {
      const run = await NestedManager.start({ cgroup });
      runs.push(run);
      const trees: Tree[] = [];
      for (let i = 0; i < TREES; i++) trees.push(await startTree(run, i));
      const spawned = run.messages.find((m) => m.op === 'spawned');
      expect(spawned !== undefined && spawned.op === 'spawned' && spawned.cgroup !== null).toBe(cgroup);
      const results = await Promise.all(trees.map((tree) => run.stop(tree.id, GRACE_MS)));
      for (const result of results) expect(result).toMatchObject({ signal: 'SIGKILL', forcedKill: true });
      const counts = await Promise.all(trees.map((tree) => countDeliveries(run, tree)));
      expect(counts).toEqual(trees.map(() => ({ leader: 1, member: 1, daemon: 1 })));
    });

    it('manager hangup: every process of the tree gets SIGTERM exactly once', async () => {
      const run = await NestedManager.start({ cgroup });
      runs.push(run);
      const trees: Tree[] = [];
      for (let i = 0; i < TREES; i++) trees.push(await startTree(run, i));
      await run.kill();
      const counts = await Promise.all(trees.map((tree) => countDeliveries(run, tree)));
      expect(counts).toEqual(trees.map(() => ({ leader: 1, member: 1, daemon: 1 })));
    });
  });
}
