/**
 * Reads one process tree from Linux `/proc`: the root pid and every live descendant, found
 * through `/proc/<pid>/task/<tid>/children` (a full `/proc/*\/stat` scan for parent pids when the
 * kernel lacks CONFIG_PROC_CHILDREN). When the node runs in its own cgroup v2 leaf, the members
 * are the pids of the leaf's `cgroup.procs` instead: that also counts daemons that left the tree
 * with `setsid` + double fork (re-parented to the shepherd, they are no descendants of the root). Synchronous: callers decide when and how much to read
 * (see `ProcSampler`, which slices the work so the event loop never stalls long).
 *
 * Field positions follow proc(5). Counters that the kernel keeps for reaped children
 * (`cutime`/`cstime`, `cminflt`/`cmajflt`) are included, so the CPU time and faults of a tree's
 * finished short-lived children are not lost while the tree runs.
 */

import { closeSync, openSync, readdirSync, readSync, statSync } from 'node:fs';

/** Sums over one process tree at one moment. Counters are totals since each process started. */
export interface ProcTreeSample {
  /** The pid the tree was read from (the node's process). */
  readonly rootPid: number;
  /** Processes found in the tree (root included). */
  readonly processCount: number;
  /** Where the members came from: the node's cgroup leaf (`cgroup.procs`) or the `/proc` children walk. */
  readonly source: 'cgroup' | 'tree';
  /** User-mode CPU seconds (utime + cutime), summed. */
  readonly userCpuSeconds: number;
  /** Kernel-mode CPU seconds (stime + cstime), summed. */
  readonly systemCpuSeconds: number;
  /** Resident set size (`VmRSS`), summed, in bytes. */
  readonly rssBytes: number;
  /** Virtual memory size (`VmSize`), summed, in bytes. */
  readonly virtualBytes: number;
  /** Threads (`Threads:`), summed. */
  readonly threads: number;
  /** Open file descriptors (entries of `fd/`), summed. */
  readonly fileDescriptors: number;
  /** `voluntary_ctxt_switches`, summed. */
  readonly voluntaryContextSwitches: number;
  /** `nonvoluntary_ctxt_switches`, summed. */
  readonly involuntaryContextSwitches: number;
  /** minflt + cminflt, summed. */
  readonly minorFaults: number;
  /** majflt + cmajflt, summed. */
  readonly majorFaults: number;
  /** `read_bytes` of `io` (storage reads), summed. */
  readonly readBytes: number;
  /** `write_bytes` of `io` (storage writes), summed. */
  readonly writeBytes: number;
}

/** Options of {@link readProcTree}. */
export interface ReadProcTreeOptions {
  /**
   * Where procfs is mounted (tests point it at a fixture directory).
   * @default '/proc'
   */
  readonly procRoot?: string;
  /**
   * Clock ticks per second of `utime`/`stime` (USER_HZ). Linux reports 100 on every
   * architecture it exports to user space (proc(5): "sysconf(_SC_CLK_TCK)").
   * @default 100
   */
  readonly ticksPerSecond?: number;
  /** Shared per sampling round: the parent-pid map of the fallback scan, built at most once. */
  readonly round?: ProcReadRound;
  /**
   * The node's cgroup v2 leaf directory (`NodeSnapshot.cgroup`). When its `cgroup.procs` lists the
   * root, those pids are the members; otherwise (no leaf, already removed, unreadable) the
   * children walk is used.
   * @default null
   */
  readonly cgroup?: string | null;
}

/** State shared by the reads of one sampling round. */
export interface ProcReadRound {
  /** Children by parent pid, from a full scan; built only when `children` files are missing. */
  childrenByParent: Map<number, number[]> | null;
}

/** Most processes a tree may contain before the walk stops (a fork bomb must not stall us). */
const MAX_TREE_PROCESSES = 4096;
const DEFAULT_TICKS_PER_SECOND = 100;

interface StatFields {
  readonly threads: number;
  readonly userTicks: number;
  readonly systemTicks: number;
  readonly minorFaults: number;
  readonly majorFaults: number;
  readonly parentPid: number;
}

/**
 * Reads the tree rooted at `rootPid`, or returns null when the root is gone. Processes that end
 * during the walk are skipped; files the kernel refuses (`EACCES` on another user's `io`) count 0.
 */
export function readProcTree(rootPid: number, options: ReadProcTreeOptions = {}): ProcTreeSample | null {
  const { procRoot = '/proc', ticksPerSecond = DEFAULT_TICKS_PER_SECOND, round = { childrenByParent: null }, cgroup = null } = options;
  const members = cgroup === null ? null : readCgroupMembers(cgroup, rootPid);
  const totals = {
    processCount: 0,
    userTicks: 0,
    systemTicks: 0,
    rssKiB: 0,
    virtualKiB: 0,
    threads: 0,
    fileDescriptors: 0,
    voluntaryContextSwitches: 0,
    involuntaryContextSwitches: 0,
    minorFaults: 0,
    majorFaults: 0,
    readBytes: 0,
    writeBytes: 0,
  };
  const seen = new Set<number>();
  // Members of a cgroup leaf are listed whole: no walk. Popped from the end, so the root goes last.
  const pending = members ?? [rootPid];
  while (pending.length > 0 && seen.size < MAX_TREE_PROCESSES) {
    const pid = pending.pop() as number;
    if (seen.has(pid)) {
      continue;
    }
    seen.add(pid);
    const dir = `${procRoot}/${pid}`;
    const statText = readText(`${dir}/stat`);
    const stat = statText === null ? null : parseStat(statText);
    if (stat === null) {
      if (pid === rootPid) {
        return null;
      }
      continue; // ended during the walk
    }
    totals.processCount += 1;
    totals.userTicks += stat.userTicks;
    totals.systemTicks += stat.systemTicks;
    totals.minorFaults += stat.minorFaults;
    totals.majorFaults += stat.majorFaults;

    const status = readText(`${dir}/status`);
    totals.rssKiB += getField(status, STATUS_VM_RSS);
    totals.virtualKiB += getField(status, STATUS_VM_SIZE);
    totals.threads += getField(status, STATUS_THREADS) || stat.threads;
    totals.voluntaryContextSwitches += getField(status, STATUS_VOLUNTARY_CTXT_SWITCHES);
    totals.involuntaryContextSwitches += getField(status, STATUS_NONVOLUNTARY_CTXT_SWITCHES);

    const io = readText(`${dir}/io`);
    totals.readBytes += getField(io, IO_READ_BYTES);
    totals.writeBytes += getField(io, IO_WRITE_BYTES);

    totals.fileDescriptors += countFileDescriptors(procRoot, `${dir}/fd`);

    if (members !== null) {
      continue;
    }
    for (const child of getChildren(procRoot, pid, stat.threads, round)) {
      if (!seen.has(child)) {
        pending.push(child);
      }
    }
  }
  return {
    rootPid,
    processCount: totals.processCount,
    source: members === null ? 'tree' : 'cgroup',
    userCpuSeconds: totals.userTicks / ticksPerSecond,
    systemCpuSeconds: totals.systemTicks / ticksPerSecond,
    rssBytes: totals.rssKiB * 1024,
    virtualBytes: totals.virtualKiB * 1024,
    threads: totals.threads,
    fileDescriptors: totals.fileDescriptors,
    voluntaryContextSwitches: totals.voluntaryContextSwitches,
    involuntaryContextSwitches: totals.involuntaryContextSwitches,
    minorFaults: totals.minorFaults,
    majorFaults: totals.majorFaults,
    readBytes: totals.readBytes,
    writeBytes: totals.writeBytes,
  };
}

/**
 * `/proc/<pid>/stat` fields (proc(5), 1-based): 4 ppid, 10 minflt, 11 cminflt, 12 majflt,
 * 13 cmajflt, 14 utime, 15 stime, 16 cutime, 17 cstime, 20 num_threads. The command name (field 2)
 * may hold spaces and parentheses, so fields are counted after the LAST `)`.
 */
export function parseStat(text: string): StatFields | null {
  const close = text.lastIndexOf(')');
  if (close < 0) {
    return null;
  }
  const fields = text.slice(close + 2).trim().split(' ');
  // fields[0] is field 3 (state).
  const field = (n: number): number => Number(fields[n - 3] ?? 0) || 0;
  if (fields.length < 18) {
    return null;
  }
  return {
    parentPid: field(4),
    minorFaults: field(10) + field(11),
    majorFaults: field(12) + field(13),
    userTicks: field(14) + field(16),
    systemTicks: field(15) + field(17),
    threads: field(20),
  };
}

// Line keys of `status` and `io` (proc(5)), with the newline before them: none is a first line.
const STATUS_VM_RSS = '\nVmRSS:';
const STATUS_VM_SIZE = '\nVmSize:';
const STATUS_THREADS = '\nThreads:';
const STATUS_VOLUNTARY_CTXT_SWITCHES = '\nvoluntary_ctxt_switches:';
const STATUS_NONVOLUNTARY_CTXT_SWITCHES = '\nnonvoluntary_ctxt_switches:';
const IO_READ_BYTES = '\nread_bytes:';
const IO_WRITE_BYTES = '\nwrite_bytes:';

/**
 * The number after `key` (`'\nVmRSS:'`) in a `Key:   value [kB]` file, or 0 when absent. Looks up
 * only the lines it needs: a `status` file has ~55 lines and 1000 trees are read per round.
 */
function getField(text: string | null, key: string): number {
  if (text === null) {
    return 0;
  }
  const at = text.indexOf(key);
  if (at < 0) {
    return 0;
  }
  const value = Number.parseInt(text.slice(at + key.length, at + key.length + 32), 10);
  return Number.isFinite(value) ? value : 0;
}

function getChildren(procRoot: string, pid: number, threads: number, round: ProcReadRound): number[] {
  if (round.childrenByParent !== null) {
    return round.childrenByParent.get(pid) ?? [];
  }
  // A single-threaded process has one task, its own pid: skip the readdir.
  const tids = threads <= 1 ? [pid] : readNumericEntries(`${procRoot}/${pid}/task`);
  const children: number[] = [];
  for (const tid of tids) {
    const text = readText(`${procRoot}/${pid}/task/${tid}/children`);
    if (text === null) {
      if (tid === pid && !existsPath(`${procRoot}/${pid}/task/${tid}`)) {
        continue; // the process ended meanwhile
      }
      if (tid === pid) {
        // No CONFIG_PROC_CHILDREN: fall back to one scan of every process's parent pid.
        round.childrenByParent = scanChildrenByParent(procRoot);
        return round.childrenByParent.get(pid) ?? [];
      }
      continue; // the thread ended meanwhile
    }
    for (const part of text.split(' ')) {
      const child = Number(part);
      if (part !== '' && Number.isInteger(child)) {
        children.push(child);
      }
    }
  }
  return children;
}

/**
 * Pids of the leaf's `cgroup.procs` with `rootPid` last (the walk pops from the end), or null when
 * the file cannot be read or does not list the root (the leaf is not this run's).
 */
function readCgroupMembers(cgroup: string, rootPid: number): number[] | null {
  const text = readText(`${cgroup}/cgroup.procs`);
  if (text === null) {
    return null;
  }
  const pids: number[] = [];
  let hasRoot = false;
  const lines = text.split('\n');
  // A complete file ends with a newline; past the read buffer (> 8000 members) the last line may be cut.
  lines.pop();
  for (const line of lines) {
    const pid = Number(line);
    if (line === '' || !Number.isInteger(pid) || pid <= 0) {
      continue;
    }
    if (pid === rootPid) {
      hasRoot = true;
    } else if (pids.length < MAX_TREE_PROCESSES - 1) {
      pids.push(pid);
    }
  }
  if (!hasRoot) {
    return null;
  }
  pids.push(rootPid);
  return pids;
}

function scanChildrenByParent(procRoot: string): Map<number, number[]> {
  const byParent = new Map<number, number[]>();
  for (const pid of readNumericEntries(procRoot)) {
    const text = readText(`${procRoot}/${pid}/stat`);
    const stat = text === null ? null : parseStat(text);
    if (stat === null) {
      continue;
    }
    const siblings = byParent.get(stat.parentPid);
    if (siblings === undefined) {
      byParent.set(stat.parentPid, [pid]);
    } else {
      siblings.push(pid);
    }
  }
  return byParent;
}

/**
 * One buffer for every read of a round (procfs files we read are < 4 KiB; `cgroup.procs` of a
 * 4096-process leaf is < 32 KiB). `readFileSync` would fstat, allocate and copy per file, which
 * was a third of the sampling time at 1000 trees (bench/telemetry-collect.mjs).
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

function readText(path: string): string | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    // ENOENT/ESRCH: the process or thread ended; EACCES: another user's file. Either way the
    // sample simply lacks it (documented on readProcTree).
    return null;
  }
  try {
    let length = 0;
    while (length < READ_BUFFER.length) {
      const read = readSync(fd, READ_BUFFER, length, READ_BUFFER.length - length, null);
      if (read === 0) {
        break;
      }
      length += read;
    }
    return READ_BUFFER.toString('latin1', 0, length);
  } catch {
    // ESRCH mid-read: the process ended; same as a missing file.
    return null;
  } finally {
    closeSync(fd);
  }
}

/** Per procfs mount: whether `stat` of `<pid>/fd` gives the number of open fds (Linux ≥ 6.2). */
const fdSizeSupport = new Map<string, boolean>();

/**
 * Open fds of one process. Since Linux 6.2 the size of `/proc/<pid>/fd` is the number of open fds
 * (one `statx` instead of listing every fd; a quarter of the sampling time at 1000 trees).
 * Detected once per mount through `self/fd`; a fake procfs or an older kernel is listed.
 */
function countFileDescriptors(procRoot: string, path: string): number {
  let useSize = fdSizeSupport.get(procRoot);
  if (useSize === undefined) {
    useSize = isFdSizeSupported(procRoot);
    fdSizeSupport.set(procRoot, useSize);
  }
  if (!useSize) {
    return countEntries(path);
  }
  try {
    return statSync(path).size;
  } catch {
    // Same as readText: gone or not ours to look at.
    return 0;
  }
}

function isFdSizeSupported(procRoot: string): boolean {
  try {
    // Our own fd count, seen both ways (the listing holds one more fd open while it reads).
    const size = statSync(`${procRoot}/self/fd`).size;
    const listed = readdirSync(`${procRoot}/self/fd`).length;
    return size > 0 && Math.abs(listed - size) <= 1;
  } catch {
    // No `self` (a fake procfs in tests) or not ours to read: list the entries.
    return false;
  }
}

function countEntries(path: string): number {
  try {
    return readdirSync(path).length;
  } catch {
    // Same as readText: gone or not ours to list.
    return 0;
  }
}

function readNumericEntries(path: string): number[] {
  let entries: string[];
  try {
    entries = readdirSync(path);
  } catch {
    // Same as readText: gone or not ours to list.
    return [];
  }
  const pids: number[] = [];
  for (const entry of entries) {
    const pid = Number(entry);
    if (entry !== '' && Number.isInteger(pid)) {
      pids.push(pid);
    }
  }
  return pids;
}

function existsPath(path: string): boolean {
  try {
    readdirSync(path);
    return true;
  } catch {
    // Gone: the caller treats the task as ended.
    return false;
  }
}
