import http from 'node:http';
import { DroverError, type DroverErrorCode } from '../manager/errors.js';
import type { StatePaths } from './state-dir.js';

function notRunning(paths: StatePaths, configPath: string, cause: NodeJS.ErrnoException): DroverError {
  const stale = cause.code === 'ECONNREFUSED' ? ` (a stale control socket is left in ${paths.dir}: the last \`drover up\` died; \`up\` replaces it)` : '';
  return new DroverError('ERR_CONTROL_API', `no running cluster for ${configPath}${stale}; start one with \`drover up -f ${configPath}\``, { cause });
}

function toClientError(paths: StatePaths, configPath: string, error: NodeJS.ErrnoException): Error {
  if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') return notRunning(paths, configPath, error);
  if (error.code === 'EACCES') {
    return new DroverError('ERR_CONTROL_API', `permission denied on the control socket ${paths.socket}: the cluster belongs to another user; run drover as the user who ran \`drover up\``, { cause: error });
  }
  return new DroverError('ERR_CONTROL_API', `the control socket ${paths.socket} could not be used: ${error.message}`, { cause: error });
}

/**
 * Calls the control API of the cluster started from `configPath`. The promise settles with the
 * response once its status is < 400; error answers reject with the server's code and message.
 * @throws {DroverError} ERR_CONTROL_API when no cluster runs or the peer is refused; the server's
 *   own code (ERR_UNKNOWN_NODE, ERR_INVALID_OPTION, ERR_READY_TIMEOUT …) for error answers.
 */
export function request(paths: StatePaths, configPath: string, method: 'GET' | 'POST', urlPath: string): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: paths.socket, method, path: urlPath }, (res) => {
      if ((res.statusCode ?? 500) < 400) {
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
        reject(new DroverError(code, message));
      });
    });
    req.on('error', (error: NodeJS.ErrnoException) => reject(toClientError(paths, configPath, error)));
    req.end();
  });
}

export async function requestJson<T>(paths: StatePaths, configPath: string, method: 'GET' | 'POST', urlPath: string): Promise<T> {
  const res = await request(paths, configPath, method, urlPath);
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString()) as T;
}
