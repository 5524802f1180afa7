/**
 * `useCluster()`: a handle on a running cluster through its control socket, for code that runs in
 * another process than the one that started the cluster: a vitest test file driving the cluster of
 * `setupCluster` (globalSetup), or a command run by `drover run`.
 */

import type http from 'node:http';
import { getSocketStatePaths, request, type RequestWait } from '../cli/control-client.js';
import type { EventGap, ReplicaInfo, ReplicasAnswer } from '../cli/control-server.js';
import { DroverError, isDroverError } from '../contract/errors.js';
import { getReplicaLabel } from '../contract/lifecycle.js';
import type { ClusterEvent, ExitInfo, FaultRecord, LinkFaultEffect, NodeState, OutputLine, OutputStream } from '../contract/types.js';

/** Options of {@link useCluster}. */
export interface UseClusterOptions {
  /**
   * Path of the control socket to use. When omitted: the `controlSocket` of `inject(key)` in a
   * vitest worker (a `setupCluster` globalSetup), else `$DROVER_CONTROL_SOCKET`.
   */
  readonly socket?: string;
  /** The key `setupCluster` provided the cluster under. @default 'drover' */
  readonly key?: string;
  /**
   * How long a request may wait for the manager without a byte of answer (operations that take
   * their time, such as a restart, are bounded by liveness probes instead; see `drover`'s
   * `DROVER_CLIENT_TIMEOUT`). @default DROVER_CLIENT_TIMEOUT, else 10000
   */
  readonly requestTimeoutMs?: number;
}

/** `waitFor` options of a {@link RemoteNode}. */
export interface RemoteWaitOptions {
  /** @default 30000 */
  readonly timeoutMs?: number;
  /**
   * Which run counts: `current` (any run, the one now included), `next` (a run after the one this
   * handle last observed: its {@link RemoteNode.run}), or a run number. @default 'current'
   */
  readonly run?: 'current' | 'next' | number;
}

/** One link of the cluster, as `cluster.link(from, to, port?)` of {@link RemoteCluster} returns it. */
export interface RemoteLink {
  readonly from: string;
  readonly to: string;
  /** Port name of `to`, or null for every port. */
  readonly port: string | null;
  /** Cuts the link one way (see `NetworkLink.partition`). */
  partition(): Promise<FaultRecord>;
  /** Swallows the link's bytes (see `NetworkLink.blackhole`). */
  blackhole(): Promise<FaultRecord>;
  /** Delays answers on the link by `ms` ± `jitterMs` (default 0) milliseconds. */
  latency(options: { readonly ms: number; readonly jitterMs?: number }): Promise<FaultRecord>;
  /** Limits each direction of each connection to `bytesPerSec` bytes per second. */
  bandwidth(options: { readonly bytesPerSec: number }): Promise<FaultRecord>;
  /** RSTs every open connection of the link. */
  reset(): Promise<FaultRecord>;
  /** Heals every active fault of this link. Resolves to the ids healed. */
  heal(): Promise<string[]>;
}

type Transport = <T>(method: 'GET' | 'POST', urlPath: string, wait?: RequestWait) => Promise<T>;

/** `?a=1&b=x` from the defined entries. */
function query(params: Record<string, string | number | boolean | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== null) search.set(key, String(value));
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}

async function readJson<T>(res: http.IncomingMessage): Promise<T> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString()) as T;
}

/** The NDJSON values of a streamed answer, until it ends or `signal` aborts (then it is closed). */
async function* readNdjson<T>(res: http.IncomingMessage, signal: AbortSignal | undefined): AsyncGenerator<T, void, undefined> {
  if (signal?.aborted) {
    res.destroy();
    return;
  }
  const onAbort = () => res.destroy();
  signal?.addEventListener('abort', onAbort);
  res.setEncoding('utf8'); // a character split between chunks stays whole
  let rest = '';
  try {
    for await (const chunk of res) {
      rest += chunk as string;
      const parts = rest.split('\n');
      rest = parts.pop()!;
      for (const part of parts) if (part !== '') yield JSON.parse(part) as T;
    }
  } catch (error) {
    if (!signal?.aborted) throw error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    res.destroy();
  }
}

/**
 * One replica of a node of a cluster served over a control socket: the operations of
 * `ClusterNode` that make sense across processes. Reads over the socket are async
 * (`await node.snapshot()`); the fields (`state`, `pid`, `run`, `restarts`, `ports`, `lastExit`)
 * are the values this handle last observed: every call refreshes them with the replica's state
 * as the server saw it when the call was done (after a `kill`, the run that was signalled).
 */
export class RemoteNode {
  private info: ReplicaInfo;

  /** @internal */
  constructor(
    private readonly send: Transport,
    info: ReplicaInfo,
  ) {
    this.info = info;
  }

  /** Node name. */
  get name(): string {
    return this.info.name;
  }

  /** Replica index. */
  get replica(): number {
    return this.info.replica;
  }

  /** Last observed state. */
  get state(): NodeState {
    return this.info.state;
  }

  /** Last observed pid, or null. */
  get pid(): number | null {
    return this.info.pid;
  }

  /** Last observed run number (0 before the first start, one more at every start). */
  get run(): number {
    return this.info.run;
  }

  /** Last observed number of restarts (automatic and requested). */
  get restarts(): number {
    return this.info.restarts;
  }

  /** Allocated ports by name (as last observed; they change only when the node is started anew on other ports). */
  get ports(): Readonly<Record<string, number>> {
    return this.info.ports;
  }

  /** How the last run ended (as last observed), or null. */
  get lastExit(): ExitInfo | null {
    return this.info.lastExit;
  }

  /** The whole last observed {@link ReplicaInfo}. */
  get last(): ReplicaInfo {
    return this.info;
  }

  private get path(): string {
    return `/v1/replicas/${encodeURIComponent(this.info.name)}/${this.info.replica}`;
  }

  /** @internal */
  update(info: ReplicaInfo): void {
    this.info = info;
  }

  private async act(method: 'GET' | 'POST', action: string, params: Record<string, string | number | boolean | undefined | null> = {}, wait: RequestWait = 'operation'): Promise<Record<string, unknown>> {
    const answer = await this.send<{ node: ReplicaInfo } & Record<string, unknown>>(method, `${this.path}/${action}${query(params)}`, wait);
    this.info = answer.node;
    return answer;
  }

  /** Reads the replica now (and refreshes this handle's fields). @throws {DroverError} ERR_UNKNOWN_NODE once it is gone (scaled down). */
  async snapshot(): Promise<ReplicaInfo> {
    this.info = await this.send<ReplicaInfo>('GET', this.path, 'quick');
    return this.info;
  }

  /** Output of this replica. */
  readonly output = {
    /** The last `n` buffered lines (default 100; `Infinity`: all), oldest first. */
    tail: async (n = 100): Promise<OutputLine[]> => {
      const answer = await this.send<{ lines: OutputLine[] }>('GET', `${this.path}/tail${query({ n: n === Number.POSITIVE_INFINITY ? 'all' : n })}`, 'quick');
      return answer.lines;
    },
  };

  /**
   * New output lines of this replica from the moment of the call (a follow stream), until `signal`
   * aborts, the loop breaks, or the cluster stops. A reader slower than the node loses lines past
   * the server's follower buffer (1 MiB); the iterator skips the gap.
   */
  lines(options: { readonly signal?: AbortSignal; readonly stream?: OutputStream | 'both' } = {}): AsyncGenerator<OutputLine, void, undefined> {
    // Taken now, not at the first next(): the server sends the buffered lines since this moment first.
    return this.follow(Date.now(), options);
  }

  private async *follow(since: number, options: { readonly signal?: AbortSignal; readonly stream?: OutputStream | 'both' }): AsyncGenerator<OutputLine, void, undefined> {
    const { signal, stream = 'both' } = options;
    if (signal?.aborted) return;
    const res = await this.send<http.IncomingMessage>('GET', `/v1/nodes/${encodeURIComponent(this.info.name)}/logs${query({ n: 'all', since, follow: 1, stream: stream === 'both' ? undefined : stream })}`, 'follow');
    for await (const entry of readNdjson<OutputLine & { node?: string; replica?: number; skipped?: number }>(res, signal)) {
      if (entry.skipped !== undefined || entry.replica !== this.info.replica) continue;
      const { node: _node, ...line } = entry;
      yield line;
    }
  }

  /**
   * Resolves once the replica is in `state` (see {@link RemoteWaitOptions.run}); the server waits
   * on the cluster's own events (a long-poll), nothing polls. After `await node.kill()`,
   * `await node.waitFor('ready', { run: 'next' })` waits for the restarted run.
   * @throws {DroverError} ERR_READY_TIMEOUT after `timeoutMs` with the state, run, last exit and
   *   output tail; ERR_INVALID_OPTION for a bad state, run or timeout.
   */
  async waitFor(state: NodeState, options: RemoteWaitOptions = {}): Promise<void> {
    const { timeoutMs = 30_000, run = 'current' } = options;
    await this.act('GET', 'wait', { state, run, after: this.info.run, timeoutMs });
  }

  /**
   * Resolves with the first output line (buffered or new) matching `pattern`, run on the server
   * with RE2 (see `ClusterNode.waitForOutput`).
   * @throws {DroverError} ERR_READY_TIMEOUT after `timeoutMs` (default 30000) with the last lines;
   *   ERR_INVALID_OPTION for a pattern RE2 cannot run.
   */
  async waitForLine(pattern: RegExp | string, options: { readonly timeoutMs?: number; readonly stream?: OutputStream | 'both' } = {}): Promise<OutputLine> {
    const { timeoutMs = 30_000, stream = 'both' } = options;
    const source = typeof pattern === 'string' ? pattern : pattern.source;
    const flags = typeof pattern === 'string' ? '' : pattern.flags;
    const answer = await this.act('GET', 'wait-line', { pattern: source, flags, timeoutMs, stream });
    return answer.line as OutputLine;
  }

  /** Starts the replica (no-op when running); resolves once it is ready. */
  async start(): Promise<void> {
    await this.act('POST', 'start');
  }

  /** Stops the replica (stop signal, SIGKILL after the stop timeout). */
  async stop(): Promise<void> {
    await this.act('POST', 'stop');
  }

  /** Stops and starts the replica (a manual restart); resolves once it is ready again. */
  async restart(): Promise<void> {
    await this.act('POST', 'restart');
  }

  /**
   * Sends `signal` (default SIGKILL) to the replica's process group; the restart policy applies to
   * the exit. Resolves to false when nothing ran.
   */
  async kill(signal: string | number = 'SIGKILL'): Promise<boolean> {
    const answer = await this.act('POST', 'kill', { signal }, 'quick');
    return answer.signalled as boolean;
  }

  /** Freezes the replica's process tree (state `paused`; see `ClusterNode.pause`). */
  async pause(options: { readonly probes?: 'suspend' | 'keep' } = {}): Promise<void> {
    await this.act('POST', 'pause', { probes: options.probes });
  }

  /** Thaws a paused replica. */
  async resume(): Promise<void> {
    await this.act('POST', 'resume');
  }

  /** SIGKILLs the replica's tree; `restart: false` keeps it `exited` until started (see `ClusterNode.crash`). */
  async crash(options: { readonly restart?: boolean } = {}): Promise<void> {
    await this.act('POST', 'crash', { restart: options.restart });
  }
}

/**
 * A cluster served over a control socket (see {@link useCluster}). Node handles are cached: the
 * same `(name, replica)` gives the same {@link RemoteNode}.
 */
export class RemoteCluster {
  private readonly handles = new Map<string, RemoteNode>();
  private replicas: readonly ReplicaInfo[];

  /** @internal */
  constructor(
    /** Path of the control socket. */
    readonly socket: string,
    /** Cluster name. */
    readonly name: string,
    private readonly send: Transport,
    replicas: readonly ReplicaInfo[],
  ) {
    this.replicas = replicas;
  }

  /**
   * The handle of replica `replica` of node `name`, with the fields last observed (as of
   * `useCluster()` or the last {@link RemoteCluster.refresh}).
   * @throws {DroverError} ERR_UNKNOWN_NODE listing the known nodes (after a scale, `refresh()` first).
   */
  node(name: string, replica = 0): RemoteNode {
    const key = getReplicaLabel(name, replica);
    const cached = this.handles.get(key);
    if (cached !== undefined) return cached;
    const info = this.replicas.find((r) => r.name === name && r.replica === replica);
    if (info === undefined) {
      const known = [...new Set(this.replicas.map((r) => r.name))].join(', ');
      throw new DroverError('ERR_UNKNOWN_NODE', `no node ${JSON.stringify(name)} (replica ${replica}) in cluster ${this.name}; nodes: ${known}`, { node: name });
    }
    const handle = new RemoteNode(this.send, info);
    this.handles.set(key, handle);
    return handle;
  }

  /** Every replica of node `name` (or of every node), as last observed. */
  nodes(name?: string): RemoteNode[] {
    return this.replicas.filter((r) => name === undefined || r.name === name).map((r) => this.node(r.name, r.replica));
  }

  /** Reads every replica now, refreshing every handle. */
  async refresh(): Promise<readonly ReplicaInfo[]> {
    const answer = await this.send<ReplicasAnswer>('GET', '/v1/replicas', 'quick');
    this.replicas = answer.replicas;
    for (const info of answer.replicas) this.handles.get(getReplicaLabel(info.name, info.replica))?.update(info);
    return answer.replicas;
  }

  /**
   * Follows the cluster's events ({@link ClusterEvent}: state changes with their run, restarts,
   * readiness attempts, faults …). Resolves once the server has subscribed: every event after
   * that is delivered, in order, until `signal` aborts, the loop breaks or the cluster stops. A
   * reader more than 1 MiB behind gets an {@link EventGap} in place of the events it missed.
   * `output: true` includes every output line as an `output` event.
   */
  async events(options: { readonly signal?: AbortSignal; readonly output?: boolean } = {}): Promise<AsyncGenerator<ClusterEvent | EventGap, void, undefined>> {
    const { signal, output = false } = options;
    const res = await this.send<http.IncomingMessage>('GET', `/v1/events${query({ output: output ? 1 : undefined })}`, 'follow');
    // Also when the iterator is never read: the abort closes the stream.
    signal?.addEventListener('abort', () => res.destroy(), { once: true });
    if (signal?.aborted) res.destroy();
    return readNdjson<ClusterEvent | EventGap>(res, signal);
  }

  /** The active injected faults, oldest first. */
  async faults(): Promise<readonly FaultRecord[]> {
    return (await this.send<{ faults: FaultRecord[] }>('GET', '/v1/faults', 'quick')).faults;
  }

  /** Heals fault `id`, or every active fault; resolves to the ids healed. @throws {DroverError} ERR_UNKNOWN_FAULT */
  async heal(id?: string): Promise<string[]> {
    return (await this.send<{ healed: string[] }>('POST', `/v1/faults/heal${query({ id })}`, 'operation')).healed;
  }

  /**
   * Cuts every link between the groups, both ways, as `Cluster.partition` does:
   * `partition([['a'], ['b', 'c']])` isolates a. Resolves to one fault per cut link.
   * @throws {DroverError} ERR_INVALID_OPTION for fewer than two non-empty groups or a node in two
   *   groups (nothing injected); the server's errors (ERR_UNSUPPORTED without network faults, ERR_UNKNOWN_NODE).
   */
  async partition(groups: readonly (readonly string[])[]): Promise<FaultRecord[]> {
    const seen = new Set<string>();
    for (const name of groups.flat()) {
      if (seen.has(name)) throw new DroverError('ERR_INVALID_OPTION', `node ${name} is in two partition groups; each node belongs to at most one`, { node: name });
      seen.add(name);
    }
    if (groups.filter((g) => g.length > 0).length < 2) throw new DroverError('ERR_INVALID_OPTION', `a partition needs at least two non-empty groups of nodes, got ${JSON.stringify(groups)}`);
    const records: FaultRecord[] = [];
    for (const [i, group] of groups.entries()) {
      if (group.length === 0) continue;
      const others = groups.filter((_, j) => j !== i).flat();
      const answer = await this.send<{ faults: FaultRecord[] }>('POST', `/v1/faults/partition${query({ from: group.join(','), to: others.join(','), by: 'api' })}`, 'operation');
      records.push(...answer.faults);
    }
    return records;
  }

  /**
   * The link from node `from` to node `to` (every port, or `port`); needs `network: { faults: true }`
   * in the cluster's config (else its methods reject with ERR_UNSUPPORTED).
   */
  link(from: string, to: string, port?: string): RemoteLink {
    const inject = async (kind: LinkFaultEffect['kind'], extra: Record<string, number | undefined> = {}): Promise<FaultRecord> => {
      const answer = await this.send<{ faults: FaultRecord[] }>('POST', `/v1/faults/${kind}${query({ from, to, port, by: 'api', ...extra })}`, 'operation');
      return answer.faults[0]!;
    };
    return {
      from,
      to,
      port: port ?? null,
      partition: () => inject('partition'),
      blackhole: () => inject('blackhole'),
      latency: ({ ms, jitterMs = 0 }) => inject('latency', { ms, jitterMs }),
      bandwidth: ({ bytesPerSec }) => inject('bandwidth', { bytesPerSec }),
      reset: () => inject('reset'),
      heal: async () => {
        const healed: string[] = [];
        for (const fault of await this.faults()) {
          if (fault.link !== null && fault.link.from === from && fault.link.to === to && (port === undefined || fault.link.port === port)) healed.push(...(await this.heal(fault.id)));
        }
        return healed;
      },
    };
  }
}

/** Whether `error` says nothing listens on the socket (the cluster is gone). */
function isNotRunning(error: unknown): boolean {
  return isDroverError(error, 'ERR_CONTROL_API') && error.message.startsWith('no running cluster for');
}

/** The control socket of the setupCluster cluster in this vitest worker, or undefined outside one. */
async function getInjectedSocket(key: string): Promise<string | undefined> {
  try {
    // The npm package, named through a variable: dependency-cruiser would take a literal 'vitest'
    // for this folder (vitest/index.ts) and see a cycle. Loaded only here: drover needs no vitest.
    const vitestPackage = 'vitest';
    const vitest = (await import(vitestPackage)) as { inject(key: string): unknown };
    const provided = vitest.inject(key) as { controlSocket?: unknown } | undefined;
    return typeof provided?.controlSocket === 'string' ? provided.controlSocket : undefined;
  } catch {
    return undefined; // no vitest, or not in a vitest worker
  }
}

/**
 * A handle on a running cluster through its control API, from another process than the one
 * running it. The socket is, in this order: `options.socket`; in a vitest worker, the
 * `controlSocket` that `setupCluster` provided (`inject(key)`); `$DROVER_CONTROL_SOCKET` (set by
 * `setupCluster` in vitest's main process, and by `drover run` for its command).
 *
 * @example
 * const cluster = await useCluster();
 * const api = cluster.node('api');
 * await api.kill();
 * await api.waitFor('ready', { run: 'next' });
 *
 * @throws {DroverError} ERR_CONTROL_API when no socket is found, or no cluster answers on it
 *   (naming the socket); ERR_INVALID_OPTION for a socket path not named `control.sock`.
 */
export async function useCluster(options: UseClusterOptions = {}): Promise<RemoteCluster> {
  const { key = 'drover', requestTimeoutMs } = options;
  const socket = options.socket ?? (await getInjectedSocket(key)) ?? process.env.DROVER_CONTROL_SOCKET;
  if (socket === undefined || socket === '') {
    throw new DroverError(
      'ERR_CONTROL_API',
      `useCluster found no cluster to use: no \`socket\` option, no controlSocket provided under ${JSON.stringify(key)} (setupCluster in a vitest globalSetup), and DROVER_CONTROL_SOCKET is not set (drover run sets it)`,
    );
  }
  const paths = getSocketStatePaths(socket);
  const send: Transport = async <T>(method: 'GET' | 'POST', urlPath: string, wait: RequestWait = 'quick'): Promise<T> => {
    let res: http.IncomingMessage;
    try {
      res = await request(paths, socket, method, urlPath, { wait, ...(requestTimeoutMs === undefined ? {} : { timeoutMs: requestTimeoutMs }) });
    } catch (error) {
      if (isNotRunning(error)) throw new DroverError('ERR_CONTROL_API', `no cluster answers on the control socket ${socket}: it stopped, or its globalSetup or drover run ended`, { path: socket, cause: error });
      throw error;
    }
    if (wait === 'follow') return res as T;
    return readJson<T>(res);
  };
  const [cluster, replicas] = await Promise.all([send<{ name: string }>('GET', '/v1/cluster'), send<ReplicasAnswer>('GET', '/v1/replicas')]);
  return new RemoteCluster(socket, cluster.name, send, replicas.replicas);
}
