/**
 * Where shepherd processes come from. By default from the *launcher*: one long-lived small C
 * process per manager (shepherd/src/launcher.c) that posix_spawn(3)s a shepherd on request and
 * passes its control socket back over SCM_RIGHTS, so this process never forks per spawn. Node's
 * `child_process.spawn()` forks synchronously, and the fork copies the page tables of everything
 * the manager holds: ~32 ms of event-loop stall per GiB measured on our 2-core machines.
 *
 * The launcher is itself watched: it exits when the manager hangs up (its fd 3); when it dies, the
 * requests in flight fall back to a direct spawn and the next spawn starts a new launcher (at most
 * {@link LAUNCHER_MAX_RESTARTS} per {@link LAUNCHER_RESTART_WINDOW_MS}; beyond that, direct spawn
 * until the window passes). Direct spawn through child_process stays as the fallback, and is
 * forced with `DROVER_LAUNCHER=0`.
 *
 * Spare shepherds: the manager keeps {@link DEFAULT_LAUNCHER_SPARES} shepherds started by the
 * launcher and waiting for SPAWN, so a spawn sends SPAWN to a running shepherd at once: no LAUNCH
 * round trip and no posix_spawn/exec of a shepherd on its critical path (spawn → running
 * p99). A spare is replaced once the spawn that took it has its child running (or failed), so the
 * replacement never competes with that child's start for the CPU. A spare's only peer is its
 * control socket in this process: it exits when this process dies (hangup before SPAWN), and the
 * spares of a launcher that died are closed (so they exit) with it.
 *
 * All of this is one object, a {@link ShepherdSupply}: the process layer creates it on the first
 * spawn ({@link getShepherdSupply}), hands it to each ShepherdClient, asks it for replacement
 * spares after each spawn, and disposes of it (spares and launcher connection closed) at exit.
 */
import { spawn as spawnChild, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import type { Readable } from 'node:stream';
import {
  closeFd,
  createSocketPair,
  decodeLauncherMessage,
  encodeLaunch,
  getErrnoName,
  getLauncherPath,
  sendRecord,
  watchRecords,
  type LauncherMessage,
  type RecordWatcher,
} from '../native/index.js';
import { DroverError } from '../contract/errors.js';
import { signalChildProcess } from './owned-signals.js';

/** A shepherd process whose control socket (fd 3 on its side) is in our hands. */
export interface LaunchedShepherd {
  readonly pid: number | undefined;
  /** Manager end of the shepherd's control socket; the caller owns it. */
  readonly fd: number;
  /** The shepherd's stderr (diagnostics), not keeping the event loop alive; the caller reads it. */
  readonly stderr: Readable | null;
  /** How it was started: on request by the launcher or directly, or taken from the spares. */
  readonly via: 'launcher' | 'direct' | 'spare';
}

/** Restarts of the launcher allowed inside {@link LAUNCHER_RESTART_WINDOW_MS} before falling back to direct spawn. */
export const LAUNCHER_MAX_RESTARTS = 5;
export const LAUNCHER_RESTART_WINDOW_MS = 60_000;

/**
 * Spare shepherds kept started and waiting for SPAWN (see the module comment; the idea is Apache
 * httpd prefork's MinSpareServers: idle workers started ahead of demand). Each is an idle process
 * of ~1 MiB RSS named `shepherd-idle` (SHEPHERD_IDLE_NAME) in ps. Overridden with
 * `DROVER_LAUNCHER_SPARES` (0..{@link MAX_LAUNCHER_SPARES}; 0 starts every shepherd on request).
 * Measured (bench spawn, 2 cores): spawn → running p50 1.98 → 1.26 ms, p99 8.1 → 6.2 ms.
 */
export const DEFAULT_LAUNCHER_SPARES = 2;
export const MAX_LAUNCHER_SPARES = 64;

/**
 * Spare count from `DROVER_LAUNCHER_SPARES`, else {@link DEFAULT_LAUNCHER_SPARES}.
 * @throws {DroverError} ERR_INVALID_OPTION naming the variable when it is not an integer in range.
 */
export function getLauncherSpares(): number {
  const text = process.env.DROVER_LAUNCHER_SPARES;
  if (text === undefined || text === '') return DEFAULT_LAUNCHER_SPARES;
  if (!/^\d+$/.test(text) || Number(text) > MAX_LAUNCHER_SPARES) {
    throw new DroverError('ERR_INVALID_OPTION', `DROVER_LAUNCHER_SPARES=${text}: expected an integer from 0 to ${MAX_LAUNCHER_SPARES}`);
  }
  return Number(text);
}

/** Closes a started shepherd that will never get SPAWN: it sees the hangup and exits. */
function discardShepherd(shepherd: LaunchedShepherd): void {
  closeFd(shepherd.fd);
  shepherd.stderr?.destroy();
}

/** The launcher went away with the request unanswered; the caller falls back to a direct spawn. */
class LauncherLostError extends Error {}

/** The launcher's and every shepherd's environment (the launcher passes its own on). */
function getShepherdEnv(): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    SHEPHERD_VERBOSITY: process.env.DROVER_SHEPHERD_VERBOSITY ?? '1',
    // The way back to joining the cgroup after vfork, for a kernel where clone3 misbehaves rather than fails.
    ...(process.env.DROVER_CLONE_INTO_CGROUP === '0' ? { SHEPHERD_CLONE_INTO_CGROUP: '0' } : {}),
    ...getSanitizerEnv(),
  };
}

/** ASan/UBSan settings reach a sanitizer-built shepherd (npm run sanitize); nothing else leaks in. */
function getSanitizerEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of ['ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS']) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  return env;
}

function wrapStderr(fd: number): Readable {
  const socket = new net.Socket({ fd, readable: true, writable: false });
  // The control socket's watcher, not the diagnostics pipe, decides whether the loop stays alive.
  socket.unref();
  return socket;
}

interface Waiter {
  resolve(shepherd: LaunchedShepherd): void;
  reject(error: Error): void;
}

/**
 * One launcher process, its spares and the spawns waiting for a shepherd. The launcher answers
 * LAUNCHes in order, so every answer goes to the spawn that has waited longest (or becomes a
 * spare): a spawn that finds no spare takes the first shepherd that arrives, never waiting behind
 * the spares asked for before it.
 */
class Launcher {
  readonly pid: number;
  private readonly fd: number;
  private watcher: RecordWatcher | null;
  /** Ids of the LAUNCHes sent and not answered yet, oldest first. */
  private readonly inFlight: number[] = [];
  private nextId = 1;
  private readonly child: ChildProcess;
  private readonly diagnostics: string[] = [];
  /** Shepherds waiting for SPAWN, oldest first. */
  private readonly spares: LaunchedShepherd[] = [];
  /** Spawns waiting for the next shepherd, oldest first. */
  private readonly waiters: Waiter[] = [];
  /** Set when a LAUNCH asked for a spare failed: no more spares until one for a spawn succeeds. */
  private spareFailed = false;
  isDead = false;

  constructor(launcherPath: string, shepherdPath: string, private readonly spareTarget: number) {
    const [managerFd, launcherFd] = createSocketPair();
    let child: ChildProcess;
    try {
      // The one fork this manager pays for; every shepherd after it is posix_spawned by the launcher.
      child = spawnChild(launcherPath, [shepherdPath], {
        detached: true,
        stdio: ['ignore', 'ignore', 'pipe', launcherFd],
        env: getShepherdEnv(),
      });
    } catch (error) {
      closeFd(launcherFd);
      closeFd(managerFd);
      throw error;
    }
    closeFd(launcherFd);
    if (child.pid === undefined) {
      // The spawn failed (EMFILE, EAGAIN …; the 'error' event comes later). Such a ChildProcess
      // must never be signalled: its handle holds no pid of ours.
      child.on('error', () => {
        // Reported here, through the constructor's throw; the event only has to be consumed.
      });
      closeFd(managerFd);
      throw new DroverError('ERR_SPAWN_FAILED', 'could not start the launcher (fork/exec failed; see the direct spawn error)');
    }
    this.child = child;
    this.pid = child.pid;
    trackChildProcess(child);
    this.fd = managerFd;
    child.on('error', (error) => this.handleEnd(`spawn failed: ${error.message}`));
    child.unref();
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      this.diagnostics.push(text);
      if (this.diagnostics.length > 20) this.diagnostics.shift();
    });
    (child.stderr as net.Socket | null)?.unref();
    this.watcher = watchRecords(
      managerFd,
      (data, fds) => this.handleRecord(data, fds),
      (error) => this.handleEnd(error === null ? 'closed its control socket' : `control socket error ${error}`),
    );
    // Idle launchers never keep the process alive; a request in flight does (so no answer can
    // arrive while the process exits).
    this.watcher.unref();
  }

  /** Spares in hand (their LAUNCHED received). */
  get spareCount(): number {
    return this.spares.length;
  }

  /** A shepherd waiting for SPAWN: a spare at once, else the next one the launcher starts. */
  acquire(): Promise<LaunchedShepherd> {
    if (this.isDead || this.watcher === null) return Promise.reject(new LauncherLostError('launcher is gone'));
    const spare = this.spares.shift();
    if (spare !== undefined) return Promise.resolve(spare);
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      // Spares already asked for serve the waiters first; ask for what is still missing.
      while (!this.isDead && this.inFlight.length < this.waiters.length) this.sendLaunch();
    });
  }

  /** Asks for spares up to the target; nobody awaits them. */
  refillSpares(): void {
    if (this.spareFailed) return;
    while (!this.isDead && this.spares.length + this.inFlight.length - this.waiters.length < this.spareTarget) this.sendLaunch();
  }

  private sendLaunch(): void {
    const id = this.nextId++;
    if (this.nextId > 0xffffffff) this.nextId = 1;
    try {
      sendRecord(this.fd, encodeLaunch(id));
    } catch (error) {
      // EPIPE/ECONNRESET: the launcher died; EAGAIN: it stopped reading. Either way, replace it
      // (the waiters fall back to a direct spawn).
      this.kill();
      this.handleEnd(`send failed: ${(error as Error).message}`);
      return;
    }
    this.inFlight.push(id);
    if (this.inFlight.length === 1) this.watcher?.ref();
  }

  /** Ends the launcher (SIGKILL) if it still runs; requests in flight fall back to direct spawn. */
  kill(): void {
    signalChildProcess(this.child, 'SIGKILL');
  }

  /**
   * Closes the control socket and the spares (they see the hangup and exit, and so does the
   * launcher); spawns waiting for a shepherd fall back to a direct spawn. Idempotent.
   */
  dispose(): void {
    this.handleEnd('was disposed of');
    (this.child.stderr as net.Socket | null)?.destroy();
  }

  private handleRecord(data: Buffer | null, fds: number[]): void {
    let message: LauncherMessage;
    try {
      if (data === null) throw new RangeError('truncated record');
      message = decodeLauncherMessage(data);
    } catch (error) {
      for (const fd of fds) closeFd(fd);
      // A launcher that speaks garbage is replaced, never trusted.
      this.kill();
      this.handleEnd(`sent a bad record: ${(error as Error).message}`);
      return;
    }
    if (message.id !== this.inFlight[0]) {
      for (const fd of fds) closeFd(fd);
      this.kill();
      this.handleEnd(`answered request ${message.id}, expected ${this.inFlight[0] ?? 'none'}`);
      return;
    }
    this.inFlight.shift();
    if (this.inFlight.length === 0) this.watcher?.unref();
    const waiter = this.waiters.shift();
    if (message.type === 'launch-failed') {
      for (const fd of fds) closeFd(fd);
      const errno = getErrnoName(message.errno);
      if (waiter === undefined) this.spareFailed = true;
      waiter?.reject(new DroverError('ERR_SPAWN_FAILED', `could not start the shepherd: posix_spawn failed with ${errno}`, { errno }));
      return;
    }
    if (fds.length !== 2) {
      for (const fd of fds) closeFd(fd);
      this.kill();
      this.handleEnd(`LAUNCHED carried ${fds.length} fds, expected 2`);
      waiter?.reject(new LauncherLostError(`LAUNCHED carried ${fds.length} fds, expected 2`));
      return;
    }
    const shepherd: LaunchedShepherd = { pid: message.pid, fd: fds[0]!, stderr: wrapStderr(fds[1]!), via: waiter === undefined ? 'spare' : 'launcher' };
    if (waiter === undefined) {
      this.spares.push(shepherd);
    } else {
      this.spareFailed = false;
      waiter.resolve(shepherd);
    }
  }

  private handleEnd(reason: string): void {
    if (this.isDead) return;
    this.isDead = true;
    const watcher = this.watcher;
    this.watcher = null;
    watcher?.close();
    const detail = this.diagnostics.join('').trim();
    for (const waiter of this.waiters.splice(0)) {
      waiter.reject(new LauncherLostError(`launcher ${this.pid} ${reason}${detail ? `: ${detail}` : ''}`));
    }
    this.inFlight.length = 0;
    // Spares go with their launcher: closed, they see the hangup and exit (a new launcher starts
    // its own), so no idle shepherd ever outlives the launcher that started it.
    for (const spare of this.spares.splice(0)) discardShepherd(spare);
  }
}

/** Pids of the processes this module spawned through child_process that have not exited yet. */
const ownedChildProcesses = new Set<number>();

/** Remembers a ChildProcess until it exits: libuv reaps it, so nobody else may wait for it. */
function trackChildProcess(child: ChildProcess): void {
  const pid = child.pid;
  if (pid === undefined) return;
  ownedChildProcesses.add(pid);
  child.once('exit', () => ownedChildProcesses.delete(pid));
}

/** Whether `pid` is a launcher or shepherd this process spawned with child_process and libuv still waits for. */
export function isOwnedChildProcess(pid: number): boolean {
  return ownedChildProcesses.has(pid);
}

function isLauncherEnabled(): boolean {
  return process.env.DROVER_LAUNCHER !== '0';
}

/**
 * Where one manager's shepherds come from: its launcher (started on first use, replaced when it
 * dies, within {@link LAUNCHER_MAX_RESTARTS} per {@link LAUNCHER_RESTART_WINDOW_MS}), the spare
 * shepherds that launcher keeps, and the direct child_process spawn as the fallback. The process
 * layer owns one ({@link getShepherdSupply}) and disposes of it at exit; each ShepherdClient gets
 * it at construction.
 */
export class ShepherdSupply implements Disposable {
  private launcher: Launcher | null = null;
  /** Start times of the launchers of the current window, oldest first. */
  private readonly launcherStarts: number[] = [];
  private isDisposed = false;

  /** Pid of the running launcher, or null. */
  get launcherPid(): number | null {
    return this.launcher !== null && !this.launcher.isDead ? this.launcher.pid : null;
  }

  /** Spare shepherds the running launcher has handed over and this supply holds. */
  get spareCount(): number {
    return this.launcher !== null && !this.launcher.isDead ? this.launcher.spareCount : 0;
  }

  /**
   * Starts one shepherd (no SPAWN sent yet): a spare, or one the launcher starts now, else
   * directly with child_process. `onDirectError` receives an asynchronous spawn error of the
   * direct path (the launcher path reports its failures through the returned promise).
   * @throws {DroverError} ERR_SPAWN_FAILED when neither path can start a shepherd;
   *   ERR_INVALID_OPTION when `DROVER_LAUNCHER_SPARES` is invalid (read when a launcher starts).
   */
  async acquire(shepherdPath: string, onDirectError: (error: DroverError) => void): Promise<LaunchedShepherd> {
    // A launcher found dead on this request (killed since the last spawn, noticed only now) is
    // replaced once at once; a second loss sends this request down the direct path.
    for (let attempt = 0; attempt < 2; attempt++) {
      const launcher = this.getLauncher(shepherdPath);
      if (launcher === null) break;
      try {
        return await launcher.acquire();
      } catch (error) {
        if (!(error instanceof LauncherLostError)) throw error;
      }
    }
    return spawnShepherdDirect(shepherdPath, onDirectError);
  }

  /**
   * Tops the running launcher's spares up. The spawn path calls it once a spawn's child runs (or
   * its start failed), so starting the replacement never competes with that start for the CPU.
   */
  refillSpares(): void {
    if (this.launcher !== null && !this.launcher.isDead) this.launcher.refillSpares();
  }

  /**
   * Closes the spares and the launcher's control socket (the launcher and the spares see the
   * hangup and exit). Shepherds already handed out are not touched: their ShepherdClients own
   * them. Later requests start shepherds directly. Idempotent.
   */
  dispose(): void {
    this.isDisposed = true;
    this.launcher?.dispose();
    this.launcher = null;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** The running launcher, started (or restarted) on demand; null when direct spawn is to be used. */
  private getLauncher(shepherdPath: string): Launcher | null {
    if (this.isDisposed || !isLauncherEnabled()) return null;
    if (this.launcher !== null && !this.launcher.isDead) return this.launcher;
    const launcherPath = getLauncherPath();
    if (launcherPath === null) return null;
    const spares = getLauncherSpares();
    const now = Date.now();
    const starts = this.launcherStarts;
    while (starts.length > 0 && starts[0]! <= now - LAUNCHER_RESTART_WINDOW_MS) starts.shift();
    if (starts.length >= LAUNCHER_MAX_RESTARTS + 1) return null;
    starts.push(now);
    try {
      this.launcher = new Launcher(launcherPath, shepherdPath, spares);
    } catch {
      // socketpair or fork failed (EMFILE, EAGAIN): the direct path reports the same error properly.
      this.launcher = null;
    }
    return this.launcher;
  }
}

/** The process layer's supply: created by the first spawn, disposed of at exit. */
let processSupply: ShepherdSupply | null = null;

/**
 * The supply every spawn of this process uses, created on first use; disposed of when the process
 * exits (its launcher and spares then exit on the hangup, as they would on the kernel's close).
 */
export function getShepherdSupply(): ShepherdSupply {
  if (processSupply === null) {
    const supply = new ShepherdSupply();
    process.once('exit', () => supply.dispose());
    processSupply = supply;
  }
  return processSupply;
}

/** Pid of the process supply's running launcher, or null (tests and diagnostics). @internal */
export function getLauncherPid(): number | null {
  return processSupply?.launcherPid ?? null;
}

/** Spare shepherds the process supply's launcher has handed over and this process holds (tests). @internal */
export function getSpareShepherdCount(): number {
  return processSupply?.spareCount ?? 0;
}

/** The fallback: child_process.spawn of the shepherd with the control socket as fd 3. */
async function spawnShepherdDirect(shepherdPath: string, onError: (error: DroverError) => void): Promise<LaunchedShepherd> {
  const [managerFd, shepherdFd] = createSocketPair();
  let shepherd: ChildProcess;
  try {
    shepherd = spawnChild(shepherdPath, [], {
      // detached: its own session, so a terminal's Ctrl-C reaches the manager only and the
      // manager decides how to stop. fd 3 is the control socket.
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe', shepherdFd],
      env: getShepherdEnv(),
    });
  } catch (error) {
    closeFd(shepherdFd);
    closeFd(managerFd);
    throw new DroverError('ERR_SPAWN_FAILED', `could not start the shepherd: ${(error as Error).message}`, { cause: error });
  }
  closeFd(shepherdFd);
  if (shepherd.pid === undefined) {
    // The spawn failed; its 'error' (EMFILE, EAGAIN, ENOMEM …) is emitted on the next tick.
    closeFd(managerFd);
    const [error] = (await once(shepherd, 'error')) as [NodeJS.ErrnoException];
    throw new DroverError('ERR_SPAWN_FAILED', `could not start the shepherd: ${error.message}`, { errno: error.code, cause: error });
  }
  trackChildProcess(shepherd);
  shepherd.on('error', (error) => onError(new DroverError('ERR_SPAWN_FAILED', `could not start the shepherd: ${error.message}`, { cause: error })));
  shepherd.unref();
  (shepherd.stderr as net.Socket | null)?.unref();
  return { pid: shepherd.pid, fd: managerFd, stderr: shepherd.stderr, via: 'direct' };
}
