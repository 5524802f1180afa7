/**
 * What a control client and the control server (`drover up`'s API over its Unix socket) share:
 * the shapes of the answers and the constants both sides use. Kept apart from control-server.ts so
 * that the client commands (`ps`, `logs`, `stop` …) load no cluster code.
 */
import net from 'node:net';
import type { OutputLine } from '../contract/types.js';
import type { UpLogStatus } from './up-log.js';

/** One row of `drover ps --json` (and of `GET /v1/cluster`'s `nodes`). */
export interface NodeRow {
  readonly name: string;
  /** Replica index; `null` on the one row of a node scaled to 0 (state {@link SCALED_TO_ZERO}). */
  readonly replica: number | null;
  /** A node state (`ready`, `stopped` …), or {@link SCALED_TO_ZERO} for a node that has 0 replicas. */
  readonly state: string;
  readonly pid: number | null;
  readonly restarts: number;
  readonly ports: Record<string, number>;
  readonly uptimeMs: number | null;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly error: string | null;
  /** What the active injected faults do to this replica (`partitioned`, `slowed`, `clock skewed` …; see `drover fault ls`); absent when none. */
  readonly faults?: readonly string[];
}

/** Phase of the `drover up` process serving the API: starting nodes, running, or stopping. */
export type ClusterStatus = 'starting' | 'running' | 'stopping';

/** Answer of `GET /v1/cluster`. */
export interface ClusterAnswer {
  readonly name: string;
  readonly configPath: string | null;
  readonly status: ClusterStatus;
  /** pid of the `drover up` process. */
  readonly pid: number;
  readonly stateDir: string;
  readonly nodes: readonly NodeRow[];
  /** The background `up`'s output log (`up --detach`) and its write errors; null for a foreground `up`. */
  readonly log: UpLogStatus | null;
}

/** One NDJSON line of the logs endpoints: a node's output line and which replica wrote it. */
export interface LogEntry extends OutputLine {
  readonly node: string;
  readonly replica: number;
}

/**
 * The NDJSON line a follower gets in place of the lines it missed: it read more slowly than the
 * nodes wrote, and more than {@link FOLLOWER_MAX_BUFFERED_BYTES} waited for it.
 */
export interface LogGap {
  /** Lines skipped, in all. */
  readonly skipped: number;
  /** Lines skipped per node. */
  readonly nodes: Readonly<Record<string, number>>;
  /** Epoch ms when the gap ended (this line was written). */
  readonly time: number;
}

/**
 * What a `logs --follow` client may have waiting in the manager (bytes of NDJSON not yet taken by
 * its socket) before lines for it are skipped; it gets them back as one {@link LogGap} line once
 * it has read down to half of this. The node is never slowed down by a follower.
 */
export const FOLLOWER_MAX_BUFFERED_BYTES = 1024 * 1024;

/**
 * State of the one row `ps` shows for a node that is in the config but has 0 replicas (`replicas:
 * 0`, or `drover scale NODE 0`): it is known to every command, and nothing of it runs.
 */
export const SCALED_TO_ZERO = 'scaled-to-0';

/**
 * Probes a socket path: 'live' when something accepts connections, 'stale' when the file exists
 * but nobody listens (a crashed `up`), 'absent' otherwise.
 */
export function probeSocket(socketPath: string): Promise<'live' | 'stale' | 'absent'> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    socket.once('connect', () => {
      socket.destroy();
      resolve('live');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED' ? 'stale' : 'absent'));
  });
}
