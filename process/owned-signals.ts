/**
 * The only places the manager sends signals itself (everything else goes through a shepherd).
 *
 * drover signals only what it started and still owns: a ChildProcess it spawned whose pid is known
 * and whose exit it has not seen, or a process group whose id a shepherd reported for a child it
 * started. Never 0, never -1, never a negative number not computed here from such a pgid:
 * `kill(0)` is the caller's own process group and `kill(-1)` every process the caller may signal
 * (as root, every process but init). A ChildProcess whose spawn failed has no pid, and Node's
 * `child.kill()` then signals whatever pid libuv's handle holds; these functions refuse it.
 */
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Lowest pid drover may signal: 0 and negative numbers are groups, 1 is init. */
const MIN_OWNED_PID = 2;

/** True for a number that can name one process drover started (an integer ≥ 2). */
export function isOwnablePid(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= MIN_OWNED_PID;
}

/**
 * Signals a ChildProcess this process spawned, only while it is known to be running: a pid was
 * assigned (the spawn succeeded) and no exit was seen. Returns whether a signal was sent; ESRCH
 * (it ended between our check and the kill) counts as not sent.
 */
export function signalChildProcess(child: ChildProcess, signal: NodeJS.Signals): boolean {
  if (!isOwnablePid(child.pid) || child.exitCode !== null || child.signalCode !== null) return false;
  try {
    process.kill(child.pid, signal);
    return true;
  } catch (error) {
    // ESRCH: it exited and libuv has not reaped it yet; nothing left to signal.
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

/**
 * Signals the process group `pgid` that a shepherd reported for a child drover started (the
 * manager-side safety layer when that shepherd is gone). Returns false when the group is gone.
 * @throws {RangeError} when `pgid` is not an integer ≥ 2: such a value never names a group drover made.
 */
export function signalProcessGroup(pgid: number, signal: NodeJS.Signals): boolean {
  if (!isOwnablePid(pgid)) throw new RangeError(`refusing to signal process group ${String(pgid)}: not a recorded process group id`);
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (error) {
    // ESRCH: every member is gone, which is the state the caller wants.
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

/** Whether a process with this pid exists (signal 0; EPERM means it exists but is not ours). False for non-pids. */
export function isProcessAlive(pid: number): boolean {
  if (!isOwnablePid(pid)) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Pids of this process's children: /proc/self/task/<tid>/children of every thread. */
export function listOwnChildren(): number[] {
  return listChildren(process.pid);
}

/** Pids of `pid`'s children (every thread's list; empty when it is gone). */
function listChildren(pid: number): number[] {
  const found: number[] = [];
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return found; // gone
  }
  for (const tid of tids) {
    try {
      for (const text of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ')) {
        const child = Number(text);
        if (isOwnablePid(child)) found.push(child);
      }
    } catch {
      // The thread or process ended between the listing and the read.
    }
  }
  return found;
}

function sendTo(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    // ESRCH: it ended (and its parent reaped it) since it was listed; nothing left to signal.
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/**
 * Freezes and then kills the tree under `root`, a child of this process: SIGSTOP to every member
 * found by walking /proc children lists, re-walking until a walk finds no new member (a stopped
 * process cannot fork, so a fork bomb runs out of moves), then SIGKILL to every member. Each member
 * was found as the child of a process in the tree, alive or unreaped, so its pid names that
 * process. The walk is bounded (`maxRounds`); returns how many processes were killed.
 */
export function freezeAndKillTree(root: number, maxRounds = 50): number {
  if (!isOwnablePid(root)) throw new RangeError(`refusing to kill the tree of ${String(root)}: not a pid`);
  const members = new Set<number>();
  for (let round = 0; round < maxRounds; round++) {
    const before = members.size;
    const queue = [root];
    while (queue.length > 0) {
      const pid = queue.pop()!;
      if (!members.has(pid)) {
        members.add(pid);
        sendTo(pid, 'SIGSTOP');
      }
      queue.push(...listChildren(pid));
    }
    if (members.size === before) break;
  }
  for (const pid of members) sendTo(pid, 'SIGKILL');
  return members.size;
}

/** Sends `signal` to this process itself (a CLI ending as `git log | head` does, by SIGPIPE). */
export function raiseSignal(signal: NodeJS.Signals): void {
  process.kill(process.pid, signal);
}
