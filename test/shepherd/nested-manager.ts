/**
 * A drover manager run as `nobody` in a session of its own (test/fixtures/nested-control.mjs),
 * for tests that kill process trees: a containment bug then cannot reach anything but nobody's
 * processes of this run. Everything the run starts carries `DROVER_TEST_RUN=<marker>` in its
 * environment (shepherds and the launcher do not: their environment is drover's own), which is how
 * the test counts survivors and how `cleanup()` finds what a failed test left behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { getCgroup2Mount, getOwnCgroupPath } from '../../process/cgroup.js';
import { FIXTURES_DIR } from '../helpers/fixtures.js';
import { expectAllGone, expectNoShepherds, getProcessState, isAlive } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';

const NOBODY_UID = 65534;
const NOBODY_GID = 65534;
let runs = 0;

export interface NestedResult {
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly forcedKill: boolean;
  readonly error: { readonly code: string; readonly message: string } | null;
}

export type NestedMessage =
  | { op: 'hello'; pid: number }
  | { op: 'spawned'; id: number; pid: number; shepherdPid: number; cgroup: string | null; launcherPid: number | null }
  | { op: 'spawn-failed'; id: number; code: string; errno?: string; message: string }
  | { op: 'stopped'; id: number; result: NestedResult }
  | { op: 'exited'; id: number; result: NestedResult; output: string[] }
  | { op: 'output'; id: number; text: string }
  | { op: 'paused' | 'resumed'; id: number; done: boolean }
  | { op: 'freeze-failed'; id: number; code: string; message: string }
  | { op: 'error'; message: string };

/** A process seen during the run: pid and start time (clock ticks since boot), so a recycled pid is never taken for it. */
export interface SeenProcess {
  readonly pid: number;
  readonly startTime: string;
}

/** `/proc/<pid>/stat` fields after the command name: [state, ppid, pgrp, session, …]; null when gone. */
function readStat(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** Start time of `pid` (stat field 22), or null when it is gone. */
function getStartTime(pid: number): string | null {
  return readStat(pid)?.[19] ?? null;
}

/** Live or zombie pids whose environment holds `DROVER_TEST_RUN=<marker>` (zombies have none: see `seen`). */
function findMarked(marker: string): number[] {
  const needle = `DROVER_TEST_RUN=${marker}`;
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').includes(needle)) found.push(Number(entry));
    } catch {
      // gone, or a kernel thread
    }
  }
  return found;
}

function trySignal(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone already
  }
}

export class NestedManager {
  readonly marker: string;
  readonly messages: NestedMessage[] = [];
  /** Every marked process seen by `observe()`, by pid. */
  readonly seen = new Map<number, SeenProcess>();
  private readonly child: ChildProcess;
  private readonly closed: Promise<void>;
  private stderr = '';
  private buffer = '';
  private nextId = 1;

  private constructor(
    readonly cgroupDir: string | null,
    readonly tempDir: string,
  ) {
    this.marker = `${process.pid}-${++runs}-${Date.now()}`;
    const env = { ...process.env, DROVER_TEST_RUN: this.marker, DROVER_CGROUP: cgroupDir ?? 'off', NO_COLOR: '1' };
    const script = path.join(FIXTURES_DIR, 'nested-control.mjs');
    // setpriv execs (no fork) and so does setsid when the caller leads no group: the pid is the manager's.
    const argv = ['setpriv', `--reuid=${NOBODY_UID}`, `--regid=${NOBODY_GID}`, '--clear-groups', 'setsid', process.execPath, script];
    // With a cgroup, the manager starts inside a delegated cgroup that nobody may write to (the
    // child must be allowed to move itself from there into its leaf): root puts the wrapper shell
    // in it before exec, so nothing of the manager runs outside it.
    const [file, args] = cgroupDir === null ? [argv[0]!, argv.slice(1)] : ['sh', ['-c', 'echo $$ > "$0" && exec "$@"', path.join(cgroupDir, 'manager', 'cgroup.procs'), ...argv]];
    this.child = spawn(file, args, { env, stdio: ['pipe', 'pipe', 'pipe'], cwd: tempDir });
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (text: string) => {
      this.buffer += text;
      let end: number;
      while ((end = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 1);
        if (line.trim() !== '') this.messages.push(JSON.parse(line) as NestedMessage);
      }
    });
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.closed = new Promise((resolve) => this.child.once('close', () => resolve()));
  }

  /**
   * Starts a nested manager as nobody. `cgroup: true` gives it a delegated cgroup v2 directory
   * (DROVER_CGROUP) under this process's own; false runs it with DROVER_CGROUP=off.
   */
  static async start({ cgroup }: { cgroup: boolean }): Promise<NestedManager> {
    const tempDir = mkdtempSync(path.join(tmpdir(), 'drover-nested-'));
    chownSync(tempDir, NOBODY_UID, NOBODY_GID);
    let cgroupDir: string | null = null;
    if (cgroup) {
      const mount = getCgroup2Mount(readFileSync('/proc/self/mountinfo', 'utf8'));
      const own = getOwnCgroupPath(readFileSync('/proc/self/cgroup', 'utf8'));
      if (mount === null || own === null) throw new Error('no cgroup v2 hierarchy is mounted');
      cgroupDir = path.join(mount, own, `drover-test-${process.pid}-${runs + 1}`);
      mkdirSync(cgroupDir);
      mkdirSync(path.join(cgroupDir, 'manager'));
      // Delegation (cgroup-v2.rst "Delegation Containment"): the directory and the files that
      // move processes belong to the delegatee.
      for (const name of ['', 'cgroup.procs', 'cgroup.threads', 'cgroup.subtree_control']) chownSync(path.join(cgroupDir, name), NOBODY_UID, NOBODY_GID);
    }
    const manager = new NestedManager(cgroupDir, tempDir);
    await manager.waitForMessage((m) => m.op === 'hello', 'the nested manager to start');
    return manager;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Waits for a message matching `predicate`; the failure shows the messages so far and stderr. */
  async waitForMessage<T extends NestedMessage>(predicate: (m: NestedMessage) => m is T, describe: string, timeoutMs?: number): Promise<T>;
  async waitForMessage(predicate: (m: NestedMessage) => boolean, describe: string, timeoutMs?: number): Promise<NestedMessage>;
  async waitForMessage(predicate: (m: NestedMessage) => boolean, describe: string, timeoutMs = 20_000): Promise<NestedMessage> {
    const state = await waitFor(
      () => ({ found: this.messages.find(predicate), messages: this.messages.slice(-10), stderr: this.stderr.slice(-2000), exit: this.child.exitCode }),
      (s) => s.found !== undefined,
      { describe, timeoutMs },
    );
    return state.found!;
  }

  /** Spawns `argv` in the nested manager; resolves with its `spawned` (or `spawn-failed`) message. */
  async spawn(argv: readonly string[], options: Record<string, unknown> = {}): Promise<Extract<NestedMessage, { op: 'spawned' | 'spawn-failed' }>> {
    const id = this.nextId++;
    this.send({ op: 'spawn', id, argv, options });
    return (await this.waitForMessage((m) => (m.op === 'spawned' || m.op === 'spawn-failed') && m.id === id, `spawn ${id} of ${argv.join(' ').slice(0, 200)}`)) as Extract<
      NestedMessage,
      { op: 'spawned' | 'spawn-failed' }
    >;
  }

  /** `stop()` of spawned process `id`; resolves with its result. */
  async stop(id: number, timeoutMs: number): Promise<NestedResult> {
    this.send({ op: 'stop', id, timeoutMs });
    const m = await this.waitForMessage((x) => x.op === 'stopped' && x.id === id, `stop of ${id}`, timeoutMs + 20_000);
    return (m as Extract<NestedMessage, { op: 'stopped' }>).result;
  }

  /** `pause()` (or `resume()`) of spawned process `id`; resolves with the answer. */
  async freeze(id: number, frozen: boolean): Promise<Extract<NestedMessage, { op: 'paused' | 'resumed' | 'freeze-failed' }>> {
    const count = this.messages.length;
    this.send({ op: frozen ? 'pause' : 'resume', id });
    const answer = (m: NestedMessage) => (m.op === (frozen ? 'paused' : 'resumed') || m.op === 'freeze-failed') && m.id === id && this.messages.indexOf(m) >= count;
    return (await this.waitForMessage(answer, `${frozen ? 'pause' : 'resume'} of ${id}`)) as Extract<NestedMessage, { op: 'paused' | 'resumed' | 'freeze-failed' }>;
  }

  /** The output lines and result of spawned process `id` once it ended. */
  async exited(id: number, timeoutMs = 20_000): Promise<Extract<NestedMessage, { op: 'exited' }>> {
    return (await this.waitForMessage((x) => x.op === 'exited' && x.id === id, `exit of ${id}`, timeoutMs)) as Extract<NestedMessage, { op: 'exited' }>;
  }

  /** The first output line of spawned process `id` that matches `pattern`. */
  async waitForOutput(id: number, pattern: RegExp, timeoutMs = 20_000): Promise<string> {
    const m = await this.waitForMessage((x) => x.op === 'output' && x.id === id && pattern.test(x.text), `output ${pattern} of ${id}`, timeoutMs);
    return (m as Extract<NestedMessage, { op: 'output' }>).text;
  }

  private send(command: unknown): void {
    this.child.stdin!.write(`${JSON.stringify(command)}\n`);
  }

  /** Records the marked processes alive now (pid and start time) into `seen`; returns their pids. */
  observe(): number[] {
    const pids = findMarked(this.marker).filter((pid) => pid !== this.pid);
    for (const pid of pids) {
      const startTime = getStartTime(pid);
      if (startTime !== null && !this.seen.has(pid)) this.seen.set(pid, { pid, startTime });
    }
    return pids.filter(isAlive);
  }

  /** Marked processes other than the manager that are alive now. */
  survivors(): number[] {
    return findMarked(this.marker).filter((pid) => pid !== this.pid && isAlive(pid));
  }

  /** Processes seen by `observe()` that are zombies now (same pid and start time, state Z). */
  zombies(): number[] {
    return [...this.seen.values()].filter(({ pid, startTime }) => getProcessState(pid) === 'Z' && getStartTime(pid) === startTime).map(({ pid }) => pid);
  }

  /** SIGKILLs the manager (its shepherds then stop their children by themselves). */
  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.closed;
  }

  /**
   * Ends the run: closes the manager's stdin (it exits; its shepherds stop their children), then
   * freezes and kills whatever marked process a failed test left, removes the cgroup directories
   * and the temp dir, and proves nothing marked is left.
   */
  async cleanup(): Promise<void> {
    this.child.stdin!.end();
    const exited = await Promise.race([this.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000).unref())]);
    if (!exited) await this.kill();
    // Freeze first (a fork bomb regrows what is killed one by one), then kill; repeat until none.
    const left = await waitFor(
      () => {
        const marked = findMarked(this.marker);
        for (const pid of marked) trySignal(pid, 'SIGSTOP');
        for (const pid of marked) trySignal(pid, 'SIGKILL');
        return marked.filter(isAlive);
      },
      (pids) => pids.length === 0,
      { describe: `no process of run ${this.marker} left`, timeoutMs: 10_000 },
    );
    // Nothing seen is a zombie either, and drover's own processes of the run (shepherds, the
    // launcher; they do not carry the marker) are gone with the manager.
    await waitFor(() => this.zombies(), (zombies) => zombies.length === 0, { describe: `no zombie of run ${this.marker}` });
    const own = this.messages.flatMap((m) => (m.op === 'spawned' ? [m.shepherdPid, ...(m.launcherPid === null ? [] : [m.launcherPid])] : []));
    await expectAllGone([this.pid, ...own]);
    await expectNoShepherds();
    if (this.cgroupDir !== null) {
      for (const entry of readdirSync(this.cgroupDir, { withFileTypes: true })) {
        if (!entry.isDirectory()) continue;
        const dir = path.join(this.cgroupDir, entry.name);
        for (const leaf of readdirSync(dir, { withFileTypes: true })) if (leaf.isDirectory()) rmdirSync(path.join(dir, leaf.name));
        await waitFor(() => { try { rmdirSync(dir); return true; } catch { return false; } }, (ok) => ok, { describe: `${dir} removed` });
      }
      rmdirSync(this.cgroupDir);
    }
    rmSync(this.tempDir, { recursive: true, force: true });
    expect(left).toEqual([]);
  }
}

/** Reads `/proc/<pid>/stat` state, ppid, pgrp and session; null when gone. */
export function getProcessIds(pid: number): { state: string; ppid: number; pgrp: number; session: number } | null {
  const fields = readStat(pid);
  if (fields === null) return null;
  return { state: fields[0]!, ppid: Number(fields[1]), pgrp: Number(fields[2]), session: Number(fields[3]) };
}
