import { chmodSync, unlinkSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { DroverError } from '../contract/errors.js';
import { describeExit, getReplicaLabel, NODE_TRANSITIONS } from '../contract/lifecycle.js';
import { setLongTimeout, type LongTimer } from '../contract/long-timer.js';
import { compileUserPattern } from '../contract/pattern.js';
import type { ClusterController, ClusterEvent, FaultRecord, LinkFaultEffect, LinkFaultRequest, NodeSnapshot, NodeState, OutputLine, OutputStream } from '../contract/types.js';
import { Cluster } from '../cluster/cluster.js';
import type { ClusterNode } from '../cluster/cluster-node.js';
import { getPeerCredentials } from '../native/index.js';
import type { StatePaths } from './state-dir.js';
import { StartupRecorder } from './startup-timeline.js';
import type { UpLogStatus } from './up-log.js';

export type { ClusterAnswer, ClusterStatus, LogEntry, LogGap, NodeRow } from './control-protocol.js';
export { FOLLOWER_MAX_BUFFERED_BYTES, probeSocket, SCALED_TO_ZERO } from './control-protocol.js';
import { FOLLOWER_MAX_BUFFERED_BYTES, probeSocket, SCALED_TO_ZERO, type ClusterAnswer, type ClusterStatus, type LogEntry, type LogGap, type NodeRow } from './control-protocol.js';

/** The row of a node that has 0 replicas. */
export function getScaledToZeroRow(name: string): NodeRow {
  return { name, replica: null, state: SCALED_TO_ZERO, pid: null, restarts: 0, ports: {}, uptimeMs: null, exitCode: null, signal: null, error: null };
}

/**
 * The `ps` rows: one per replica, and one {@link SCALED_TO_ZERO} row for each declared node that
 * has none, in the config's order.
 */
export function getNodeRows(nodes: readonly NodeSnapshot[], declared: readonly string[], now: number, faults: readonly FaultRecord[] = []): NodeRow[] {
  const rows: NodeRow[] = [];
  const names = [...new Set([...declared, ...nodes.map((n) => n.name)])];
  for (const name of names) {
    const replicas = nodes.filter((n) => n.name === name);
    if (replicas.length === 0) rows.push(getScaledToZeroRow(name));
    else {
      for (const node of replicas) {
        const acting = describeFaultsOf(node, faults);
        rows.push(acting.length === 0 ? toNodeRow(node, now) : { ...toNodeRow(node, now), faults: acting });
      }
    }
  }
  return rows;
}

/** How `ps` names what each fault kind does to a node. */
const FAULT_WORDS: Readonly<Record<FaultRecord['kind'], string>> = {
  pause: 'paused',
  crash: 'crashed',
  partition: 'partitioned',
  blackhole: 'blackholed',
  latency: 'slowed',
  bandwidth: 'throttled',
  reset: 'reset',
  clock: 'clock skewed',
};

/** The words for the active faults acting on `node` (by its replica label or its name), each once, in injection order. */
function describeFaultsOf(node: NodeSnapshot, faults: readonly FaultRecord[]): string[] {
  const label = getReplicaLabel(node.name, node.replica);
  return [...new Set(faults.filter((f) => f.nodes.includes(label) || f.nodes.includes(node.name)).map((f) => FAULT_WORDS[f.kind]))];
}

export function toNodeRow(node: NodeSnapshot, now: number): NodeRow {
  return {
    name: node.name,
    replica: node.replica,
    state: node.state,
    pid: node.pid,
    restarts: node.restarts,
    ports: { ...node.ports },
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

function sendError(res: http.ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { error: { code, message } });
}

/** What the server needs from the `drover up` process besides the controller. */
export interface ControlHandlers {
  readonly controller: ClusterController;
  readonly paths: StatePaths;
  /** The `-f` argument as the user gave it, for hints in messages. */
  readonly fileArg: string;
  /** Every node name of the config, in order: nodes with 0 replicas get a {@link SCALED_TO_ZERO} row. */
  readonly declaredNodes: readonly string[];
  getStatus(): ClusterStatus;
  /** The output log's state (background `up`), or null. */
  getLogStatus?(): UpLogStatus | null;
  /** Per-follower bound of {@link FOLLOWER_MAX_BUFFERED_BYTES}. @default FOLLOWER_MAX_BUFFERED_BYTES */
  readonly followerMaxBytes?: number;
  /** Graceful down; after `timeoutMs` the nodes still running are SIGKILLed. Resolves once all stopped. */
  down(timeoutMs: number | null): Promise<void>;
  /** Clock fault on node replica `node` (`a`, `b[1]`): offset and/or rate (`POST /v1/faults/clock`). */
  clockFault?(node: string, options: { offset?: string; rate?: number; by: string }): Promise<FaultRecord>;
}

/** The fd of an accepted socket (libuv's handle; Linux). */
function getSocketFd(socket: net.Socket): number | undefined {
  return (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
}

/**
 * The control API: HTTP/JSON over a Unix socket (mode 0600) in the state dir. Every connection's
 * peer uid is read with SO_PEERCRED; other uids get 403 on every request.
 *
 * | method | path | answer |
 * |---|---|---|
 * | GET  | /v1/cluster | {@link ClusterAnswer} |
 * | GET  | /v1/logs?node=a&node=b[&n=N][&since=EPOCH_MS][&stream=stdout\|stderr][&follow=1] | NDJSON {@link LogEntry}; `n` lines per node (default 100, `all`); follow keeps streaming (a {@link LogGap} line where a slow follower missed lines) |
 * | GET  | /v1/nodes/:name/logs?… | the same for one node |
 * | POST | /v1/nodes/:name/{start,stop,restart} | `{ ok: true }` once done |
 * | POST | /v1/nodes/:name/kill?signal=S | `{ ok: true, signalled: N }` (replicas signalled) |
 * | POST | /v1/nodes/:name/scale?replicas=N | `{ ok: true, from, to }` once added replicas are ready / removed ones stopped |
 * | GET  | /v1/startup | `StartupAnswer`: each replica's first spawn, running, ready, exit and failure times (epoch ms) and each node's dependsOn, for `drover analyze` |
 * | GET  | /v1/config | `ResolvedConfig`: the spec after ports and templates, one entry per replica |
 * | GET  | /v1/faults | `{ faults: FaultRecord[] }`: the active injected faults, oldest first |
 * | POST | /v1/faults/heal[?id=f3] | `{ ok: true, healed: [ids] }` once healed (every active fault without `id`) |
 * | POST | /v1/faults/pause?node=a[&probes=keep] | `{ ok: true, replicas: N }` once every replica of `a` is frozen (`paused`) |
 * | POST | /v1/faults/resume?node=a | `{ ok: true, replicas: N }` once its paused replicas are thawed |
 * | POST | /v1/faults/crash?node=a[&restart=false] | `{ ok: true, replicas: N }` once the killed runs ended |
 * | POST | /v1/faults/{partition,blackhole,latency,bandwidth,reset}?from=a,b[&to=c][&port=p][&bothWays=1][&ms=200&jitterMs=20][&bytesPerSec=N][&by=cli] | `{ ok: true, faults: FaultRecord[] }`: one fault per link from each `from` node to each `to` node (`to` omitted: every other node); needs `network: { faults: true }` |
 * | POST | /v1/faults/clock?node=a&offset=+90s[&rate=2] | `{ ok: true, fault }`: node a's clock skewed (offset and/or rate; the node needs `clock: true`) |
 * | POST | /v1/down[?timeoutMs=N] | `{ ok: true }` once every node stopped; then the `up` process exits |
 * | GET  | /v1/events[?output=1] | NDJSON {@link ClusterEvent}s from the moment the headers are sent (an {@link EventGap} where a slow reader missed some) |
 * | GET  | /v1/replicas | `{ replicas: ReplicaInfo[] }` (the per-replica routes need the controller to be a `Cluster`) |
 * | GET  | /v1/replicas/:name/:replica | {@link ReplicaInfo} |
 * | GET  | /v1/replicas/:name/:replica/tail?n=N | `{ lines: OutputLine[] }` |
 * | GET  | /v1/replicas/:name/:replica/wait?state=S[&run=current\|next\|N][&after=N][&timeoutMs=N] | `{ ok: true, node }` once in `state` in a wanted run (long-poll on the cluster's events) |
 * | GET  | /v1/replicas/:name/:replica/wait-line?pattern=RE[&flags=i][&stream=S][&timeoutMs=N] | `{ ok: true, line, node }` |
 * | POST | /v1/replicas/:name/:replica/{start,stop,restart,kill,pause,resume,crash} | `{ ok: true, node }` once done (kill: plus `signalled`) |
 *
 * Errors: `{ error: { code, message } }` with 400 (bad option, malformed %-escape in the path),
 * 403 (other uid), 404 (unknown node or endpoint), 409 (the node's state does not allow it:
 * ERR_ILLEGAL_TRANSITION, e.g. pausing a stopped node), 500.
 */
export class ControlServer {
  private readonly server: http.Server;
  /** Open `logs --follow` responses, ended on close so they do not hold the server open. */
  private readonly followers = new Set<http.ServerResponse>();
  /** Peer uid of each connection, read once when it is accepted. */
  private readonly peerUids = new WeakMap<net.Socket, number | Error>();
  private readonly uid = process.getuid?.() ?? 0;
  /** The long-polls in progress (`/v1/replicas/…/wait`, `wait-line`), ended on close. */
  private readonly pendingWaits = new Set<AbortController>();
  /** Set by close(): a long-poll that reaches the handler after it ends at once. */
  private closing = false;
  /** The startup timeline for `drover analyze`, recorded from creation (before the cluster starts). */
  private readonly startup: StartupRecorder;

  constructor(private readonly handlers: ControlHandlers) {
    this.startup = new StartupRecorder(handlers.controller);
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        const code = (error as DroverError).code ?? 'ERR_CONTROL_API';
        const status = code === 'ERR_UNKNOWN_NODE' || code === 'ERR_UNKNOWN_FAULT' ? 404 : code === 'ERR_INVALID_OPTION' || code === 'ERR_UNSUPPORTED' ? 400 : code === 'ERR_ILLEGAL_TRANSITION' ? 409 : 500;
        if (!res.headersSent) sendError(res, status, code, (error as Error).message);
        else res.end();
      });
    });
    this.server.on('connection', (socket: net.Socket) => {
      const fd = getSocketFd(socket);
      try {
        if (fd === undefined) throw new Error('the accepted socket has no fd');
        this.peerUids.set(socket, getPeerCredentials(fd).uid);
      } catch (error) {
        this.peerUids.set(socket, error as Error);
      }
    });
  }

  /** Listens on the socket; replaces a stale one, never steals a live one. */
  async listen(): Promise<void> {
    const socketPath = this.handlers.paths.socket;
    const state = await probeSocket(socketPath);
    if (state === 'live') {
      throw new DroverError('ERR_CONTROL_API', `a cluster is already running for this config (control socket ${socketPath}); see it with \`drover ps -f ${this.handlers.fileArg}\`, stop it with \`drover down -f ${this.handlers.fileArg}\``);
    }
    if (state === 'stale') unlinkSync(socketPath); // left by an `up` that was killed: nobody listens
    const previous = process.umask(0o177); // the socket is created 0600: no window where others can connect
    try {
      await new Promise<void>((resolve, reject) => {
        this.server.once('error', reject);
        this.server.listen(socketPath, () => {
          this.server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(previous);
    }
    chmodSync(socketPath, 0o600);
  }

  /** The cluster as `GET /v1/cluster` answers now. */
  getClusterAnswer(): ClusterAnswer {
    const { controller } = this.handlers;
    const snapshot = controller.snapshot();
    return {
      name: snapshot.name,
      configPath: snapshot.configPath,
      status: this.handlers.getStatus(),
      pid: process.pid,
      stateDir: this.handlers.paths.dir,
      nodes: getNodeRows(snapshot.nodes, this.handlers.declaredNodes, Date.now(), controller.faults()),
      log: this.handlers.getLogStatus?.() ?? null,
    };
  }

  /** Stops accepting; in-flight answers (such as the one to `drover down`) are still delivered. */
  async close(): Promise<void> {
    this.startup.close();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const res of this.followers) res.end();
    this.closing = true;
    for (const wait of this.pendingWaits) wait.abort(closedError());
    this.server.closeIdleConnections();
    await closed;
  }

  private checkPeer(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const peer = this.peerUids.get(req.socket);
    if (typeof peer === 'number' && peer === this.uid) return true;
    const why =
      typeof peer === 'number'
        ? `this cluster belongs to uid ${this.uid}; uid ${peer} may not control it. Run drover as the user who ran \`drover up\``
        : `the peer's credentials could not be read (${peer?.message ?? 'unknown connection'}); refusing the request`;
    sendError(res, 403, 'ERR_CONTROL_API', why);
    return false;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (!this.checkPeer(req, res)) return;
    const { controller } = this.handlers;
    const url = new URL(req.url ?? '/', 'http://drover');
    let parts: string[];
    try {
      parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    } catch {
      // URIError: a % not followed by two hex digits, or escapes that are not UTF-8.
      throw new DroverError('ERR_INVALID_OPTION', `malformed %-escape in the request path ${JSON.stringify(url.pathname)}: escape node names with encodeURIComponent`);
    }
    if (req.method === 'GET' && url.pathname === '/v1/cluster') {
      sendJson(res, 200, this.getClusterAnswer());
      return;
    }
    if (req.method === 'GET' && url.pathname === '/v1/startup') {
      sendJson(res, 200, this.startup.answer());
      return;
    }
    if (req.method === 'GET' && url.pathname === '/v1/config') {
      sendJson(res, 200, controller.resolvedConfig());
      return;
    }
    if (req.method === 'GET' && url.pathname === '/v1/faults') {
      sendJson(res, 200, { faults: controller.faults() });
      return;
    }
    if (req.method === 'POST' && url.pathname === '/v1/faults/heal') {
      const id = url.searchParams.get('id');
      const before = controller.faults().map((f) => f.id);
      await controller.healFaults(id ?? undefined);
      const after = new Set(controller.faults().map((f) => f.id));
      sendJson(res, 200, { ok: true, healed: before.filter((f) => !after.has(f)) });
      return;
    }
    if (req.method === 'POST' && (url.pathname === '/v1/faults/pause' || url.pathname === '/v1/faults/resume' || url.pathname === '/v1/faults/crash')) {
      const name = url.searchParams.get('node');
      if (name === null || name === '') throw new DroverError('ERR_INVALID_OPTION', `${url.pathname} needs \`node\`: the node to ${url.pathname.slice('/v1/faults/'.length)}`);
      if (url.pathname === '/v1/faults/pause') {
        const probes = url.searchParams.get('probes') ?? 'suspend';
        if (probes !== 'suspend' && probes !== 'keep') throw new DroverError('ERR_INVALID_OPTION', `Expected \`probes\` to be suspend or keep, got ${JSON.stringify(probes)}`);
        await controller.pauseNode(name, { probes, by: 'cli' });
      } else if (url.pathname === '/v1/faults/resume') {
        await controller.resumeNode(name);
      } else {
        const restart = url.searchParams.get('restart') ?? 'true';
        if (restart !== 'true' && restart !== 'false') throw new DroverError('ERR_INVALID_OPTION', `Expected \`restart\` to be true or false, got ${JSON.stringify(restart)}`);
        const crashed = await controller.crashNode(name, { restart: restart === 'true', by: 'cli' });
        sendJson(res, 200, { ok: true, replicas: crashed });
        return;
      }
      sendJson(res, 200, { ok: true, replicas: controller.snapshot().nodes.filter((n) => n.name === name).length });
      return;
    }
    const linkFault = /^\/v1\/faults\/(partition|blackhole|latency|bandwidth|reset)$/.exec(url.pathname);
    if (req.method === 'POST' && linkFault !== null) {
      if (controller.injectLinkFault === undefined) throw new DroverError('ERR_UNSUPPORTED', 'this cluster cannot fault links');
      sendJson(res, 200, { ok: true, faults: await controller.injectLinkFault(getLinkFaultRequest(linkFault[1] as LinkFaultEffect['kind'], url.searchParams, controller.snapshot().nodes.map((n) => n.name))) });
      return;
    }
    if (req.method === 'POST' && url.pathname === '/v1/faults/clock') {
      const node = url.searchParams.get('node');
      const offset = url.searchParams.get('offset');
      const rateText = url.searchParams.get('rate');
      if (node === null || node === '') throw new DroverError('ERR_INVALID_OPTION', 'POST /v1/faults/clock needs ?node=<name> (and offset=+90s and/or rate=2)');
      if (offset === null && rateText === null) throw new DroverError('ERR_INVALID_OPTION', `POST /v1/faults/clock for node ${node} needs offset=<+90s> and/or rate=<r>`);
      const rate = rateText === null ? undefined : Number(rateText);
      if (rate !== undefined && !Number.isFinite(rate)) throw new DroverError('ERR_INVALID_OPTION', `clock rate ${JSON.stringify(rateText)} is not a number`);
      if (this.handlers.clockFault === undefined) throw new DroverError('ERR_UNSUPPORTED', 'this drover up cannot inject clock faults');
      const fault = await this.handlers.clockFault(node, { ...(offset === null ? {} : { offset }), ...(rate === undefined ? {} : { rate }), by: 'cli' });
      sendJson(res, 200, { ok: true, fault });
      return;
    }
    if (req.method === 'GET' && url.pathname === '/v1/logs') {
      this.streamLogs(url.searchParams.getAll('node'), url, req, res);
      return;
    }
    if (req.method === 'POST' && url.pathname === '/v1/down') {
      const timeout = url.searchParams.get('timeoutMs');
      const timeoutMs = timeout === null ? null : Number(timeout);
      if (timeoutMs !== null && !(Number.isFinite(timeoutMs) && timeoutMs >= 0)) {
        throw new DroverError('ERR_INVALID_OPTION', `Expected \`timeoutMs\` to be a non-negative number of milliseconds, got ${JSON.stringify(timeout)}`);
      }
      await this.handlers.down(timeoutMs);
      sendJson(res, 200, { ok: true });
      return;
    }
    if (parts[0] === 'v1' && parts[1] === 'nodes' && parts.length === 4) {
      const name = parts[2]!;
      const action = parts[3]!;
      if (req.method === 'GET' && action === 'logs') {
        this.streamLogs([name], url, req, res);
        return;
      }
      if (req.method === 'POST') {
        switch (action) {
          case 'start':
            await controller.startNode(name);
            sendJson(res, 200, { ok: true });
            return;
          case 'stop':
            await controller.stopNode(name);
            sendJson(res, 200, { ok: true });
            return;
          case 'restart':
            await controller.restartNode(name);
            sendJson(res, 200, { ok: true });
            return;
          case 'kill': {
            const signal = url.searchParams.get('signal') ?? 'SIGKILL';
            const signalled = await controller.killNode(name, /^\d+$/.test(signal) ? Number(signal) : signal);
            sendJson(res, 200, { ok: true, signalled });
            return;
          }
          case 'scale': {
            const value = url.searchParams.get('replicas');
            const replicas = value !== null && /^\d+$/.test(value) ? Number(value) : Number.NaN;
            if (Number.isNaN(replicas)) throw new DroverError('ERR_INVALID_OPTION', `Expected \`replicas\` to be a whole number, got ${JSON.stringify(value)}`);
            const from = controller.snapshot().nodes.filter((n) => n.name === name).length;
            await controller.scale(name, replicas);
            sendJson(res, 200, { ok: true, from, to: replicas });
            return;
          }
          default:
            break;
        }
      }
    }
    if (req.method === 'GET' && url.pathname === '/v1/events') {
      this.streamEvents(url, req, res);
      return;
    }
    if (parts[0] === 'v1' && parts[1] === 'replicas' && (await this.handleReplicaRoute(req, res, url, parts.slice(2)))) return;
    sendError(res, 404, 'ERR_CONTROL_API', `no endpoint ${req.method} ${url.pathname}`);
  }

  /**
   * `GET /v1/events[?output=1]`: every {@link ClusterEvent} from the moment the answer's headers are
   * sent (the subscription is taken first), as NDJSON, until the client goes away or the server
   * closes; `output` events only with `output=1`. A client with more than the follower bound not
   * yet read gets events skipped, then one {@link EventGap} line.
   */
  private streamEvents(url: URL, req: http.IncomingMessage, res: http.ServerResponse): void {
    const output = url.searchParams.get('output');
    if (output !== null && output !== '0' && output !== '1') throw new DroverError('ERR_INVALID_OPTION', `Expected \`output\` to be 0 or 1, got ${JSON.stringify(output)}`);
    const maxBytes = this.handlers.followerMaxBytes ?? FOLLOWER_MAX_BUFFERED_BYTES;
    let skipped = 0;
    const endGap = () => {
      if (skipped === 0) return;
      const gap: EventGap = { type: 'gap', skipped, time: Date.now() };
      res.write(`${JSON.stringify(gap)}\n`);
      skipped = 0;
    };
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    const subscription = this.handlers.controller.subscribe({
      wantsOutput: output === '1',
      onEvent: (event: ClusterEvent) => {
        if (event.type === 'output' && output !== '1') return;
        if (skipped > 0 && res.writableLength <= maxBytes / 2) endGap();
        if (skipped > 0 || res.writableLength >= maxBytes) {
          skipped++;
          return;
        }
        res.write(`${JSON.stringify(event)}\n`);
      },
    });
    res.on('drain', endGap);
    res.flushHeaders(); // after subscribing: a client that has the headers misses no event
    this.followers.add(res);
    req.on('close', () => {
      this.followers.delete(res);
      subscription.unsubscribe();
    });
  }

  /** Runs a long-poll that ends early (rejecting) when the client goes away or the server closes. */
  private async longPoll<T>(res: http.ServerResponse, wait: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const abort = new AbortController();
    const onClose = () => abort.abort(new DroverError('ERR_ABORTED', 'the client went away'));
    res.on('close', onClose);
    this.pendingWaits.add(abort);
    if (this.closing) abort.abort(closedError());
    try {
      return await wait(abort.signal);
    } finally {
      this.pendingWaits.delete(abort);
      res.off('close', onClose);
    }
  }

  /**
   * The per-replica routes (`/v1/replicas…`), which act on one replica's `ClusterNode` the way a
   * `startCluster` caller would: `useCluster` from `drover/vitest` is their client. They need the
   * controller to be a {@link Cluster}; others get ERR_UNSUPPORTED. Returns false for a path that
   * is none of them.
   */
  private async handleReplicaRoute(req: http.IncomingMessage, res: http.ServerResponse, url: URL, parts: readonly string[]): Promise<boolean> {
    const { controller } = this.handlers;
    const cluster = controller instanceof Cluster ? controller : null;
    const need = (): Cluster => {
      if (cluster === null) throw new DroverError('ERR_UNSUPPORTED', `${req.method} ${url.pathname}: this control API serves no per-replica operations`);
      return cluster;
    };
    if (parts.length === 0) {
      if (req.method !== 'GET') return false;
      sendJson(res, 200, { replicas: need().nodes().map(getReplicaInfo) } satisfies ReplicasAnswer);
      return true;
    }
    if (parts.length !== 2 && parts.length !== 3) return false;
    const name = parts[0]!;
    const replicaText = parts[1]!;
    if (!/^\d+$/.test(replicaText)) throw new DroverError('ERR_INVALID_OPTION', `Expected the replica index in ${url.pathname} to be a whole number, got ${JSON.stringify(replicaText)}`);
    const node = need().node(name, Number(replicaText));
    const action = parts[2] ?? null;
    const send = (extra: Record<string, unknown> = {}) => sendJson(res, 200, { ok: true, ...extra, node: getReplicaInfo(node) });
    if (req.method === 'GET') {
      switch (action) {
        case null:
          sendJson(res, 200, getReplicaInfo(node));
          return true;
        case 'tail': {
          const n = url.searchParams.get('n') ?? '100';
          const limit = n === 'all' ? undefined : Number(n);
          if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0)) throw new DroverError('ERR_INVALID_OPTION', `Expected \`n\` to be a number of lines ≥ 0 or "all", got ${JSON.stringify(n)}`);
          sendJson(res, 200, { lines: limit === 0 ? [] : node.output.tail(limit) });
          return true;
        }
        case 'wait': {
          const { state, run, after, timeoutMs } = getWaitQuery(url.searchParams, node);
          await this.longPoll(res, (signal) => waitForReplica(need(), node, state, run, after, timeoutMs, signal));
          send();
          return true;
        }
        case 'wait-line': {
          const source = url.searchParams.get('pattern');
          if (source === null) throw new DroverError('ERR_INVALID_OPTION', `${url.pathname} needs \`pattern\`: the regular expression a line must match`);
          const flags = url.searchParams.get('flags') ?? '';
          let pattern: RegExp;
          try {
            pattern = new RegExp(source, flags);
          } catch (error) {
            throw new DroverError('ERR_INVALID_OPTION', `node ${name}: invalid line pattern /${source}/${flags}: ${(error as Error).message}`, { node: name, cause: error });
          }
          const stream = url.searchParams.get('stream') ?? 'both';
          if (stream !== 'stdout' && stream !== 'stderr' && stream !== 'both') throw new DroverError('ERR_INVALID_OPTION', `Expected \`stream\` to be stdout, stderr or both, got ${JSON.stringify(stream)}`);
          const timeoutMs = getTimeoutMs(url.searchParams);
          const line = await this.longPoll(res, (signal) => waitForReplicaLine(node, pattern, stream, timeoutMs, signal));
          send({ line });
          return true;
        }
        default:
          return false;
      }
    }
    if (req.method !== 'POST') return false;
    switch (action) {
      case 'start':
        await node.start();
        send();
        return true;
      case 'stop':
        await node.stop();
        send();
        return true;
      case 'restart':
        await node.restart();
        send();
        return true;
      case 'kill': {
        const signal = url.searchParams.get('signal') ?? 'SIGKILL';
        // The run current at the signal is the one a following `wait?run=next` must come after.
        const signalled = node.kill(/^\d+$/.test(signal) ? Number(signal) : signal, { scope: 'group' });
        send({ signalled });
        return true;
      }
      case 'pause': {
        const probes = url.searchParams.get('probes') ?? 'suspend';
        if (probes !== 'suspend' && probes !== 'keep') throw new DroverError('ERR_INVALID_OPTION', `Expected \`probes\` to be suspend or keep, got ${JSON.stringify(probes)}`);
        await node.pause({ probes, by: 'api' });
        send();
        return true;
      }
      case 'resume':
        await node.resume();
        send();
        return true;
      case 'crash': {
        const restart = url.searchParams.get('restart') ?? 'true';
        if (restart !== 'true' && restart !== 'false') throw new DroverError('ERR_INVALID_OPTION', `Expected \`restart\` to be true or false, got ${JSON.stringify(restart)}`);
        await node.crash({ restart: restart === 'true', by: 'api' });
        send();
        return true;
      }
      default:
        return false;
    }
  }

  private streamLogs(names: readonly string[], url: URL, req: http.IncomingMessage, res: http.ServerResponse): void {
    const { controller } = this.handlers;
    const known = controller.snapshot().nodes.map((n) => n.name);
    const selected = names.length === 0 ? [...new Set(known)] : names;
    const n = url.searchParams.get('n') ?? '100';
    const limit = n === 'all' ? Number.POSITIVE_INFINITY : Number(n);
    if (!(limit >= 0)) throw new DroverError('ERR_INVALID_OPTION', `Expected \`n\` to be a number of lines ≥ 0 or "all", got ${JSON.stringify(n)}`);
    const sinceMs = Number(url.searchParams.get('since') ?? 0) || 0;
    const stream = url.searchParams.get('stream');
    if (stream !== null && stream !== 'stdout' && stream !== 'stderr') {
      throw new DroverError('ERR_INVALID_OPTION', `Expected \`stream\` to be stdout or stderr, got ${JSON.stringify(stream)}`);
    }
    const follow = url.searchParams.get('follow') === '1';
    const matches = (line: OutputLine) => (stream === null || line.stream === stream) && line.time >= sinceMs;
    const entries: LogEntry[] = [];
    for (const name of selected) {
      // tail() throws ERR_UNKNOWN_NODE before any header is sent; filter first, then keep the last `limit`.
      const lines = controller.tail(name, Number.MAX_SAFE_INTEGER).filter(matches);
      const kept = limit >= lines.length ? lines : lines.slice(lines.length - limit);
      for (const line of kept) entries.push({ node: name, ...line, replica: line.replica ?? 0 });
    }
    entries.sort((a, b) => a.time - b.time);
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    // The answer begins now, even with no line to send: a follower of a quiet node must not wait
    // (and time out, see the client's `follow`) until the node prints something.
    res.flushHeaders();
    for (const entry of entries) res.write(`${JSON.stringify(entry)}\n`);
    if (!follow) {
      res.end();
      return;
    }
    const wanted = new Set(selected);
    const maxBytes = this.handlers.followerMaxBytes ?? FOLLOWER_MAX_BUFFERED_BYTES;
    // Past maxBytes waiting for this follower, lines are counted instead of queued; once it has
    // read down to half, one LogGap line says what it missed and lines flow again.
    let skipping = false;
    let skipped = 0;
    const skippedByNode: Record<string, number> = {};
    const endGap = () => {
      skipping = false;
      if (skipped === 0) return;
      const gap: LogGap = { skipped, nodes: { ...skippedByNode }, time: Date.now() };
      res.write(`${JSON.stringify(gap)}\n`);
      skipped = 0;
      for (const node of Object.keys(skippedByNode)) delete skippedByNode[node];
    };
    const subscription = controller.subscribe({
      onEvent: (event: ClusterEvent) => {
        if (event.type !== 'output' || !wanted.has(event.node) || !matches(event.line)) return;
        if (skipping && res.writableLength <= maxBytes / 2) endGap();
        if (skipping || res.writableLength >= maxBytes) {
          skipping = true;
          skipped++;
          skippedByNode[event.node] = (skippedByNode[event.node] ?? 0) + 1;
          return;
        }
        res.write(`${JSON.stringify({ node: event.node, ...event.line, replica: event.replica })}\n`);
      },
    });
    // A follower that caught up while the nodes were quiet still learns what it missed.
    res.on('drain', () => {
      if (skipping) endGap();
    });
    this.followers.add(res);
    req.on('close', () => {
      this.followers.delete(res);
      subscription.unsubscribe();
    });
  }
}

/** Reads `POST /v1/faults/<kind>`'s query. @throws {DroverError} ERR_INVALID_OPTION naming the parameter. */
export function getLinkFaultRequest(kind: LinkFaultEffect['kind'], query: URLSearchParams, nodeNames: readonly string[]): LinkFaultRequest {
  const list = (name: string) => (query.get(name) ?? '').split(',').map((n) => n.trim()).filter(Boolean);
  const number = (name: string, fallback?: number): number => {
    const text = query.get(name);
    if (text === null && fallback !== undefined) return fallback;
    const value = Number(text);
    if (text === null || text.trim() === '' || !Number.isFinite(value)) throw new DroverError('ERR_INVALID_OPTION', `Expected query parameter \`${name}\` of a ${kind} fault to be a number, got ${JSON.stringify(text)}`);
    return value;
  };
  const from = list('from');
  if (from.length === 0) throw new DroverError('ERR_INVALID_OPTION', `a ${kind} fault needs \`from\`: the node names (comma-separated) whose links it acts on`);
  const to = query.has('to') ? list('to') : [...new Set(nodeNames)].filter((n) => !from.includes(n));
  const effect: LinkFaultEffect =
    kind === 'latency' ? { kind, ms: number('ms'), jitterMs: number('jitterMs', 0) } : kind === 'bandwidth' ? { kind, bytesPerSec: number('bytesPerSec') } : { kind };
  const by = query.get('by');
  return { from, to, port: query.get('port'), bothWays: query.get('bothWays') === '1' || query.get('bothWays') === 'true', effect, ...(by === null ? {} : { by }) };
}

/** The NDJSON line of `GET /v1/events` in place of the events a slow reader missed. */
export interface EventGap {
  readonly type: 'gap';
  /** Events skipped. */
  readonly skipped: number;
  /** Epoch ms when the gap ended. */
  readonly time: number;
}

/** One replica as the per-replica routes answer: its snapshot plus its current run number. */
export interface ReplicaInfo extends NodeSnapshot {
  /** Number of the current (or last) run: 0 before the first start, one more at every start. */
  readonly run: number;
}

/** Answer of `GET /v1/replicas`. */
export interface ReplicasAnswer {
  /** Every replica of every node, in declaration order. */
  readonly replicas: readonly ReplicaInfo[];
}

function getReplicaInfo(node: ClusterNode): ReplicaInfo {
  return { ...node.snapshot(), run: node.run };
}

/** `timeoutMs` of a waiting route: a whole number of ms ≥ 0 (default 30000). */
function getTimeoutMs(query: URLSearchParams): number {
  const text = query.get('timeoutMs');
  if (text === null) return 30_000;
  const value = Number(text);
  if (text.trim() === '' || !Number.isSafeInteger(value) || value < 0) throw new DroverError('ERR_INVALID_OPTION', `Expected \`timeoutMs\` to be a whole number of milliseconds ≥ 0, got ${JSON.stringify(text)}`);
  return value;
}

/** Reads `GET /v1/replicas/:name/:replica/wait`'s query. @throws {DroverError} ERR_INVALID_OPTION naming the parameter. */
function getWaitQuery(query: URLSearchParams, node: ClusterNode): { state: NodeState; run: 'current' | 'next' | number; after: number; timeoutMs: number } {
  const state = query.get('state');
  if (state === null || !Object.hasOwn(NODE_TRANSITIONS, state)) {
    throw new DroverError('ERR_INVALID_OPTION', `Expected \`state\` to be one of ${Object.keys(NODE_TRANSITIONS).join(', ')}, got ${JSON.stringify(state)}`, { node: node.name });
  }
  const runText = query.get('run') ?? 'current';
  const run = runText === 'current' || runText === 'next' ? runText : /^\d+$/.test(runText) && Number(runText) >= 1 ? Number(runText) : null;
  if (run === null) throw new DroverError('ERR_INVALID_OPTION', `Expected \`run\` to be current, next or a run number ≥ 1, got ${JSON.stringify(runText)}`, { node: node.name });
  const afterText = query.get('after');
  if (afterText !== null && !/^\d+$/.test(afterText)) throw new DroverError('ERR_INVALID_OPTION', `Expected \`after\` to be the run number the caller observed, got ${JSON.stringify(afterText)}`, { node: node.name });
  return { state: state as NodeState, run, after: afterText === null ? node.run : Number(afterText), timeoutMs: getTimeoutMs(query) };
}

function closedError(): DroverError {
  return new DroverError('ERR_STOPPED', 'the control API closed while this request waited: its cluster is going away');
}

/**
 * Resolves with what `watch` reports (it returns its own unsubscribe), or rejects with
 * `onTimeout()` after `timeoutMs`, or with the signal's reason once it aborts.
 */
function watchUntil<T>(timeoutMs: number, signal: AbortSignal, watch: (done: (value: T) => void) => () => void, onTimeout: () => DroverError): Promise<T> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    let finished = false;
    let unwatch: (() => void) | null = null;
    let timer: LongTimer | null = null;
    const finish = (settle: () => void) => {
      if (finished) return;
      finished = true;
      timer?.clear();
      unwatch?.();
      signal.removeEventListener('abort', onAbort);
      settle();
    };
    const onAbort = () => finish(() => reject(signal.reason));
    unwatch = watch((value) => finish(() => resolve(value)));
    if (finished) {
      unwatch(); // `watch` reported at once, before its unsubscribe existed
      return;
    }
    signal.addEventListener('abort', onAbort);
    timer = setLongTimeout(() => finish(() => reject(onTimeout())), timeoutMs);
  });
}

/** `; last output:` and the last `n` lines of the replica, or nothing. */
function describeTail(node: ClusterNode, n: number): string {
  const tail = node.output.tail(n).map((l) => `  ${l.stream}: ${l.text}`).join('\n');
  return tail === '' ? '' : `; last output:\n${tail}`;
}

/**
 * Resolves once `node` is in `state` in a wanted run: any run (`current`), a run after `after`
 * (`next`: the run the caller observed, so a run that ended while the request travelled still
 * counts as the old one), or run `run`. The state is read and the subscription taken in one tick
 * (inside `subscribe`'s snapshot callback), so no transition falls between.
 * @throws {DroverError} ERR_READY_TIMEOUT after `timeoutMs`, with the state, run, last exit and
 *   output tail; the signal's reason once it aborts.
 */
function waitForReplica(cluster: Cluster, node: ClusterNode, state: NodeState, run: 'current' | 'next' | number, after: number, timeoutMs: number, signal: AbortSignal): Promise<void> {
  const wanted = (s: NodeState, r: number) => s === state && (run === 'current' || (run === 'next' ? r > after : r === run));
  return watchUntil<void>(
    timeoutMs,
    signal,
    (done) => {
      const subscription = cluster.subscribe({
        wantsOutput: false,
        onSnapshot: () => {
          if (wanted(node.state, node.run)) done();
        },
        onEvent: (event) => {
          if (event.type === 'state' && event.node === node.name && event.replica === node.replica && wanted(event.to, event.run)) done();
        },
      });
      return () => subscription.unsubscribe();
    },
    () => {
      const which = run === 'current' ? '' : run === 'next' ? ` in a run after run ${after}` : ` in run ${run}`;
      const snapshot = node.snapshot();
      const exit = snapshot.lastExit === null ? '' : `; last exit: ${describeExit(snapshot.lastExit)}`;
      const error = snapshot.error === null ? '' : `; error: ${snapshot.error}`;
      return new DroverError(
        'ERR_READY_TIMEOUT',
        `node ${getReplicaLabel(node.name, node.replica)} not ${state}${which} after ${timeoutMs} ms (state: ${node.state}, run ${node.run}, restarts ${node.restarts}${exit}${error})${describeTail(node, 10)}`,
        { node: node.name },
      );
    },
  );
}

/**
 * Resolves with the first line of `node` (already buffered, or new) that matches `pattern` on
 * `stream`, as `ClusterNode.waitForOutput` does (RE2, linear time), but ends when `signal` aborts.
 * @throws {DroverError} ERR_INVALID_OPTION for a pattern RE2 cannot run; ERR_READY_TIMEOUT after
 *   `timeoutMs` with the last lines; the signal's reason once it aborts.
 */
function waitForReplicaLine(node: ClusterNode, pattern: RegExp, stream: OutputStream | 'both', timeoutMs: number, signal: AbortSignal): Promise<OutputLine> {
  const compiled = compileUserPattern(pattern, `line pattern of node ${node.name}`);
  const matches = (line: OutputLine) => (stream === 'both' || line.stream === stream) && compiled.test(line.text);
  return watchUntil<OutputLine>(
    timeoutMs,
    signal,
    (done) => {
      const unsubscribe = node.output.subscribe((line) => {
        if (matches(line)) done(line);
      });
      const found = node.output.tail().find(matches);
      if (found !== undefined) done(found);
      return unsubscribe;
    },
    () => new DroverError('ERR_READY_TIMEOUT', `node ${getReplicaLabel(node.name, node.replica)}: no output line matched ${compiled} within ${timeoutMs} ms${describeTail(node, 5)}`, { node: node.name }),
  );
}
