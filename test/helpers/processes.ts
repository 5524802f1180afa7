import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { expect } from 'vitest';
import { getShepherdPath } from '../../native/index.js';
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

/** Pids of every live shepherd on the machine (tests run one file at a time). */
export function findShepherds(): number[] {
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
