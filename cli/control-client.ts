import { lstatSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { DroverError, type DroverErrorCode } from '../contract/errors.js';
import { checkSocketFile, readLockRecord, verifyStateDir, type StatePaths } from './state-dir.js';
import { getClientTimeoutMs } from './client-timeout.js';

/**
 * How a request may take its time:
 * - `quick`: the manager answers at once (`ps`, `kill`, `config`, `logs`): no more than the
 *   timeout passes without a byte from it, from connect to the end of the answer.
 * - `operation`: the answer comes when the work is done (`start`, `restart`, `scale`, `down`:
 *   readiness, stop timeouts), so there is no total bound; instead the manager must answer a
 *   `GET /v1/cluster` on a second connection within the timeout, once per timeout period.
 * - `follow`: `logs --follow`: the answer must begin within the timeout; then it streams for as
 *   long as the cluster runs.
 */
export type RequestWait = 'quick' | 'operation' | 'follow';

export interface RequestOptions {
  /** @default 'quick' */
  readonly wait?: RequestWait;
  /** @default DROVER_CLIENT_TIMEOUT, else 10 s (cli/client-timeout.ts) */
  readonly timeoutMs?: number;
}

/** Whether `file` is a regular file (a symlink is not followed, and is not one). */
function isFile(file: string): boolean {
  try {
    return lstatSync(file).isFile();
  } catch {
    return false;
  }
}

function notRunning(paths: StatePaths, configPath: string, cause?: NodeJS.ErrnoException): DroverError {
  const stale = cause?.code === 'ECONNREFUSED' ? ` (a stale control socket is left in ${paths.dir}: the last \`drover up\` died; \`up\` replaces it)` : '';
  const failed = isFile(paths.failedLog) ? `; the last run failed: its log is kept as ${paths.failedLog}` : '';
  return new DroverError('ERR_CONTROL_API', `no running cluster for ${configPath}${stale}${failed}; start one with \`drover up -f ${configPath}\``, { cause });
}

function toClientError(paths: StatePaths, configPath: string, error: NodeJS.ErrnoException): Error {
  if (error instanceof DroverError) return error;
  if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') return notRunning(paths, configPath, error);
  if (error.code === 'EACCES') {
    return new DroverError('ERR_CONTROL_API', `permission denied on the control socket ${paths.socket}: the cluster belongs to another user; run drover as the user who ran \`drover up\``, { cause: error });
  }
  return new DroverError('ERR_CONTROL_API', `the control socket ${paths.socket} could not be used: ${error.message}`, { cause: error });
}

/** `1 s`, `1.5 s`, `250 ms` */
function formatTimeout(ms: number): string {
  return ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`;
}

/** `/proc/<pid>/stat` state letter, or null when there is no such process. */
function getProcessState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.charAt(stat.lastIndexOf(')') + 2);
  } catch {
    return null; // gone, or no /proc
  }
}

/**
 * The error of a request the manager did not answer in time: which socket, which pid (the peer's,
 * from SO_PEERCRED, else the lock file's record), what that process is doing, and what to do.
 */
function timedOut(paths: StatePaths, timeoutMs: number, peerPid: number | null): DroverError {
  const pid = peerPid ?? readLockRecord(paths);
  const longer = `DROVER_CLIENT_TIMEOUT=${Math.max(30, Math.ceil((3 * timeoutMs) / 1000))}s`;
  const who = pid === null ? `control socket ${paths.socket}; its pid is unknown` : `drover up pid ${pid}, control socket ${paths.socket}`;
  const state = pid === null ? null : getProcessState(pid);
  let what: string;
  if (state === 'T' || state === 't') what = `it is stopped (SIGSTOP or Ctrl-Z); resume it with \`kill -CONT ${pid}\`, or wait longer with ${longer}`;
  else if (state === null || state === 'Z') what = `it is gone or going; run the command again`;
  else what = `it runs but does not answer (busy or stuck); wait longer with ${longer}, or end it with \`kill -9 ${pid}\` (its shepherds then stop the nodes)`;
  return new DroverError('ERR_CONTROL_API', `the cluster's manager did not answer within ${formatTimeout(timeoutMs)} (${who}): ${what}`, pid === null ? {} : { pid });
}

/** uid and pid of the process serving the other end of a connected client socket (null when unreadable). */
async function readPeer(socket: net.Socket): Promise<{ pid: number; uid: number } | null> {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (fd === undefined || fd < 0) return null;
  try {
    const { getPeerCredentials } = await import('../native/index.js');
    return getPeerCredentials(fd);
  } catch {
    return null; // no addon, or the socket closed meanwhile: the server's own checks still hold
  }
}

/**
 * Calls the control API of the cluster started from `configPath`. The state dir is checked first
 * (a real directory of the caller's, mode 0700: see `verifyStateDir`), then the socket file, then
 * the uid of the process answering (SO_PEERCRED: the caller's own). The promise settles with the
 * response once its status is < 400; error answers reject with the server's code and message.
 * Every request is bounded in time as {@link RequestWait} describes.
 * @throws {DroverError} ERR_CONTROL_API when no cluster runs, the state dir or socket is refused,
 *   the peer is another user, or the manager does not answer in time (naming the socket and pid);
 *   the server's own code (ERR_UNKNOWN_NODE, ERR_INVALID_OPTION, ERR_READY_TIMEOUT …) for error answers.
 */
export async function request(paths: StatePaths, configPath: string, method: 'GET' | 'POST', urlPath: string, options: RequestOptions = {}): Promise<http.IncomingMessage> {
  const wait = options.wait ?? 'quick';
  const timeoutMs = options.timeoutMs ?? (await getClientTimeoutMs());
  const checked = verifyStateDir(paths);
  if (checked === null || !checkSocketFile(checked)) throw notRunning(paths, configPath);
  const uid = process.getuid?.() ?? 0;
  return new Promise((resolve, reject) => {
    let peerPid: number | null = null;
    let settled = false;
    let probe: NodeJS.Timeout | null = null;
    let response: http.IncomingMessage | null = null;
    const fail = (error: Error) => {
      if (probe !== null) clearInterval(probe);
      if (!settled) reject(error);
      settled = true;
      // Whoever reads the body gets this error instead of its end.
      if (response !== null) response.destroy(error);
      req.destroy();
    };
    // One connection of its own, made here rather than by an http.Agent: the agent would test the
    // host name with net.isIP, whose IPv6 pattern takes ~10 ms to compile on a cold start.
    const req = http.request({ method, path: urlPath, createConnection: () => net.createConnection({ path: checked.socket }) }, (res) => {
      response = res;
      if (probe !== null) clearInterval(probe);
      // From here on: `quick` and `operation` keep an idle bound on the body; `follow` streams unbounded.
      if (wait === 'follow') req.setTimeout(0);
      else req.setTimeout(timeoutMs);
      if ((res.statusCode ?? 500) < 400) {
        settled = true;
        resolve(res);
        return;
      }
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let code: DroverErrorCode = 'ERR_CONTROL_API';
        let message = `control API answered ${res.statusCode}`;
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString()) as { error: { code: DroverErrorCode; message: string } };
          code = body.error.code;
          message = body.error.message;
        } catch {
          // Not JSON: keep the status line as the message.
        }
        settled = true;
        reject(new DroverError(code, message));
      });
    });
    req.on('socket', (socket: net.Socket) => {
      socket.once('connect', () => {
        void readPeer(socket).then((peer) => {
          if (peer === null) return;
          peerPid = peer.pid;
          if (peer.uid !== uid) {
            fail(new DroverError('ERR_CONTROL_API', `refusing the control socket ${checked.socket}: it is served by uid ${peer.uid} (pid ${peer.pid}), not by you (uid ${uid})`, { pid: peer.pid }));
          }
        });
      });
    });
    // A stopped or stuck manager still accepts connections (the kernel queues them): time matters, not connect.
    if (wait === 'operation') {
      probe = setInterval(() => {
        request(checked, configPath, 'GET', '/v1/cluster', { wait: 'quick', timeoutMs }).then(
          (res) => res.resume(),
          (error: unknown) => {
            // Only silence counts here; any other failure shows on the main request itself.
            if (error instanceof DroverError && error.message.startsWith("the cluster's manager did not answer")) fail(timedOut(checked, timeoutMs, peerPid));
          },
        );
      }, timeoutMs);
    } else {
      req.setTimeout(timeoutMs);
    }
    req.on('timeout', () => fail(timedOut(checked, timeoutMs, peerPid)));
    req.on('error', (error: NodeJS.ErrnoException) => fail(toClientError(checked, configPath, error)));
    req.on('close', () => {
      if (probe !== null) clearInterval(probe);
    });
    req.end();
  });
}

/** {@link request}, then the whole body parsed as JSON (bounded like the request). */
export async function requestJson<T>(paths: StatePaths, configPath: string, method: 'GET' | 'POST', urlPath: string, options: RequestOptions = {}): Promise<T> {
  const res = await request(paths, configPath, method, urlPath, options);
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString()) as T;
}

/** The file name of a control socket in its state dir (`drover up`, `drover run`, `setupCluster`). */
export const CONTROL_SOCKET_NAME = 'control.sock';

/**
 * The state paths of a control socket known by its path alone (`DROVER_CONTROL_SOCKET`, a
 * provided `controlSocket`): its directory is the state dir, checked by {@link request} as usual
 * (a real directory of the caller's, mode 0700).
 * @throws {DroverError} ERR_INVALID_OPTION when the path is not absolute or not named `control.sock`.
 */
export function getSocketStatePaths(socket: string): StatePaths {
  if (!path.isAbsolute(socket) || path.basename(socket) !== CONTROL_SOCKET_NAME) {
    throw new DroverError('ERR_INVALID_OPTION', `Expected the control socket to be an absolute path to a file named ${CONTROL_SOCKET_NAME} in a drover state dir, got ${JSON.stringify(socket)}`, { path: socket });
  }
  const dir = path.dirname(socket);
  return { dir, socket, lock: path.join(dir, 'lock'), log: path.join(dir, 'up.log'), failedLog: path.join(dir, 'up.failed.log'), readySocket: path.join(dir, 'ready.sock'), ownLevels: [dir], source: 'DROVER_STATE_DIR' };
}
