import net from 'node:net';
import type { Writable } from 'node:stream';
import { closeFd, FREEZE_WAIT_MS, getSignalName, SCOPE_GROUP, SCOPE_LEADER, STDIO_NULL, STDIO_PIPE } from '../native/index.js';
import { createCgroupLeafPath, freezeCgroup } from './cgroup.js';
import { DroverError } from '../contract/errors.js';
import { explainFdExhaustion, FD_EXHAUSTED_REASON, reserveFds } from './fd-budget.js';
import { setLongTimeout, type LongTimer } from '../contract/long-timer.js';
import { normalizeSignal, normalizeSpawnOptions, type NormalizedSpawnOptions, type SpawnOptions } from './options.js';
import { OutputBuffer } from './output-buffer.js';
import { getAutoPipeSize, warnPipeBudgetOnce } from './pipe-budget.js';
import { PipeReader, PipeWriter, readPipe, type IoCounter } from './pipe-streams.js';
import { getShepherdSupply } from './launcher-client.js';
import { ShepherdClient, type ShepherdOutcome, type StartedChild } from './shepherd-client.js';

import type { ExitInfo, OutputStream, ProcessStats } from '../contract/types.js';

/** How a supervised process ended. Extends {@link ExitInfo}. */
export interface ProcessResult extends ExitInfo {
  /** Set when the end was not an observed exit: ERR_SHEPHERD_LOST or ERR_PROTOCOL. */
  readonly error: DroverError | null;
  /** True when stdout/stderr did not reach EOF within `drainTimeoutMs` after the exit (a descendant kept the pipe open). */
  readonly drainTimedOut: boolean;
  /** F_GETPIPE_SZ of the stdin, stdout and stderr pipes in bytes, as obtained at start (0: no pipe, or a pty). */
  readonly pipeSizes: readonly [number, number, number];
}


/**
 * One supervised OS process, started through its own shepherd. Created by {@link spawn}.
 */
export class ManagedProcess {
  /** Child pid (also its process group id). */
  readonly pid: number;
  /** The child's process group id (equal to `pid`: the shepherd makes it a group leader). */
  readonly pgid: number;
  /** Epoch ms when the child was started. */
  readonly startedAt: number;
  /** Writable to the child's stdin when `stdin: 'pipe'`. */
  readonly stdin: Writable | null;
  /** Readable of the child's stdout when `stdout: 'stream'` (also a BYOB byte stream: `toByteStream()`). */
  readonly stdout: PipeReader | null;
  /** Readable of the child's stderr when `stderr: 'stream'` (also a BYOB byte stream: `toByteStream()`). */
  readonly stderr: PipeReader | null;
  /** F_GETPIPE_SZ of the stdin, stdout and stderr pipes in bytes (0: no pipe, or a pty). */
  readonly pipeSizes: readonly [number, number, number];
  /** True in pty mode: `stdout` carries the terminal's output (stderr merged). */
  readonly isPty: boolean;
  /** The child's cgroup v2 directory, or null when containment uses process groups only. */
  readonly cgroup: string | null;
  /** Pid of this process's shepherd (its watchdog parent). */
  readonly shepherdPid: number | undefined;
  /** Ring buffer of output lines of every stream in `buffer` mode. */
  readonly output: OutputBuffer;
  /**
   * Resolves (never rejects) once the exit status is in AND every `buffer` stream reached EOF, so
   * `output` and `stats()` hold everything the child wrote. A descendant (or anything else) that
   * keeps a pipe open bounds the wait at `drainTimeoutMs`; the result then says `drainTimedOut`.
   * `stream` streams are not awaited: their consumer drives them to EOF (awaiting them would
   * deadlock a caller that awaits `exited` before reading).
   */
  readonly exited: Promise<ProcessResult>;
  private result: ProcessResult | null = null;
  private stopPromise: Promise<ProcessResult> | null = null;
  private readonly counters: Record<'stdin' | OutputStream, IoCounter> = {
    stdin: { bytes: 0, ops: 0 },
    stdout: { bytes: 0, ops: 0 },
    stderr: { bytes: 0, ops: 0 },
  };
  /** Sockets of stdin and of `buffer` streams: the manager owns and closes them. */
  private readonly sockets: net.Socket[] = [];

  /** @internal use {@link spawn}. */
  constructor(
    private readonly options: NormalizedSpawnOptions,
    private readonly client: ShepherdClient,
    child: StartedChild,
    startedAt: number,
    output: OutputBuffer,
  ) {
    this.pid = child.pid;
    this.pgid = child.pgid;
    this.startedAt = startedAt;
    this.shepherdPid = client.shepherdPid;
    this.pipeSizes = child.pipeSizes;
    warnPipeBudgetOnce(child.pipeSizes);
    this.isPty = child.pty;
    this.cgroup = child.cgroup;
    this.output = output;
    const [stdinFd, stdoutFd, stderrFd] = child.fds;
    // In pty mode the stdin slot always carries the terminal's writer; without `stdin: 'pipe'`
    // nobody writes to it.
    if (stdinFd !== null && options.stdin !== 'pipe') closeFd(stdinFd);
    if (stdinFd === null || options.stdin !== 'pipe') this.stdin = null;
    else {
      const writer = new PipeWriter({ fd: stdinFd, isPty: this.isPty }, this.counters.stdin);
      this.sockets.push(writer.handle);
      writer.on('error', () => {
        // EPIPE when the child exits before reading everything; the exit report says why.
      });
      this.stdin = writer;
    }
    const drains: Promise<void>[] = [];
    this.stdout = this.setupOutput('stdout', stdoutFd, drains);
    this.stderr = this.setupOutput('stderr', stderrFd, drains);
    this.exited = this.client.outcome.then((outcome) => this.finish(outcome, drains));
  }

  /**
   * I/O counters so far, exact in every mode: stdout/stderr bytes and read(2) calls that returned
   * data (for `stream` streams, reads from the pipe, whether or not the consumer took them yet);
   * stdin bytes and writes the kernel accepted.
   */
  stats(): ProcessStats {
    return {
      stdin: { ...this.counters.stdin },
      stdout: { ...this.counters.stdout },
      stderr: { ...this.counters.stderr },
      droppedLines: this.output.droppedLines,
      droppedBytes: this.output.droppedBytes,
      bufferedLines: this.output.lineCount,
      bufferedBytes: this.output.byteCount,
      pipeSizes: { stdin: this.pipeSizes[0], stdout: this.pipeSizes[1], stderr: this.pipeSizes[2] },
    };
  }

  /** The result once known, else null. */
  get exitResult(): ProcessResult | null {
    return this.result;
  }

  /**
   * Sends `signal` to the child (scope `leader`, execa's `kill()`) or its whole process group.
   * Returns false once the exit is known: a reaped pid is never signalled.
   * @throws {DroverError} ERR_INVALID_OPTION for an unknown signal.
   */
  kill(signal: string | number = 'SIGTERM', options: { scope?: 'leader' | 'group' } = {}): boolean {
    const { signo } = normalizeSignal('signal', signal);
    if (this.result !== null) return false;
    this.client.signal(signo, options.scope === 'group' ? SCOPE_GROUP : SCOPE_LEADER);
    return true;
  }

  /**
   * Stops the process: the shepherd sends `signal` to the process group and SIGKILL after
   * `timeoutMs` (the shepherd runs this escalation itself, so it completes even if the manager
   * dies). Idempotent: later calls return the first call's promise.
   */
  stop(options: { signal?: string; timeoutMs?: number } = {}): Promise<ProcessResult> {
    if (this.stopPromise) return this.stopPromise;
    const { signo } = normalizeSignal('stop.signal', options.signal ?? this.options.stop.signal);
    const timeoutMs = options.timeoutMs ?? this.options.stop.timeoutMs;
    if (this.result === null) this.client.stop(signo, timeoutMs);
    this.stopPromise = this.exited;
    return this.stopPromise;
  }

  /**
   * Freezes the child's whole tree (`setsid` daemons included): with a cgroup leaf through the
   * cgroup v2 freezer (`cgroup.freeze`, awaited until `cgroup.events` says `frozen 1`), else
   * through the shepherd, which SIGSTOPs the process group and every descendant it finds and
   * answers once all show stopped. The manager signals nothing itself. Resolves false when the
   * process ended first (nothing to freeze).
   * @throws {DroverError} ERR_UNSUPPORTED when the tree did not freeze within 5 s (cgroup) or
   *   FREEZE_WAIT_MS (signals: a member in uninterruptible sleep), naming how many processes still
   *   run; ERR_PROTOCOL when the shepherd refused the request.
   */
  async pause(): Promise<boolean> {
    return this.setFrozen(true);
  }

  /** Thaws what {@link ManagedProcess.pause} froze (`cgroup.freeze` 0, or SIGCONT to the tree through the shepherd). Resolves false when the process ended first. */
  async resume(): Promise<boolean> {
    return this.setFrozen(false);
  }

  private async setFrozen(frozen: boolean): Promise<boolean> {
    if (this.result !== null) return false;
    const what = frozen ? 'freeze' : 'thaw';
    if (this.cgroup !== null) {
      let outcome: 'done' | 'gone' | 'timeout';
      try {
        outcome = await freezeCgroup(this.cgroup, frozen);
      } catch (error) {
        throw new DroverError('ERR_UNSUPPORTED', `cannot ${what} pid ${this.pid}: writing ${this.cgroup}/cgroup.freeze failed: ${(error as Error).message}`, { pid: this.pid, path: this.cgroup, cause: error });
      }
      if (outcome === 'timeout') throw new DroverError('ERR_UNSUPPORTED', `cgroup ${this.cgroup} of pid ${this.pid} did not ${what} within 5000 ms`, { pid: this.pid, path: this.cgroup });
      return outcome === 'done';
    }
    const report = await this.client.freeze(frozen);
    if (report === null) return false;
    if (report.running > 0) {
      throw new DroverError('ERR_UNSUPPORTED', `${report.running} of ${report.processes} processes of pid ${this.pid}'s tree did not stop within ${FREEZE_WAIT_MS} ms (uninterruptible sleep?)`, { pid: this.pid });
    }
    return true;
  }

  /** Ends the child's stdin (EOF). */
  closeStdin(): void {
    this.stdin?.end();
  }

  /**
   * Sets the pty's window size (TIOCSWINSZ; the child gets SIGWINCH).
   * @throws {DroverError} ERR_INVALID_OPTION without `pty`, or for sizes outside 1..65535.
   */
  resize(columns: number, rows: number): void {
    if (!this.isPty) throw new DroverError('ERR_INVALID_OPTION', 'resize() needs a process started with `pty`');
    for (const [name, v] of [['columns', columns], ['rows', rows]] as const) {
      if (!Number.isInteger(v) || v < 1 || v > 65535) throw new DroverError('ERR_INVALID_OPTION', `Expected \`${name}\` to be an integer from 1 to 65535, got ${String(v)}`);
    }
    if (this.result === null) this.client.resize(columns, rows);
  }

  /** Whether the shepherd watch keeps the event loop alive. @default true */
  setRef(ref: boolean): void {
    this.client.setRef(ref);
  }

  private setupOutput(stream: OutputStream, fd: number | null, drains: Promise<void>[]): PipeReader | null {
    if (fd === null) return null;
    const counter = this.counters[stream];
    // net.Socket owns the fd from here; it is closed only by destroy().
    if (this.options[stream] === 'stream') {
      // The consumer owns a `stream` reader; the manager never destroys it (its EOF is the consumer's).
      return new PipeReader({ fd, isPty: this.isPty }, counter, this.pipeSizes[stream === 'stdout' ? 1 : 2]);
    }
    drains.push(
      new Promise<void>((resolve) => {
        const socket = readPipe(
          { fd, isPty: this.isPty },
          counter,
          (chunk) => this.output.write(stream, chunk),
          () => {
            this.output.end(stream);
            resolve();
          },
        );
        this.sockets.push(socket);
      }),
    );
    return null;
  }

  private async finish(outcome: ShepherdOutcome, drains: Promise<void>[]): Promise<ProcessResult> {
    const endedAt = Date.now();
    let drainTimedOut = false;
    if (drains.length > 0) {
      let timer: LongTimer | undefined;
      const bound = new Promise<'timeout'>((resolve) => {
        timer = setLongTimeout(() => resolve('timeout'), this.options.drainTimeoutMs);
      });
      drainTimedOut = (await Promise.race([Promise.all(drains), bound])) === 'timeout';
      timer?.clear();
    }
    // stdin is done once the child is gone; `buffer` sockets are closed already unless the drain
    // timed out (a descendant holds the pipe), in which case we stop reading now.
    for (const socket of this.sockets) socket.destroy();
    if (drainTimedOut) {
      this.output.end('stdout');
      this.output.end('stderr');
    }
    const durationMs = endedAt - this.startedAt;
    if (outcome.kind === 'lost') {
      this.result = {
        exitCode: null,
        signal: null,
        coreDumped: false,
        forcedKill: false,
        durationMs,
        rusage: null,
        error: outcome.error,
        drainTimedOut,
        pipeSizes: this.pipeSizes,
      };
      return this.result;
    }
    const r = outcome.report;
    this.result = {
      exitCode: r.exitCode,
      signal: r.signal === null ? null : getSignalName(r.signal),
      coreDumped: r.coreDumped,
      forcedKill: r.forcedKill,
      durationMs,
      rusage: {
        userCpuSeconds: r.userCpuUs / 1e6,
        systemCpuSeconds: r.systemCpuUs / 1e6,
        maxRssKiB: r.maxRssKiB,
        minorFaults: r.minorFaults,
        majorFaults: r.majorFaults,
        voluntaryContextSwitches: r.voluntaryContextSwitches,
        involuntaryContextSwitches: r.involuntaryContextSwitches,
      },
      error: null,
      drainTimedOut,
      pipeSizes: this.pipeSizes,
    };
    return this.result;
  }
}

/**
 * Starts one supervised process through its own shepherd. Resolves once the child runs (pid and
 * pipes in hand).
 *
 * @example
 * const p = await spawn(['node', 'server.js'], { cwd: './srv' });
 * console.log(p.pid, p.output.tail(5));
 * await p.stop();
 *
 * @throws {DroverError} ERR_INVALID_OPTION, ERR_COMMAND_NOT_FOUND (ENOENT), ERR_PERMISSION_DENIED
 *   (EACCES), ERR_CWD (bad working directory), ERR_SPAWN_FAILED (anything else, e.g. argv/env too
 *   large), ERR_NATIVE_LOAD (addon or shepherd missing).
 */
export async function spawn(command: readonly string[], options: SpawnOptions = {}): Promise<ManagedProcess> {
  const normalized = normalizeSpawnOptions(command, options);
  return startManagedProcess(normalized, new OutputBuffer(normalized.output));
}

/**
 * Starts a process from normalized options, writing its output into `output` (a cluster node keeps
 * one buffer across restarts).
 * @internal
 */
export async function startManagedProcess(normalized: NormalizedSpawnOptions, output: OutputBuffer): Promise<ManagedProcess> {
  const startedAt = Date.now();
  const command = normalized.argv[0]!;
  // ERR_SPAWN_FAILED (EMFILE) before anything is created. The manager holds the shepherd's control
  // socket and diagnostics pipe, and one descriptor per piped stream (a pty: two of its master).
  const piped = normalized.pty !== null ? 2 : [normalized.stdin === 'pipe', normalized.stdout !== 'ignore', normalized.stderr !== 'ignore'].filter(Boolean).length;
  const release = reserveFds(command, 2 + piped);
  const supply = getShepherdSupply();
  let client: ShepherdClient;
  let child: StartedChild;
  try {
    client = new ShepherdClient({
      // A pty is the child's stdin, stdout and stderr at once: the shepherd gets "pipe" for all
      // three and hands back the master; without `stdin: 'pipe'` the manager closes its writer.
      stdio: normalized.pty !== null
        ? [STDIO_PIPE, STDIO_PIPE, STDIO_PIPE]
        : [
            normalized.stdin === 'pipe' ? STDIO_PIPE : STDIO_NULL,
            normalized.stdout === 'ignore' ? STDIO_NULL : STDIO_PIPE,
            normalized.stderr === 'ignore' ? STDIO_NULL : STDIO_PIPE,
          ],
      killGraceMs: normalized.stop.timeoutMs,
      cwd: normalized.cwd,
      argv: normalized.argv,
      env: normalized.env,
      // One size for every pipe of the child (the shepherd's SPAWN has one field); a pty has none.
      pipeSize: normalized.pty !== null ? 0 : normalized.pipeSizeBytes === 'auto' ? getAutoPipeSize() : normalized.pipeSizeBytes,
      pty: normalized.pty,
      rlimits: normalized.limits,
      cgroup: (normalized.cgroup ? createCgroupLeafPath(command.split('/').pop()!) : null) ?? '',
    }, supply);
    child = await client.started;
  } catch (error) {
    const errno = (error as { errno?: unknown }).errno;
    if ((errno === 'EMFILE' || errno === 'ENFILE') && (error as DroverError).reason !== FD_EXHAUSTED_REASON) throw explainFdExhaustion(command, error);
    throw error;
  } finally {
    release();
    // Whether the child runs or not, replace the spare this spawn may have taken: only now, so
    // starting it never competed with this start for the CPU.
    supply.refillSpares();
  }
  return new ManagedProcess(normalized, client, child, startedAt, output);
}
