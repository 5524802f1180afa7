import {
  closeFd,
  decodeMessage,
  encodeFreeze,
  encodeSignal,
  encodeSpawn,
  encodeStop,
  encodeWinsize,
  getErrnoName,
  getShepherdPath,
  sendRecord,
  sendRecords,
  STAGE_CGROUP,
  STAGE_CHDIR,
  STAGE_EXEC,
  STAGE_PTY,
  STAGE_RLIMIT,
  watchRecords,
  type RecordWatcher,
  type ShepherdMessage,
  type SpawnMessage,
} from '../native/index.js';
import { killCgroup, removeCgroupWhenEmpty } from './cgroup.js';
import { DroverError, type DroverErrorCode } from '../contract/errors.js';
import { explainFdExhaustion, isFdTableFull } from './fd-budget.js';
import { isOwnablePid, signalProcessGroup } from './owned-signals.js';
import type { LaunchedShepherd, ShepherdSupply } from './launcher-client.js';

/** What the shepherd reported once the child runs. */
export interface StartedChild {
  readonly pid: number;
  readonly pgid: number;
  /** Parent ends in order stdin, stdout, stderr; null where the mode was not `pipe`. */
  readonly fds: readonly [number | null, number | null, number | null];
  /** F_GETPIPE_SZ of the stdin, stdout and stderr pipes as created (0: no pipe). */
  readonly pipeSizes: readonly [number, number, number];
  /** True when fds[1] (and fds[0]) are the pty master. */
  readonly pty: boolean;
  /** The child's cgroup v2 directory, or null when it runs without one. */
  readonly cgroup: string | null;
}

/** The shepherd's answer to FREEZE: how many processes of the tree it signalled, how many did not show stopped. */
export interface FreezeReport {
  readonly frozen: boolean;
  readonly processes: number;
  readonly running: number;
}

type ExitedMessage = Extract<ShepherdMessage, { type: 'exited' }>;

/** The end of a shepherd session: the child's exit report, or the shepherd's loss. */
export type ShepherdOutcome = { readonly kind: 'exited'; readonly report: ExitedMessage } | { readonly kind: 'lost'; readonly error: DroverError };

function getExecErrorCode(errno: string, stage: number): DroverErrorCode {
  if (stage === STAGE_CHDIR) return 'ERR_CWD';
  if (stage === STAGE_EXEC && errno === 'ENOENT') return 'ERR_COMMAND_NOT_FOUND';
  if (stage === STAGE_EXEC && errno === 'EACCES') return 'ERR_PERMISSION_DENIED';
  return 'ERR_SPAWN_FAILED';
}

const STAGE_NAMES: Record<number, string> = {
  [STAGE_RLIMIT]: 'setting a resource limit',
  [STAGE_CGROUP]: 'creating or joining its cgroup',
  [STAGE_PTY]: 'opening its pty',
};

function describeExecFailure(code: DroverErrorCode, errno: string, stage: number, message: SpawnMessage): string {
  const command = message.argv[0]!;
  if (STAGE_NAMES[stage] !== undefined) return `could not start ${command}: ${STAGE_NAMES[stage]} failed with ${errno}`;
  if (errno === 'E2BIG') return `could not start ${command}: its arguments and environment are too large for execve (E2BIG)`;
  if (errno === 'ENOEXEC' && stage === STAGE_EXEC) return `could not start ${command}: exec format error (ENOEXEC): not an executable for this machine, or a script without a #! line`;
  switch (code) {
    case 'ERR_CWD':
      return `cannot enter working directory ${message.cwd}: ${errno}`;
    case 'ERR_COMMAND_NOT_FOUND':
      return `command not found: ${command} (${errno})`;
    case 'ERR_PERMISSION_DENIED':
      return `permission denied executing ${command} (${errno})`;
    default:
      return `could not start ${command}: ${errno}`;
  }
}

/** Dead spare shepherds one spawn skips before it reports ERR_SPAWN_FAILED. */
const MAX_DEAD_SHEPHERDS = 8;

/**
 * How long the rest of a SPAWN larger than the socket buffer may take to go out (ms): the
 * shepherd reads it as it arrives, so only a shepherd that stopped reading (SIGSTOPped) runs
 * into this, and the spawn fails with ERR_SPAWN_FAILED (ETIMEDOUT).
 */
const SPAWN_SEND_TIMEOUT_MS = 10_000;

/**
 * One shepherd: spawns the watchdog with a SEQPACKET control socket as fd 3, sends SPAWN, and
 * turns its reports into a promise (`started`) and an outcome (`outcome`).
 *
 * Safety layer two: when the control socket ends without
 * EXITED, the manager kills the recorded process group itself and reports ERR_SHEPHERD_LOST.
 */
export class ShepherdClient {
  /** Resolves when the child runs; rejects with ERR_COMMAND_NOT_FOUND / ERR_PERMISSION_DENIED / ERR_CWD / ERR_SPAWN_FAILED. */
  readonly started: Promise<StartedChild>;
  /** Resolves once, after `started` resolved, when the child's exit (or the shepherd's loss) is known. */
  readonly outcome: Promise<ShepherdOutcome>;
  /** Shepherd process id (set once the shepherd is started, before `started` resolves). */
  shepherdPid: number | undefined;
  private fd = -1;
  private isRef = true;
  private watcher: RecordWatcher | null = null;
  private child: StartedChild | null = null;
  private finished = false;
  private resolveStarted!: (child: StartedChild) => void;
  private rejectStarted!: (error: DroverError) => void;
  private resolveOutcome!: (outcome: ShepherdOutcome) => void;
  private readonly diagnostics: string[] = [];
  /** FREEZE requests sent and not answered yet, oldest first (the shepherd answers in order). */
  private readonly freezes: { resolve: (report: FreezeReport | null) => void; reject: (error: DroverError) => void }[] = [];
  /** Shepherds found dead when SPAWN was sent to them (see attach). */
  private deadShepherds = 0;

  /**
   * Starts a shepherd from `supply` and sends it `message`. Replacing a spare this spawn took is
   * the caller's move (`supply.refillSpares()` once `started` settled).
   * @throws {DroverError} ERR_SPAWN_FAILED when `message` cannot be encoded (E2BIG); ERR_NATIVE_LOAD.
   */
  constructor(
    private readonly message: SpawnMessage,
    private readonly supply: ShepherdSupply,
  ) {
    this.started = new Promise((resolve, reject) => {
      this.resolveStarted = resolve;
      this.rejectStarted = reject;
    });
    this.outcome = new Promise((resolve) => {
      this.resolveOutcome = resolve;
    });
    const records = encodeSpawnOrThrow(message);
    const shepherdPath = getShepherdPath(); // ERR_NATIVE_LOAD propagates as is: no retry fixes it
    this.start(shepherdPath, records);
  }

  /**
   * Gets a shepherd process (a spare waiting for SPAWN, or one started now by the launcher or, as
   * the fallback, by child_process: the supply, process/launcher-client.ts) and sends it SPAWN.
   */
  private start(shepherdPath: string, records: readonly Buffer[]): void {
    this.supply.acquire(shepherdPath, (error) => this.fail(error)).then(
      (shepherd) => this.attach(shepherd, records, shepherdPath),
      (error: unknown) =>
        this.fail(error instanceof DroverError ? error : new DroverError('ERR_SPAWN_FAILED', `could not start the shepherd: ${(error as Error).message}`, { cause: error })),
    );
  }

  /**
   * Takes over a started shepherd's control socket and sends it SPAWN: its first record at once
   * (a dead spare shows here, as EPIPE), then the rest; what does not fit the socket buffer goes
   * out on a worker thread as the shepherd reads (sendRecords), and the watcher starts after it.
   */
  private attach(shepherd: LaunchedShepherd, records: readonly Buffer[], shepherdPath: string): void {
    if (this.finished) {
      // Failed while the shepherd was being started: it sees the hangup and exits before SPAWN.
      closeFd(shepherd.fd);
      shepherd.stderr?.destroy();
      return;
    }
    // SPAWN first: a shepherd reads nothing else, and STARTED waits in the socket for the watcher.
    try {
      sendRecord(shepherd.fd, records[0]!);
    } catch (error) {
      closeFd(shepherd.fd);
      shepherd.stderr?.destroy();
      const code = (error as NodeJS.ErrnoException).code;
      if (shepherd.via !== 'direct' && (code === 'EPIPE' || code === 'ECONNRESET') && this.deadShepherds++ < MAX_DEAD_SHEPHERDS) {
        // A shepherd started ahead of time that ended while it waited for SPAWN (killed by hand):
        // take the next spare, or have one started.
        this.start(shepherdPath, records);
        return;
      }
      this.fail(new DroverError('ERR_SPAWN_FAILED', `could not send SPAWN to the shepherd: ${(error as Error).message}`, { cause: error }));
      return;
    }
    let next = 1;
    try {
      for (; next < records.length; next++) sendRecord(shepherd.fd, records[next]!);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') {
        // The socket buffer is full: the rest goes out as the shepherd makes room.
        sendRecords(shepherd.fd, records.slice(next), SPAWN_SEND_TIMEOUT_MS).then(
          () => this.watch(shepherd, null),
          (sendError: unknown) => this.watch(shepherd, sendError as Error),
        );
        return;
      }
      this.watch(shepherd, error as Error);
      return;
    }
    this.watch(shepherd, null);
  }

  /**
   * Watches the control socket once SPAWN went out. After a failed send the watcher still runs:
   * a shepherd that refused the SPAWN sent ERROR (why) before it hung up, and that is reported;
   * a send that timed out fails the spawn itself (the shepherd sees the hangup and exits).
   */
  private watch(shepherd: LaunchedShepherd, sendError: Error | null): void {
    if (this.finished) {
      closeFd(shepherd.fd);
      shepherd.stderr?.destroy();
      return;
    }
    this.fd = shepherd.fd;
    this.shepherdPid = shepherd.pid;
    shepherd.stderr?.setEncoding('utf8');
    shepherd.stderr?.on('data', (text: string) => this.recordDiagnostics(text));
    if (sendError !== null) {
      this.recordDiagnostics(`SPAWN send failed: ${sendError.message}\n`);
      if ((sendError as NodeJS.ErrnoException).code === 'ETIMEDOUT') {
        closeFd(shepherd.fd);
        this.fd = -1;
        this.fail(
          new DroverError('ERR_SPAWN_FAILED', `could not send SPAWN to shepherd ${shepherd.pid ?? '?'}: it did not take the message within ${SPAWN_SEND_TIMEOUT_MS} ms (ETIMEDOUT)`, {
            cause: sendError,
            errno: 'ETIMEDOUT',
          }),
        );
        return;
      }
    }
    this.watcher = watchRecords(
      shepherd.fd,
      (data, fds) => this.handleRecord(data, fds),
      (error) => this.handleEnd(error),
    );
    if (!this.isRef) this.watcher.unref();
  }

  /** Last lines the shepherd wrote to its stderr (diagnostics). */
  getDiagnostics(): string {
    return this.diagnostics.join('');
  }

  /** Sends SIGNAL; ignored once the outcome is known (never signal a reaped pid). */
  signal(signo: number, scope: 0 | 1): void {
    this.send(encodeSignal(signo, scope));
  }

  /** Sends STOP: the shepherd signals the group and escalates to SIGKILL after `graceMs` itself. */
  stop(signo: number, graceMs: number): void {
    this.send(encodeStop(signo, graceMs));
  }

  /**
   * Sends FREEZE: the shepherd SIGSTOPs (`frozen`) or SIGCONTs the child's whole tree (group,
   * descendants it reaps, cgroup members) and answers with what it reached. Resolves null when the
   * child's outcome is known first (nothing left to freeze).
   * @throws {DroverError} ERR_PROTOCOL when the shepherd refused the message.
   */
  freeze(frozen: boolean): Promise<FreezeReport | null> {
    if (this.finished || this.watcher === null) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      this.freezes.push({ resolve, reject });
      this.send(encodeFreeze(frozen));
    });
  }

  /** Sends WINSIZE (pty mode): TIOCSWINSZ on the child's terminal. */
  resize(columns: number, rows: number): void {
    this.send(encodeWinsize(columns, rows));
  }

  /** Keeps (or stops keeping) the event loop alive for this shepherd. */
  setRef(ref: boolean): void {
    this.isRef = ref;
    if (ref) this.watcher?.ref();
    else this.watcher?.unref();
  }

  private send(record: Buffer): void {
    if (this.finished || this.watcher === null) return;
    try {
      sendRecord(this.fd, record);
    } catch (error) {
      // EPIPE/ECONNRESET: the shepherd is gone; the watcher's EOF reports that as lost.
      this.recordDiagnostics(`send failed: ${(error as Error).message}\n`);
    }
  }

  private recordDiagnostics(text: string): void {
    this.diagnostics.push(text);
    if (this.diagnostics.length > 20) this.diagnostics.shift();
  }

  private handleRecord(data: Buffer | null, fds: number[]): void {
    let message: ShepherdMessage;
    if (data === null && this.child === null && isFdTableFull()) {
      // STARTED's pipe descriptors could not be installed (MSG_CTRUNC): out of descriptors. The
      // child runs; closing the control socket below makes its shepherd stop it.
      this.fail(explainFdExhaustion(this.message.argv[0]!, new RangeError('STARTED arrived without its descriptors (MSG_CTRUNC)')));
      return;
    }
    try {
      if (data === null) throw new RangeError('truncated record');
      message = decodeMessage(data);
    } catch (error) {
      for (const fd of fds) closeFd(fd);
      this.fail(new DroverError('ERR_PROTOCOL', `bad message from the shepherd: ${(error as Error).message}`, { cause: error }));
      return;
    }
    if (message.type !== 'started') for (const fd of fds) closeFd(fd);
    switch (message.type) {
      case 'started': {
        const expected = [1, 2, 4].filter((bit) => (message.fdMask & bit) !== 0).length;
        if (!isOwnablePid(message.pid) || message.pgid !== message.pid) {
          // The child leads its own group (setpgid/setsid in the shepherd): anything else would make
          // the group kill below aim at a group drover did not create.
          for (const fd of fds) closeFd(fd);
          this.fail(new DroverError('ERR_PROTOCOL', `STARTED reported pid ${message.pid} and process group ${message.pgid}; expected one pid ≥ 2 leading its own group`));
          return;
        }
        if (this.child !== null || fds.length !== expected) {
          for (const fd of fds) closeFd(fd);
          this.fail(new DroverError('ERR_PROTOCOL', `STARTED carried ${fds.length} fds, expected ${expected}`));
          return;
        }
        const queue = [...fds];
        const take = (bit: number) => ((message.fdMask & bit) !== 0 ? queue.shift()! : null);
        this.child = {
          pid: message.pid,
          pgid: message.pgid,
          fds: [take(1), take(2), take(4)],
          pipeSizes: message.pipeSizes,
          pty: message.pty,
          cgroup: message.cgroup ? (this.message.cgroup ?? null) : null,
        };
        this.resolveStarted(this.child);
        return;
      }
      case 'exec-failed': {
        const errno = getErrnoName(message.errno);
        const code = getExecErrorCode(errno, message.stage);
        const path = message.stage === STAGE_CHDIR ? this.message.cwd : this.message.argv[0];
        this.fail(new DroverError(code, describeExecFailure(code, errno, message.stage, this.message), { errno, path }));
        return;
      }
      case 'exited':
        this.finish({ kind: 'exited', report: message });
        return;
      case 'frozen':
        this.freezes.shift()?.resolve({ frozen: message.frozen, processes: message.processes, running: message.running });
        return;
      case 'error':
        this.recordDiagnostics(`shepherd error ${getErrnoName(message.errno)}: ${message.message}\n`);
        // A shepherd that does not know FREEZE (an older build) refuses it: the waiting call fails.
        this.freezes.shift()?.reject(new DroverError('ERR_PROTOCOL', `shepherd ${this.shepherdPid ?? '?'} refused a request: ${message.message} (${getErrnoName(message.errno)})`));
        if (this.child === null) {
          this.fail(new DroverError('ERR_SPAWN_FAILED', `shepherd refused SPAWN: ${message.message} (${getErrnoName(message.errno)})`));
        }
        return;
    }
  }

  private handleEnd(error: string | null): void {
    this.watcher = null;
    if (this.finished) return;
    const detail = error === null ? 'closed its control socket' : `control socket error ${error}`;
    const diagnostics = this.getDiagnostics().trim();
    const lost = new DroverError(
      this.child === null ? 'ERR_SPAWN_FAILED' : 'ERR_SHEPHERD_LOST',
      `shepherd ${this.shepherdPid ?? '?'} ${detail} without reporting the child's exit${diagnostics ? `: ${diagnostics}` : ''}`,
      this.child === null ? {} : { pid: this.child.pid },
    );
    if (this.child !== null) {
      // Second safety layer: the tree may still run with nobody watching it. The cgroup reaches
      // every descendant and names no pid, so nothing recycled can be hit; without one, the
      // group kill is what is left (the pgid stays reserved while any member lives).
      if (this.child.cgroup !== null && killCgroup(this.child.cgroup)) {
        void removeCgroupWhenEmpty(this.child.cgroup);
      } else {
        try {
          signalProcessGroup(this.child.pgid, 'SIGKILL');
        } catch (killError) {
          lost.message += `; kill(-${this.child.pgid}) failed: ${(killError as Error).message}`;
        }
      }
    }
    this.fail(lost);
  }

  private fail(error: DroverError): void {
    if (this.child === null) {
      this.finished = true;
      this.closeWatcher();
      this.rejectStarted(error);
      return;
    }
    this.finish({ kind: 'lost', error });
  }

  private finish(outcome: ShepherdOutcome): void {
    if (this.finished) return;
    this.finished = true;
    this.closeWatcher();
    for (const waiting of this.freezes.splice(0)) waiting.resolve(null);
    this.resolveOutcome(outcome);
  }

  private closeWatcher(): void {
    const watcher = this.watcher;
    this.watcher = null;
    watcher?.close();
  }
}

function encodeSpawnOrThrow(message: SpawnMessage): Buffer[] {
  try {
    return encodeSpawn(message);
  } catch (error) {
    // Above SHEPHERD_MAX_SPAWN: more than any execve accepts, so it is E2BIG whatever the limits.
    const tooLarge = /maximum/.test((error as Error).message);
    throw new DroverError('ERR_SPAWN_FAILED', `cannot start ${message.argv[0] ?? '(no command)'}: ${(error as Error).message}${tooLarge ? ' (E2BIG)' : ''}`, {
      cause: error,
      path: message.argv[0],
      ...(tooLarge ? { errno: 'E2BIG' } : {}),
    });
  }
}
