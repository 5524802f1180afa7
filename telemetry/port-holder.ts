/**
 * Who listens on a TCP port, for the message of an endpoint that could not bind: the kernel's
 * socket tables (`/proc/net/tcp`, `/proc/net/tcp6`) give the listening socket's inode and owner
 * uid, and the processes whose `/proc/<pid>/fd` links point at that socket give its pid (only
 * processes the caller may inspect: its own, or every one as root).
 */

import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** The listener of a port, as far as `/proc` shows it. */
export interface PortHolder {
  /** Owner of the listening socket (from the socket table). */
  readonly uid: number;
  /** The process holding the socket, when one of the caller's visible processes does. */
  readonly pid: number | null;
  /** Its `comm` (the executable's name, at most 15 characters), when `pid` is known. */
  readonly command: string | null;
}

/** `st` of a listening socket in `/proc/net/tcp*`. */
const TCP_LISTEN = '0A';
/** Processes scanned at most for the socket's fd (the search runs on an error path only, but stays bounded). */
const MAX_PROCESSES = 10_000;

/**
 * The process listening on TCP `port` (any local address, IPv4 or IPv6), or null when no
 * listening socket on it is visible (another network namespace) or `/proc` cannot be read.
 * Never throws.
 * @param procRoot where procfs is mounted. @default '/proc'
 */
export function findPortHolder(port: number, procRoot = '/proc'): PortHolder | null {
  const sockets = new Map<string, number>(); // inode → uid
  for (const table of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = readFileSync(`${procRoot}/net/${table}`, 'latin1');
    } catch {
      continue; // no IPv6, or no procfs: nothing to learn from this table
    }
    // Fields: sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode …
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10 || fields[3] !== TCP_LISTEN) continue;
      const localPort = Number.parseInt(fields[1]!.split(':')[1] ?? '', 16);
      if (localPort === port && fields[9] !== '0') sockets.set(fields[9]!, Number(fields[7]));
    }
  }
  if (sockets.size === 0) return null;
  const firstUid = [...sockets.values()][0]!;
  const wanted = new Map([...sockets.keys()].map((inode) => [`socket:[${inode}]`, inode]));
  let pids: string[];
  try {
    pids = readdirSync(procRoot).filter((entry) => /^\d+$/.test(entry)).slice(0, MAX_PROCESSES);
  } catch {
    return { uid: firstUid, pid: null, command: null };
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`${procRoot}/${pid}/fd`);
    } catch {
      continue; // another user's process, or gone
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`${procRoot}/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const inode = wanted.get(target);
      if (inode === undefined) continue;
      let command: string | null = null;
      try {
        command = readFileSync(`${procRoot}/${pid}/comm`, 'utf8').trim();
      } catch {
        // Exited meanwhile: the pid is all there is.
      }
      return { uid: sockets.get(inode) ?? firstUid, pid: Number(pid), command };
    }
  }
  return { uid: firstUid, pid: null, command: null };
}

/** `pid 4242 (prometheus)`, or `a process of uid 998 (not one of yours: its pid is not visible)`. */
export function describePortHolder(holder: PortHolder | null): string {
  if (holder === null) return 'another program';
  if (holder.pid !== null) return `pid ${holder.pid}${holder.command ? ` (${holder.command})` : ''}`;
  const uid = process.getuid?.();
  return uid === holder.uid ? 'a process of yours whose pid could not be seen' : `a process of uid ${holder.uid} (not one of yours: its pid is not visible)`;
}
