/**
 * The machine-wide port lease registry: one file per leased port in a directory every drover
 * process of the machine shares, so parallel vitest workers, CI jobs and several `drover up` never
 * hand out the same port.
 *
 * - Where: `/tmp/drover-ports` (override: DROVER_PORT_LEASE_DIR). Ports are a per-machine
 *   resource, so the directory is per machine, not per user: like /tmp itself it is world-writable
 *   with the sticky bit (mode 1777), so every user can lease ports and nobody can delete another
 *   user's lease file. A fixed path (not os.tmpdir(), which TMPDIR may change per user) keeps every
 *   process of the machine on one registry.
 * - Taking a lease: the lease text is written to a private temporary file, then hard-linked to
 *   `<dir>/<port>`; link(2) fails with EEXIST when the name exists, so exactly one process wins
 *   (the same exclusivity as O_EXCL, but the file appears with its whole content: a reader never
 *   sees a half-written lease).
 * - A lease names its owner: pid, the process's start time (field 22 of /proc/<pid>/stat, so a
 *   recycled pid is not a live owner), the boot id, the pid namespace, a token per registry (worker
 *   threads of one process have a registry each), the node, the time.
 * - Releasing: the owner unlinks its own file (checked by token) when the node's ports are
 *   released, when the cluster stops, and synchronously on the process's `exit`.
 * - Reclaiming: a lease whose owner is dead (pid gone, start time differs, another boot) is removed
 *   by the next process that wants the port, under an exclusive flock of `<dir>/.reclaim.lock`
 *   taken without blocking: the lease is read and judged again under the lock, so two reclaimers
 *   never delete a fresh lease the other just took. Another user's dead lease cannot be removed
 *   (sticky bit): that port is skipped until its owner's user reclaims it.
 */
import { closeSync, constants, linkSync, lstatSync, mkdirSync, chmodSync, openSync, readFileSync, readdirSync, readlinkSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DroverError } from '../contract/errors.js';
import { lockFile } from '../native/index.js';

/** The default lease directory, shared by every user of the machine. */
export const DEFAULT_PORT_LEASE_DIR = '/tmp/drover-ports';
/** Environment variable overriding the lease directory. */
export const PORT_LEASE_DIR_ENV = 'DROVER_PORT_LEASE_DIR';
/** A lease file that does not parse (not written by drover) counts as held for this long after its mtime, ms. */
export const UNREADABLE_LEASE_GRACE_MS = 60_000;
/** How long a reclaim waits for the reclaim lock before it gives the port up, ms. */
const RECLAIM_LOCK_WAIT_MS = 1000;
const RECLAIM_LOCK_RETRY_MS = 5;
const RECLAIM_LOCK_NAME = '.reclaim.lock';
/** A lease's private file before it is linked: `.<port>.<pid>.<start time>.<token>.tmp`. */
const TEMPORARY_NAME = /^\.\d+\.(\d+)\.(\d+)\.[0-9a-f-]+\.tmp$/;

/** What a lease file holds (one JSON line). */
export interface PortLease {
  readonly port: number;
  /** The owner process. */
  readonly pid: number;
  /** Its start time, clock ticks since boot (/proc/<pid>/stat field 22). */
  readonly startTime: number;
  /** /proc/sys/kernel/random/boot_id of the boot the owner ran in. */
  readonly bootId: string;
  /** The owner's pid namespace (`pid:[4026531836]`): pids of another namespace cannot be checked here. */
  readonly pidNamespace: string;
  /** The owner registry's token (one per registry: worker threads of one process differ). */
  readonly token: string;
  /** Who the port is for (`cluster/node[replica]:port-name`). */
  readonly owner: string;
  /** When it was taken, ms since the epoch. */
  readonly createdAt: number;
}

/**
 * The lease in a lease file's text (JSON.parse, then each field's type and range), or null when it
 * is not one (empty, truncated, foreign). Checked without zod: the package entry's cold import
 * loads no zod (test/api/cold-import.test.ts), and this module is on its path.
 */
export function parseLease(text: string): PortLease | null {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof data !== 'object' || data === null) return null;
  const { port, pid, startTime, bootId, pidNamespace, token, owner, createdAt } = data as Record<string, unknown>;
  const isInteger = (value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): value is number => Number.isInteger(value) && (value as number) >= min && (value as number) <= max;
  if (!isInteger(port, 1, 65_535) || !isInteger(pid, 1) || !isInteger(startTime, 0) || typeof createdAt !== 'number') return null;
  if (typeof bootId !== 'string' || typeof pidNamespace !== 'string' || typeof token !== 'string' || token === '' || typeof owner !== 'string') return null;
  return { port, pid, startTime, bootId, pidNamespace, token, owner, createdAt };
}

/** A lease file's text. */
export function formatLease(lease: PortLease): string {
  return `${JSON.stringify(lease)}\n`;
}

/** What the judge of a lease knows about this machine and moment. */
export interface LeaseFacts {
  /** Now, ms since the epoch. */
  readonly now: number;
  /** The lease file's mtime, ms since the epoch. */
  readonly mtimeMs: number;
  readonly bootId: string;
  readonly pidNamespace: string;
  /** Start time of live process `pid` (clock ticks since boot), or null when it does not exist or is a zombie. */
  readonly startTimeOf: (pid: number) => number | null;
}

/** A verdict on a lease: `stale` leases may be reclaimed; `reason` says why (for messages and tests). */
export interface LeaseVerdict {
  readonly stale: boolean;
  readonly reason: string;
}

/** Whether the lease (null: the file did not parse) is held by a live owner. Pure: all facts injected. */
export function judgeLease(lease: PortLease | null, facts: LeaseFacts): LeaseVerdict {
  if (lease === null) {
    const age = facts.now - facts.mtimeMs;
    return age > UNREADABLE_LEASE_GRACE_MS
      ? { stale: true, reason: `unreadable lease file, ${Math.round(age)} ms old` }
      : { stale: false, reason: `unreadable lease file, only ${Math.round(age)} ms old` };
  }
  if (lease.bootId !== facts.bootId) return { stale: true, reason: `owner pid ${lease.pid} ran in an earlier boot` };
  // A pid of another pid namespace (a container sharing /tmp) says nothing here: held.
  if (lease.pidNamespace !== facts.pidNamespace) return { stale: false, reason: `owner pid ${lease.pid} is in another pid namespace (${lease.pidNamespace})` };
  const startTime = facts.startTimeOf(lease.pid);
  if (startTime === null) return { stale: true, reason: `owner pid ${lease.pid} is gone` };
  if (startTime !== lease.startTime) return { stale: true, reason: `pid ${lease.pid} was reused by another process (start time ${startTime}, lease says ${lease.startTime})` };
  return { stale: false, reason: `held by live pid ${lease.pid} (${lease.owner})` };
}

/** Start time (field 22 of /proc/<pid>/stat), or null when the pid does not exist or is a zombie. */
export function readStartTime(pid: number): number | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // Fields after the command (which may hold spaces and parentheses): state is field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return null;
  const startTime = Number(fields[19]);
  return Number.isInteger(startTime) ? startTime : null;
}

function readTextOr(file: string, fallback: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return fallback;
  }
}

/** The lease directory: DROVER_PORT_LEASE_DIR, else {@link DEFAULT_PORT_LEASE_DIR}. */
export function getPortLeaseDirectory(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env[PORT_LEASE_DIR_ENV]?.trim();
  return configured ? path.resolve(configured) : DEFAULT_PORT_LEASE_DIR;
}

function leaseDirectoryError(directory: string, problem: string, cause?: unknown): DroverError {
  return new DroverError('ERR_PORT_ALLOCATION', `port lease directory ${directory} ${problem}; fix or remove it, or set ${PORT_LEASE_DIR_ENV} to a directory of your own`, {
    path: directory,
    reason: 'lease-directory',
    ...(cause === undefined ? {} : { cause, errno: (cause as NodeJS.ErrnoException).code }),
  });
}

/**
 * Makes sure `directory` is usable: created mode 1777 when missing; a symlink, a non-directory,
 * or a directory another user owns that is not sticky (they could delete our leases) is refused.
 * @throws {DroverError} ERR_PORT_ALLOCATION naming the directory and the problem.
 */
export function ensureLeaseDirectory(directory: string): void {
  try {
    mkdirSync(directory, { mode: 0o1777 });
    chmodSync(directory, 0o1777); // mkdir's mode went through the umask
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw leaseDirectoryError(directory, 'cannot be created', error);
  }
  const stat = lstatSync(directory);
  if (stat.isSymbolicLink()) throw leaseDirectoryError(directory, 'is a symbolic link (refused: another user may have planted it)');
  if (!stat.isDirectory()) throw leaseDirectoryError(directory, 'is not a directory');
  const uid = process.getuid?.() ?? 0;
  if (stat.uid !== uid && stat.uid !== 0 && (stat.mode & 0o1000) === 0) {
    throw leaseDirectoryError(directory, `is owned by uid ${stat.uid} and not sticky (mode ${(stat.mode & 0o7777).toString(8)}): its owner could delete other users' leases`);
  }
}

/** The leases of one registry (one per thread): taken, released, reclaimed from dead owners. */
export class PortLeaseRegistry {
  /** The registry's token, written into its leases. */
  // The Web Crypto global: node:crypto loads on first use, not with the cluster (`import { spawn }`).
  readonly token = globalThis.crypto.randomUUID();
  private readonly held = new Set<number>();
  private ready = false;
  private exitHook: (() => void) | null = null;
  private readonly self: { pid: number; startTime: number; bootId: string; pidNamespace: string };

  /** @param directory the lease directory (created on first use). */
  constructor(readonly directory: string) {
    this.self = {
      pid: process.pid,
      startTime: readStartTime(process.pid) ?? 0,
      bootId: readTextOr('/proc/sys/kernel/random/boot_id', 'unknown'),
      pidNamespace: (() => {
        try {
          return readlinkSync('/proc/self/ns/pid');
        } catch {
          return 'unknown';
        }
      })(),
    };
  }

  /** Ports this registry holds leases for, ascending. */
  heldPorts(): number[] {
    return [...this.held].sort((a, b) => a - b);
  }

  /** The facts {@link judgeLease} needs, now. */
  private facts(mtimeMs: number): LeaseFacts {
    return { now: Date.now(), mtimeMs, bootId: this.self.bootId, pidNamespace: this.self.pidNamespace, startTimeOf: readStartTime };
  }

  private fileOf(port: number): string {
    return path.join(this.directory, String(port));
  }

  /**
   * Takes the lease of `port` for `owner` (written into the lease): true when this registry holds
   * it now, false when a live owner holds it (this registry included: one lease, one owner). A
   * lease of a dead owner is reclaimed first.
   * @throws {DroverError} ERR_PORT_ALLOCATION when the lease directory is unusable.
   */
  async tryAcquire(port: number, owner: string): Promise<boolean> {
    if (this.held.has(port)) return false;
    if (!this.ready) {
      ensureLeaseDirectory(this.directory);
      this.sweepTemporaryFiles();
      this.ready = true;
    }
    if (this.link(port, owner)) return true;
    if (!(await this.reclaim(port))) return false;
    return this.link(port, owner);
  }

  /**
   * Removes the private files of dead owners: a process killed between writing its lease and
   * linking it leaves `.<port>.<pid>.<start time>.<token>.tmp` behind. Once per registry.
   */
  private sweepTemporaryFiles(): void {
    let names: string[];
    try {
      names = readdirSync(this.directory);
    } catch {
      return;
    }
    for (const name of names) {
      const match = TEMPORARY_NAME.exec(name);
      if (match === null || readStartTime(Number(match[1])) === Number(match[2])) continue;
      try {
        unlinkSync(path.join(this.directory, name));
      } catch {
        // another user's (sticky directory), or removed meanwhile
      }
    }
  }

  /** Writes the lease to a private file and links it to `<dir>/<port>`: true when the link won. */
  private link(port: number, owner: string): boolean {
    const lease: PortLease = { port, ...this.self, token: this.token, owner, createdAt: Date.now() };
    const temporary = path.join(this.directory, `.${port}.${this.self.pid}.${this.self.startTime}.${this.token}.tmp`);
    try {
      writeFileSync(temporary, formatLease(lease), { flag: 'wx', mode: 0o644 });
      chmodSync(temporary, 0o644); // readable by every user whatever the umask: they judge its liveness
    } catch (error) {
      throw leaseDirectoryError(this.directory, `does not let this process create files (${(error as NodeJS.ErrnoException).code})`, error);
    }
    try {
      linkSync(temporary, this.fileOf(port));
      this.held.add(port);
      this.installExitHook();
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw leaseDirectoryError(this.directory, `refused the lease of port ${port} (${(error as NodeJS.ErrnoException).code})`, error);
    } finally {
      unlinkSync(temporary);
    }
  }

  /** Removes the lease of `port` when its owner is dead; true when the port's lease is gone now. */
  private async reclaim(port: number): Promise<boolean> {
    if (this.judge(port)?.stale !== true) return false; // held, or gone already (the retried link decides)
    const lock = this.openReclaimLock();
    try {
      const deadline = Date.now() + RECLAIM_LOCK_WAIT_MS;
      while (!lockFile(lock)) {
        if (Date.now() >= deadline) return false; // a reclaimer stuck (stopped?) holds it: skip this port
        await new Promise((resolve) => setTimeout(resolve, RECLAIM_LOCK_RETRY_MS));
      }
      // Judged again under the lock: another reclaimer may have replaced it with a live lease meanwhile.
      const verdict = this.judge(port);
      if (verdict === null) return true;
      if (!verdict.stale) return false;
      try {
        unlinkSync(this.fileOf(port));
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return true;
        if (code === 'EPERM' || code === 'EACCES') return false; // another user's lease in the sticky directory
        throw error;
      }
      return true;
    } finally {
      closeSync(lock); // releases the flock
    }
  }

  /**
   * Opens the reclaim lock file read-only (flock needs no write access), creating it when missing.
   * Never O_CREAT on an existing file: with fs.protected_regular, O_CREAT of another user's file in
   * a sticky world-writable directory fails with EACCES.
   */
  private openReclaimLock(): number {
    const file = path.join(this.directory, RECLAIM_LOCK_NAME);
    for (let attempt = 0; ; attempt++) {
      try {
        return openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt > 0) throw leaseDirectoryError(this.directory, `has no usable ${RECLAIM_LOCK_NAME}`, error);
      }
      try {
        const fd = openSync(file, constants.O_RDONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
        return fd;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw leaseDirectoryError(this.directory, `does not let this process create ${RECLAIM_LOCK_NAME}`, error);
      }
    }
  }

  /** The verdict on `port`'s current lease file, or null when there is none. */
  private judge(port: number): LeaseVerdict | null {
    let text: string;
    let mtimeMs: number;
    try {
      mtimeMs = statSync(this.fileOf(port)).mtimeMs;
      text = readFileSync(this.fileOf(port), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      return { stale: false, reason: `unreadable (${(error as NodeJS.ErrnoException).code})` };
    }
    return judgeLease(parseLease(text), this.facts(mtimeMs));
  }

  /** The verdict on the lease of `port` (null: none), for diagnostics. */
  describe(port: number): LeaseVerdict | null {
    return this.judge(port);
  }

  /** Releases this registry's lease of `port` (no-op when it holds none). */
  async release(port: number): Promise<void> {
    this.releaseSync(port);
  }

  /** {@link release}, synchronously (the `exit` hook). Removes the file only while it is still this registry's. */
  releaseSync(port: number): void {
    if (!this.held.delete(port)) return;
    try {
      if (parseLease(readFileSync(this.fileOf(port), 'utf8'))?.token === this.token) unlinkSync(this.fileOf(port));
    } catch {
      // Gone already (the directory was removed): nothing to release.
    }
    if (this.held.size === 0 && this.exitHook !== null) {
      process.off('exit', this.exitHook);
      this.exitHook = null;
    }
  }

  /** Releases every lease this registry holds. */
  releaseAllSync(): void {
    for (const port of [...this.held]) this.releaseSync(port);
  }

  /** While leases are held, the process's (or worker thread's) exit releases them. */
  private installExitHook(): void {
    if (this.exitHook !== null) return;
    this.exitHook = () => this.releaseAllSync();
    process.on('exit', this.exitHook);
  }
}

const registries = new Map<string, PortLeaseRegistry>();

/** The registry of the lease directory in use ({@link getPortLeaseDirectory}), one per directory and thread. */
export function getPortLeases(): PortLeaseRegistry {
  const directory = getPortLeaseDirectory();
  let registry = registries.get(directory);
  if (registry === undefined) {
    registry = new PortLeaseRegistry(directory);
    registries.set(directory, registry);
  }
  return registry;
}
