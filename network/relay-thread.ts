/**
 * The manager's side of the network-fault relay: a worker thread (relay-worker.ts) owns the relay's
 * sockets, so relayed bytes, delayed chunks and peer identification never run on the manager's
 * event loop (bench/README.md, "relay-load", has what that saves), and a test that blocks its own
 * loop (a synchronous child process, say) does not stall the cluster's links. This class keeps
 * what the manager reads synchronously (the relay's ports) and forwards the rest as messages.
 */
import { Worker } from 'node:worker_threads';
import { DroverError } from '../contract/errors.js';
import type { LinkFault, RouteLookup } from './relay.js';
import type { RelayRequest, RelayResponse } from './relay-protocol.js';

export { EXTERNAL_PEER, type LinkFault, type RouteLookup } from './relay.js';

/** What the relay needs from the cluster. */
export interface RelayOptions {
  /** The nodes' trees and `to`'s current port `port`, asked once per accepted connection. */
  readonly lookup: (to: string, port: string) => RouteLookup;
}

/** How long `close()` waits for the worker to end on its own before terminating it. */
const CLOSE_TIMEOUT_MS = 5_000;
/** How long close() waits after terminate() before it stops waiting for the thread. */
const TERMINATE_TIMEOUT_MS = 1_000;

type Request = RelayRequest extends infer R ? (R extends { op: 'lookup-reply' } ? never : R extends { id: number } ? Omit<R, 'id'> : never) : never;

/**
 * The worker's script. Run from the build, it sits beside this file; run from the TypeScript
 * sources (vitest), it is the build of the same file, since a worker thread loads JavaScript only.
 */
function workerUrl(): URL {
  if (import.meta.url.endsWith('.ts')) return new URL('../dist/network/relay-worker.js', import.meta.url);
  return new URL('./relay-worker.js', import.meta.url);
}

/**
 * The relay of one cluster: one listening socket per routed port (`b:x`), each accepted
 * connection identified by the node that opened it and forwarded to the node's real port, with
 * the active link faults applied. Every method that reaches the relay's sockets resolves once the
 * worker has done it (a fault set has taken effect when `setFaults` resolves).
 */
export class NetworkRelay {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private readonly routes: { readonly to: string; readonly port: string; readonly listenPort: number }[] = [];
  private nextId = 1;
  private failure: DroverError | null = null;
  private closing: Promise<void> | null = null;
  private readonly exited: Promise<void>;

  /** @throws {DroverError} ERR_RELAY_FAILED when the worker's script cannot be loaded. */
  constructor(private readonly options: RelayOptions) {
    try {
      this.worker = new Worker(workerUrl());
    } catch (cause) {
      throw new DroverError('ERR_RELAY_FAILED', `cannot start the network relay's worker thread: ${(cause as Error).message}`, { cause });
    }
    this.worker.on('message', (message: RelayResponse) => this.onMessage(message));
    this.worker.on('error', (cause) => this.fail(new DroverError('ERR_RELAY_FAILED', `the network relay's worker thread failed: ${cause.message}; relayed links are down`, { cause })));
    this.exited = new Promise((resolve) => {
      this.worker.once('exit', (code) => {
        if (this.closing === null) this.fail(new DroverError('ERR_RELAY_FAILED', `the network relay's worker thread exited (code ${code}); relayed links are down`));
        resolve();
      });
    });
  }

  /**
   * Listens on 127.0.0.1:`listenPort` for connections to `to`'s port `port`.
   * @throws the listen error (EADDRINUSE …) with its code; ERR_RELAY_FAILED.
   */
  async addRoute(to: string, port: string, listenPort: number): Promise<void> {
    await this.request({ op: 'addRoute', to, port, listenPort });
    this.routes.push({ to, port, listenPort });
  }

  /** The relay's listening port for `to`'s port `port`, or undefined when not routed. */
  portOf(to: string, port: string): number | undefined {
    return this.routes.find((r) => r.to === to && r.port === port)?.listenPort;
  }

  /** The relay's listening ports of node `to`, by port name (what `{{nodes.to.ports.x}}` becomes). */
  portsOf(to: string): Record<string, number> | undefined {
    const routes = this.routes.filter((r) => r.to === to);
    return routes.length === 0 ? undefined : Object.fromEntries(routes.map((r) => [r.port, r.listenPort]));
  }

  /** Replaces the active link faults; resolves once open connections follow them (stall, resume, slow down). */
  async setFaults(faults: readonly LinkFault[]): Promise<void> {
    await this.request({ op: 'setFaults', faults });
  }

  /** RSTs every open connection from `from` to `to` (`port` null: every port); resolves to how many. */
  async reset(from: string, to: string, port: string | null): Promise<number> {
    return (await this.request({ op: 'reset', from, to, port })) as number;
  }

  /** Open connections by link: `a → b:x` → count. */
  async openLinks(): Promise<Record<string, number>> {
    return (await this.request({ op: 'openLinks' })) as Record<string, number>;
  }

  /**
   * Stops listening, destroys every connection and ends the worker: it waits
   * {@link CLOSE_TIMEOUT_MS} for the thread to end, then terminates it and waits
   * {@link TERMINATE_TIMEOUT_MS} more. Idempotent; never rejects, never hangs.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.failure === null) await this.request({ op: 'close' }).catch(() => {});
      if (await this.exitsWithin(CLOSE_TIMEOUT_MS)) return;
      void this.worker.terminate();
      if (await this.exitsWithin(TERMINATE_TIMEOUT_MS)) return;
      // Node 20 can spin forever in a worker thread's environment cleanup (Environment::
      // CleanupHandles; seen in about one run of four of bench relay-load, where 100 busy echo
      // connections are reset): the thread never exits, terminate() included. Stop waiting for
      // it rather than hang the cluster's stop; unref'd, it does not keep the process alive.
      this.worker.unref();
      process.emitWarning(`drover: the network relay's worker thread did not exit ${(CLOSE_TIMEOUT_MS + TERMINATE_TIMEOUT_MS) / 1000} s after close; it is left behind`, 'DroverWarning');
    })();
    return this.closing;
  }

  /** Whether the worker's 'exit' arrives within `ms`. */
  private exitsWithin(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      void this.exited.then(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  private request(request: Request): Promise<unknown> {
    if (this.failure !== null) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...request, id } as RelayRequest);
    });
  }

  private onMessage(message: RelayResponse): void {
    if (message.op === 'lookup') {
      let lookup: RouteLookup;
      try {
        lookup = this.options.lookup(message.to, message.port);
      } catch {
        lookup = { trees: [], target: undefined }; // the connection is refused, the relay goes on
      }
      this.worker.postMessage({ op: 'lookup-reply', id: message.id, lookup } satisfies RelayRequest);
      return;
    }
    const waiter = this.pending.get(message.id);
    this.pending.delete(message.id);
    if (waiter === undefined) return;
    if (message.error === undefined) waiter.resolve(message.value);
    else waiter.reject(Object.assign(new Error(message.error.message), message.error.code === undefined ? {} : { code: message.error.code }));
  }

  private fail(error: DroverError): void {
    this.failure ??= error;
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
  }
}
