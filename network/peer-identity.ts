/**
 * Which node opened a TCP connection to the relay: the accepted socket's peer port → the inode of
 * the socket bound to that port (/proc/net/tcp, /proc/net/tcp6) → the process holding that inode
 * (/proc/<pid>/fd links `socket:[inode]`), searched only among the pids of the nodes' trees.
 */
import { readFile, readdir, readlink } from 'node:fs/promises';

/** The pids of one node's tree: its run's pid, descendants, and the members of its cgroup leaf. */
export interface NodeTree {
  readonly node: string;
  readonly pid: number | null;
  readonly cgroup: string | null;
}

/** Parses /proc/net/tcp{,6} text: the inode of the socket with local port `localPort` connected to remote port `remotePort`, or null. */
export function findSocketInode(procNetTcp: string, localPort: number, remotePort: number): number | null {
  const local = `:${localPort.toString(16).toUpperCase().padStart(4, '0')}`;
  const remote = `:${remotePort.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of procNetTcp.split('\n')) {
    const fields = line.trim().split(/\s+/);
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
    if (fields.length < 10 || !fields[1]!.endsWith(local) || !fields[2]!.endsWith(remote)) continue;
    const inode = Number(fields[9]);
    if (Number.isInteger(inode) && inode > 0) return inode;
  }
  return null;
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return '';
  }
}

/** `pid` and every descendant, through /proc/<pid>/task/<tid>/children; bounded by `limit` pids. */
export async function getTreePids(pid: number, limit = 4096): Promise<number[]> {
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0 && found.length < limit) {
    const next = queue.shift()!;
    found.push(next);
    let tasks: string[] = [];
    try {
      tasks = await readdir(`/proc/${next}/task`);
    } catch {
      continue; // gone
    }
    for (const tid of tasks) {
      for (const child of (await readText(`/proc/${next}/task/${tid}/children`)).split(/\s+/)) {
        if (/^\d+$/.test(child) && !found.includes(Number(child))) queue.push(Number(child));
      }
    }
  }
  return found;
}

async function holdsSocket(pid: number, target: string): Promise<boolean> {
  let fds: string[];
  try {
    fds = await readdir(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  for (const fd of fds) {
    try {
      if ((await readlink(`/proc/${pid}/fd/${fd}`)) === target) return true;
    } catch {
      // closed meanwhile
    }
  }
  return false;
}

/**
 * The node whose tree holds the client socket of a connection the relay accepted (its peer port
 * `peerPort`, the relay's port `relayPort`), or null for a process outside every node (a test
 * client). Reads only /proc/net/tcp{,6} and the fds of the nodes' pids.
 */
export async function identifyPeer(peerPort: number, relayPort: number, trees: readonly NodeTree[]): Promise<string | null> {
  let inode = findSocketInode(await readText('/proc/net/tcp'), peerPort, relayPort);
  inode ??= findSocketInode(await readText('/proc/net/tcp6'), peerPort, relayPort);
  if (inode === null) return null;
  const target = `socket:[${inode}]`;
  for (const tree of trees) {
    const pids = new Set<number>(tree.pid === null ? [] : await getTreePids(tree.pid));
    if (tree.cgroup !== null) {
      for (const pid of (await readText(`${tree.cgroup}/cgroup.procs`)).split('\n')) if (/^\d+$/.test(pid)) pids.add(Number(pid));
    }
    for (const pid of pids) if (await holdsSocket(pid, target)) return tree.node;
  }
  return null;
}
