/**
 * The state dir's lock when the `up` that held it cleans up on its way out (it removes the lock
 * file, still holding it, then the dir): a starting `up` that opened the old lock file, or whose
 * state dir went away, must never end up holding a lock nobody else can see. The race is made
 * deterministic by running the exiting holder's cleanup inside the real flock call (a seam of our
 * own addon; the flock itself is real).
 */
import { existsSync, mkdtempSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

/** Runs once, inside the next lockFile call, before the real flock: what another process does meanwhile. */
let beforeNextLock: (() => void) | null = null;

vi.mock('../../native/index.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../native/index.js')>();
  return {
    ...real,
    lockFile: (fd: number, options?: Parameters<typeof real.lockFile>[1]) => {
      const race = beforeNextLock;
      beforeNextLock = null;
      race?.();
      return real.lockFile(fd, options);
    },
  };
});

const { acquireStateLock, getStatePaths, prepareStateDir, removeStateDir } = await import('../../cli/state-dir.js');

let dir: string;
const held: { release(): void }[] = [];

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'drover-lock-'));
  beforeNextLock = null;
});

afterEach(() => {
  for (const lock of held.splice(0)) lock.release();
});

function paths() {
  return prepareStateDir(getStatePaths(path.join(dir, 'drover.yaml'), { TMPDIR: dir }));
}

describe('the state lock while the last holder removes it', () => {
  it('a lock file unlinked between open and flock is not a lock: the starting up takes the file the path names now, and stays the only holder', async () => {
    const statePaths = paths();
    // The exiting up removes the lock file after we opened it (between our open and our flock).
    beforeNextLock = () => unlinkSync(statePaths.lock);
    const first = await acquireStateLock(statePaths);
    expect(first.lock).not.toBeNull();
    held.push(first.lock!);
    expect(existsSync(statePaths.lock)).toBe(true);
    // Anyone else now finds the lock held.
    const second = await acquireStateLock(statePaths);
    expect(second.lock).toBeNull();
  });

  it('a state dir removed between prepare and open is created again', async () => {
    const statePaths = paths();
    removeStateDir(statePaths);
    expect(existsSync(statePaths.dir)).toBe(false);
    const attempt = await acquireStateLock(statePaths);
    expect(attempt.lock).not.toBeNull();
    held.push(attempt.lock!);
    expect(existsSync(statePaths.lock)).toBe(true);
  });

  it('the holder removes the lock file and the dir while holding it; the next up takes a fresh lock', async () => {
    const statePaths = paths();
    const first = await acquireStateLock(statePaths);
    expect(first.lock).not.toBeNull();
    expect(removeStateDir(statePaths)).toBe(true);
    first.lock!.release();
    const next = await acquireStateLock(statePaths);
    expect(next.lock).not.toBeNull();
    held.push(next.lock!);
    expect((await acquireStateLock(statePaths)).lock).toBeNull();
  });
});

