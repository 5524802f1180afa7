import { EventEmitter } from 'node:events';
import { ClusterNode } from './cluster-node.js';
import { FaultRegistry } from './fault-registry.js';
import { ClockDirectory, NodeClock } from './clock-fault.js';
import { planChaos, runChaos, type ChaosEntry, type ChaosInjectors } from './chaos.js';
import { getDependents, getStartOrder } from '../contract/dependency-graph.js';
import { MAX_REPLICAS } from '../contract/defaults.js';
import { DroverError, isDroverError } from '../contract/errors.js';
import { getReplicaLabel, isFinalState } from '../contract/lifecycle.js';
import type {
  FaultKind,
  FaultRecord,
  ClusterController,
  ClusterEvent,
  ClusterObserver,
  ClusterSnapshot,
  ClusterSpec,
  NodeSpec,
  OutputLine,
  ResolvedConfig,
  SpawnEnvironmentProvider,
  Subscription,
} from '../contract/types.js';

/** Options of {@link Cluster}. */
export interface ClusterOptions {
  /** Epoch-ms clock. @default Date.now */
  readonly clock?: () => number;
  /** Uniform [0, 1) source for backoff jitter. @default Math.random */
  readonly random?: () => number;
  /** Period of `stopping` progress events while a node's stop waits for its process, ms. @default 1000 */
  readonly stopProgressIntervalMs?: number;
}

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
  private started = false;
  /** Events published while another is being delivered, oldest first, with their numbers (see publish). */
  private readonly pendingEvents: { readonly event: ClusterEvent; readonly number: number }[] = [];
  private isPublishing = false;
  /** Events published so far; the next one gets this number. */
  private publishedCount = 0;
  /** Tail of the chain of scale requests: membership changes run one at a time, in order. */
  private scaleQueue: Promise<void> = Promise.resolve();

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
      peerPorts: (name) => this.members.find((m) => m.name === name && m.replica === 0)?.ports,
      ...(clock ? { clock } : {}),
      ...(random ? { random } : {}),
      ...(stopProgressIntervalMs === undefined ? {} : { stopProgressIntervalMs }),
      outputEvents: this.isOutputWanted,
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
   * @throws {DroverError} ERR_COMMAND_NOT_FOUND, ERR_READY_TIMEOUT, ERR_PROCESS_EXITED, ERR_RESTART_LIMIT, ERR_DEPENDENCY_FAILED, ERR_ABORTED, ERR_STOPPED …
   */
  async start(options: { signal?: AbortSignal; stopOnFailure?: boolean } = {}): Promise<this> {
    const { signal, stopOnFailure = true } = options;
    if (signal?.aborted) throw createAbortError(`starting cluster ${this.name} was aborted before it began`, signal);
    const onAbort = () => void this.stopWithReason('aborted', null, null);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await Promise.all(this.members.map((member) => member.allocatePorts()));
      const results = await Promise.allSettled(this.startInOrder(this.spec.nodes.map((n) => n.name)));
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
   * One promise per node name: waits for the node's dependencies' conditions, then starts every
   * replica and resolves when they are ready.
   */
  private startInOrder(names: readonly string[]): Promise<void>[] {
    const invoked = new Map<string, Promise<void>>();
    const ready = new Map<string, Promise<void>>();
    for (const name of getStartOrder(names.map((n) => this.specs.get(n)!))) {
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
              try {
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
   * Starts every replica of node `name` (its dependencies are not awaited); resolves when they are ready.
   * @throws {DroverError} ERR_UNKNOWN_NODE; ERR_INVALID_OPTION when the node has 0 replicas
   * (nothing to start: scale it up instead) or depends on a node that has 0 replicas.
   */
  async startNode(name: string): Promise<void> {
    const nodes = this.requireRunnable(name, 'start');
    await Promise.all(nodes.map((n) => n.allocatePorts()));
    await Promise.all(nodes.map((n) => n.start()));
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
    return runChaos(plan, {
      injectors: this.chaosInjectors(`chaos ${options.seed}`),
      heal: (id) => this.healFaults(id),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  }

  /**
   * The fault kinds chaos can inject on this cluster, by name. Each registers its fault in the
   * registry (`by`: `chaos <seed>`). Kinds other fault modules add (pause, partition, latency)
   * plug in here by name.
   */
  private chaosInjectors(by: string): ChaosInjectors {
    return {
      clock: (targets, step) => this.memberByLabel(targets[0]!).clock.offset(step.amount ?? 0, { by }),
      // A crash is a SIGKILL of the node's process group; the restart policy decides what follows, so healing has nothing to undo.
      crash: async (targets) => {
        const member = this.memberByLabel(targets[0]!);
        if (!member.kill('SIGKILL', { scope: 'group' })) {
          throw new DroverError('ERR_PROCESS_EXITED', `node ${targets[0]!} has no running process to crash (state ${member.state})`, { node: member.name, reason: member.state });
        }
        return this.faultRegistry.add({ kind: 'crash', nodes: [targets[0]!], detail: 'SIGKILL', by, heal: () => {} });
      },
    };
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
      this.publish({ type: 'cluster-stopping', time: (this.options.clock ?? Date.now)(), reason, node, replica });
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
      for (const member of this.members) member.clock.removeSharedMemory();
      this.clockDirectory.remove();
    })();
    return this.stopPromise;
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
