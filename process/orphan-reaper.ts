/**
 * The manager as the last subreaper. A node's descendant that leaves its process group (setsid)
 * and kills its shepherd is re-parented to the launcher (a subreaper, which kills it); if the
 * launcher is gone too, it would go to init and survive. In a process that is only a drover
 * manager (`drover up`), this makes the manager a child subreaper (PR_SET_CHILD_SUBREAPER) so such
 * an orphan comes here instead, and kills it: freeze its tree, then SIGKILL, then reap it.
 *
 * What counts as an orphan: a child of this process that is neither one it spawned itself (the
 * launcher, a directly spawned shepherd: libuv reaps those) nor a shepherd or launcher process (a
 * re-parented shepherd still serves its node through its control socket and exits on its own when
 * that socket closes; it is only reaped here). Not for library use: in a test runner's worker,
 * processes other code started would be re-parented here too.
 *
 * Idea: tini's `-s` subreaper mode and systemd's per-service cleanup; Linux prctl(2).
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { getLauncherPath, getShepherdPath, reapChild, setChildSubreaper } from '../native/index.js';
import { isOwnedChildProcess } from './launcher-client.js';
import { freezeAndKillTree, listOwnChildren } from './owned-signals.js';

/** What one sweep did (tests and diagnostics). */
export interface OrphanSweep {
  /** Adopted processes killed (with their trees: the count is of whole trees' members). */
  readonly killed: number;
  /** Adopted processes reaped (exited shepherds and killed orphans). */
  readonly reaped: number;
}

/** Period of the fallback sweep, ms; SIGCHLD triggers one at once. */
const SWEEP_INTERVAL_MS = 2000;

function getState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.charAt(stat.lastIndexOf(')') + 2);
  } catch {
    return null;
  }
}

function getExe(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return null; // a zombie has no exe link; or it is gone
  }
}

/** Paths of drover's own binaries (shepherd, launcher), looked up on the first sweep. */
let ownBinaries: Set<string> | null = null;

/** One pass over this process's children: reap adopted zombies, kill adopted orphans. */
export function sweepOrphans(): OrphanSweep {
  ownBinaries ??= new Set([getShepherdPath(), getLauncherPath()].filter((p): p is string => p !== null));
  const ours = ownBinaries;
  let killed = 0;
  let reaped = 0;
  for (const pid of listOwnChildren()) {
    if (isOwnedChildProcess(pid)) continue; // libuv waits for it; its exit event must not be stolen
    const state = getState(pid);
    if (state === null) continue;
    if (state !== 'Z') {
      const exe = getExe(pid);
      if (exe === null || ours.has(exe)) continue;
      killed += freezeAndKillTree(pid);
    }
    try {
      if (reapChild(pid) !== null) reaped++;
    } catch {
      // ECHILD: something else reaped it between the listing and now.
    }
  }
  return { killed, reaped };
}

let stopReaping: (() => void) | null = null;

/**
 * Makes this process a child subreaper and keeps sweeping orphans (on SIGCHLD, and every 2 s as
 * a fallback) until the returned function is called. Idempotent.
 * @throws {DroverError} ERR_NATIVE_CALL when prctl fails.
 */
export function startOrphanReaping(): () => void {
  if (stopReaping !== null) return stopReaping;
  setChildSubreaper(true);
  const sweep = () => {
    try {
      sweepOrphans();
    } catch (error) {
      process.emitWarning(`drover: orphan sweep failed: ${(error as Error).message}`, 'DroverWarning');
    }
  };
  process.on('SIGCHLD', sweep);
  const timer = setInterval(sweep, SWEEP_INTERVAL_MS).unref();
  stopReaping = () => {
    process.off('SIGCHLD', sweep);
    clearInterval(timer);
    stopReaping = null;
  };
  return stopReaping;
}
