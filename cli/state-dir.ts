import { closeSync, constants, fstatSync, ftruncateSync, lstatSync, mkdirSync, openSync, readlinkSync, readSync, realpathSync, renameSync, rmdirSync, type Stats, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DroverError } from '../contract/errors.js';

/** Where a cluster started from one config keeps its state. */
export interface StatePaths {
  readonly dir: string;
  /** The control API's Unix socket. */
  readonly socket: string;
  /** Held with flock for the life of `drover up`; holds that process's pid. */
  readonly lock: string;
  /** Output of the background `up` of `up --detach` (rotated to `up.log.1`). */
  readonly log: string;
  /** `up.log` of the last background `up` that failed (exited non-zero, or died), kept for reading. */
  readonly failedLog: string;
  /**
   * Where `up --detach` listens while it waits: the background `up` it started connects once its
   * start has settled (every node ready, or failed), so that the wait ends without polling.
   */
  readonly readySocket: string;
  /**
   * The levels drover creates itself and that must be real directories owned by the caller with
   * no group or other access: the per-user dir and the state dir, or `$DROVER_STATE_DIR` alone.
   */
  readonly ownLevels: readonly string[];
  /** Where the location came from, for hints in messages. */
  readonly source: 'DROVER_STATE_DIR' | 'XDG_RUNTIME_DIR' | 'TMPDIR';
}

function withDir(dir: string, ownLevels: readonly string[], source: StatePaths['source']): StatePaths {
  return { dir, socket: path.join(dir, 'control.sock'), lock: path.join(dir, 'lock'), log: path.join(dir, 'up.log'), failedLog: path.join(dir, 'up.failed.log'), readySocket: path.join(dir, 'ready.sock'), ownLevels, source };
}

/**
 * The state dir of a config file: `$DROVER_STATE_DIR` when set; else
 * `$XDG_RUNTIME_DIR/drover/<config dir name>-<hash>` when `$XDG_RUNTIME_DIR` is set (and absolute);
 * else `<tmpdir>/drover-<uid>/<config dir name>-<hash>`. The hash is the first 12 hex digits of the
 * SHA-256 of the absolute config path: one dir per config, short enough for the 108-byte limit of
 * a Unix socket path. Nothing is created or checked here: see {@link prepareStateDir}.
 */
export function getStatePaths(configPath: string, env: NodeJS.ProcessEnv = process.env): StatePaths {
  if (env.DROVER_STATE_DIR) {
    const dir = path.resolve(env.DROVER_STATE_DIR);
    return withDir(dir, [dir], 'DROVER_STATE_DIR');
  }
  const absolute = path.resolve(configPath);
  // node:crypto loads here, not with this module: with DROVER_STATE_DIR set no command needs it.
  const { createHash } = process.getBuiltinModule('node:crypto');
  const hash = createHash('sha256').update(absolute).digest('hex').slice(0, 12);
  const label = path.basename(path.dirname(absolute)).replace(/[^\w.-]/g, '_').slice(0, 24);
  const runtime = env.XDG_RUNTIME_DIR;
  // The XDG base directory spec: a relative $XDG_RUNTIME_DIR is to be ignored.
  const perUser =
    runtime && path.isAbsolute(runtime) ? path.join(path.resolve(runtime), 'drover') : path.join(env === process.env ? tmpdir() : path.resolve(env.TMPDIR || '/tmp'), `drover-${process.getuid?.() ?? 0}`);
  const dir = path.join(perUser, `${label}-${hash}`);
  return withDir(dir, [perUser, dir], runtime && path.isAbsolute(runtime) ? 'XDG_RUNTIME_DIR' : 'TMPDIR');
}

/** S_ISVTX: in a sticky directory only an entry's owner may rename or remove it (/tmp). */
const STICKY_BIT = 0o1000;

function getUid(): number {
  return process.getuid?.() ?? 0;
}

function formatMode(mode: number): string {
  return `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;
}

function describeType(stats: Stats): string {
  if (stats.isFile()) return 'a regular file';
  if (stats.isSocket()) return 'a socket';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  return 'not a directory';
}

function refuse(level: string, why: string): DroverError {
  return new DroverError('ERR_CONTROL_API', `refusing the state dir ${level}: ${why}`, { path: level });
}

/**
 * Checks one level drover owns: a real directory (not a symlink), owned by the caller, with no
 * group or other permission bits.
 * @throws {DroverError} ERR_CONTROL_API naming the path, and its owner, mode or type.
 */
function checkOwnLevel(level: string, stats: Stats, paths: StatePaths): void {
  if (stats.isSymbolicLink()) {
    let target = '?';
    try {
      target = readlinkSync(level);
    } catch {
      // Replaced between lstat and readlink: the message says "?" for its target.
    }
    const hint = paths.source === 'DROVER_STATE_DIR' ? 'set DROVER_STATE_DIR to the directory itself' : 'remove it';
    throw refuse(level, `it is a symbolic link (to ${target}), not a directory; ${hint}`);
  }
  if (!stats.isDirectory()) throw refuse(level, `it is ${describeType(stats)}, not a directory; remove it`);
  const uid = getUid();
  if (stats.uid !== uid) {
    throw refuse(
      level,
      `it is owned by uid ${stats.uid}, not by you (uid ${uid}) (mode ${formatMode(stats.mode)}); someone else created it: remove it (or set DROVER_STATE_DIR to a directory of yours)`,
    );
  }
  if ((stats.mode & 0o077) !== 0) {
    throw refuse(level, `its mode is ${formatMode(stats.mode)}; it must be 0700 (no access for group or others): \`chmod 700 ${level}\`, or remove it`);
  }
}

/**
 * Checks every level of `realDir` (a path without symlinks) from `/` down: each must be owned by
 * root or the caller, and not writable by group or others unless sticky (as /tmp is), so that
 * nobody else can rename or replace what lies below it.
 */
function checkAncestors(realDir: string): void {
  const uid = getUid();
  const levels: string[] = [];
  for (let level = realDir; ; level = path.dirname(level)) {
    levels.unshift(level);
    if (path.dirname(level) === level) break;
  }
  for (const level of levels) {
    const stats = lstatSync(level);
    if (stats.uid !== 0 && stats.uid !== uid) {
      throw refuse(level, `it is owned by uid ${stats.uid}, neither by you (uid ${uid}) nor by root, and the state dir would be below it; set DROVER_STATE_DIR (or TMPDIR) to a directory of yours`);
    }
    if ((stats.mode & 0o022) !== 0 && (stats.mode & STICKY_BIT) === 0) {
      throw refuse(level, `it is writable by ${stats.mode & 0o002 ? 'everyone' : 'its group'} (mode ${formatMode(stats.mode)}) without the sticky bit, so others could replace the state dir below it; set DROVER_STATE_DIR (or TMPDIR) to a directory of yours`);
    }
  }
}

/**
 * Resolves the parent of the first level drover owns (symlinks in it are followed once, here) and
 * checks its ancestors; the returned paths use the resolved parent, so no later operation follows
 * a symlink someone could re-point. null when that parent does not exist.
 */
function resolveParent(paths: StatePaths): StatePaths | null {
  const first = paths.ownLevels[0]!;
  let parent: string;
  try {
    parent = realpathSync(path.dirname(first));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw refuse(first, `its parent directory could not be resolved: ${(error as Error).message}`);
  }
  checkAncestors(parent);
  const rebase = (p: string) => path.join(parent, path.relative(path.dirname(first), p));
  return withDir(rebase(paths.dir), paths.ownLevels.map(rebase), paths.source);
}

/**
 * Creates the state dir for `drover up` level by level (each `mkdir` with mode 0700, never `-p`),
 * then checks every level with `lstat`: the ones drover owns must be real directories owned by the
 * caller with mode 0700 (no group or other bits), whoever created them; their ancestors must be
 * owned by root or the caller and not writable by others unless sticky.
 * @returns the paths to use from now on (the parent's symlinks resolved).
 * @throws {DroverError} ERR_CONTROL_API naming the level refused and why (owner, mode, symlink),
 *   or the missing parent directory.
 */
export function prepareStateDir(paths: StatePaths): StatePaths {
  const resolved = resolveParent(paths);
  if (resolved === null) {
    const parent = path.dirname(paths.ownLevels[0]!);
    const hint = paths.source === 'DROVER_STATE_DIR' ? 'create it, or point DROVER_STATE_DIR elsewhere' : `create it, or set DROVER_STATE_DIR (this location comes from ${paths.source})`;
    throw new DroverError('ERR_CONTROL_API', `cannot create the state dir ${paths.dir}: its parent directory ${parent} does not exist; ${hint}`, { path: parent });
  }
  for (const level of resolved.ownLevels) {
    try {
      mkdirSync(level, { mode: 0o700 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new DroverError('ERR_CONTROL_API', `cannot create the state dir ${level}: ${(error as Error).message}`, { path: level, cause: error });
      }
    }
    checkOwnLevel(level, lstatSync(level), resolved);
  }
  return resolved;
}

/**
 * The clients' check before connecting: the same rules as {@link prepareStateDir}, creating nothing.
 * @returns the paths to use, or null when the state dir does not exist (no cluster runs).
 * @throws {DroverError} ERR_CONTROL_API naming the level refused and why.
 */
export function verifyStateDir(paths: StatePaths): StatePaths | null {
  const resolved = resolveParent(paths);
  if (resolved === null) return null;
  for (const level of resolved.ownLevels) {
    let stats: Stats;
    try {
      stats = lstatSync(level);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw refuse(level, (error as Error).message);
    }
    checkOwnLevel(level, stats, resolved);
  }
  return resolved;
}

/**
 * Opens a file of the (checked) state dir without following a symlink (`O_NOFOLLOW`), creating it
 * with mode 0600 when `flags` include `O_CREAT`, and checks it is a regular file owned by the caller.
 * @throws {DroverError} ERR_CONTROL_API naming the file and what it is instead.
 */
export function openStateFile(file: string, flags: number): number {
  let fd: number;
  try {
    fd = openSync(file, flags | constants.O_NOFOLLOW, 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ELOOP' ? 'it is a symbolic link; drover never follows one in its state dir: remove it' : (error as Error).message;
    throw new DroverError('ERR_CONTROL_API', `cannot open ${file}: ${why}`, { path: file, errno: code, cause: error });
  }
  const stats = fstatSync(fd);
  const uid = getUid();
  if (!stats.isFile() || stats.uid !== uid) {
    closeSync(fd);
    const what = !stats.isFile() ? describeType(stats) : `owned by uid ${stats.uid}, not by you (uid ${uid})`;
    throw new DroverError('ERR_CONTROL_API', `refusing ${file}: it is ${what}; remove it`, { path: file });
  }
  return fd;
}

/**
 * Checks the control socket's file before a client connects: absent (false), or a socket owned by
 * the caller (true).
 * @throws {DroverError} ERR_CONTROL_API when it is something else or someone else's.
 */
export function checkSocketFile(paths: StatePaths): boolean {
  let stats: Stats;
  try {
    stats = lstatSync(paths.socket);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new DroverError('ERR_CONTROL_API', `cannot check the control socket ${paths.socket}: ${(error as Error).message}`, { path: paths.socket, cause: error });
  }
  const uid = getUid();
  if (!stats.isSocket() || stats.uid !== uid) {
    const what = !stats.isSocket() ? (stats.isSymbolicLink() ? 'a symbolic link' : describeType(stats)) : `owned by uid ${stats.uid}, not by you (uid ${uid})`;
    throw new DroverError('ERR_CONTROL_API', `refusing the control socket ${paths.socket}: it is ${what}; remove it`, { path: paths.socket });
  }
  return true;
}

/** The state dir's lock, held by this process until {@link StateLock.release}. */
export interface StateLock {
  /** Writes this process's pid into the lock file (best effort: a full disk leaves it empty). */
  recordPid(): void;
  /** Closes the lock file, which releases the flock. Idempotent. */
  release(): void;
}

/** Result of {@link acquireStateLock}: the lock, or the pid recorded by the process that holds it. */
export type LockAttempt = { readonly lock: StateLock } | { readonly lock: null; readonly holderPid: number | null };

/** The pid a lock file records (its first line), or null when it is empty or not a pid. */
function readRecordedPid(fd: number): number | null {
  const buffer = Buffer.alloc(32);
  const length = readSync(fd, buffer, 0, buffer.length, 0);
  const text = buffer.subarray(0, length).toString('utf8').split('\n')[0]!;
  return /^[1-9]\d{0,9}$/.test(text) ? Number(text) : null;
}

/**
 * Takes the state dir's lock without waiting: `flock(LOCK_EX | LOCK_NB)` on `<state dir>/lock`,
 * opened with `O_NOFOLLOW` (created 0600). The kernel releases it when the holder exits, however
 * it ends, so a crashed `up` never leaves a stale lock.
 * @throws {DroverError} ERR_CONTROL_API when the lock file cannot be opened; ERR_NATIVE_CALL when
 *   flock fails for another reason than "held".
 */
export async function acquireStateLock(paths: StatePaths): Promise<LockAttempt> {
  const { lockFile } = await import('../native/index.js');
  let fd = -1;
  for (let attempt = 1; ; attempt++) {
    try {
      fd = openStateFile(paths.lock, constants.O_RDWR | constants.O_CREAT);
    } catch (error) {
      // The `up` that held the lock removed the state dir on its way out (a clean down) between our
      // prepareStateDir and this open: create it again and retry.
      if ((error as DroverError).errno === 'ENOENT' && attempt < MAX_LOCK_ATTEMPTS) {
        prepareStateDir(paths);
        continue;
      }
      throw error;
    }
    let held: boolean;
    try {
      held = lockFile(fd);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    if (!held) {
      const holderPid = readRecordedPid(fd);
      closeSync(fd);
      return { lock: null, holderPid };
    }
    // Locked, but perhaps a lock file that its last holder unlinked (it removes it, still holding
    // the lock, after a clean down) after we opened it: a lock nobody else can see. Only the file
    // the path names now counts.
    if (isSameFile(fd, paths.lock)) break;
    closeSync(fd);
    if (attempt >= MAX_LOCK_ATTEMPTS) {
      throw new DroverError('ERR_CONTROL_API', `cannot take the lock ${paths.lock}: it was replaced ${attempt} times while being taken; is another drover up starting and stopping in a loop?`, { path: paths.lock });
    }
  }
  let open = true;
  return {
    lock: {
      recordPid: () => {
        try {
          ftruncateSync(fd, 0);
          writeSync(fd, `${process.pid}\n`, 0);
        } catch {
          // A full disk or a file-size limit: the lock holds all the same; only the record is missing.
        }
      },
      release: () => {
        if (open) closeSync(fd);
        open = false;
      },
    },
  };
}

/** How often {@link acquireStateLock} tries again when the lock file or state dir goes away under it. */
const MAX_LOCK_ATTEMPTS = 10;

/** Whether `fd` is the file `file` names now (same device and inode; `file` not followed if a symlink). */
function isSameFile(fd: number, file: string): boolean {
  try {
    const opened = fstatSync(fd);
    const named = lstatSync(file);
    return opened.dev === named.dev && opened.ino === named.ino;
  } catch {
    return false; // unlinked meanwhile
  }
}

/** Removes `file` (never following a symlink: unlink removes the link itself); false when it was not there. */
function removeFile(file: string): boolean {
  try {
    unlinkSync(file);
    return true;
  } catch {
    // ENOENT: nothing to remove. EISDIR/EPERM: not a file drover made; leave it.
    return false;
  }
}

/**
 * After a run that failed (its `up` exits non-zero): `up.log` becomes `up.failed.log` (and
 * `up.log.1` becomes `up.failed.log.1`), replacing the ones of an earlier failed run, so the next
 * `up --detach` does not overwrite it. Call with the state dir's lock held.
 * @returns the kept log's path, or null when there was no `up.log`.
 */
export function keepFailedLog(paths: StatePaths): string | null {
  try {
    renameSync(paths.log, paths.failedLog);
  } catch {
    return null; // no up.log: a foreground up, or it was removed
  }
  try {
    renameSync(`${paths.log}.1`, `${paths.failedLog}.1`);
  } catch {
    removeFile(`${paths.failedLog}.1`); // no older part in this run: drop the earlier run's
  }
  return paths.failedLog;
}

/**
 * When an `up` ends: removes the files drover creates in the state dir (`control.sock`, `up.log`,
 * `up.log.1`, `up.failed.log`, `up.failed.log.1` unless `keepFailedLog`, and `lock` last, while
 * the caller still holds it), by name and without following symlinks, then the state dir itself
 * when that left it empty and drover chose its location (a `$DROVER_STATE_DIR` is the user's and
 * stays; so does the per-user dir). Anything else found there is left alone, and keeps the dir.
 * @returns true when the state dir was removed.
 */
export function removeStateDir(paths: StatePaths, options: { readonly keepFailedLog?: boolean } = {}): boolean {
  const failed = options.keepFailedLog === true ? [] : [paths.failedLog, `${paths.failedLog}.1`];
  for (const file of [paths.socket, paths.readySocket, paths.log, `${paths.log}.1`, ...failed, paths.lock]) removeFile(file);
  if (paths.source === 'DROVER_STATE_DIR') return false;
  try {
    rmdirSync(paths.dir);
    return true;
  } catch {
    return false; // ENOTEMPTY: someone put something else there
  }
}

/**
 * The pid recorded in the state dir's lock file (by the `up` that holds it), or null. Used for
 * messages only: the pid is not checked against the lock.
 */
export function readLockRecord(paths: StatePaths): number | null {
  let fd: number;
  try {
    fd = openStateFile(paths.lock, constants.O_RDONLY);
  } catch {
    return null; // no lock file (or not one drover would use): no record
  }
  try {
    return readRecordedPid(fd);
  } finally {
    closeSync(fd);
  }
}
