import http from 'node:http';
import { DroverError } from '../manager/errors.js';
import type { StatePaths } from './state-dir.js';

function notRunning(configPath: string, cause: unknown): DroverError {
  return new DroverError('ERR_CONTROL_API', `no running cluster for ${configPath}; start one with \`drover up -f ${configPath}\``, { cause });
}

/**
 * Calls the control API of the cluster started from `configPath`.
 * @throws {DroverError} ERR_CONTROL_API when no cluster runs or the API answers an error.
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
        let message = `control API answered ${res.statusCode}`;
        try {
          message = (JSON.parse(Buffer.concat(chunks).toString()) as { error: { message: string } }).error.message;
        } catch {
          // Not JSON: keep the status line as the message.
        }
        reject(new DroverError('ERR_CONTROL_API', message));
      });
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      reject(error.code === 'ENOENT' || error.code === 'ECONNREFUSED' ? notRunning(configPath, error) : error);
    });
    req.end();
  });
}

export async function requestJson<T>(paths: StatePaths, configPath: string, method: 'GET' | 'POST', urlPath: string): Promise<T> {
  const res = await request(paths, configPath, method, urlPath);
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString()) as T;
}
