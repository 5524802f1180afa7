/**
 * Loader and typed wrapper of drover's native addon, and the path of the shepherd binary.
 * The loader tries each build location and throws ERR_NATIVE_LOAD listing every path it tried
 * (node-pty `src/utils.ts` habit) and what to run to build them.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DroverError } from '../contract/errors.js';
import type { RawBinding, RawWatcher } from './binding.js';

export {
  decodeMessage,
  encodeSignal,
  encodeSpawn,
  encodeSpawnPayload,
  encodeFreeze,
  FREEZE_WAIT_MS,
  encodeWinsize,
  encodeStop,
  getErrnoName,
  getSignalName,
  getSignalNumber,
  PROTOCOL_VERSION,
  SCOPE_GROUP,
  SCOPE_LEADER,
  SHEPHERD_IDLE_NAME,
  STAGE_CHDIR,
  STAGE_EXEC,
  STAGE_SETUP,
  STAGE_RLIMIT,
  STAGE_CGROUP,
  STAGE_PTY,
  STDIO_NULL,
  STDIO_PIPE,
} from './protocol.js';
export type { ShepherdMessage, SpawnMessage, StdioMode } from './protocol.js';
export { decodeLauncherMessage, encodeLaunch, LAUNCHER_PROTOCOL_VERSION } from './launcher-protocol.js';
export type { LauncherMessage } from './launcher-protocol.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * drover's package root: this module is `<root>/dist/native/index.js` when built and
 * `<root>/native/index.ts` when run from the sources (vitest).
 */
const packageRoot = path.basename(path.dirname(here)) === 'dist' ? path.dirname(path.dirname(here)) : path.dirname(here);

/** node-gyp's output directories, in the order tried (Debug: `DROVER_DEBUG_BUILD=1 npm rebuild drover`). */
function getBuildDirs(): string[] {
  return ['Release', 'Debug'].map((sub) => path.join(packageRoot, 'native', 'build', sub));
}

/**
 * What to run to build the addon and the shepherd again, for where this copy of drover is: a
 * dependency in a project's node_modules is rebuilt from that project (`npm rebuild drover` runs
 * its install script again); a global install (no package.json above node_modules) with `-g`;
 * a clone of drover's repository with its own `npm run build`.
 */
export function getRebuildHint(): string {
  const parts = packageRoot.split(path.sep);
  const modules = parts.indexOf('node_modules');
  if (modules < 0) return `run \`npm run build\` in ${packageRoot}`;
  const project = parts.slice(0, modules).join(path.sep) || path.sep;
  if (existsSync(path.join(project, 'package.json'))) return `run \`npm rebuild drover\` in ${project}`;
  return 'run `npm rebuild -g drover`';
}

/** The ERR_NATIVE_LOAD of a missing or unusable build: what is wrong, why that happens, what to run, every path tried. */
function getBuildMissingError(what: string, tried: readonly string[], cause?: unknown): DroverError {
  const message = [
    `drover's native build is missing or incomplete: ${what}.`,
    'drover builds it from source when npm installs it (its install script: node-gyp with python3, make and a C/C++ compiler);',
    'an install with --ignore-scripts skips that, and a failed build leaves it incomplete;',
    `${getRebuildHint()} to build it again (its output shows what fails). Tried:\n  ${tried.join('\n  ')}`,
  ].join(' ');
  return new DroverError('ERR_NATIVE_LOAD', message, { path: tried[0], cause });
}

let binding: RawBinding | undefined;

/**
 * Loads the addon once (`$DROVER_NATIVE_ADDON` overrides the path).
 * @throws {DroverError} ERR_NATIVE_LOAD naming every path tried, why it failed and what to run.
 */
export function loadBinding(): RawBinding {
  if (binding) return binding;
  const require = createRequire(import.meta.url);
  // $DROVER_NATIVE_ADDON names one .node file instead (the sanitizer build, npm run sanitize).
  const override = process.env.DROVER_NATIVE_ADDON;
  const files = override ? [path.resolve(override)] : getBuildDirs().map((dir) => path.join(dir, 'drover_native.node'));
  let lastError: unknown;
  for (const file of files) {
    if (!existsSync(file)) continue;
    try {
      binding = require(file) as RawBinding;
      return binding;
    } catch (error) {
      lastError = error;
    }
  }
  // dlopen's first line says why a file that exists could not be loaded (wrong ELF class, a missing library …).
  const why = lastError === undefined ? 'not found' : (lastError as Error).message.split('\n')[0];
  if (override) {
    throw new DroverError('ERR_NATIVE_LOAD', `drover's native addon could not be loaded from DROVER_NATIVE_ADDON=${override} (${why}); point it at a built drover_native.node, or unset it to use drover's own build`, {
      path: files[0],
      cause: lastError,
    });
  }
  throw getBuildMissingError(`the addon could not be loaded (${why})`, files, lastError);
}

/**
 * Absolute path of the shepherd binary (`$DROVER_SHEPHERD` overrides it).
 * @throws {DroverError} ERR_NATIVE_LOAD naming every path tried and what to run.
 */
export function getShepherdPath(): string {
  const override = process.env.DROVER_SHEPHERD;
  if (override) {
    if (existsSync(override)) return override;
    throw new DroverError('ERR_NATIVE_LOAD', `shepherd binary not found at DROVER_SHEPHERD=${override}; point it at a built shepherd, or unset it to use drover's own build`, { path: override });
  }
  const tried: string[] = [];
  for (const dir of getBuildDirs()) {
    const file = path.join(dir, 'shepherd');
    tried.push(file);
    if (existsSync(file)) return file;
  }
  throw getBuildMissingError('the shepherd binary is not there', tried);
}

/**
 * Checks that the native build can run a node: the addon loads and the shepherd binary exists
 * (the launcher is optional: without it shepherds are started directly). Commands that start
 * processes call it first, so a missing build fails before anything starts.
 * @throws {DroverError} ERR_NATIVE_LOAD as {@link loadBinding} and {@link getShepherdPath}.
 */
export function checkNativeBuild(): void {
  loadBinding();
  getShepherdPath();
}

/**
 * Absolute path of the launcher binary (`$DROVER_LAUNCHER_PATH` overrides it), or null when it was
 * not built: the manager then starts shepherds directly.
 */
export function getLauncherPath(): string | null {
  const override = process.env.DROVER_LAUNCHER_PATH;
  if (override) return existsSync(override) ? override : null;
  for (const dir of getBuildDirs()) {
    const file = path.join(dir, 'launcher');
    if (existsSync(file)) return file;
  }
  return null;
}

function rethrow(error: unknown): never {
  const code = (error as { code?: string }).code;
  throw new DroverError('ERR_SPAWN_FAILED', (error as Error).message, { errno: code, cause: error });
}

/** An `AF_UNIX SOCK_SEQPACKET` socketpair: `[managerFd, shepherdFd]`, both close-on-exec. */
export function createSocketPair(): [number, number] {
  try {
    return loadBinding().socketpair();
  } catch (error) {
    return rethrow(error);
  }
}

/** Closes an fd the addon handed out and nothing else owns. */
export function closeFd(fd: number): void {
  if (!Number.isInteger(fd) || fd < 0) throw new TypeError(`closeFd: fd must be a non-negative integer, got ${fd}`);
  loadBinding().closeFd(fd);
}

/** One SEQPACKET record, non-blocking. Errors keep the errno name as `code` (EAGAIN, EPIPE …). */
export function sendRecord(fd: number, data: Buffer): void {
  if (!Number.isInteger(fd) || fd < 0) throw new TypeError(`sendRecord: fd must be a non-negative integer, got ${fd}`);
  if (!Buffer.isBuffer(data)) throw new TypeError('sendRecord: data must be a Buffer');
  loadBinding().send(fd, data);
}

/**
 * Sends SEQPACKET records in order without blocking the event loop: on a worker thread, waiting
 * whenever the socket buffer is full, for at most `timeoutMs` in all. Used for a message larger
 * than the socket buffer (a SPAWN of several MiB), which the peer drains as it arrives. The fd must
 * stay open until the promise settles.
 * @throws {TypeError} for a bad fd or a non-Buffer record (synchronously).
 * @returns rejects with an Error whose `code` is the errno name: ETIMEDOUT when the peer made no
 *   room in time, EPIPE or ECONNRESET when it is gone.
 */
export function sendRecords(fd: number, records: readonly Buffer[], timeoutMs: number): Promise<void> {
  if (!Number.isInteger(fd) || fd < 0) throw new TypeError(`sendRecords: fd must be a non-negative integer, got ${fd}`);
  if (!Array.isArray(records) || records.some((r) => !Buffer.isBuffer(r))) throw new TypeError('sendRecords: records must be an array of Buffers');
  if (!Number.isInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > 0x7fffffff) throw new TypeError(`sendRecords: timeoutMs must be an integer from 0 to 2^31-1, got ${timeoutMs}`);
  return loadBinding().sendRecords(fd, [...records], timeoutMs);
}

export interface RecordWatcher {
  /** Stops watching and closes the fd. Idempotent. */
  close(): void;
  ref(): void;
  unref(): void;
}

/**
 * Watches a SEQPACKET socket on the event loop (uv_poll). Each record arrives as
 * `onRecord(data, fds)` with any SCM_RIGHTS fds (close-on-exec; the receiver owns them), `data`
 * null when the record was truncated (its fds already closed). `onEnd(error)` fires once on EOF
 * (error null) or a socket error (errno name). The watcher owns `fd` and closes it.
 */
export function watchRecords(
  fd: number,
  onRecord: (data: Buffer | null, fds: number[]) => void,
  onEnd: (error: string | null) => void,
): RecordWatcher {
  if (!Number.isInteger(fd) || fd < 0) throw new TypeError(`watchRecords: fd must be a non-negative integer, got ${fd}`);
  if (typeof onRecord !== 'function' || typeof onEnd !== 'function') {
    throw new TypeError('watchRecords: onRecord and onEnd must be functions');
  }
  const { Watcher } = loadBinding();
  const watcher: RawWatcher = new Watcher(fd, onRecord, onEnd);
  return watcher;
}

/** Credentials of the process at the other end of a connected Unix socket. */
export interface PeerCredentials {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

/**
 * `getsockopt(fd, SOL_SOCKET, SO_PEERCRED)`: pid, uid and gid the peer had when it connected.
 * @throws {DroverError} ERR_INVALID_OPTION for a bad fd argument; ERR_PEER_CRED when the call
 *   fails (`errno` is the errno name, e.g. ENOTSOCK, EBADF; `syscall` 'getsockopt').
 */
export function getPeerCredentials(fd: number): PeerCredentials {
  if (!Number.isInteger(fd) || fd < 0) throw new TypeError(`getPeerCredentials: fd must be a non-negative integer, got ${fd}`);
  try {
    return loadBinding().getPeerCred(fd);
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new DroverError('ERR_PEER_CRED', (error as Error).message, { errno: code, syscall: 'getsockopt', cause: error });
  }
}

/**
 * Offset of `buffer[0]` within its memory page (address % page size), for aligning read buffers.
 * @throws {TypeError} when `buffer` is not a Uint8Array.
 */
export function getPageOffset(buffer: Uint8Array): number {
  if (!(buffer instanceof Uint8Array)) throw new TypeError('getPageOffset: buffer must be a Uint8Array');
  return loadBinding().getPageOffset(buffer);
}

/** Soft and hard `RLIMIT_NOFILE` of this process (Infinity for unlimited). */
export interface FdLimit {
  readonly soft: number;
  readonly hard: number;
}

function rethrowAs(code: 'ERR_SPAWN_FAILED' | 'ERR_NATIVE_CALL', error: unknown): never {
  const errno = (error as { code?: string }).code;
  throw new DroverError(code, (error as Error).message, { errno, syscall: (error as { syscall?: string }).syscall, cause: error });
}

/** `getrlimit(RLIMIT_NOFILE)`. @throws {DroverError} ERR_NATIVE_CALL when the call fails. */
export function getFdLimit(): FdLimit {
  try {
    return loadBinding().getFdLimit();
  } catch (error) {
    return rethrowAs('ERR_NATIVE_CALL', error);
  }
}

/**
 * Raises the soft `RLIMIT_NOFILE` to the hard limit, as Go's runtime and systemd do for their
 * processes: the soft default (often 1024) dates from select(2), which drover never uses.
 * Returns the limits after the change and the soft limit before it.
 * @throws {DroverError} ERR_NATIVE_CALL when getrlimit/setrlimit fails.
 */
export function raiseFdLimit(): FdLimit & { readonly previous: number } {
  try {
    return loadBinding().raiseFdLimit();
  } catch (error) {
    return rethrowAs('ERR_NATIVE_CALL', error);
  }
}

/**
 * `prctl(PR_SET_CHILD_SUBREAPER)`: orphaned descendants re-parent to this process instead of
 * init. Only for processes whose every descendant is drover's (the CLI's manager).
 * @throws {DroverError} ERR_NATIVE_CALL when prctl fails.
 */
export function setChildSubreaper(on: boolean): void {
  if (typeof on !== 'boolean') throw new TypeError('setChildSubreaper: on must be a boolean');
  try {
    loadBinding().setChildSubreaper(on);
  } catch (error) {
    rethrowAs('ERR_NATIVE_CALL', error);
  }
}

/** `prctl(PR_GET_CHILD_SUBREAPER)`. @throws {DroverError} ERR_NATIVE_CALL when prctl fails. */
export function isChildSubreaper(): boolean {
  try {
    return loadBinding().isChildSubreaper();
  } catch (error) {
    return rethrowAs('ERR_NATIVE_CALL', error);
  }
}

/**
 * `flock(fd, LOCK_EX | LOCK_NB)` (or LOCK_SH): true when the lock is held, false when another open
 * file description holds it (EWOULDBLOCK). The lock lasts until the fd is closed or the process ends.
 * @throws {DroverError} ERR_NATIVE_CALL for any other failure (EBADF, ENOLCK …).
 */
export function lockFile(fd: number, { exclusive = true, nonBlocking = true }: { exclusive?: boolean; nonBlocking?: boolean } = {}): boolean {
  if (!Number.isInteger(fd) || fd < 0) throw new TypeError(`lockFile: fd must be a non-negative integer, got ${fd}`);
  try {
    return loadBinding().flock(fd, exclusive, nonBlocking);
  } catch (error) {
    return rethrowAs('ERR_NATIVE_CALL', error);
  }
}

/**
 * Reaps one child if it has ended: `waitid(P_PID, pid, WEXITED | WNOHANG)`. null while it runs.
 * Only for children libuv does not wait for (adopted orphans): a pid that is a ChildProcess's
 * would lose its exit status. Never waits for "any child".
 * @throws {DroverError} ERR_NATIVE_CALL with errno ECHILD when `pid` is not a child of this process.
 */
export function reapChild(pid: number): { exitCode: number | null; signal: number | null } | null {
  if (!Number.isInteger(pid) || pid <= 0) throw new TypeError(`reapChild: pid must be a positive integer, got ${pid}`);
  try {
    return loadBinding().reapPid(pid);
  } catch (error) {
    return rethrowAs('ERR_NATIVE_CALL', error);
  }
}
