import { EventEmitter } from 'node:events';
import { ClusterNode, type CrashOptions, type PauseOptions } from './cluster-node.js';
import { FaultRegistry } from './fault-registry.js';
import { allocatePorts, releasePorts } from './ports.js';
import { EXTERNAL_PEER } from '../network/peers.js';
import type { LinkFault, NetworkRelay } from '../network/relay-thread.js';
import { ClockDirectory, NodeClock } from './clock-fault.js';
import { planChaos, runChaos, type ChaosEntry, type ChaosInjectors } from './chaos.js';
import { getDependents, getStartOrder } from '../contract/dependency-graph.js';
import type { NodeFileWatch } from './file-watch.js';
import { MAX_REPLICAS } from '../contract/defaults.js';
import { DroverError, isDroverError } from '../contract/errors.js';
import { getReplicaLabel, isAtRest, isFinalState } from '../contract/lifecycle.js';
import type {
  FaultKind,
  FaultRecord,
  ClusterController,
  ClusterEvent,
  ClusterObserver,
  ClusterSnapshot,
  ClusterSpec,
  LinkFaultEffect,
  LinkFaultRequest,
  NodeSpec,
  OutputLine,
  ResolvedConfig,
  SpawnEnvironmentProvider,
  Subscription,
} from '../contract/types.js';

/** Options of {@link Cluster.start}. */
export interface ClusterStartOptions {
  /** Cancels the start: nodes already started are stopped and the promise rejects with ERR_ABORTED. */
  readonly signal?: AbortSignal;
  /** `false`: a node that fails to start leaves the others running and the promise resolves. @default true */
  readonly stopOnFailure?: boolean;
  /**
   * Start only these nodes (names) and, unless `noDeps`, every node they depend on, transitively.
   * The others stay `pending` until `startNode`. @default every node
   */
  readonly only?: readonly string[];
  /**
   * With `only`: start exactly those nodes; a `dependsOn` on a node left out is not waited for
   * (`docker compose up --no-deps`). @default false
   */
  readonly noDeps?: boolean;
  /**
   * Called once, when every replica of the nodes this start covers has been spawned (it is, or
   * was, `running`: compose's `service_started`) or has failed, whether or not it is ready yet.
   * What `drover up --detach` returns on, as `docker compose up -d` returns once its containers
   * started (`--wait` is for ready). Not called when the start fails before any node starts (a
   * watched path missing, no port to lease). @default none
   */
  readonly onStarted?: () => void;
}

/** Options of {@link Cluster}. */
export interface ClusterOptions {
  /** Epoch-ms clock. @default Date.now */
  readonly clock?: () => number;
  /** Uniform [0, 1) source for backoff jitter. @default Math.random */
  readonly random?: () => number;
  /** Period of `stopping` progress events while a node's stop waits for its process, ms. @default 1000 */
  readonly stopProgressIntervalMs?: number;
}

/** Options of {@link Cluster.events}. */
export interface ClusterEventsOptions {
  /** Ends the iteration at once when aborted (events still queued are not delivered), like `break`. */
  readonly signal?: AbortSignal;
  /**
   * Most events held for a consumer that is behind; past it the oldest is dropped and counted in
   * {@link ClusterEventStream.dropped}. 1 to 1,000,000.
   * @default 10000
   */
  readonly maxQueued?: number;
  /** Include `output` events (one per output line of every node). @default false */
  readonly output?: boolean;
}

/**
 * The async iterator {@link Cluster.events} returns: every {@link ClusterEvent} from the call on,
 * in publication order. Bounded: a consumer more than `maxQueued` events behind loses the oldest
 * ones, counted in `dropped` (drop-oldest; memory never grows past the bound). Assert
 * `dropped === 0` when a test needs every event.
 */
export interface ClusterEventStream extends AsyncIterableIterator<ClusterEvent> {
  /** Events dropped so far because the queue was full (oldest first). */
  readonly dropped: number;
}

const DEFAULT_EVENTS_MAX_QUEUED = 10_000;
const EVENTS_MAX_QUEUED_LIMIT = 1_000_000;

/** Private control-flow error: which dependency could not be met (never reaches users; its `original` becomes `cause`). */
class UnmetDependency extends Error {
  constructor(
    readonly dependency: string,
    readonly original: Error,
  ) {
    super(original.message);
  }
}

/** The error of an operation cancelled through its AbortSignal; the signal's reason is the cause. */
export function createAbortError(message: string, signal: AbortSignal): DroverError {
  const reason: unknown = signal.reason;
  const why = reason instanceof Error && reason.name === 'TimeoutError' ? ' (its AbortSignal timed out)' : '';
  return new DroverError('ERR_ABORTED', `${message}${why}`, { reason: 'aborted', cause: reason });
}


/**
 * A set of named nodes started from a {@link ClusterSpec}. Implements {@link ClusterController},
 * the one interface the CLI and telemetry use. Emits `'event'` with every {@link ClusterEvent}.
 *
 * Start follows `dependsOn` (a node starts once every dependency meets its condition; independent
 * nodes start in parallel); stop goes in reverse (a node stops once every node depending on it has
 * stopped). Each node has `replicas` handles, each with its own ports.
 */
export class Cluster extends EventEmitter<{ event: [ClusterEvent] }> implements ClusterController, AsyncDisposable {
  /** The cluster's name (`spec.name`). */
  readonly name: string;
  /** The spec it was created from. */
  readonly spec: ClusterSpec;
  private members: ClusterNode[] = [];
  private readonly specs = new Map<string, NodeSpec>();
  /** Asked for extra child environment right before each spawn (provideSpawnEnvironment). */
  private readonly spawnEnvironmentProviders = new Set<{ readonly provider: SpawnEnvironmentProvider }>();
  /** Subscribed observers, each with the number of the first event it gets (see subscribe). */
  private readonly observers = new Map<ClusterObserver, number>();
  /** Active injected faults (every kind registers there with its heal action). */
  private readonly faultRegistry = new FaultRegistry((event) => this.publish(event), () => (this.options.clock ?? Date.now)());
  /** Temp directory of the clock-fault timestamp files (created on first use, removed at stop). */
  private readonly clockDirectory = new ClockDirectory();
  private stopPromise: Promise<void> | null = null;
  /** Whether the nodes turn output lines into `output` events (someone may listen). */
  private isOutputWanted = false;
  private readonly stopOnNodeFailure: boolean;
  /** Aborted by stop(): cancels a start that still waits for dependencies. */
  private readonly lifetime = new AbortController();
  /** One file watch per node with `watch`, from start() until stop(). */
  private watches: NodeFileWatch[] = [];
  /** Nodes whose watched files changed and whose restart has not begun yet. */
  private readonly watchPending = new Set<string>();
  /** Tail of the chain of watch restarts: one wave at a time. */
  private watchQueue: Promise<void> = Promise.resolve();
  private started = false;
  /** Events published while another is being delivered, oldest first, with their numbers (see publish). */
  private readonly pendingEvents: { readonly event: ClusterEvent; readonly number: number }[] = [];
  private isPublishing = false;
  /** Events published so far; the next one gets this number. */
  private publishedCount = 0;
  /** Tail of the chain of scale requests: membership changes run one at a time, in order. */
  private scaleQueue: Promise<void> = Promise.resolve();
  /** The TCP relay of `network: { faults: true }` (null until start, and without the option). */
  private relay: NetworkRelay | null = null;
  /** The relay's listening ports, leased until the cluster stops. */
  private readonly relayPorts: number[] = [];
  /** Active link faults by fault id, as the relay applies them. */
  private readonly linkFaults = new Map<string, LinkFault>();
  /** Ids of link faults as the relay knows them (`l1`, `l2`, …; one fault record may hold several). */
  private linkFaultCount = 0;
  /** Ends every open events() iterator once the cluster has stopped. */
  private readonly stopped = new AbortController();
  /** Run at the end of stop(), after every node stopped (startCluster's telemetry flush), in order. */
  private readonly stopHooks: (() => Promise<void>)[] = [];

  constructor(
    spec: ClusterSpec,
    private readonly options: ClusterOptions = {},
  ) {
    super();
    this.spec = spec;
    this.name = spec.name;
    getStartOrder(spec.nodes); // throws ERR_CONFIG_INVALID on a cycle or an unknown dependency
    // A spec built in code gets config/cluster-rules.ts's rule too: a dependency that never runs is never met.
    const replicasByName = new Map(spec.nodes.map((node) => [node.name, node.replicas]));
    for (const node of spec.nodes) {
      const idle = Object.keys(node.dependsOn).filter((dep) => replicasByName.get(dep) === 0);
      if (idle.length > 0 && node.replicas > 0) {
        throw new DroverError('ERR_CONFIG_INVALID', `node ${node.name} depends on ${idle.join(', ')}, which ${idle.length === 1 ? 'has' : 'have'} replicas: 0; the dependency could never be met`, { node: node.name });
      }
    }
    for (const node of spec.nodes) {
      this.specs.set(node.name, node);
      for (let replica = 0; replica < node.replicas; replica++) this.members.push(this.createMember(node, replica));
    }
    this.stopOnNodeFailure = (spec.onNodeFailure ?? 'continue') === 'stop-cluster';
    // 'newListener' fires before the listener is added, 'removeListener' after it is removed.
    const emitter = this as EventEmitter;
    emitter.on('newListener', (name: string | symbol) => {
      if (name === 'event') this.updateOutputInterest(1);
    });
    emitter.on('removeListener', (name: string | symbol) => {
      if (name === 'event') this.updateOutputInterest(0);
    });
  }

  /** Turns `output` events on in every node while an observer or `'event'` listener may want them. */
  private updateOutputInterest(addedListeners: number): void {
    let wanted = this.listenerCount('event') + addedListeners > 0;
    for (const observer of this.observers.keys()) wanted ||= observer.wantsOutput !== false;
    if (wanted === this.isOutputWanted) return;
    this.isOutputWanted = wanted;
    for (const member of this.members) member.setOutputEvents(wanted);
  }

  private createMember(spec: NodeSpec, replica: number): ClusterNode {
    const { clock, random, stopProgressIntervalMs } = this.options;
    // Clock faults: each replica's wall clock, preloaded with libfaketime when the node has `clock: true`.
    let member: ClusterNode | undefined;
    const nodeClock = new NodeClock({
      label: getReplicaLabel(spec.name, replica),
      enabled: spec.clock === true,
      command: () => {
        const resolved = member!.resolvedSpec();
        return { argv: resolved.command, cwd: resolved.cwd, env: resolved.env };
      },
      directory: () => this.clockDirectory.get(),
      addFault: (injection) => this.faultRegistry.add(injection),
      healFault: (id) => this.faultRegistry.heal(id),
      forgetFault: (id) => this.faultRegistry.forget(id),
      ...(clock ? { clock } : {}),
    });
    member = new ClusterNode({
      spec,
      replica,
      clusterName: this.spec.name,
      emit: (event) => {
        nodeClock.observe(event);
        this.publish(event);
      },
      nodeClock,
      getSpawnEnvironment: (node, replica, run) => {
        const extra = this.getSpawnEnvironment(node, replica, run);
        const clockEnv = nodeClock.spawnEnvironment(spec.env);
        return clockEnv === undefined ? extra : { ...extra, ...clockEnv };
      },
      // With network faults, `{{nodes.b.ports.x}}` is b's address through the relay (undefined until it listens).
      peerPorts: (name) => (this.spec.network?.faults === true ? this.relay?.portsOf(name) : this.members.find((m) => m.name === name && m.replica === 0)?.ports),
      ...(clock ? { clock } : {}),
      ...(random ? { random } : {}),
      ...(stopProgressIntervalMs === undefined ? {} : { stopProgressIntervalMs }),
      outputEvents: this.isOutputWanted,
      faults: this.faultRegistry,
    });
    return member;
  }

  /**
   * Allocates every replica's ports, then starts the nodes in dependency order and resolves when
   * all are ready (jobs: completed). On failure it stops what it started and rejects with the
   * failing node's error (node, reason, output tail in the message); a node whose dependency failed
   * is `failed` with ERR_DEPENDENCY_FAILED. With `stopOnFailure: false` (what `drover up` uses) the
   * other nodes keep running and the promise resolves. An aborted `signal` stops everything and
   * rejects with ERR_ABORTED (also when it was aborted before the call).
   * Every port is leased machine-wide until the cluster stops (docs/config.md, port leases).
   *
   * `only` starts a subset: those nodes and, transitively, their dependencies (as `docker compose
   * up web`); with `noDeps: true` exactly those nodes, and a `dependsOn` on a node left out is not
   * waited for (as `docker compose up --no-deps web`). The other nodes stay `pending` (never
   * started) until {@link startNode}. Every node's ports are leased all the same, so templates
   * naming a node left out still resolve.
   * @throws {DroverError} ERR_COMMAND_NOT_FOUND, ERR_READY_TIMEOUT, ERR_PROCESS_EXITED, ERR_RESTART_LIMIT, ERR_DEPENDENCY_FAILED, ERR_ABORTED, ERR_STOPPED, ERR_PORT_ALLOCATION (no port could be leased; nothing was started), ERR_UNKNOWN_NODE (a name in `only`; nothing was started) …
   */
  async start(options: ClusterStartOptions = {}): Promise<this> {
    const { signal, stopOnFailure = true } = options;
    if (signal?.aborted) throw createAbortError(`starting cluster ${this.name} was aborted before it began`, signal);
    const names = this.selectNodes(options.only, options.noDeps === true);
    const onAbort = () => void this.stopWithReason('aborted', null, null);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      // Before anything starts: a watched path that does not exist fails the start with nothing running.
      await this.startWatches();
      await this.allocateAllPorts();
      const starts = this.startInOrder(names, options.noDeps === true);
      if (options.onStarted !== undefined) {
        const onStarted = options.onStarted;
        const spawned = names.flatMap((name) => this.nodes(name).map((member) => member.waitForCondition('started')));
        void Promise.allSettled(spawned).then(() => onStarted());
      }
      const results = await Promise.allSettled(starts);
      this.started = true;
      const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
      // The root cause first: a dependency's own failure explains its dependents' ERR_DEPENDENCY_FAILED.
      const failure = failures.find((e) => !isDroverError(e, 'ERR_DEPENDENCY_FAILED')) ?? failures[0];
      if (signal?.aborted) {
        await this.stop();
        throw createAbortError(`starting cluster ${this.name} was aborted; every node it started was stopped`, signal);
      }
      if (failure !== undefined && stopOnFailure) {
        await this.stopWithReason('start-failed', null, null);
        throw failure;
      }
      if (failure === undefined && (this.spec.onNodeFailure ?? 'continue') === 'stop-cluster') {
        const failed = this.members.find((m) => m.state === 'failed');
        if (failed) void this.stopWithReason('node-failed', failed.name, failed.replica);
      }
      return this;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * The node names a start covers: every node without `only`; else `only` plus, unless `noDeps`,
   * every node they depend on, transitively.
   * @throws {DroverError} ERR_UNKNOWN_NODE for a name of `only` that is no node.
   */
  private selectNodes(only: readonly string[] | undefined, noDeps: boolean): string[] {
    if (only === undefined) return this.spec.nodes.map((n) => n.name);
    for (const name of only) if (!this.specs.has(name)) this.node(name); // throws ERR_UNKNOWN_NODE listing the known names
    const selected = new Set<string>();
    const todo = [...only];
    while (todo.length > 0) {
      const name = todo.pop()!;
      if (selected.has(name)) continue;
      selected.add(name);
      if (!noDeps) todo.push(...Object.keys(this.specs.get(name)!.dependsOn));
    }
    return this.spec.nodes.map((n) => n.name).filter((name) => selected.has(name));
  }

  /**
   * One promise per node name: waits for the node's dependencies' conditions, then starts every
   * replica and resolves when they are ready. A dependency outside `names` is not started here:
   * with `ignoreOthers` it is not waited for (`--no-deps`), else its replicas are waited for as
   * they run already (startNode starts only the dependencies that are down).
   */
  private startInOrder(names: readonly string[], ignoreOthers = false): Promise<void>[] {
    const included = new Set(names);
    const invoked = new Map<string, Promise<void>>();
    const ready = new Map<string, Promise<void>>();
    const inSet = (spec: NodeSpec): NodeSpec => ({ ...spec, dependsOn: Object.fromEntries(Object.entries(spec.dependsOn).filter(([dep]) => included.has(dep))) });
    for (const name of getStartOrder(names.map((n) => inSet(this.specs.get(n)!)))) {
      const spec = this.specs.get(name)!;
      let markInvoked!: () => void;
      let markNotInvoked!: (error: unknown) => void;
      invoked.set(
        name,
        new Promise<void>((resolve, reject) => {
          markInvoked = resolve;
          markNotInvoked = reject;
        }),
      );
      invoked.get(name)!.catch(() => {
        // Observed through `ready` (the same failure); this copy only orders dependents.
      });
      const run = (async () => {
        try {
          await Promise.all(
            Object.entries(spec.dependsOn).map(async ([dep, condition]) => {
              if (!included.has(dep) && ignoreOthers) return;
              try {
                if (!included.has(dep)) return void (await Promise.all(this.nodes(dep).map((member) => member.waitForCondition(condition))));
                if (condition === 'ready') return await ready.get(dep);
                await invoked.get(dep);
                await Promise.all(this.nodes(dep).map((member) => member.waitForCondition(condition)));
              } catch (error) {
                throw new UnmetDependency(`${dep} (${condition})`, error as Error);
              }
            }),
          );
        } catch (error) {
          const unmet = error instanceof UnmetDependency ? error : new UnmetDependency('?', error as Error);
          const cause = unmet.original;
          const dependencyError = new DroverError('ERR_DEPENDENCY_FAILED', `node ${name} was not started: dependency ${unmet.dependency} was not met: ${cause.message.split('\n')[0]}`, {
            node: name,
            reason: 'dependency',
            cause,
          });
          if (!this.lifetime.signal.aborted) for (const member of this.nodes(name)) member.failBeforeStart(dependencyError);
          markNotInvoked(dependencyError);
          throw dependencyError;
        }
        if (this.lifetime.signal.aborted) {
          const stopped = new DroverError('ERR_STOPPED', `cluster ${this.name} stopped before node ${name} started`, { node: name, reason: 'stopped' });
          markNotInvoked(stopped);
          throw stopped;
        }
        const starts = this.nodes(name).map((member) => member.start());
        markInvoked();
        await Promise.all(starts);
      })();
      ready.set(name, run);
    }
    return [...ready.values()];
  }

  /**
   * The handle of node `name` (replica `replica`).
   * @throws {DroverError} ERR_UNKNOWN_NODE listing the known names.
   */
  node(name: string, replica = 0): ClusterNode {
    const found = this.members.find((n) => n.name === name && n.replica === replica);
    if (!found) {
      throw new DroverError('ERR_UNKNOWN_NODE', `no node ${JSON.stringify(name)} (replica ${replica}) in cluster ${this.name}; nodes: ${[...this.specs.keys()].join(', ')}`, {
        node: name,
      });
    }
    return found;
  }

  /** Every replica of node `name` (by replica index), or every node when `name` is omitted. */
  nodes(name?: string): ClusterNode[] {
    return name === undefined ? [...this.members] : this.members.filter((n) => n.name === name).sort((a, b) => a.replica - b.replica);
  }

  /** Every replica as plain data (state, pid, restarts, last exit, I/O counters, ports). */
  snapshot(): ClusterSnapshot {
    return { name: this.name, configPath: this.spec.configPath, nodes: this.members.map((n) => n.snapshot()) };
  }

  /** Snapshot first, then live events; both delivered synchronously so nothing falls between. */
  subscribe(observer: ClusterObserver): Subscription {
    observer.onSnapshot?.(this.snapshot());
    // Events published before this point (queued ones included) are in the snapshot already.
    this.observers.set(observer, this.publishedCount);
    this.updateOutputInterest(0);
    return {
      unsubscribe: () => {
        this.observers.delete(observer);
        this.updateOutputInterest(0);
      },
    };
  }

  /**
   * The cluster's events from now on, as an async iterator (for assertions: `for await (const e of
   * cluster.events({ signal }))`). It ends when `signal` aborts, when the loop breaks, or once the
   * cluster has stopped (after the events of the stop). `output` events are left out unless
   * `output: true`. Bounded: see {@link ClusterEventStream} (drop-oldest, counted in `dropped`).
   * @example
   * const events = cluster.events({ signal: AbortSignal.timeout(10_000) });
   * node.kill('SIGKILL');
   * for await (const e of events) if (e.type === 'restarting') break;
   * @throws {DroverError} ERR_INVALID_OPTION for a `maxQueued` that is not an integer from 1 to 1,000,000.
   */
  events(options: ClusterEventsOptions = {}): ClusterEventStream {
    const { signal, maxQueued = DEFAULT_EVENTS_MAX_QUEUED, output = false } = options;
    if (!Number.isSafeInteger(maxQueued) || maxQueued < 1 || maxQueued > EVENTS_MAX_QUEUED_LIMIT) {
      throw new DroverError('ERR_INVALID_OPTION', `Expected \`maxQueued\` of events() to be an integer from 1 to ${EVENTS_MAX_QUEUED_LIMIT}, got ${JSON.stringify(maxQueued)}`, {});
    }
    const queue: ClusterEvent[] = [];
    let dropped = 0;
    let wake: (() => void) | null = null;
    let done = false;
    const end = AbortSignal.any(signal === undefined ? [this.stopped.signal] : [signal, this.stopped.signal]);
    const subscription = this.subscribe({
      wantsOutput: output,
      onEvent: (event) => {
        if (event.type === 'output' && !output) return;
        if (queue.length >= maxQueued) {
          queue.shift();
          dropped++;
        }
        queue.push(event);
        wake?.();
      },
    });
    const finish = (): void => {
      if (done) return;
      done = true;
      subscription.unsubscribe();
      end.removeEventListener('abort', onEnd);
      queue.length = 0;
      wake?.();
    };
    // Aborted by the caller: at once. Cluster stopped: after what is queued (the stop's own events).
    const onEnd = (): void => {
      if (signal?.aborted) finish();
      else wake?.();
    };
    end.addEventListener('abort', onEnd);
    if (signal?.aborted) finish();
    const stream: ClusterEventStream = {
      get dropped() {
        return dropped;
      },
      next: async (): Promise<IteratorResult<ClusterEvent, undefined>> => {
        for (;;) {
          if (done) return { done: true, value: undefined };
          const event = queue.shift();
          if (event !== undefined) return { done: false, value: event };
          if (end.aborted) {
            finish();
            continue;
          }
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = null;
        }
      },
      return: async (): Promise<IteratorResult<ClusterEvent, undefined>> => {
        finish();
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]() {
        return stream;
      },
    };
    return stream;
  }

  /**
   * Runs `hook` at the end of {@link Cluster.stop}, after every node stopped (hooks run in the
   * order added; a hook's rejection is reported as a warning, never thrown from stop()).
   * @internal
   */
  addStopHook(hook: () => Promise<void>): void {
    this.stopHooks.push(hook);
  }

  /**
   * Adds `provider`'s variables to the environment of every spawn from now on (see
   * {@link SpawnEnvironmentProvider}); `unsubscribe()` removes this registration.
   */
  provideSpawnEnvironment(provider: SpawnEnvironmentProvider): Subscription {
    const registration = { provider };
    this.spawnEnvironmentProviders.add(registration);
    return { unsubscribe: () => void this.spawnEnvironmentProviders.delete(registration) };
  }

  /**
   * Restarts every replica of node `name`; resolves when they are ready again.
   * @throws {DroverError} ERR_UNKNOWN_NODE; ERR_INVALID_OPTION when the node has 0 replicas
   * (nothing to restart: scale it up instead) or depends on a node that has 0 replicas.
   */
  async restartNode(name: string): Promise<void> {
    const nodes = this.requireRunnable(name, 'restart');
    await Promise.all(nodes.map((n) => n.restart()));
  }

  /** Stops every replica of node `name`; a node with 0 replicas has nothing to stop (resolves at once). @throws {DroverError} ERR_UNKNOWN_NODE */
  async stopNode(name: string): Promise<void> {
    await Promise.all(this.requireNodes(name).map((n) => n.stop()));
  }

  /**
   * Starts every replica of node `name`; resolves when they are ready. A dependency that is down
   * (a replica `pending`, `stopped`, `failed`, or `exited` when it is not a job) is started first,
   * transitively and in dependency order, as `docker compose up web` does; a dependency that runs
   * is waited for until it meets its `dependsOn` condition.
   * @throws {DroverError} ERR_UNKNOWN_NODE; ERR_INVALID_OPTION when the node has 0 replicas
   * (nothing to start: scale it up instead) or depends on a node that has 0 replicas;
   * ERR_DEPENDENCY_FAILED naming the dependency when one could not be started (`node` = `name`,
   * `cause` = the dependency's error); the node's own start errors (ERR_READY_TIMEOUT …).
   */
  async startNode(name: string): Promise<void> {
    const nodes = this.requireRunnable(name, 'start');
    const down = this.getDownDependencies(name);
    const members = [...down.flatMap((dep) => this.nodes(dep)), ...nodes];
    await Promise.all(members.map((n) => n.allocatePorts()));
    if (down.length === 0) {
      await Promise.all(nodes.map((n) => n.start()));
      return;
    }
    const starts = this.startInOrder([...down, name]);
    const results = await Promise.allSettled(starts);
    const own = results.at(-1)!;
    if (own.status === 'rejected') throw own.reason;
  }

  /** The dependencies of `name` that are down, transitively through down ones, in start order. */
  private getDownDependencies(name: string): string[] {
    const isDown = (dep: string): boolean =>
      this.nodes(dep).some((member) => {
        const state = member.state;
        if (state === 'exited') return this.specs.get(dep)!.ready?.kind !== 'exit';
        return isAtRest(state);
      });
    const down = new Set<string>();
    const todo = Object.keys(this.specs.get(name)!.dependsOn);
    while (todo.length > 0) {
      const dep = todo.pop()!;
      if (down.has(dep) || !isDown(dep)) continue;
      down.add(dep);
      todo.push(...Object.keys(this.specs.get(dep)!.dependsOn));
    }
    return this.spec.nodes.map((n) => n.name).filter((n) => down.has(n));
  }

  /**
   * The replicas of `name` for a start or restart: refuses a node scaled to 0 (a start that starts
   * nothing would look like success) and a node whose dependency has 0 replicas (docker compose
   * refuses to start a service whose dependency is not running either).
   */
  private requireRunnable(name: string, action: 'start' | 'restart'): ClusterNode[] {
    const nodes = this.requireNodes(name);
    if (nodes.length === 0) {
      throw new DroverError('ERR_INVALID_OPTION', `node ${name} has 0 replicas (scaled to 0): nothing to ${action}; scale it up instead (\`drover scale ${name} N\`, cluster.scale('${name}', N))`, {
        node: name,
      });
    }
    this.checkDependenciesExist(name);
    return nodes;
  }

  /** @throws {DroverError} ERR_INVALID_OPTION when a dependency of `name` has 0 replicas. */
  private checkDependenciesExist(name: string): void {
    const missing = Object.keys(this.specs.get(name)!.dependsOn).filter((dep) => this.nodes(dep).length === 0);
    if (missing.length > 0) {
      throw new DroverError(
        'ERR_INVALID_OPTION',
        `node ${name} depends on ${missing.join(', ')}, which ${missing.length === 1 ? 'has' : 'have'} 0 replicas: the dependency cannot be met; scale ${missing.join(', ')} up first (\`drover scale ${missing[0]} N\`)`,
        { node: name },
      );
    }
  }

  /**
   * Sends `signal` to the process group of every running replica of node `name`; resolves to the
   * number signalled. The exits that follow go through the restart policy like crashes.
   * @throws {DroverError} ERR_UNKNOWN_NODE; ERR_INVALID_OPTION for an unknown signal (checked when a replica runs).
   */
  async killNode(name: string, signal: string | number): Promise<number> {
    const nodes = this.requireNodes(name);
    return nodes.filter((n) => n.kill(signal, { scope: 'group' })).length;
  }

  /**
   * Pauses every replica of node `name` (see {@link ClusterNode.pause}: the whole tree frozen,
   * state `paused`, liveness probes suspended unless `probes: 'keep'`, one `pause` fault each).
   * Replicas paused already stay so. Resolves once all are frozen.
   * @throws {DroverError} ERR_UNKNOWN_NODE; ERR_ILLEGAL_TRANSITION when a replica is not ready
   *   (or the node has 0 replicas); ERR_UNSUPPORTED when a tree did not freeze in time.
   */
  async pauseNode(name: string, options: PauseOptions = {}): Promise<void> {
    const nodes = this.requireNodes(name);
    if (nodes.length === 0) throw new DroverError('ERR_ILLEGAL_TRANSITION', `node ${name} has 0 replicas: nothing to pause`, { node: name });
    // All or none: a replica that cannot be paused refuses the request before any is frozen.
    const refused = nodes.filter((n) => n.state !== 'ready' && n.state !== 'paused');
    if (refused.length > 0) {
      const states = refused.map((n) => `${getReplicaLabel(n.name, n.replica)} is ${n.state}`).join(', ');
      throw new DroverError('ERR_ILLEGAL_TRANSITION', `cannot pause node ${name}: ${states}; only ready replicas can be paused`, { node: name });
    }
    await Promise.all(nodes.map((n) => n.pause(options)));
  }

  /** Resumes every paused replica of node `name` (see {@link ClusterNode.resume}); the others are left as they are. @throws {DroverError} ERR_UNKNOWN_NODE */
  async resumeNode(name: string): Promise<void> {
    await Promise.all(this.requireNodes(name).map((n) => n.resume()));
  }

  /**
   * SIGKILLs the tree of every live replica of node `name` (see {@link ClusterNode.crash}); with
   * `restart: false` they stay `exited` until started. Resolves to the number of replicas crashed,
   * once each killed run has ended.
   * @throws {DroverError} ERR_UNKNOWN_NODE; ERR_ILLEGAL_TRANSITION when no replica runs.
   */
  async crashNode(name: string, options: CrashOptions = {}): Promise<number> {
    const nodes = this.requireNodes(name).filter((n) => n.state === 'running' || n.state === 'ready' || n.state === 'paused');
    if (nodes.length === 0) throw new DroverError('ERR_ILLEGAL_TRANSITION', `node ${name}: no replica runs, nothing to crash`, { node: name });
    await Promise.all(nodes.map((n) => n.crash(options)));
    return nodes.length;
  }

  /** The last `limit` output lines of node `name`, every replica merged by time (each line has its `replica`). @throws {DroverError} ERR_UNKNOWN_NODE */
  tail(name: string, limit: number): OutputLine[] {
    return this.requireNodes(name)
      .flatMap((n) => n.output.tail(limit).map((line) => ({ ...line, replica: n.replica })))
      .sort((a, b) => a.time - b.time || a.seq - b.seq)
      .slice(-limit);
  }

  /**
   * Sets the number of replicas of node `name`: new replicas get their own ports and start (the
   * promise resolves when they are ready); surplus ones stop, highest index first. Scale requests
   * run one after another in the order they were made (each sees the replica set the previous one
   * left), so concurrent requests never lose or duplicate a replica.
   * @throws {DroverError} ERR_UNKNOWN_NODE; ERR_INVALID_OPTION for a count outside 0..1000 or a
   *   dependency rule (see checkNoActiveDependents); ERR_STOPPED once the cluster is stopping.
   */
  async scale(name: string, replicas: number): Promise<void> {
    const spec = this.specs.get(name);
    if (spec === undefined) this.node(name); // throws ERR_UNKNOWN_NODE
    if (!Number.isInteger(replicas) || replicas < 0 || replicas > MAX_REPLICAS) {
      throw new DroverError('ERR_INVALID_OPTION', `Expected \`replicas\` to be an integer from 0 to ${MAX_REPLICAS}, got ${String(replicas)} (${typeof replicas})`, { node: name });
    }
    const run = this.scaleQueue.then(() => this.scaleNow(spec!, replicas));
    this.scaleQueue = run.catch(() => {
      // The caller of this scale gets its error; the next request runs regardless.
    });
    return run;
  }

  private async scaleNow(spec: NodeSpec, replicas: number): Promise<void> {
    const name = spec.name;
    if (this.stopPromise !== null) throw new DroverError('ERR_STOPPED', `cluster ${this.name} is stopping; cannot scale ${name}`, { node: name });
    const current = this.nodes(name);
    const from = current.length;
    if (replicas === from) return;
    if (replicas === 0) this.checkNoActiveDependents(name);
    if (replicas > from) this.checkDependenciesExist(name);
    this.publish({ type: 'scaled', node: name, time: (this.options.clock ?? Date.now)(), from, to: replicas });
    if (replicas > from) {
      const added: ClusterNode[] = [];
      for (let replica = from; replica < replicas; replica++) added.push(this.createMember(spec, replica));
      const last = this.members.lastIndexOf(current.at(-1) ?? this.members.at(-1)!);
      this.members.splice(from === 0 ? this.indexForNewNode(name) : last + 1, 0, ...added);
      await Promise.all(added.map((member) => member.allocatePorts()));
      await Promise.all(added.map((member) => member.start()));
      return;
    }
    // Highest replica indices first, one at a time.
    for (const member of current.slice(replicas).reverse()) {
      await member.stop();
      this.members = this.members.filter((m) => m !== member);
      await member.releasePorts();
      member.closeOutputFile();
    }
  }

  /**
   * Scaling `name` to 0 while a node that depends on it runs would leave that dependent's
   * dependency unmet without a word (and its next restart would not wait for anything), so it is
   * refused. Dependents that are stopped, exited, failed or scaled to 0 themselves do not count.
   * @throws {DroverError} ERR_INVALID_OPTION naming the active dependents.
   */
  private checkNoActiveDependents(name: string): void {
    const active = [...this.specs.values()]
      .filter((spec) => name in spec.dependsOn)
      .flatMap((spec) => this.nodes(spec.name).filter((member) => !isFinalState(member.state)))
      .map((member) => getReplicaLabel(member.name, member.replica));
    if (active.length > 0) {
      throw new DroverError(
        'ERR_INVALID_OPTION',
        `cannot scale ${name} to 0: ${active.join(', ')} ${active.length === 1 ? 'depends' : 'depend'} on it and ${active.length === 1 ? 'is' : 'are'} running; stop or scale ${active.length === 1 ? 'it' : 'them'} to 0 first`,
        { node: name },
      );
    }
  }

  /** Where replicas of a node that currently has none go: in declaration order. */
  private indexForNewNode(name: string): number {
    const order = [...this.specs.keys()];
    const position = order.indexOf(name);
    const next = this.members.findIndex((m) => order.indexOf(m.name) > position);
    return next === -1 ? this.members.length : next;
  }

  /** The faults injected and not healed yet, oldest first (`drover fault ls`). */
  faults(): readonly FaultRecord[] {
    return this.faultRegistry.list();
  }

  /**
   * Heals fault `id`, or every active fault (newest first) when omitted; resolves once healed.
   * @throws {DroverError} ERR_UNKNOWN_FAULT for an id this cluster never issued.
   */
  healFaults(id?: string): Promise<void> {
    return this.faultRegistry.heal(id);
  }

  // ── Network faults: links through the relay (network: { faults: true }) ──────────────────────

  /** Leases every replica's ports (and the relay's); on failure releases what it leased and rethrows. */
  private async allocateAllPorts(): Promise<void> {
    try {
      const results = await Promise.allSettled(this.members.map((member) => member.allocatePorts()));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
      if (this.spec.network?.faults === true) await this.startRelay();
    } catch (error) {
      await Promise.all(this.members.map((member) => member.releasePorts()));
      await this.relay?.close();
      this.relay = null;
      await releasePorts(this.relayPorts.splice(0));
      throw error;
    }
  }

  /** Listens for every declared port of every node on a relay port of its own. */
  private async startRelay(): Promise<void> {
    if (this.relay !== null) return;
    // Loaded only for a cluster with network faults (it starts a worker thread).
    const { NetworkRelay } = await import('../network/relay-thread.js');
    if (this.relay !== null) return;
    const relay = new NetworkRelay({
      lookup: (to, port) => ({
        trees: this.members.map((m) => ({ node: m.name, pid: m.pid, cgroup: m.pid === null ? null : (m.snapshot().cgroup ?? null) })),
        target: this.members.find((m) => m.name === to && m.replica === 0)?.ports[port],
      }),
    });
    this.relay = relay;
    const taken = this.members.flatMap((m) => Object.values(m.ports));
    for (const spec of this.specs.values()) {
      const listen = await allocatePorts(spec.ports, { exclude: taken, owner: `${this.name}/relay:${spec.name}` });
      this.relayPorts.push(...Object.values(listen));
      for (const port of spec.ports) {
        taken.push(listen[port]!);
        await relay.addRoute(spec.name, port, listen[port]!);
      }
    }
    await relay.setFaults([...this.linkFaults.values()]); // faults injected before the start
  }

  /**
   * The link from node `from` to node `to` (every port of `to`, or only `port`): connections that
   * processes of `from`'s tree open to `to` through `{{nodes.<to>.ports.<port>}}`. `from` may be
   * `'external'`: connections from processes outside every node (a test's client).
   * @throws {DroverError} ERR_UNSUPPORTED without `network: { faults: true }`; ERR_UNKNOWN_NODE;
   *   ERR_INVALID_OPTION for a port `to` does not declare.
   */
  link(from: string, to: string, port?: string): NetworkLink {
    const portName = port ?? null;
    this.checkLink(from, to, portName);
    const inject = async (effect: LinkFaultEffect) => (await this.injectLinkFault({ from: [from], to: [to], port: portName, effect }))[0]!;
    return {
      from,
      to,
      port: portName,
      partition: () => inject({ kind: 'partition' }),
      blackhole: () => inject({ kind: 'blackhole' }),
      latency: ({ ms, jitterMs = 0 }) => inject({ kind: 'latency', ms, jitterMs }),
      bandwidth: ({ bytesPerSec }) => inject({ kind: 'bandwidth', bytesPerSec }),
      reset: () => inject({ kind: 'reset' }),
      heal: async () => {
        for (const fault of this.faults()) {
          if (fault.link !== null && fault.link.from === from && fault.link.to === to && (portName === null || fault.link.port === portName)) await this.healFaults(fault.id);
        }
      },
      openConnections: async () => {
        const open = (await this.relay?.openLinks()) ?? {};
        return Object.entries(open)
          .filter(([key]) => key.startsWith(`${from} → ${to}:`) && (portName === null || key === `${from} → ${to}:${portName}`))
          .reduce((sum, [, count]) => sum + count, 0);
      },
    };
  }

  /**
   * Runs a seeded chaos schedule (see `planChaos`): faults of the given kinds injected on random
   * `targets` every ~`intervalMs` for `durationMs`, each healed after a while; the same seed gives
   * the same schedule. Heals everything still active when it ends or `signal` aborts.
   * @param options.targets node labels (`a`, `b[1]`). @default every replica
   * @returns what it did: per step the time (ms after the start), the fault, its targets, its id.
   * @throws {DroverError} ERR_INVALID_OPTION for bad options; ERR_UNSUPPORTED for a fault kind
   *   this cluster cannot inject.
   */
  async chaos(options: {
    readonly seed: number;
    readonly faults: readonly FaultKind[];
    readonly intervalMs: number;
    readonly durationMs: number;
    readonly targets?: readonly string[];
    readonly faultDurationMs?: number;
    readonly signal?: AbortSignal;
  }): Promise<ChaosEntry[]> {
    const targets = options.targets ?? this.members.map((m) => getReplicaLabel(m.name, m.replica));
    for (const label of targets) this.memberByLabel(label); // throws ERR_UNKNOWN_NODE
    const plan = planChaos({ ...options, targets });
    // Link faults need the relay: say how to enable it before anything runs.
    if (options.faults.some((kind) => LINK_FAULT_KINDS.has(kind))) this.checkNetworkFaults();
    return runChaos(plan, {
      injectors: this.chaosInjectors(`chaos ${options.seed}`),
      heal: (id) => this.healFaults(id),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  }

  /**
   * The fault kinds chaos can inject on this cluster, by name. Each registers its fault in the
   * registry (`by`: `chaos <seed>`): every kind of fault there is.
   */
  private chaosInjectors(by: string): ChaosInjectors {
    return {
      clock: (targets, step) => this.memberByLabel(targets[0]!).clock.offset(step.amount ?? 0, { by }),
      // A crash SIGKILLs the node's whole tree; the restart policy decides what follows.
      crash: async (targets) => {
        const member = this.memberByLabel(targets[0]!);
        await member.crash({ by });
        return this.lastFault('crash', targets[0]!);
      },
      pause: async (targets) => {
        await this.memberByLabel(targets[0]!).pause({ by });
        return this.lastFault('pause', targets[0]!);
      },
      // A partition isolates the step's nodes from every other node of the cluster, both ways (one fault for every cut link).
      partition: async (targets) => {
        const isolated = [...new Set(targets.map((label) => this.memberByLabel(label).name))];
        const others = [...this.specs.keys()].filter((n) => !isolated.includes(n));
        return this.injectLinkFault({ from: isolated, to: others, effect: { kind: 'partition' }, bothWays: true, by });
      },
      // Latency on the link from targets[0] to targets[1] (the step's amount, ms).
      latency: (targets, step) => this.injectLinkFault({ ...this.chaosLink(targets), effect: { kind: 'latency', ms: Math.max(1, Math.round(step.amount ?? 100)), jitterMs: 0 }, by }),
      // Bandwidth on that link (the step's amount, bytes/s), a blackhole of it, or a reset of its open connections (over at once).
      bandwidth: (targets, step) => this.injectLinkFault({ ...this.chaosLink(targets), effect: { kind: 'bandwidth', bytesPerSec: Math.max(1, Math.round(step.amount ?? 100_000)) }, by }),
      blackhole: (targets) => this.injectLinkFault({ ...this.chaosLink(targets), effect: { kind: 'blackhole' }, by }),
      reset: (targets) => this.injectLinkFault({ ...this.chaosLink(targets), effect: { kind: 'reset' }, by }),
    };
  }

  /** A chaos step's `[from, to]` as a link request's two sides. */
  private chaosLink(targets: readonly string[]): { from: string[]; to: string[] } {
    const [from, to] = targets.map((label) => this.memberByLabel(label).name);
    if (from === undefined || to === undefined || from === to) throw new DroverError('ERR_INVALID_OPTION', `a link fault step needs two different nodes, got ${JSON.stringify(targets)}`);
    return { from: [from], to: [to] };
  }

  /**
   * Cuts every link between the groups, both ways (a node in one group reaches no node of
   * another; links inside a group stay): `partition([['a'], ['b', 'c']])` isolates a. Open
   * connections stall; new ones are accepted and held. Resolves, once in effect, to one fault for
   * every cut link (its span reads `fault partition a|b,c`).
   * @throws {DroverError} ERR_UNSUPPORTED without `network: { faults: true }`; ERR_UNKNOWN_NODE;
   *   ERR_INVALID_OPTION for fewer than two groups or a node in two groups.
   */
  async partition(groups: readonly (readonly string[])[]): Promise<FaultRecord> {
    const seen = new Set<string>();
    for (const group of groups) {
      for (const name of group) {
        if (seen.has(name)) throw new DroverError('ERR_INVALID_OPTION', `node ${name} is in two partition groups; each node belongs to at most one`, { node: name });
        seen.add(name);
      }
    }
    if (groups.filter((g) => g.length > 0).length < 2) {
      throw new DroverError('ERR_INVALID_OPTION', `a partition needs at least two non-empty groups of nodes, got ${JSON.stringify(groups)}`);
    }
    const sides = groups.filter((g) => g.length > 0);
    const links: [string, string][] = [];
    for (const [i, group] of sides.entries()) {
      for (const from of group) for (const to of sides.filter((_, j) => j !== i).flat()) links.push([from, to]);
    }
    return this.injectPartition(sides, false, links, null, 'api');
  }

  /** Heals every active fault (`healFaults()`). */
  heal(): Promise<void> {
    return this.healFaults();
  }

  /**
   * Injects `request.effect` on every link from a node of `from` to a node of `to` (and back with
   * `bothWays`); one fault record per link. See {@link ClusterController.injectLinkFault}.
   * @throws {DroverError} ERR_UNSUPPORTED, ERR_UNKNOWN_NODE, ERR_INVALID_OPTION.
   */
  async injectLinkFault(request: LinkFaultRequest): Promise<readonly FaultRecord[]> {
    this.checkNetworkFaults();
    const port = request.port ?? null;
    const links: [string, string][] = [];
    for (const from of request.from) for (const to of request.to) if (from !== to) links.push([from, to]);
    if (request.bothWays === true) for (const from of request.to) for (const to of request.from) if (from !== to) links.push([from, to]);
    for (const [from, to] of links) this.checkLink(from, to, port);
    if (links.length === 0) {
      throw new DroverError('ERR_INVALID_OPTION', `no link from ${request.from.join(',') || '(no node)'} to ${request.to.join(',') || '(no node)'}: name at least one node on each side, different ones`);
    }
    checkEffect(request.effect);
    const effect = request.effect;
    const by = request.by ?? 'api';
    // A partition of several links is one fault (`a|b,c`), healed as one.
    if (effect.kind === 'partition' && links.length > 1) return [await this.injectPartition([request.from, request.to], request.bothWays !== true, links, port, by)];
    const relay = this.relay;
    const detail = describeEffect(effect);
    const records: FaultRecord[] = [];
    for (const [from, to] of links) {
      const link = { from, to, port };
      if (effect.kind === 'reset') {
        const count = (await relay?.reset(from, to, port)) ?? 0;
        const record = this.faultRegistry.add({ kind: 'reset', nodes: [from, to], link, detail: `${detail} (${count} connection${count === 1 ? '' : 's'})`, by, heal: () => {} });
        this.faultRegistry.forget(record.id); // a reset is over once done
        records.push(record);
        continue;
      }
      const id = this.nextLinkFaultId();
      this.linkFaults.set(id, { id, from, to, port, effect });
      await this.applyLinkFaults([id]);
      records.push(this.faultRegistry.add({ kind: effect.kind, nodes: from === EXTERNAL_PEER ? [to] : [from, to], link, detail, by, heal: () => this.removeLinkFaults([id]) }));
    }
    return records;
  }

  /**
   * Cuts `links` as one fault: a partition between `groups` (`oneWay`: only from the first group
   * to the others), in effect when this resolves.
   */
  private async injectPartition(groups: readonly (readonly string[])[], oneWay: boolean, links: readonly [string, string][], port: string | null, by: string): Promise<FaultRecord> {
    const ids: string[] = [];
    for (const [from, to] of links) {
      const id = this.nextLinkFaultId();
      ids.push(id);
      this.linkFaults.set(id, { id, from, to, port, effect: { kind: 'partition' } });
    }
    await this.applyLinkFaults(ids);
    const nodes = [...new Set(groups.flat())].filter((n) => n !== EXTERNAL_PEER);
    const detail = `${oneWay ? 'one-way ' : ''}partition${port === null ? '' : ` of port ${port}`}: ${links.length} link${links.length === 1 ? '' : 's'} cut`;
    return this.faultRegistry.add({ kind: 'partition', nodes, partition: { groups: groups.map((g) => [...g]), oneWay }, detail, by, heal: () => this.removeLinkFaults(ids) });
  }

  private nextLinkFaultId(): string {
    return `l${++this.linkFaultCount}`;
  }

  /** Heals link faults `ids`. Never rejects: a relay that died holds no fault to heal. */
  private async removeLinkFaults(ids: readonly string[]): Promise<void> {
    for (const id of ids) this.linkFaults.delete(id);
    await this.relay?.setFaults([...this.linkFaults.values()]).catch(() => {});
  }

  /**
   * Hands the relay the active link faults, `added` among them; resolves once they act on its
   * connections (before the start, the relay takes them when it starts).
   * @throws {DroverError} ERR_RELAY_FAILED (`added` are dropped again).
   */
  private async applyLinkFaults(added: readonly string[]): Promise<void> {
    try {
      await this.relay?.setFaults([...this.linkFaults.values()]);
    } catch (error) {
      for (const id of added) this.linkFaults.delete(id);
      throw error;
    }
  }

  /** @throws {DroverError} ERR_UNSUPPORTED, ERR_UNKNOWN_NODE, ERR_INVALID_OPTION (see link). */
  private checkLink(from: string, to: string, port: string | null): void {
    this.checkNetworkFaults();
    if (from !== EXTERNAL_PEER && !this.specs.has(from)) this.node(from); // throws ERR_UNKNOWN_NODE
    const spec = this.specs.get(to);
    if (spec === undefined) this.node(to);
    if (port !== null && !spec!.ports.includes(port)) {
      throw new DroverError('ERR_INVALID_OPTION', `node ${to} has no port ${JSON.stringify(port)}; its ports: ${spec!.ports.join(', ') || 'none'}`, { node: to });
    }
  }

  /** @throws {DroverError} ERR_UNSUPPORTED without `network: { faults: true }`. */
  private checkNetworkFaults(): void {
    if (this.spec.network?.faults !== true) {
      throw new DroverError('ERR_UNSUPPORTED', `link faults need drover's relay between the nodes, which cluster ${this.name} does not use: add \`network: { faults: true }\` to its config (ClusterSpec.network) and start it again`);
    }
  }

  /** The newest fault of `kind` registered for node label `label` (what an injection just added; it may have healed already). */
  private lastFault(kind: FaultKind, label: string): FaultRecord {
    const found = this.faultRegistry.newestOf(kind, label);
    if (found === null) throw new DroverError('ERR_UNSUPPORTED', `node ${label}: the ${kind} was not registered as a fault`, { node: label });
    return found;
  }

  private memberByLabel(label: string): ClusterNode {
    const found = this.members.find((m) => getReplicaLabel(m.name, m.replica) === label);
    if (found === undefined) throw new DroverError('ERR_UNKNOWN_NODE', `no node ${JSON.stringify(label)}: nodes are ${this.members.map((m) => getReplicaLabel(m.name, m.replica)).join(', ')}`, { node: label });
    return found;
  }

  /** The spec after ports and templates, one entry per replica, with the environment drover adds (`droverEnv`). */
  resolvedConfig(): ResolvedConfig {
    return {
      name: this.name,
      configPath: this.spec.configPath,
      onNodeFailure: this.spec.onNodeFailure ?? 'continue',
      nodes: this.members.map((member) => {
        const { ports: _names, ...resolved } = member.resolvedSpec();
        return { ...resolved, replica: member.replica, ports: { ...member.ports }, droverEnv: member.droverEnv() };
      }),
    };
  }

  /**
   * Stops every node in reverse dependency order: a node stops once every node that depends on it
   * has stopped; independent nodes stop in parallel. Idempotent.
   */
  stop(): Promise<void> {
    return this.stopWithReason('requested', null, null);
  }

  private stopWithReason(reason: 'requested' | 'aborted' | 'node-failed' | 'start-failed', node: string | null, replica: number | null): Promise<void> {
    this.stopPromise ??= (async () => {
      this.lifetime.abort();
      // Published before anything is awaited: observers see cluster-stopping right after the event
      // whose handler called stop(), before any node's state changes.
      this.publish({ type: 'cluster-stopping', time: (this.options.clock ?? Date.now)(), reason, node, replica });
      await this.closeWatches();
      // Reverse start order puts every node after all of its dependents, so each node's stop can
      // wait for theirs without recursion (a dependsOn chain may be thousands of nodes long).
      const specs = [...this.specs.values()];
      const dependents = getDependents(specs);
      const stops = new Map<string, Promise<void>>();
      for (const name of getStartOrder(specs).reverse()) {
        const after = (dependents.get(name) ?? []).map((dependent) => stops.get(dependent)!);
        stops.set(
          name,
          Promise.all(after).then(async () => {
            await Promise.all(this.nodes(name).map((member) => member.stop()));
          }),
        );
      }
      await Promise.all(stops.values());
      await this.relay?.close();
      // Nothing listens on the nodes' or the relay's ports any more: other processes may take them.
      await Promise.all(this.members.map((member) => member.releasePorts()));
      await releasePorts(this.relayPorts.splice(0));
      for (const member of this.members) member.closeOutputFile();
      for (const member of this.members) member.clock.removeSharedMemory();
      this.clockDirectory.remove();
      for (const hook of this.stopHooks) {
        try {
          await hook();
        } catch (error) {
          process.emitWarning(`drover: a stop hook of cluster ${this.name} failed: ${(error as Error).message}`, 'DroverWarning');
        }
      }
      this.stopped.abort();
    })();
    return this.stopPromise;
  }

  /** Starts the file watch of every node with `watch`; on a failure closes those started and throws ERR_WATCH. */
  private async startWatches(): Promise<void> {
    const watched = [...this.specs.values()].flatMap((spec) => (spec.watch === undefined ? [] : [{ name: spec.name, watch: spec.watch }]));
    if (watched.length === 0) return;
    // Loaded only for a cluster that watches files: chokidar is not on the path of any other start.
    const { NodeFileWatch } = await import('./file-watch.js');
    for (const spec of watched) {
      const watch = new NodeFileWatch(spec.name, spec.watch, () => this.onWatchedChange(spec.name));
      this.watches.push(watch);
      try {
        await watch.start();
      } catch (error) {
        await this.closeWatches();
        throw error;
      }
    }
  }

  private async closeWatches(): Promise<void> {
    const watches = this.watches.splice(0);
    this.watchPending.clear();
    await Promise.all(watches.map((watch) => watch.close()));
  }

  /**
   * A debounce window of `name`'s watch ended: restart it, and with `restartDependents` every node
   * depending on it (transitively), once each, in start order, each after the previous one is
   * ready again. Changes of several nodes before the wave begins join one wave.
   */
  private onWatchedChange(name: string): void {
    if (this.lifetime.signal.aborted || !this.started) return;
    const scheduled = this.watchPending.size > 0;
    this.watchPending.add(name);
    if (scheduled) return;
    this.watchQueue = this.watchQueue.then(async () => {
      const changed = [...this.watchPending];
      this.watchPending.clear();
      const specs = [...this.specs.values()];
      const dependents = getDependents(specs);
      const wave = new Set<string>();
      const add = (node: string, withDependents: boolean) => {
        if (wave.has(node)) return;
        wave.add(node);
        if (withDependents) for (const dependent of dependents.get(node) ?? []) add(dependent, true);
      };
      for (const node of changed) add(node, this.specs.get(node)?.watch?.restartDependents === true);
      for (const node of getStartOrder(specs)) {
        if (!wave.has(node)) continue;
        if (this.lifetime.signal.aborted) return;
        // A node stopped on purpose stays stopped; a change does not start it.
        const replicas = this.nodes(node).filter((member) => member.state !== 'stopped' && member.state !== 'stopping');
        try {
          await Promise.all(replicas.map((member) => member.restartForWatch()));
        } catch (error) {
          process.emitWarning(`drover: node ${node}: restart after a watched change failed: ${(error as Error).message}`, 'DroverWarning');
        }
      }
    });
  }

  /** `stop()`, for `await using cluster = await startCluster(…)`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  private requireNodes(name: string): ClusterNode[] {
    const found = this.nodes(name);
    if (found.length === 0 && !this.specs.has(name)) this.node(name); // throws ERR_UNKNOWN_NODE
    return found;
  }

  /** Merged extra child environment from every registered provider (telemetry's TRACEPARENT), in registration order. */
  private getSpawnEnvironment(node: string, replica: number, run: number): Record<string, string> | undefined {
    let merged: Record<string, string> | undefined;
    for (const { provider } of this.spawnEnvironmentProviders) {
      try {
        const extra = provider.getSpawnEnvironment(node, replica, run);
        if (extra !== undefined) merged = { ...merged, ...extra };
      } catch (error) {
        process.emitWarning(`drover: spawn environment provider threw: ${(error as Error).message}`, 'DroverWarning');
      }
    }
    return merged;
  }

  /**
   * Delivers `event` to every observer, then to the `'event'` listeners, then runs the cluster's
   * own reaction (onNodeFailure: stop-cluster). Not reentrant: an event published while another
   * is being delivered (an observer calls stop(), a listener stops a node) is queued and delivered
   * after it, so every observer and listener sees the same events in the same order. An observer's
   * throw becomes a warning; a listener's throw reaches the caller once the queue is delivered.
   */
  private publish(event: ClusterEvent): void {
    this.pendingEvents.push({ event, number: this.publishedCount++ });
    if (this.isPublishing) return;
    this.isPublishing = true;
    let listenerError: { readonly error: unknown } | null = null;
    try {
      for (let next = this.pendingEvents.shift(); next !== undefined; next = this.pendingEvents.shift()) {
        try {
          this.deliver(next);
        } catch (error) {
          listenerError ??= { error };
        }
      }
    } finally {
      this.isPublishing = false;
    }
    if (listenerError !== null) throw listenerError.error;
  }

  /** One event to everyone, in order: observers, `'event'` listeners, then the cluster's own reaction. */
  private deliver({ event, number }: { readonly event: ClusterEvent; readonly number: number }): void {
    for (const [observer, firstNumber] of this.observers) {
      if (number < firstNumber) continue; // subscribed after it was published: its snapshot shows it
      try {
        observer.onEvent(event);
      } catch (error) {
        // An observer's bug must not break supervision; surface it as a warning.
        process.emitWarning(`drover: cluster observer threw: ${(error as Error).message}`, 'DroverWarning');
      }
    }
    try {
      this.emit('event', event);
    } finally {
      // onNodeFailure: stop-cluster, after everyone saw the failure; its `cluster-stopping` is queued behind what they caused.
      if (this.stopOnNodeFailure && event.type === 'state' && event.to === 'failed' && this.started && this.stopPromise === null) {
        void this.stopWithReason('node-failed', event.node, event.replica);
      }
    }
  }
}

/**
 * One link of a cluster with `network: { faults: true }` (`cluster.link(from, to, port?)`). Each
 * method injects one fault on it, registered with the cluster (`faults()`, `healFaults(id)`), and
 * resolves once the relay applies it (a connection opened after that sees the fault).
 * @throws {DroverError} (rejects) ERR_INVALID_OPTION for a bad delay or rate; ERR_RELAY_FAILED.
 */
export interface NetworkLink {
  readonly from: string;
  readonly to: string;
  /** Port name of `to`, or null for every port. */
  readonly port: string | null;
  /** Cuts the link one way: its open connections stall, new ones are accepted and held until healed. */
  partition(): Promise<FaultRecord>;
  /** Accepts and discards the link's bytes (no answer ever comes); connections that lost bytes are reset on heal. */
  blackhole(): Promise<FaultRecord>;
  /** Delays the answers on the link's connections (bytes from `to` back to `from`) by `ms` ± `jitterMs` (default 0) milliseconds: round trips grow by `ms`. */
  latency(options: { readonly ms: number; readonly jitterMs?: number }): Promise<FaultRecord>;
  /** Limits each direction of each connection to `bytesPerSec` bytes per second. */
  bandwidth(options: { readonly bytesPerSec: number }): Promise<FaultRecord>;
  /** RSTs every open connection of the link (a fault that is over at once). */
  reset(): Promise<FaultRecord>;
  /** Heals every active fault of this link. */
  heal(): Promise<void>;
  /** Open connections on the link through the relay now. */
  openConnections(): Promise<number>;
}

/** The fault kinds that act on links through the relay. */
const LINK_FAULT_KINDS: ReadonlySet<FaultKind> = new Set(['partition', 'blackhole', 'latency', 'bandwidth', 'reset']);

/** @throws {DroverError} ERR_INVALID_OPTION for a negative or non-finite delay, jitter or rate. */
function checkEffect(effect: LinkFaultEffect): void {
  const bad = (name: string, value: number, min: number) => {
    if (!(typeof value === 'number' && Number.isFinite(value) && value >= min)) {
      throw new DroverError('ERR_INVALID_OPTION', `Expected \`${name}\` of a ${effect.kind} fault to be a number ≥ ${min}, got ${String(value)}`);
    }
  };
  if (effect.kind === 'latency') {
    bad('ms', effect.ms, 0);
    bad('jitterMs', effect.jitterMs, 0);
  } else if (effect.kind === 'bandwidth') bad('bytesPerSec', effect.bytesPerSec, 1);
}

function describeEffect(effect: LinkFaultEffect): string {
  switch (effect.kind) {
    case 'latency':
      return `latency ${effect.ms} ms${effect.jitterMs > 0 ? ` ± ${effect.jitterMs} ms` : ''}`;
    case 'bandwidth':
      return `bandwidth ${effect.bytesPerSec} B/s`;
    default:
      return effect.kind;
  }
}
