/** Serves a cluster's control API on a socket in a private state dir, as `drover up` does. */

import { mkdtempSync, rmdirSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CONTROL_SOCKET_NAME, getSocketStatePaths } from '../cli/control-client.js';
import { ControlServer, type ClusterStatus } from '../cli/control-server.js';
import type { Cluster } from '../cluster/cluster.js';
import { DroverError } from '../contract/errors.js';

/** A control API being served; {@link ServedControlApi.close} ends it and removes its state dir. */
export interface ServedControlApi {
  /** Absolute path of the socket (`<dir>/control.sock`, the dir mode 0700). */
  readonly socket: string;
  /** Stops serving (open follow streams end), removes the socket and the dir. Idempotent. */
  close(): Promise<void>;
}

/**
 * Serves `cluster`'s control API (the routes of `drover up`, plus the per-replica ones) on a
 * socket in a new private directory under the temp dir. `label` names the cluster in messages.
 * @throws {DroverError} ERR_CONTROL_API when the dir or socket cannot be made.
 */
export async function serveControlApi(cluster: Cluster, label: string): Promise<ServedControlApi> {
  let dir: string;
  try {
    dir = mkdtempSync(path.join(tmpdir(), 'drover-vitest-')); // mode 0700
  } catch (error) {
    throw new DroverError('ERR_CONTROL_API', `cannot create a state dir for the control socket under ${tmpdir()}: ${(error as Error).message}`, { path: tmpdir(), cause: error });
  }
  const paths = getSocketStatePaths(path.join(dir, CONTROL_SOCKET_NAME));
  let status: ClusterStatus = 'running';
  const server = new ControlServer({
    controller: cluster,
    paths,
    fileArg: label,
    declaredNodes: [...new Set(cluster.resolvedConfig().nodes.map((n) => n.name))],
    getStatus: () => status,
    down: async () => {
      status = 'stopping';
      await cluster.stop();
    },
    clockFault: (node, options) => {
      // A replica label (`b[1]`) or a node name (its replica 0).
      const match = /^(.*)\[(\d+)\]$/.exec(node);
      return cluster.node(match === null ? node : match[1]!, match === null ? 0 : Number(match[2])).clock.set(options);
    },
  });
  const removeDir = () => {
    try {
      unlinkSync(paths.socket);
    } catch {
      // never created, or removed by the server's close
    }
    try {
      rmdirSync(dir);
    } catch {
      // someone put something else there: leave it
    }
  };
  try {
    await server.listen();
  } catch (error) {
    removeDir();
    throw error;
  }
  let closed: Promise<void> | null = null;
  return {
    socket: paths.socket,
    close: () =>
      (closed ??= (async () => {
        status = 'stopping';
        await server.close();
        removeDir();
      })()),
  };
}
