/**
 * Where shepherd processes come from. By default from the *launcher*: one long-lived small C
 * process per manager (shepherd/src/launcher.c) that posix_spawn(3)s a shepherd on request and
 * passes its control socket back over SCM_RIGHTS, so this process never forks per spawn. Node's
 * `child_process.spawn()` forks synchronously, and the fork copies the page tables of everything
 * the manager holds: ~32 ms of event-loop stall per GiB measured on our 2-core machines (issue 4).
 *
 * The launcher is itself watched: it exits when the manager hangs up (its fd 3); when it dies, the
 * requests in flight fall back to a direct spawn and the next spawn starts a new launcher (at most
 * {@link LAUNCHER_MAX_RESTARTS} per {@link LAUNCHER_RESTART_WINDOW_MS}; beyond that, direct spawn
 * until the window passes). Direct spawn through child_process stays as the fallback, and is
 * forced with `DROVER_LAUNCHER=0`.
 */
import { spawn as spawnChild, type ChildProcess } from 'node:child_process';
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
import { DroverError } from './errors.js';

/** A shepherd process whose control socket (fd 3 on its side) is in our hands. */
export interface LaunchedShepherd {
  readonly pid: number | undefined;
  /** Manager end of the shepherd's control socket; the caller owns it. */
  readonly fd: number;
  /** The shepherd's stderr (diagnostics), not keeping the event loop alive; the caller reads it. */
  readonly stderr: Readable | null;
  /** How it was started. */
  readonly via: 'launcher' | 'direct';
}

/** Restarts of the launcher allowed inside {@link LAUNCHER_RESTART_WINDOW_MS} before falling back to direct spawn. */
export const LAUNCHER_MAX_RESTARTS = 5;
export const LAUNCHER_RESTART_WINDOW_MS = 60_000;

/** The launcher went away with the request unanswered; the caller falls back to a direct spawn. */
class LauncherLostError extends Error {}

/** The launcher's and every shepherd's environment (the launcher passes its own on). */
function getShepherdEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', SHEPHERD_VERBOSITY: process.env.DROVER_SHEPHERD_VERBOSITY ?? '1', ...getSanitizerEnv() };
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

interface PendingLaunch {
  resolve(shepherd: LaunchedShepherd): void;
  reject(error: Error): void;
}

/** One launcher process and its request table. */
class Launcher {
  readonly pid: number | undefined;
  private readonly fd: number;
  private watcher: RecordWatcher | null;
  private readonly pending = new Map<number, PendingLaunch>();
  private nextId = 1;
  private readonly child: ChildProcess;
  private readonly diagnostics: string[] = [];
  isDead = false;

  constructor(launcherPath: string, shepherdPath: string) {
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
    this.child = child;
    this.pid = child.pid;
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
    // Idle launchers never keep the process alive; a request in flight does.
    this.watcher.unref();
  }

  launch(): Promise<LaunchedShepherd> {
    if (this.isDead || this.watcher === null) return Promise.reject(new LauncherLostError('launcher is gone'));
    const id = this.nextId++;
    if (this.nextId > 0xffffffff) this.nextId = 1;
    try {
      sendRecord(this.fd, encodeLaunch(id));
    } catch (error) {
      // EPIPE/ECONNRESET: the launcher died; EAGAIN: it stopped reading. Either way, replace it.
      this.kill();
      this.handleEnd(`send failed: ${(error as Error).message}`);
      return Promise.reject(new LauncherLostError((error as Error).message));
    }
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.pending.size === 1) this.watcher?.ref();
    });
  }

  /** Ends the launcher (SIGKILL); requests in flight fall back to direct spawn. */
  kill(): void {
    try {
      this.child.kill('SIGKILL');
    } catch {
      // ESRCH: it is gone already, which is what we want.
    }
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
    const request = this.pending.get(message.id);
    this.pending.delete(message.id);
    if (this.pending.size === 0) this.watcher?.unref();
    if (message.type === 'launch-failed') {
      for (const fd of fds) closeFd(fd);
      const errno = getErrnoName(message.errno);
      request?.reject(new DroverError('ERR_SPAWN_FAILED', `could not start the shepherd: posix_spawn failed with ${errno}`, { errno }));
      return;
    }
    if (request === undefined || fds.length !== 2) {
      for (const fd of fds) closeFd(fd);
      request?.reject(new LauncherLostError(`LAUNCHED carried ${fds.length} fds, expected 2`));
      return;
    }
    request.resolve({ pid: message.pid, fd: fds[0]!, stderr: wrapStderr(fds[1]!), via: 'launcher' });
  }

  private handleEnd(reason: string): void {
    if (this.isDead) return;
    this.isDead = true;
    const watcher = this.watcher;
    this.watcher = null;
    watcher?.close();
    const detail = this.diagnostics.join('').trim();
    for (const request of this.pending.values()) {
      request.reject(new LauncherLostError(`launcher ${this.pid ?? '?'} ${reason}${detail ? `: ${detail}` : ''}`));
    }
    this.pending.clear();
  }
}

let current: Launcher | null = null;
const starts: number[] = [];

function isLauncherEnabled(): boolean {
  return process.env.DROVER_LAUNCHER !== '0';
}

/** The running launcher, started (or restarted) on demand; null when direct spawn is to be used. */
function getLauncher(shepherdPath: string): Launcher | null {
  if (!isLauncherEnabled()) return null;
  if (current !== null && !current.isDead) return current;
  const launcherPath = getLauncherPath();
  if (launcherPath === null) return null;
  const now = Date.now();
  while (starts.length > 0 && starts[0]! <= now - LAUNCHER_RESTART_WINDOW_MS) starts.shift();
  if (starts.length >= LAUNCHER_MAX_RESTARTS + 1) return null;
  starts.push(now);
  try {
    current = new Launcher(launcherPath, shepherdPath);
  } catch {
    // socketpair or fork failed (EMFILE, EAGAIN): the direct path reports the same error properly.
    current = null;
  }
  return current;
}

/** Pid of the running launcher, or null (tests and diagnostics). @internal */
export function getLauncherPid(): number | null {
  return current !== null && !current.isDead ? (current.pid ?? null) : null;
}

/**
 * Starts one shepherd (no SPAWN sent yet): through the launcher when it is available, else
 * directly with child_process. `onDirectError` receives an asynchronous spawn error of the
 * direct path (the launcher path reports its failures through the returned promise).
 * @throws {DroverError} ERR_SPAWN_FAILED when neither path can start a shepherd.
 */
export async function startShepherd(shepherdPath: string, onDirectError: (error: DroverError) => void): Promise<LaunchedShepherd> {
  // A launcher found dead on this request (killed since the last spawn, noticed only now) is
  // replaced once at once; a second loss sends this request down the direct path.
  for (let attempt = 0; attempt < 2; attempt++) {
    const launcher = getLauncher(shepherdPath);
    if (launcher === null) break;
    try {
      return await launcher.launch();
    } catch (error) {
      if (!(error instanceof LauncherLostError)) throw error;
    }
  }
  return spawnShepherdDirect(shepherdPath, onDirectError);
}

/** The fallback: child_process.spawn of the shepherd with the control socket as fd 3. */
function spawnShepherdDirect(shepherdPath: string, onError: (error: DroverError) => void): LaunchedShepherd {
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
  shepherd.on('error', (error) => onError(new DroverError('ERR_SPAWN_FAILED', `could not start the shepherd: ${error.message}`, { cause: error })));
  shepherd.unref();
  (shepherd.stderr as net.Socket | null)?.unref();
  return { pid: shepherd.pid, fd: managerFd, stderr: shepherd.stderr, via: 'direct' };
}
