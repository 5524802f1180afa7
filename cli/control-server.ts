import { chmodSync, unlinkSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { DroverError } from '../manager/errors.js';
import type { ClusterController, ClusterEvent, NodeSnapshot } from '../manager/types.js';
import type { StatePaths } from './state-dir.js';

/** One row of `drover ps --json`. */
export interface NodeRow {
  readonly name: string;
  readonly replica: number;
  readonly state: string;
  readonly pid: number | null;
  readonly restarts: number;
  readonly ports: Record<string, number>;
  readonly uptimeMs: number | null;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly error: string | null;
}

export function toNodeRow(node: NodeSnapshot, now: number): NodeRow {
  return {
    name: node.name,
    replica: node.replica,
    state: node.state,
    pid: node.pid,
    restarts: node.restarts,
    ports: {},
    uptimeMs: node.startedAt === null ? null : now - node.startedAt,
    exitCode: node.lastExit?.exitCode ?? null,
    signal: node.lastExit?.signal ?? null,
    error: node.error,
  };
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

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

/**
 * The control API: HTTP/JSON over a Unix socket (mode 0600) in the state dir.
 *
 * | method | path | answer |
 * |---|---|---|
 * | GET  | /v1/cluster | `{ name, configPath, nodes: NodeRow[] }` |
 * | GET  | /v1/nodes/:name/logs?n=N[&follow=1] | NDJSON lines `{ node, stream, text, seq, time }`; follow keeps streaming |
 * | POST | /v1/nodes/:name/{start,stop,restart} | `{ ok: true }` once done |
 * | POST | /v1/down | `{ ok: true }` once every node stopped; then the `up` process exits |
 */
export class ControlServer {
  private readonly server: http.Server;
  /** Open `logs --follow` responses, ended on close so they do not hold the server open. */
  private readonly followers = new Set<http.ServerResponse>();

  constructor(
    private readonly controller: ClusterController,
    private readonly paths: StatePaths,
    private readonly onDown: () => Promise<void>,
  ) {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        const status = error instanceof DroverError && error.code === 'ERR_UNKNOWN_NODE' ? 404 : 500;
        if (!res.headersSent) sendJson(res, status, { error: { code: (error as DroverError).code ?? 'ERR_CONTROL_API', message: (error as Error).message } });
        else res.end();
      });
    });
  }

  /** Listens on the socket; replaces a stale one, never steals a live one. */
  async listen(): Promise<void> {
    const state = await probeSocket(this.paths.socket);
    if (state === 'live') {
      throw new DroverError('ERR_CONTROL_API', `a cluster is already running for this config (control socket ${this.paths.socket}); stop it with \`drover down\``);
    }
    if (state === 'stale') unlinkSync(this.paths.socket);
    const previous = process.umask(0o177); // the socket is created 0600: no window where others can connect
    try {
      await new Promise<void>((resolve, reject) => {
        this.server.once('error', reject);
        this.server.listen(this.paths.socket, () => {
          this.server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(previous);
    }
    chmodSync(this.paths.socket, 0o600);
  }

  /** Stops accepting; in-flight answers (such as the one to `drover down`) are still delivered. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const res of this.followers) res.end();
    this.server.closeIdleConnections();
    await closed;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://drover');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (req.method === 'GET' && url.pathname === '/v1/cluster') {
      const snapshot = this.controller.snapshot();
      const now = Date.now();
      sendJson(res, 200, { name: snapshot.name, configPath: snapshot.configPath, nodes: snapshot.nodes.map((n) => toNodeRow(n, now)) });
      return;
    }
    if (req.method === 'POST' && url.pathname === '/v1/down') {
      await this.onDown();
      sendJson(res, 200, { ok: true });
      return;
    }
    if (parts[0] === 'v1' && parts[1] === 'nodes' && parts.length === 4) {
      const name = parts[2]!;
      const action = parts[3]!;
      if (req.method === 'GET' && action === 'logs') {
        this.streamLogs(name, url, req, res);
        return;
      }
      if (req.method === 'POST' && (action === 'start' || action === 'stop' || action === 'restart')) {
        if (action === 'start') await this.controller.startNode(name);
        else if (action === 'stop') await this.controller.stopNode(name);
        else await this.controller.restartNode(name);
        sendJson(res, 200, { ok: true });
        return;
      }
    }
    sendJson(res, 404, { error: { code: 'ERR_CONTROL_API', message: `no endpoint ${req.method} ${url.pathname}` } });
  }

  private streamLogs(name: string, url: URL, req: http.IncomingMessage, res: http.ServerResponse): void {
    const limit = Math.max(0, Number(url.searchParams.get('n') ?? 100) || 0);
    const follow = url.searchParams.get('follow') === '1';
    const lines = this.controller.tail(name, limit); // throws ERR_UNKNOWN_NODE before headers
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    for (const line of lines) res.write(`${JSON.stringify({ node: name, ...line })}\n`);
    if (!follow) {
      res.end();
      return;
    }
    const subscription = this.controller.subscribe({
      onEvent: (event: ClusterEvent) => {
        if (event.type === 'output' && event.node === name) res.write(`${JSON.stringify({ node: name, ...event.line })}\n`);
      },
    });
    this.followers.add(res);
    req.on('close', () => {
      this.followers.delete(res);
      subscription.unsubscribe();
    });
  }
}
