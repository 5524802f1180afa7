import { EventEmitter } from 'node:events';
import { ClusterNode } from './cluster-node.js';
import { DroverError } from './errors.js';
import type {
  ClusterController,
  ClusterEvent,
  ClusterObserver,
  ClusterSnapshot,
  ClusterSpec,
  OutputLine,
  Subscription,
} from './types.js';

/** Options of {@link Cluster}. */
export interface ClusterOptions {
  /** Epoch-ms clock. @default Date.now */
  readonly clock?: () => number;
  /** Uniform [0, 1) source for backoff jitter. @default Math.random */
  readonly random?: () => number;
}

/**
 * A set of named nodes started from a {@link ClusterSpec}. Implements {@link ClusterController},
 * the one interface the CLI and telemetry use. Emits `'event'` with every {@link ClusterEvent}.
 */
export class Cluster extends EventEmitter<{ event: [ClusterEvent] }> implements ClusterController, AsyncDisposable {
  readonly name: string;
  readonly spec: ClusterSpec;
  private readonly members: ClusterNode[];
  private readonly observers = new Set<ClusterObserver>();
  private stopPromise: Promise<void> | null = null;

  constructor(spec: ClusterSpec, options: ClusterOptions = {}) {
    super();
    this.spec = spec;
    this.name = spec.name;
    const emit = (event: ClusterEvent) => this.publish(event);
    this.members = spec.nodes.map(
      (node) =>
        new ClusterNode({
          spec: node,
          replica: 0,
          clusterName: spec.name,
          emit,
          getSpawnEnvironment: (node, replica, run) => this.getSpawnEnvironment(node, replica, run),
          ...(options.clock ? { clock: options.clock } : {}),
          ...(options.random ? { random: options.random } : {}),
        }),
    );
  }

  /**
   * Starts every node and resolves when all are ready. On failure it stops what it started and
   * rejects with the failing node's error (node, reason, output tail in the message). With
   * `stopOnFailure: false` (what `drover up` uses) the other nodes keep running, the failed node
   * stays `failed`, and the promise resolves.
   * @throws {DroverError} ERR_COMMAND_NOT_FOUND, ERR_READY_TIMEOUT, ERR_PROCESS_EXITED, ERR_RESTART_LIMIT, ERR_STOPPED …
   */
  async start(options: { signal?: AbortSignal; stopOnFailure?: boolean } = {}): Promise<this> {
    const { signal, stopOnFailure = true } = options;
    signal?.throwIfAborted();
    const onAbort = () => void this.stop();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const results = await Promise.allSettled(this.members.map((node) => node.start()));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed && (stopOnFailure || signal?.aborted)) {
        await this.stop();
        if (signal?.aborted) throw new DroverError('ERR_STOPPED', `starting cluster ${this.name} was aborted`, { cause: signal.reason });
        throw failed.reason;
      }
      return this;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * The handle of node `name` (replica `replica`).
   * @throws {DroverError} ERR_UNKNOWN_NODE listing the known names.
   */
  node(name: string, replica = 0): ClusterNode {
    const found = this.members.find((n) => n.name === name && n.replica === replica);
    if (!found) {
      throw new DroverError('ERR_UNKNOWN_NODE', `no node ${JSON.stringify(name)} (replica ${replica}) in cluster ${this.name}; nodes: ${this.members.map((n) => n.name).join(', ')}`, {
        node: name,
      });
    }
    return found;
  }

  /** Every replica of node `name`, or every node when `name` is omitted. */
  nodes(name?: string): ClusterNode[] {
    return name === undefined ? [...this.members] : this.members.filter((n) => n.name === name);
  }

  snapshot(): ClusterSnapshot {
    return { name: this.name, configPath: this.spec.configPath, nodes: this.members.map((n) => n.snapshot()) };
  }

  /** Snapshot first, then live events; both delivered synchronously so nothing falls between. */
  subscribe(observer: ClusterObserver): Subscription {
    observer.onSnapshot?.(this.snapshot());
    this.observers.add(observer);
    return { unsubscribe: () => this.observers.delete(observer) };
  }

  async restartNode(name: string): Promise<void> {
    await Promise.all(this.requireNodes(name).map((n) => n.restart()));
  }

  async stopNode(name: string): Promise<void> {
    await Promise.all(this.requireNodes(name).map((n) => n.stop()));
  }

  async startNode(name: string): Promise<void> {
    await Promise.all(this.requireNodes(name).map((n) => n.start()));
  }

  async killNode(name: string, signal: string | number): Promise<number> {
    const nodes = this.requireNodes(name);
    return nodes.filter((n) => n.kill(signal, { scope: 'group' })).length;
  }

  tail(name: string, limit: number): OutputLine[] {
    return this.requireNodes(name)
      .flatMap((n) => n.output.tail(limit))
      .sort((a, b) => a.time - b.time || a.seq - b.seq)
      .slice(-limit);
  }

  /** Stops every node (in parallel; dependency order arrives with issue 5). Idempotent. */
  stop(): Promise<void> {
    this.stopPromise ??= Promise.all(this.members.map((n) => n.stop())).then(() => undefined);
    return this.stopPromise;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  private requireNodes(name: string): ClusterNode[] {
    const found = this.nodes(name);
    if (found.length === 0) this.node(name); // throws ERR_UNKNOWN_NODE
    return found;
  }

  /** Merged extra child environment from every observer that offers one (telemetry's TRACEPARENT). */
  private getSpawnEnvironment(node: string, replica: number, run: number): Record<string, string> | undefined {
    let merged: Record<string, string> | undefined;
    for (const observer of this.observers) {
      try {
        const extra = observer.getSpawnEnvironment?.(node, replica, run);
        if (extra !== undefined) merged = { ...merged, ...extra };
      } catch (error) {
        process.emitWarning(`drover: cluster observer getSpawnEnvironment threw: ${(error as Error).message}`, 'DroverWarning');
      }
    }
    return merged;
  }

  private publish(event: ClusterEvent): void {
    for (const observer of this.observers) {
      try {
        observer.onEvent(event);
      } catch (error) {
        // An observer's bug must not break supervision; surface it as a warning.
        process.emitWarning(`drover: cluster observer threw: ${(error as Error).message}`, 'DroverWarning');
      }
    }
    this.emit('event', event);
  }
}
