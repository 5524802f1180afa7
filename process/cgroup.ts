import { mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isProcessAlive } from './owned-signals.js';

/**
 * cgroup v2 containment, detected at run time.
 *
 * Where the manager's own cgroup v2 directory is writable (root, or a systemd delegated scope),
 * it makes one directory per manager, `drover-<pid>`, beside itself, and every child gets a leaf
 * inside it that its shepherd creates, joins before exec and removes after `cgroup.kill`. Where it
 * is not writable, drover says so once (through `warn`) and relies on process groups plus the
 * shepherd's subreaper walk. `DROVER_CGROUP=off` turns cgroups off; `DROVER_CGROUP=<dir>` names
 * the parent directory to use instead of the manager's own cgroup.
 *
 * Idea: systemd's per-unit cgroups and `cgroup.kill` (Linux 5.14); testcontainers' Ryuk does the
 * same job for containers only.
 */
export interface CgroupSupport {
  /** Directory that holds this manager's leaves, or null when cgroups are not used. */
  readonly root: string | null;
  /** Why cgroups are not used (for the one-time notice), or null. */
  readonly reason: string | null;
}

let support: CgroupSupport | undefined;
let leafCounter = 0;
let warned = false;

/** Finds the mount point of the cgroup2 file system in /proc/self/mountinfo. */
export function getCgroup2Mount(mountinfo: string): string | null {
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (right?.split(' ')[0] === 'cgroup2') return left!.split(' ')[4]!.replace(/\\040/g, ' ');
  }
  return null;
}

/** The process's cgroup v2 path (`0::/path` in /proc/self/cgroup), or null. */
export function getOwnCgroupPath(procCgroup: string): string | null {
  const line = procCgroup.split('\n').find((l) => l.startsWith('0::'));
  return line === undefined ? null : line.slice(3);
}

/** Removes `drover-<pid>` directories of managers that died (SIGKILL leaves them behind). */
function removeStaleRoots(parent: string): void {
  for (const entry of readdirSync(parent)) {
    const match = /^drover-(\d+)$/.exec(entry);
    if (match === null || Number(match[1]) === process.pid || isProcessAlive(Number(match[1]))) continue;
    const dir = path.join(parent, entry);
    try {
      for (const leaf of readdirSync(dir, { withFileTypes: true })) {
        if (!leaf.isDirectory()) continue;
        // A shepherd that outlived its manager is still cleaning up; cgroup.kill makes sure.
        writeFileSync(path.join(dir, leaf.name, 'cgroup.kill'), '1');
        rmdirSync(path.join(dir, leaf.name));
      }
      rmdirSync(dir);
    } catch {
      // EBUSY: members still exiting; the next manager start retries.
    }
  }
}

/** Detects (once per process) whether cgroup v2 containment can be used. */
export function getCgroupSupport(): CgroupSupport {
  if (support !== undefined) return support;
  const setting = process.env.DROVER_CGROUP;
  if (setting === 'off' || setting === '0') {
    support = { root: null, reason: 'DROVER_CGROUP=off' };
    return support;
  }
  let parent: string;
  try {
    if (setting !== undefined && setting !== '') {
      parent = path.resolve(setting);
    } else {
      const mount = getCgroup2Mount(readFileSync('/proc/self/mountinfo', 'utf8'));
      const own = getOwnCgroupPath(readFileSync('/proc/self/cgroup', 'utf8'));
      if (mount === null || own === null) {
        support = { root: null, reason: 'no cgroup v2 hierarchy is mounted' };
        return support;
      }
      parent = path.join(mount, own);
    }
    removeStaleRoots(parent);
    const root = path.join(parent, `drover-${process.pid}`);
    mkdirSync(root, { recursive: true });
    // Refuse a directory that is not a cgroup (a typo in DROVER_CGROUP would make plain dirs).
    readFileSync(path.join(root, 'cgroup.procs'));
    process.once('exit', () => {
      try {
        rmdirSync(root);
      } catch {
        // Leaves still draining (EBUSY/ENOTEMPTY): the next manager's removeStaleRoots takes it.
      }
    });
    support = { root, reason: null };
  } catch (error) {
    support = { root: null, reason: `cgroup v2 is not writable here (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})` };
  }
  return support;
}

/**
 * A fresh leaf path for one child (created by its shepherd), or null without cgroup support. The
 * first call without support reports the reason once through `warn`.
 */
export function createCgroupLeafPath(label: string, warn: (message: string) => void = (m) => process.emitWarning(m, { code: 'DROVER_CGROUP' })): string | null {
  const { root, reason } = getCgroupSupport();
  if (root === null) {
    if (!warned && reason !== 'DROVER_CGROUP=off') {
      warned = true;
      warn(`drover: ${reason}; containing children with process groups and the shepherd's subreaper walk only`);
    }
    return null;
  }
  const safe = label.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64) || 'child';
  return path.join(root, `${safe}-${++leafCounter}`);
}

/** Kills every process in a leaf at once (manager-side second safety layer). Returns false if the leaf is gone. */
export function killCgroup(leaf: string): boolean {
  try {
    writeFileSync(path.join(leaf, 'cgroup.kill'), '1');
    return true;
  } catch {
    return false; // ENOENT: the shepherd removed it, so its members are gone
  }
}

/**
 * Removes a leaf once its members are gone (the shepherd that would have done it is dead). Polls
 * `cgroup.events` every 20 ms for at most `timeoutMs`; never keeps the event loop alive.
 */
export function removeCgroupWhenEmpty(leaf: string, timeoutMs = 2000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve) => {
    const attempt = () => {
      try {
        rmdirSync(leaf);
        resolve(true);
        return;
      } catch (error) {
        // EBUSY: members are still exiting (SIGKILL was sent); ENOENT: already removed.
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return resolve(true);
      }
      if (Date.now() >= deadline) return resolve(false);
      setTimeout(attempt, 20).unref();
    };
    attempt();
  });
}

/** `frozen` of a leaf's `cgroup.events` (1 once every member is frozen), or null when the leaf is gone. */
export function readCgroupFrozen(leaf: string): boolean | null {
  try {
    return /^frozen 1$/m.test(readFileSync(path.join(leaf, 'cgroup.events'), 'utf8'));
  } catch {
    return null;
  }
}

/**
 * Freezes (`frozen` true) or thaws a leaf with the cgroup v2 freezer (`cgroup.freeze`, Linux 5.2)
 * and waits until `cgroup.events` says `frozen 1` (or `frozen 0`), polling every 5 ms for at most
 * `timeoutMs`. Resolves `'done'`, `'gone'` when the leaf no longer exists (its members exited), or
 * `'timeout'`. Every process of the leaf is reached, `setsid` daemons included, and no pid is named.
 * @throws {Error} the write's error (EACCES, ENOENT of `cgroup.freeze` on a kernel without it).
 */
export function freezeCgroup(leaf: string, frozen: boolean, timeoutMs = 5000): Promise<'done' | 'gone' | 'timeout'> {
  try {
    writeFileSync(path.join(leaf, 'cgroup.freeze'), frozen ? '1' : '0');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && readCgroupFrozen(leaf) === null) return Promise.resolve('gone');
    throw error;
  }
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve) => {
    const check = () => {
      const state = readCgroupFrozen(leaf);
      if (state === null) return resolve('gone');
      if (state === frozen) return resolve('done');
      if (Date.now() >= deadline) return resolve('timeout');
      setTimeout(check, 5).unref();
    };
    check();
  });
}
