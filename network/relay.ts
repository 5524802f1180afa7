/**
 * The TCP relay behind `network: { faults: true }`: one listening socket per routed port (`b:x`),
 * each accepted connection identified by the node that opened it (a link `a → b:x`, or
 * `external → b:x`) and forwarded to 127.0.0.1:<b's real port>. Link faults decide, per link and
 * at any moment, whether the bytes of the link's connections flow (partition: stalled, blackhole:
 * discarded), how late (latency ± jitter) and how fast (bandwidth), or whether they are reset.
 */
import net from 'node:net';
import { identifyPeer, type NodeTree } from './peer-identity.js';
import { EXTERNAL_PEER } from './peers.js';

/** The node name the relay gives connections from processes outside every node. */
export { EXTERNAL_PEER };

/** One fault acting on links: every connection from a node in `from` to a port of a node in `to`. */
export interface LinkFault {
  readonly id: string;
  readonly from: string;
  readonly to: string;
  /** Port name of `to`, or null for every port. */
  readonly port: string | null;
  readonly effect:
    | { readonly kind: 'partition' }
    | { readonly kind: 'blackhole' }
    | { readonly kind: 'latency'; readonly ms: number; readonly jitterMs: number }
    | { readonly kind: 'bandwidth'; readonly bytesPerSec: number };
}

/** What the relay asks the cluster about one accepted connection, at the moment it arrives. */
export interface RouteLookup {
  /** The nodes' process trees now, for peer identification. */
  readonly trees: readonly NodeTree[];
  /** The port the routed node listens on now (a relaunched node may have new ports), or undefined when it has none. */
  readonly target: number | undefined;
}

/** What the relay needs from the cluster. */
export interface RelayEngineOptions {
  /** The trees and target for a connection to `to`'s port `port`, asked once per accepted connection. */
  readonly lookup: (to: string, port: string) => RouteLookup | Promise<RouteLookup>;
  /** Uniform [0, 1) source for latency jitter. @default Math.random */
  readonly random?: () => number;
}

/** Queued bytes per direction before the relay stops reading from the sender (backpressure). */
const MAX_QUEUED_BYTES = 1 << 20;

interface LinkEffect {
  readonly stalled: boolean;
  readonly discard: boolean;
  readonly latencyMs: number;
  readonly jitterMs: number;
  readonly bytesPerSec: number | null;
}

/** One direction of a relayed connection: reads `source`, writes `sink`, applying the link's effect. */
class Pump {
  private readonly queue: { chunk: Buffer; at: number }[] = [];
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private lastAt = 0;
  private waitingForDrain = false;
  private ended = false;

  constructor(
    private readonly source: net.Socket,
    private readonly sink: () => net.Socket | null,
    private readonly effect: () => LinkEffect,
    private readonly random: () => number,
    private readonly onDiscard: () => void,
  ) {
    source.on('data', (chunk: Buffer) => this.onData(chunk));
    source.on('end', () => {
      this.ended = true;
      this.flush();
    });
  }

  private onData(chunk: Buffer): void {
    const effect = this.effect();
    if (effect.discard) {
      this.onDiscard();
      return;
    }
    // The common case, no delay and nothing queued: straight through, pausing the sender while the sink is full.
    if (effect.latencyMs === 0 && effect.jitterMs === 0 && effect.bytesPerSec === null && !effect.stalled && this.queue.length === 0 && !this.waitingForDrain) {
      const sink = this.sink();
      if (sink !== null && !sink.destroyed && !sink.connecting) {
        if (!sink.write(chunk)) {
          this.waitingForDrain = true;
          this.source.pause();
          sink.once('drain', () => {
            this.waitingForDrain = false;
            this.flush();
          });
        }
        return;
      }
    }
    const now = Date.now();
    let at = now + effect.latencyMs + (effect.jitterMs > 0 ? (this.random() * 2 - 1) * effect.jitterMs : 0);
    if (effect.bytesPerSec !== null) at = Math.max(at, this.lastAt) + (chunk.length / effect.bytesPerSec) * 1000;
    at = Math.max(at, this.lastAt); // in order
    this.lastAt = at;
    this.queue.push({ chunk, at });
    this.queuedBytes += chunk.length;
    if (this.queuedBytes > MAX_QUEUED_BYTES) this.source.pause();
    this.flush();
  }

  /** Writes every chunk that is due, unless stalled; re-arms the timer for the next one. */
  flush(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const effect = this.effect();
    const sink = this.sink();
    if (effect.stalled || sink === null || sink.destroyed) {
      if (effect.stalled) this.source.pause();
      return;
    }
    if (effect.discard && this.queue.length > 0) {
      this.queue.length = 0;
      this.queuedBytes = 0;
      this.onDiscard();
    }
    const now = Date.now();
    while (this.queue.length > 0 && this.queue[0]!.at <= now && !this.waitingForDrain) {
      const { chunk } = this.queue.shift()!;
      this.queuedBytes -= chunk.length;
      if (!sink.write(chunk)) {
        this.waitingForDrain = true;
        sink.once('drain', () => {
          this.waitingForDrain = false;
          this.flush();
        });
      }
    }
    if (this.queue.length > 0 && !this.waitingForDrain) this.timer = setTimeout(() => this.flush(), Math.max(1, this.queue[0]!.at - now));
    if (this.queuedBytes <= MAX_QUEUED_BYTES && !this.waitingForDrain && this.source.isPaused()) this.source.resume();
    if (this.queue.length === 0) {
      this.lastAt = 0;
      // The sender's FIN goes on after its last byte.
      if (this.ended && !this.waitingForDrain && !sink.writableEnded) sink.end();
    }
  }

  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

/** One accepted connection and its upstream. */
class RelayedConnection {
  upstream: net.Socket | null = null;
  /** Bytes were discarded (blackhole): the stream is broken; reset it when the link heals. */
  lostBytes = false;
  private readonly pumps: Pump[] = [];

  constructor(
    readonly from: string,
    readonly to: string,
    readonly port: string,
    readonly client: net.Socket,
    private readonly effect: () => LinkEffect,
    private readonly random: () => number,
    /** Called with the upstream socket as soon as it exists (the relay tracks every socket). */
    private readonly onUpstream: (socket: net.Socket) => void,
  ) {}

  /** Connects upstream and starts forwarding (called once the link lets bytes through). */
  connect(targetPort: number, onClose: () => void): void {
    // Half-open on both sides: a FIN travels through the pumps, so an answer sent after the
    // client's FIN (a request ended by shutdown(SHUT_WR)) still reaches it.
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort, allowHalfOpen: true });
    this.upstream = upstream;
    this.onUpstream(upstream);
    upstream.setNoDelay(true);
    const effect = () => this.effect();
    const onDiscard = () => void (this.lostBytes = true);
    // Latency delays the answers (bytes back to the connection's opener), so a request's round trip grows by it.
    const withoutLatency = () => ({ ...this.effect(), latencyMs: 0, jitterMs: 0 });
    this.pumps.push(new Pump(this.client, () => upstream, withoutLatency, this.random, onDiscard));
    this.pumps.push(new Pump(upstream, () => this.client, effect, this.random, onDiscard));
    upstream.on('connect', () => this.update());
    let closed = false;
    const cleanUp = () => {
      if (closed) return;
      closed = true;
      for (const pump of this.pumps) pump.close();
      onClose();
    };
    // A reset on one side reaches the other as a reset; an orderly end travels through the pumps
    // (after the bytes still delayed), and the connection is gone once both sides closed.
    const fail = () => {
      this.reset();
      cleanUp();
    };
    upstream.on('error', fail);
    this.client.on('error', fail);
    const onSideClosed = () => {
      if (this.client.destroyed && upstream.destroyed) cleanUp();
    };
    upstream.on('close', onSideClosed);
    this.client.on('close', onSideClosed);
  }

  /** Re-applies the link's effect after a fault change. */
  update(): void {
    for (const pump of this.pumps) pump.flush();
  }

  /** RST both sides. */
  reset(): void {
    resetSocket(this.client);
    if (this.upstream !== null && !this.upstream.destroyed) resetSocket(this.upstream);
  }
}

interface Route {
  readonly to: string;
  readonly port: string;
  readonly server: net.Server;
  readonly listenPort: number;
}

/**
 * The relay's sockets and link faults, on the event loop it is created on: the relay worker's
 * (see relay-thread.ts), so a busy link never delays the manager's spawns and exits.
 * `addRoute` listens for one `node:port`; `setFaults` replaces the active link faults and applies
 * them to open connections at once; `reset` RSTs the connections of the matching links; `close`
 * stops listening and destroys every connection.
 */
export class RelayEngine {
  private readonly routes: Route[] = [];
  private readonly connections = new Set<RelayedConnection>();
  /** Every socket of the relay not closed yet, both sides, in or out of a connection. */
  private readonly sockets = new Set<net.Socket>();
  /** Connections accepted while their link stalls and not connected upstream yet. */
  private readonly held = new Map<RelayedConnection, number>();
  private faults: readonly LinkFault[] = [];
  private readonly random: () => number;
  private closed = false;

  constructor(private readonly options: RelayEngineOptions) {
    this.random = options.random ?? Math.random;
  }

  /**
   * Listens on 127.0.0.1:`listenPort` for connections to `to`'s port `port`, forwarded to
   * 127.0.0.1:<the lookup's target> (asked per connection, so a node relaunched on fresh ports is followed).
   * @throws the listen error (EADDRINUSE …).
   */
  async addRoute(to: string, port: string, listenPort: number): Promise<void> {
    const server = net.createServer({ noDelay: true, pauseOnConnect: true, allowHalfOpen: true }, (client) => {
      this.track(client);
      void this.accept(route, client);
    });
    const route: Route = { to, port, server, listenPort };
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: listenPort, backlog: 511 }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.routes.push(route);
  }

  /** Open connections by link, for diagnostics and tests: `a → b:x` → count. */
  openLinks(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const c of this.connections) {
      const key = `${c.from} → ${c.to}:${c.port}`;
      counts[key] = (counts[key] ?? 0) + 1;
    }
    return counts;
  }

  /** Replaces the active link faults; open connections follow at once (stall, resume, slow down). */
  setFaults(faults: readonly LinkFault[]): void {
    this.faults = [...faults];
    for (const connection of this.connections) {
      const effect = this.effectOf(connection.from, connection.to, connection.port);
      if (!effect.discard && connection.lostBytes) {
        connection.reset(); // healed from a blackhole: the stream lost bytes, so it cannot go on
        continue;
      }
      connection.update();
    }
    for (const [connection, targetPort] of this.held) {
      if (!this.effectOf(connection.from, connection.to, connection.port).stalled) this.startForwarding(connection, targetPort);
    }
  }

  /** RSTs every open connection from a node in `from` to `to` (`port` null: every port); returns how many. */
  reset(from: string, to: string, port: string | null): number {
    let count = 0;
    for (const connection of [...this.connections]) {
      if (matches(connection, from, to, port)) {
        connection.reset();
        count++;
      }
    }
    return count;
  }

  /** Stops listening and destroys every connection. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const connection of this.connections) connection.reset();
    this.connections.clear();
    this.held.clear();
    // Every socket, also the half of a connection that is gone from the set (one side reset, the
    // other still ending): a worker thread that ends with a socket's shutdown request pending (a
    // FIN waiting behind unread bytes) spins at 100 % CPU in Node 20's environment cleanup and
    // never exits, which also hangs the process's exit (seen with 100 busy echo connections).
    const sockets = [...this.sockets];
    for (const socket of sockets) resetSocket(socket);
    await Promise.all([
      ...sockets.map((socket) => (socket.closed ? undefined : new Promise<void>((resolve) => socket.once('close', () => resolve())))),
      ...this.routes.map((route) => new Promise<void>((resolve) => route.server.close(() => resolve()))),
    ]);
  }

  /** Keeps `socket` in {@link sockets} until it has closed. */
  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  private effectOf(from: string, to: string, port: string): LinkEffect {
    let stalled = false;
    let discard = false;
    let latencyMs = 0;
    let jitterMs = 0;
    let bytesPerSec: number | null = null;
    for (const fault of this.faults) {
      if (!matches({ from, to, port }, fault.from, fault.to, fault.port)) continue;
      const { effect } = fault;
      if (effect.kind === 'partition') stalled = true;
      else if (effect.kind === 'blackhole') discard = true;
      else if (effect.kind === 'latency') {
        latencyMs += effect.ms;
        jitterMs += effect.jitterMs;
      } else bytesPerSec = Math.min(bytesPerSec ?? Infinity, effect.bytesPerSec);
    }
    return { stalled, discard, latencyMs, jitterMs, bytesPerSec };
  }

  private async accept(route: Route, client: net.Socket): Promise<void> {
    client.on('error', () => client.destroy());
    const peerPort = client.remotePort;
    let from: string | null = null;
    let targetPort: number | undefined;
    try {
      const { trees, target } = await this.options.lookup(route.to, route.port);
      targetPort = target;
      if (peerPort !== undefined) from = await identifyPeer(peerPort, route.listenPort, trees);
    } catch {
      from = null;
    }
    if (this.closed || client.destroyed || targetPort === undefined) {
      client.destroy();
      return;
    }
    const connection: RelayedConnection = new RelayedConnection(
      from ?? EXTERNAL_PEER,
      route.to,
      route.port,
      client,
      () => this.effectOf(connection.from, connection.to, connection.port),
      this.random,
      (socket) => this.track(socket),
    );
    this.connections.add(connection);
    client.setNoDelay(true);
    const effect = this.effectOf(connection.from, connection.to, connection.port);
    if (effect.stalled) {
      // Accepted, not forwarded: the peer's connect succeeds and its requests time out, as in a partition.
      this.held.set(connection, targetPort);
      client.on('close', () => {
        this.held.delete(connection);
        this.connections.delete(connection);
      });
      return;
    }
    this.startForwarding(connection, targetPort);
  }

  private startForwarding(connection: RelayedConnection, targetPort: number): void {
    this.held.delete(connection);
    connection.connect(targetPort, () => this.connections.delete(connection));
    connection.client.resume();
  }
}

/**
 * RSTs `socket` and destroys it. A socket whose side was already ended (its FIN sent, or waiting
 * behind unsent bytes) cannot be reset: libuv's uv_tcp_close_reset refuses a handle with a
 * shutdown pending (UV_EINVAL), and Node then leaves the handle open with the shutdown request
 * pending. Such a socket is destroyed instead.
 */
function resetSocket(socket: net.Socket): void {
  if (socket.writableEnded) socket.destroy();
  else socket.resetAndDestroy();
}

function matches(link: { from: string; to: string; port: string }, from: string, to: string, port: string | null): boolean {
  return link.from === from && link.to === to && (port === null || link.port === port);
}
