import type { ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { expect } from 'vitest';
import { spawn, type ManagedProcess } from '../../process/managed-process.js';
import { getLauncherPath, getShepherdPath, SHEPHERD_IDLE_NAME } from '../../native/index.js';
import { waitFor } from './wait-for.js';

/** `/proc/<pid>/stat` state letter, or null when the pid does not exist. */
export function getProcessState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return null; // ENOENT: no such process
  }
}

/** Alive means present and not a zombie. */
export function isAlive(pid: number): boolean {
  const state = getProcessState(pid);
  return state !== null && state !== 'Z';
}

/** `/proc/<pid>/comm` (the process name), or null when the pid does not exist. */
function getComm(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trimEnd();
  } catch {
    return null;
  }
}

/** Pids of every live process running this build's shepherd binary (spares included). */
function findShepherdProcesses(): number[] {
  const exe = getShepherdPath();
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/exe`) === exe && isAlive(Number(entry))) found.push(Number(entry));
    } catch {
      // The process ended between readdir and readlink, or is not ours to inspect.
    }
  }
  return found;
}

/**
 * Whether `pid` is a spare: a shepherd still waiting for SPAWN (named SHEPHERD_IDLE_NAME) whose
 * parent is a live launcher. A spare's only peer is its manager's control socket, so it lives
 * exactly as long as a manager (test/native/launcher.test.ts proves it dies with its manager); an
 * idle shepherd whose launcher is gone is not a spare but a leak.
 */
function isSpare(pid: number): boolean {
  if (getComm(pid) !== SHEPHERD_IDLE_NAME) return false;
  try {
    const parent = getParentPid(pid);
    return readlinkSync(`/proc/${parent}/exe`) === getLauncherPath() && isAlive(parent);
  } catch {
    return false; // gone, or the parent is gone
  }
}

/**
 * Pids of every live shepherd on the machine (tests run one file at a time), except spares: the
 * launchers of live managers (this test process, a `drover up` under test) keep those started for
 * the next spawn (process/launcher-client.ts).
 */
export function findShepherds(): number[] {
  return findShepherdProcesses().filter((pid) => !isSpare(pid));
}

/** Pids of the spare shepherds of `launcherPid` (children of it still waiting for SPAWN). */
export function findSpareShepherds(launcherPid: number): number[] {
  return findShepherdProcesses().filter((pid) => isSpare(pid) && getParentPid(pid) === launcherPid);
}

/** Pids of live processes whose environment holds `KEY=value`. */
export function findByEnv(key: string, value: string): number[] {
  const needle = `${key}=${value}`;
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (environ.includes(needle) && isAlive(Number(entry))) found.push(Number(entry));
    } catch {
      // Gone already, or a kernel thread without environ.
    }
  }
  return found;
}

/** Asserts (after a bounded wait) that none of `pids` is alive. */
export async function expectAllGone(pids: Iterable<number>, timeoutMs = 5000): Promise<void> {
  const list = [...new Set(pids)];
  expect(list.length, 'expectAllGone needs pids to check').toBeGreaterThan(0);
  const alive = await waitFor(
    () => list.filter(isAlive),
    (left) => left.length === 0,
    { timeoutMs, describe: `pids ${list.join(', ')} to be gone` },
  );
  expect(alive).toEqual([]);
}

/** Asserts that no shepherd is left on the machine. */
export async function expectNoShepherds(timeoutMs = 5000): Promise<void> {
  const left = await waitFor(findShepherds, (pids) => pids.length === 0, { timeoutMs, describe: 'no shepherd left' });
  expect(left).toEqual([]);
}

/** Parent pid from `/proc/<pid>/stat` (field 4). */
export function getParentPid(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/**
 * What a spawn test started, and the afterEach that proves it is all gone: nested managers are
 * SIGKILLed (so a failing test leaves none behind), processes stopped, their pids and shepherds
 * checked gone, and no shepherd left on the machine.
 */
export interface SpawnTracker {
  /** `spawn()` that remembers the process for cleanup. */
  start(...args: Parameters<typeof spawn>): Promise<ManagedProcess>;
  readonly started: ManagedProcess[];
  /** Other pids the test saw (grandchildren, daemons) that must be gone too. */
  readonly extraPids: number[];
  /** Manager processes a test started itself. */
  readonly nestedManagers: ChildProcess[];
  cleanup(): Promise<void>;
}

export function createSpawnTracker(): SpawnTracker {
  const tracker: SpawnTracker = {
    started: [],
    extraPids: [],
    nestedManagers: [],
    async start(...args) {
      const p = await spawn(...args);
      tracker.started.push(p);
      return p;
    },
    async cleanup() {
      for (const manager of tracker.nestedManagers.splice(0)) {
        if (manager.exitCode === null && manager.signalCode === null) {
          const closed = new Promise((resolve) => manager.once('close', resolve));
          manager.kill('SIGKILL');
          await closed;
        }
      }
      const started = tracker.started.splice(0);
      await Promise.all(started.map((p) => p.stop({ timeoutMs: 1000 })));
      const pids = started.flatMap((p) => [p.pid, ...(p.shepherdPid ? [p.shepherdPid] : [])]).concat(tracker.extraPids.splice(0));
      if (pids.length > 0) await expectAllGone(pids);
      await expectNoShepherds();
    },
  };
  return tracker;
}
