/**
 * File descriptors of the manager process. Every supervised process costs the manager up to
 * {@link FDS_PER_PROCESS} descriptors (its shepherd's control socket and diagnostics pipe, and the
 * stdin/stdout/stderr pipes), so a cluster of a few hundred nodes meets the common soft limit of
 * 1024 (`ulimit -n`). Node raises the soft RLIMIT_NOFILE to the hard limit at start-up (as Go's
 * runtime and systemd do), so what is left is to count: before each spawn the manager makes sure
 * the descriptors are there with {@link FD_HEADROOM} to spare for itself (control API clients,
 * telemetry exporters, files), and otherwise fails that one start with ERR_SPAWN_FAILED (errno
 * EMFILE) saying how many are needed and how to raise the limit; the nodes already running keep
 * running.
 */
import { readdirSync } from 'node:fs';
import { raiseFdLimit, type FdLimit } from '../native/index.js';
import { DroverError } from '../contract/errors.js';

/** Manager-side descriptors of one supervised process at most: control socket, shepherd stderr, 3 pipes. */
export const FDS_PER_PROCESS = 5;

/** Descriptors kept free for the manager's own work (connections, files, exporters). */
export const FD_HEADROOM = 32;

/** Descriptors open in this process right now (Infinity when not even /proc/self/fd can be opened). */
export function countOpenFds(): number {
  try {
    // readdir's own descriptor is in the listing.
    return readdirSync('/proc/self/fd').length - 1;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EMFILE' || code === 'ENFILE') return Number.POSITIVE_INFINITY;
    // No /proc (not Linux): nothing to count with; the spawn's own EMFILE stays the report.
    return 0;
  }
}

/** `reason` of the errors made here, so a caller tells them from a bare EMFILE met elsewhere. */
export const FD_EXHAUSTED_REASON = 'fd-exhausted';

/** The error for a start that does not have the descriptors it needs. */
export function createFdExhaustedError(command: string, open: number, needed: number, limit: FdLimit, cause?: unknown): DroverError {
  const openText = Number.isFinite(open) ? `${open} of its ${limit.soft}` : `all ${limit.soft}`;
  const hard = Number.isFinite(limit.hard) ? `the hard limit is ${limit.hard}` : 'the hard limit is unlimited';
  return new DroverError(
    'ERR_SPAWN_FAILED',
    `cannot start ${command}: out of file descriptors (EMFILE). The manager has ${openText} descriptors (RLIMIT_NOFILE) open; ` +
      `each supervised process needs ${needed} more, and ${FD_HEADROOM} are kept free for the manager. ` +
      `Raise the limit before starting drover (\`ulimit -n <n>\` in the shell, ${hard}; LimitNOFILE= in a systemd unit; --ulimit nofile= for docker) or run fewer nodes`,
    { errno: 'EMFILE', path: command, reason: FD_EXHAUSTED_REASON, ...(cause === undefined ? {} : { cause }) },
  );
}

let cachedLimit: FdLimit | null = null;
/** Open descriptors as last counted plus everything reserved since: never below the real count. */
let estimate: number | null = null;
/** Descriptors reserved by starts still in flight (not open yet, so no count sees them). */
let pending = 0;

/** The limit, read once; the soft limit is raised to the hard one first (a no-op under Node, which does it at start-up). */
function getLimit(): FdLimit {
  cachedLimit ??= raiseFdLimit();
  return cachedLimit;
}

/**
 * Makes sure one more supervised process fits under the descriptor limit, counting the starts
 * still in flight; counts open descriptors only when the running estimate comes near the limit (a
 * count reads /proc/self/fd: ~0.3 ms at 1000 fds). Returns the release to call once the start
 * succeeded or failed (its descriptors are then open, or closed again).
 * @throws {DroverError} ERR_SPAWN_FAILED with errno EMFILE when it does not fit.
 */
export function reserveFds(command: string, needed = FDS_PER_PROCESS): () => void {
  const limit = getLimit();
  if (!Number.isFinite(limit.soft)) return () => {};
  if (estimate === null || estimate + needed + FD_HEADROOM > limit.soft) estimate = countOpenFds() + pending;
  if (estimate + needed + FD_HEADROOM > limit.soft) throw createFdExhaustedError(command, estimate, needed, limit);
  estimate += needed;
  pending += needed;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    pending -= needed;
  };
}

/** The error to report for an EMFILE/ENFILE met while starting `command` (the same wording as {@link reserveFds}). */
export function explainFdExhaustion(command: string, cause: unknown): DroverError {
  estimate = null;
  return createFdExhaustedError(command, countOpenFds(), FDS_PER_PROCESS, getLimit(), cause);
}

/** Whether the descriptor table is (nearly) full now: what a dropped SCM_RIGHTS transfer (MSG_CTRUNC) most likely means. */
export function isFdTableFull(margin = FDS_PER_PROCESS): boolean {
  const limit = getLimit();
  return Number.isFinite(limit.soft) && countOpenFds() + margin >= limit.soft;
}
