/**
 * /proc readers for the peers and cold scenarios: the process tree under a manager, CPU ticks
 * (utime + stime) and CPU time in ns (schedstat), PSS (smaps_rollup), and a set of processes the
 * bench saw alive and may signal.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** One process as /proc/PID/stat describes it (proc(5)); times in clock ticks. */
export interface ProcStat {
  readonly pid: number;
  readonly comm: string;
  /** One letter: R, S, D, Z, T … */
  readonly state: string;
  readonly ppid: number;
  readonly utime: number;
  readonly stime: number;
  /** Start time in clock ticks since boot: with the pid, it names one process (pids are reused). */
  readonly starttime: number;
}

let clockTicks: number | undefined;
/** Clock ticks per second (`getconf CLK_TCK`, 100 on Linux). */
export function getClockTicks(): number {
  if (clockTicks === undefined) {
    const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim();
    clockTicks = Number(out) > 0 ? Number(out) : 100;
  }
  return clockTicks;
}

/** Seconds since boot (/proc/uptime, 10 ms resolution): the clock of {@link ProcStat.starttime}. */
export function getUptimeSeconds(): number {
  return Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
}

export function readStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // comm is in parentheses and may hold spaces and parentheses: split after the last ')'.
  const close = text.lastIndexOf(')');
  const fields = text.slice(close + 2).split(' ');
  return {
    pid,
    comm: text.slice(text.indexOf('(') + 1, close),
    state: fields[0]!,
    ppid: Number(fields[1]),
    utime: Number(fields[11]),
    stime: Number(fields[12]),
    starttime: Number(fields[19]),
  };
}

/**
 * CPU time a process has run, in ns: the sum over its live threads of the first field of
 * /proc/PID/task/TID/schedstat (time spent on the CPU, sched-stats.rst in the kernel's docs). An
 * idle supervisor uses tens of ms in 20 s: utime + stime count that in 10 ms ticks, sampled at the
 * timer interrupt, which cannot tell 30 ms from 50 ms. Null when the process is gone or the
 * kernel has no schedstat (CONFIG_SCHED_INFO).
 */
export function readCpuNs(pid: number): number | null {
  let total = 0;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // A thread that ended between the listing and the read.
      }
    }
  } catch {
    return null;
  }
  return total;
}

export function listProcesses(): ProcStat[] {
  const all: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat !== null) all.push(stat);
  }
  return all;
}

/** `root` and every descendant of it (by parent pid), zombies left out; root first. Empty when root is gone. */
export function getTree(root: number): ProcStat[] {
  const all = listProcesses();
  const children = new Map<number, ProcStat[]>();
  for (const p of all) {
    if (p.state === 'Z') continue;
    const list = children.get(p.ppid) ?? [];
    list.push(p);
    children.set(p.ppid, list);
  }
  const rootStat = all.find((p) => p.pid === root && p.state !== 'Z');
  if (rootStat === undefined) return [];
  const tree = [rootStat];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!.pid) ?? []));
  return tree;
}

/** PSS of a process in KiB (/proc/PID/smaps_rollup), 0 when it is gone. */
export function readPssKiB(pid: number): number {
  try {
    const match = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Processes the bench saw alive as part of a peer's tree (its manager, supervision processes and
 * nodes), each named by pid AND start time, so that a pid reused by someone else is never taken
 * for one of them: {@link isAlive} and {@link killAll} look only at the same process.
 */
export class SeenProcesses {
  readonly #seen = new Map<number, ProcStat>();

  add(processes: readonly ProcStat[]): void {
    for (const p of processes) if (p.pid > 0 && !this.#seen.has(p.pid)) this.#seen.set(p.pid, p);
  }

  get size(): number {
    return this.#seen.size;
  }

  /** Whether the process seen as `p` still runs (not a zombie). */
  static isAlive(p: ProcStat): boolean {
    const now = readStat(p.pid);
    return now !== null && now.starttime === p.starttime && now.state !== 'Z';
  }

  /** Every process seen, as it was seen. */
  all(): ProcStat[] {
    return [...this.#seen.values()];
  }

  alive(): ProcStat[] {
    return [...this.#seen.values()].filter((p) => SeenProcesses.isAlive(p));
  }

  /** SIGKILLs every seen process still alive (the same process: pid and start time checked just before). */
  killAll(): void {
    for (const p of this.alive()) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  }

  /** Polls (every 20 ms, up to `timeoutMs`) until every seen process is gone; returns those left. */
  async waitAllGone(timeoutMs: number): Promise<ProcStat[]> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const left = this.alive();
      if (left.length === 0 || Date.now() > until) return left;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
