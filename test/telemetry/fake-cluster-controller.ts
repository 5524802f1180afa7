/**
 * An in-memory ClusterController for telemetry tests: a mutable snapshot, a list of observers and
 * `emit()`. No processes; the tests drive the lifecycle by hand.
 */

import type {
  FaultRecord,
  ClusterController,
  ClusterEvent,
  ClusterObserver,
  ClusterSnapshot,
  ExitInfo,
  NodeSnapshot,
  ResolvedConfig,
  NodeState,
  OutputLine,
  ProcessStats,
  ReadinessAttemptKind,
  RestartReason,
  SpawnEnvironmentProvider,
  Subscription,
} from '../../contract/types.js';

export function createStats(overrides: Partial<ProcessStats> = {}): ProcessStats {
  return {
    stdin: { bytes: 0, ops: 0 },
    stdout: { bytes: 0, ops: 0 },
    stderr: { bytes: 0, ops: 0 },
    droppedLines: 0,
    droppedBytes: 0,
    bufferedBytes: 0,
    bufferedLines: 0,
    ...overrides,
  };
}

export function createNode(overrides: Partial<NodeSnapshot> & { name: string }): NodeSnapshot {
  return {
    replica: 0,
    state: 'pending',
    pid: null,
    restarts: 0,
    startedAt: null,
    stateSince: 0,
    lastExit: null,
    error: null,
    stats: createStats(),
    ports: {},
    ...overrides,
  };
}

export function createExit(overrides: Partial<ExitInfo> = {}): ExitInfo {
  return {
    exitCode: 0,
    signal: null,
    coreDumped: false,
    forcedKill: false,
    durationMs: 0,
    rusage: null,
    ...overrides,
  };
}

export interface TransitionOptions {
  readonly replica?: number;
  readonly pid?: number | null;
  readonly run?: number;
  readonly error?: { code: string; message: string };
  readonly exit?: ExitInfo;
}

export class FakeClusterController implements ClusterController {
  name: string;
  nodes: NodeSnapshot[];
  /** When set, snapshot() throws it (a misbehaving controller). */
  snapshotError: Error | null = null;
  private readonly observers = new Set<ClusterObserver>();
  private readonly spawnEnvironmentProviders = new Set<{ readonly provider: SpawnEnvironmentProvider }>();

  constructor(name: string, nodes: NodeSnapshot[]) {
    this.name = name;
    this.nodes = nodes;
  }

  async scale(): Promise<void> {
    throw new Error('FakeClusterController.scale is not used by telemetry tests');
  }

  resolvedConfig(): ResolvedConfig {
    return { name: this.name, configPath: null, onNodeFailure: 'continue', nodes: [] };
  }

  get observerCount(): number {
    return this.observers.size;
  }

  snapshot(): ClusterSnapshot {
    if (this.snapshotError !== null) {
      throw this.snapshotError;
    }
    return { name: this.name, configPath: null, nodes: this.nodes.map((node) => ({ ...node })) };
  }

  subscribe(observer: ClusterObserver): Subscription {
    observer.onSnapshot?.(this.snapshot());
    this.observers.add(observer);
    return { unsubscribe: () => void this.observers.delete(observer) };
  }

  emit(event: ClusterEvent): void {
    for (const observer of [...this.observers]) {
      observer.onEvent(event);
    }
  }

  /** Active faults, as `faults()` returns them; `injectFault`/`healFault` change it and emit. */
  activeFaults: FaultRecord[] = [];

  faults(): readonly FaultRecord[] {
    return [...this.activeFaults];
  }

  /** Adds a fault (id `f<n>` unless given) and emits its `injected` event at `time`. */
  injectFault(time: number, fault: Partial<FaultRecord> & Pick<FaultRecord, 'kind' | 'nodes'>): FaultRecord {
    const record: FaultRecord = { id: `f${this.activeFaults.length + 1}`, link: null, detail: fault.kind, since: time, by: 'api', ...fault };
    this.activeFaults.push(record);
    this.emit({ type: 'fault', phase: 'injected', fault: record, time });
    return record;
  }

  /** Removes fault `id` and emits its `healed` event at `time`. */
  healFault(time: number, id: string): void {
    const record = this.activeFaults.find((f) => f.id === id);
    if (record === undefined) throw new Error(`fake controller has no fault ${id}`);
    this.activeFaults = this.activeFaults.filter((f) => f.id !== id);
    this.emit({ type: 'fault', phase: 'healed', fault: record, time });
  }

  async healFaults(): Promise<void> {}
  async pauseNode(): Promise<void> {}
  async resumeNode(): Promise<void> {}
  async crashNode(): Promise<number> {
    return 0;
  }

  provideSpawnEnvironment(provider: SpawnEnvironmentProvider): Subscription {
    const registration = { provider };
    this.spawnEnvironmentProviders.add(registration);
    return { unsubscribe: () => void this.spawnEnvironmentProviders.delete(registration) };
  }

  get spawnEnvironmentProviderCount(): number {
    return this.spawnEnvironmentProviders.size;
  }

  /** What the cluster asks right before a spawn: every provider's extra env, merged in registration order. */
  getSpawnEnvironment(node: string, replica: number, run: number): Record<string, string> {
    const merged: Record<string, string> = {};
    for (const { provider } of this.spawnEnvironmentProviders) {
      Object.assign(merged, provider.getSpawnEnvironment(node, replica, run));
    }
    return merged;
  }

  /** Emits an output line of a node. */
  output(node: string, line: OutputLine, replica = 0): void {
    this.emit({ type: 'output', node, replica, line });
  }

  /** Replaces fields of one node in the snapshot. */
  updateNode(name: string, replica: number, patch: Partial<NodeSnapshot>): void {
    this.nodes = this.nodes.map((node) =>
      node.name === name && node.replica === replica ? { ...node, ...patch } : node,
    );
  }

  getNode(name: string, replica = 0): NodeSnapshot {
    const node = this.nodes.find((candidate) => candidate.name === name && candidate.replica === replica);
    if (node === undefined) {
      throw new Error(`fake controller has no node ${name}/${replica}`);
    }
    return node;
  }

  /** Moves a node to `to` in the snapshot and emits the matching `state` event. */
  transition(name: string, to: NodeState, time: number, options: TransitionOptions = {}): void {
    const replica = options.replica ?? 0;
    const node = this.getNode(name, replica);
    const pid = options.pid === undefined ? node.pid : options.pid;
    const run = options.run ?? 1;
    this.updateNode(name, replica, {
      state: to,
      pid,
      stateSince: time,
      startedAt: to === 'starting' ? time : node.startedAt,
      ...(options.exit === undefined ? {} : { lastExit: options.exit, startedAt: null }),
    });
    this.emit({
      type: 'state',
      node: name,
      replica,
      from: node.state,
      to,
      time,
      pid,
      run,
      ...(options.error === undefined ? {} : { error: options.error }),
      ...(options.exit === undefined ? {} : { exit: options.exit }),
    });
  }

  /** Emits a `restarting` event and counts the restart in the snapshot. */
  restarting(name: string, time: number, attempt: number, reason: RestartReason, replica = 0): void {
    const node = this.getNode(name, replica);
    this.updateNode(name, replica, { restarts: node.restarts + 1 });
    this.emit({ type: 'restarting', node: name, replica, time, attempt, delayMs: 100, reason });
  }

  /** Emits one readiness attempt of a node's run. */
  readiness(name: string, time: number, attempt: { run?: number; attempt: number; ok: boolean; kind?: ReadinessAttemptKind; message: string | null; replica?: number }): void {
    const { run = 1, kind = 'tcp', replica = 0, ...rest } = attempt;
    this.emit({ type: 'readiness', node: name, replica, run, time, kind, ...rest });
  }

  restartNode(): Promise<void> {
    return Promise.reject(new Error('not supported by the fake controller'));
  }

  stopNode(): Promise<void> {
    return Promise.reject(new Error('not supported by the fake controller'));
  }

  killNode(): Promise<number> {
    return Promise.reject(new Error('not supported by the fake controller'));
  }

  startNode(): Promise<void> {
    return Promise.reject(new Error('not supported by the fake controller'));
  }

  tail(): OutputLine[] {
    return [];
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }
}
