/**
 * Who listens on a TCP port of this machine: the listening sockets' inodes from /proc/net/tcp and
 * /proc/net/tcp6, then the process holding one of them (/proc/<pid>/fd links `socket:[inode]`),
 * looked for first among a node's own tree (network/peer-identity.ts's tree walk), and only when
 * none of them holds it, among every process this user may inspect (to name the stray listener).
 */
import { readFile, readdir, readlink } from 'node:fs/promises';
import { getTreePids, type NodeTree } from '../../network/peer-identity.js';

/** TCP state LISTEN in /proc/net/tcp's `st` column. */
const TCP_LISTEN = '0A';
/** Processes looked at when searching the machine for a stray listener. */
const MAX_FOREIGN_PIDS = 32_768;

/** Parses /proc/net/tcp{,6} text: the inodes of the sockets listening on local port `port`. */
export function findListeningInodes(procNetTcp: string, port: number): number[] {
  const local = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const inodes: number[] = [];
  for (const line of procNetTcp.split('\n')) {
    const fields = line.trim().split(/\s+/);
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
    if (fields.length < 10 || fields[3] !== TCP_LISTEN || !fields[1]!.endsWith(local)) continue;
    const inode = Number(fields[9]);
    if (Number.isInteger(inode) && inode > 0) inodes.push(inode);
  }
  return inodes;
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return '';
  }
}

/** Whether `pid` holds one of `targets` (`socket:[inode]`) among its fds; false when it cannot be inspected. */
async function holdsAny(pid: number, targets: ReadonlySet<string>): Promise<boolean> {
  let fds: string[];
  try {
    fds = await readdir(`/proc/${pid}/fd`);
  } catch {
    return false; // gone, or another user's
  }
  for (const fd of fds) {
    try {
      if (targets.has(await readlink(`/proc/${pid}/fd/${fd}`))) return true;
    } catch {
      // closed meanwhile
    }
  }
  return false;
}

/** The pids of a node's tree: its run's pid with descendants, and the members of its cgroup leaf. */
async function getNodePids(tree: NodeTree): Promise<Set<number>> {
  const pids = new Set<number>(tree.pid === null ? [] : await getTreePids(tree.pid));
  if (tree.cgroup !== null) {
    for (const pid of (await readText(`${tree.cgroup}/cgroup.procs`)).split('\n')) if (/^\d+$/.test(pid)) pids.add(Number(pid));
  }
  return pids;
}

/** Who listens on a port, as {@link findPortListener} saw it. */
export type PortListener =
  /** No listening socket for the port in this machine's /proc/net/tcp{,6} (another network namespace?). */
  | { readonly kind: 'none' }
  /** A process of the node's tree holds a listening socket. */
  | { readonly kind: 'node'; readonly pid: number }
  /** Another process holds it; `pid` null when none this user may inspect does (another user's). */
  | { readonly kind: 'foreign'; readonly pid: number | null; readonly command: string | null };

/**
 * Who listens on TCP port `port`: the node's tree (`tree`) when one of its processes holds a
 * listening socket of the port, else the first other process found holding one. The machine-wide
 * search for that other process runs once per set of listening sockets: `foreignCache` keeps its
 * answer (the caller keeps the map for as long as it polls; only the last answer is kept).
 */
export async function findPortListener(port: number, tree: NodeTree, foreignCache?: Map<string, PortListener>): Promise<PortListener> {
  const inodes = [...findListeningInodes(await readText('/proc/net/tcp'), port), ...findListeningInodes(await readText('/proc/net/tcp6'), port)];
  if (inodes.length === 0) return { kind: 'none' };
  const targets = new Set(inodes.map((inode) => `socket:[${inode}]`));
  const own = await getNodePids(tree);
  for (const pid of own) if (await holdsAny(pid, targets)) return { kind: 'node', pid };
  const key = [...targets].sort().join(' ');
  const known = foreignCache?.get(key);
  if (known !== undefined) return known;
  const found = await findForeignListener(targets, own);
  foreignCache?.clear();
  foreignCache?.set(key, found);
  return found;
}

async function findForeignListener(targets: ReadonlySet<string>, own: ReadonlySet<number>): Promise<PortListener> {
  let entries: string[] = [];
  try {
    entries = await readdir('/proc');
  } catch {
    // no /proc to search
  }
  let looked = 0;
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || own.has(Number(entry))) continue;
    if (++looked > MAX_FOREIGN_PIDS) break;
    const pid = Number(entry);
    if (await holdsAny(pid, targets)) {
      const command = (await readText(`/proc/${pid}/comm`)).trim();
      return { kind: 'foreign', pid, command: command === '' ? null : command };
    }
  }
  return { kind: 'foreign', pid: null, command: null };
}

/** The message for a port held by someone else: `port 41234 (http) of node api is held by pid 999 (nc), not by the node's processes`. */
export function describeForeignListener(port: number, portName: string | null, node: string, listener: { pid: number | null; command: string | null }): string {
  const what = `port ${port}${portName === null ? '' : ` (${portName})`} of node ${node}`;
  const holder =
    listener.pid === null ? 'a process this user cannot inspect (another user\'s?)' : `pid ${listener.pid}${listener.command === null ? '' : ` (${listener.command})`}`;
  return `${what} is held by ${holder}, not by the node's processes`;
}
