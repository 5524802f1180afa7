/**
 * Metric instruments for a cluster's nodes: observable instruments fed by ONE batch callback that
 * reads the controller's in-memory snapshot, plus a start-duration histogram recorded from
 * lifecycle events (otel `instrumentation-host-metrics` `src/metric.ts`).
 */

import { diag, metrics, ValueType } from '@opentelemetry/api';
import type {
  Attributes,
  BatchObservableResult,
  Counter,
  Histogram,
  Meter,
  MeterProvider,
  Observable,
  UpDownCounter,
} from '@opentelemetry/api';
import type {
  ClusterController,
  ClusterEvent,
  ClusterObserver,
  ClusterSnapshot,
  FaultRecord,
  ExitInfo,
  NodeSnapshot,
  Subscription,
} from '../contract/types.js';
import { NODE_STATES } from '../contract/types.js';
import { DroverError } from '../contract/errors.js';
import { abortsStart, endsRun } from '../contract/lifecycle.js';
import { getNodeAttributes, getNodeKey, parseReplicaLabel } from './node-attributes.js';
import { ProcSampler } from './proc-sampler.js';
import type { ProcTreeSample } from './proc-tree.js';
import {
  ATTR_CPU_MODE,
  ATTR_DISK_IO_DIRECTION,
  ATTR_PROCESS_CONTEXT_SWITCH_TYPE,
  ATTR_PROCESS_PAGING_FAULT_TYPE,
  CONTEXT_SWITCH_TYPE_VALUE_INVOLUNTARY,
  CONTEXT_SWITCH_TYPE_VALUE_VOLUNTARY,
  CPU_MODE_VALUE_SYSTEM,
  CPU_MODE_VALUE_USER,
  DISK_IO_DIRECTION_VALUE_READ,
  DISK_IO_DIRECTION_VALUE_WRITE,
  METRIC_CLUSTER_NODES,
  METRIC_FAULTS_ACTIVE,
  ATTR_FAULT_KIND,
  METRIC_OUTPUT_DROPPED_LINES,
  METRIC_PROC_SAMPLE_DURATION,
  METRIC_PROCESS_CONTEXT_SWITCHES,
  METRIC_PROCESS_CPU_TIME,
  METRIC_PROCESS_DISK_IO,
  METRIC_PROCESS_MEMORY_USAGE,
  METRIC_PROCESS_MEMORY_VIRTUAL,
  METRIC_PROCESS_PAGING_FAULTS,
  METRIC_PROCESS_THREAD_COUNT,
  METRIC_PROCESS_UNIX_FILE_DESCRIPTOR_COUNT,
  METRIC_RESTART_DELAY,
  PAGING_FAULT_TYPE_VALUE_MAJOR,
  PAGING_FAULT_TYPE_VALUE_MINOR,
  UNIT_CONTEXT_SWITCHES,
  UNIT_FAULTS,
  UNIT_FILE_DESCRIPTORS,
  UNIT_LINES,
  UNIT_THREADS,
  ATTR_NODE_STATE,
  ATTR_RESTART_REASON,
  ATTR_STDIO_STREAM,
  INSTRUMENTATION_SCOPE_NAME,
  METRIC_NODE_START_DURATION,
  METRIC_NODE_STATE,
  METRIC_OUTPUT_BUFFER_USAGE,
  METRIC_OUTPUT_DROPPED,
  METRIC_PROCESS_RESTARTS,
  METRIC_PROCESS_UPTIME,
  METRIC_STDIO_IO,
  METRIC_STDIO_OPERATIONS,
  RESTART_REASON_VALUE_UNKNOWN,
  RESTART_REASON_VALUES,
  START_DURATION_BUCKETS_SECONDS,
  STDIO_STREAM_VALUE_STDERR,
  STDIO_STREAM_VALUE_STDIN,
  STDIO_STREAM_VALUE_STDOUT,
  UNIT_BYTES,
  UNIT_NODES,
  UNIT_FAULTS_ACTIVE,
  UNIT_OPERATIONS,
  UNIT_RESTARTS,
  UNIT_SECONDS,
} from './semconv.js';

/** Options of {@link ProcessMetrics}. */
export interface ProcessMetricsOptions {
  /** The cluster to observe. Read only through `snapshot()` and `subscribe()`. */
  readonly controller: ClusterController;
  /**
   * Where the instruments are created.
   * @default the global meter provider (`metrics.getMeterProvider()` from `@opentelemetry/api`),
   * looked up at `register()` time
   */
  readonly meterProvider?: MeterProvider;
  /**
   * Wall clock in epoch milliseconds, used for `process.uptime`.
   * @default Date.now
   */
  readonly clock?: () => number;
  /**
   * Metric families to produce; any subset of {@link METRIC_GROUPS}. An unknown name throws
   * `ERR_INVALID_OPTION`.
   * @default every group
   */
  readonly metricGroups?: readonly MetricGroup[];
  /**
   * Where procfs is mounted (the `process` group reads `<procRoot>/<pid>/…`).
   * @default '/proc'
   */
  readonly procRoot?: string;
  /**
   * Time between `/proc` samples of every node's process tree, in ms; match it to the collection
   * interval. The metric callback reads the latest sample and does no I/O.
   * @default 15000
   */
  readonly sampleIntervalMs?: number;
}

/**
 * Metric families of {@link ProcessMetrics} (otel `instrumentation-host-metrics` `metricGroups`):
 * - `process`: `process.cpu.time`, `process.memory.*`, `process.disk.io`, `process.thread.count`,
 *   `process.unix.file_descriptor.count`, `process.context_switches`, `process.paging.faults`
 *   (from `/proc`), `process.uptime`
 * - `stdio`: `drover.stdio.io`, `drover.stdio.operations`
 * - `lifecycle`: `drover.node.state`, `drover.process.restarts`, `drover.restart.delay`,
 *   `drover.node.start.duration`
 * - `output`: `drover.output.buffer.usage`, `drover.output.dropped`, `drover.output.dropped_lines`
 * - `health`: `drover.cluster.nodes`, `drover.telemetry.sample.duration`
 */
export const METRIC_GROUPS = ['process', 'stdio', 'lifecycle', 'output', 'health'] as const;
/** One of {@link METRIC_GROUPS}. */
export type MetricGroup = (typeof METRIC_GROUPS)[number];

/** Counters of finished runs of one node (the part of a cumulative counter no live process holds). */
interface RunTotals {
  userCpuSeconds: number;
  systemCpuSeconds: number;
  voluntaryContextSwitches: number;
  involuntaryContextSwitches: number;
  minorFaults: number;
  majorFaults: number;
  readBytes: number;
  writeBytes: number;
}

/** What ProcessMetrics remembers per node replica between collections. */
interface NodeRecord {
  /** Pid of the run in progress (from its `running` event), folded into `finished` when it ends. */
  runPid: number | null;
  readonly finished: RunTotals;
  /** `delayMs` of the latest `restarting` event, or null. */
  lastDelayMs: number | null;
}

/**
 * The attribute objects of one node's points, made once and reused by every collection: the SDK
 * hashes each point's attributes anyway, but building ~30 fresh objects per node per collection
 * was measurable garbage at 1000 nodes (bench/telemetry-collect.mjs). Also the last value handed
 * to the SDK per series ({@link SLOT_COUNT} slots), so a collection records only what changed.
 */
interface NodeAttributeSet {
  /** Last value recorded per series slot (`SLOT_*`); NaN = never recorded. */
  readonly last: Float64Array;
  /** Last value recorded per restart reason. */
  readonly lastReasons: Map<string, number>;
  readonly base: Attributes;
  /** By stream: stdin, stdout, stderr. */
  readonly stdio: readonly Attributes[];
  /** By index in NODE_STATES. */
  readonly states: readonly Attributes[];
  /** In the order of `observeProcess`'s counters. */
  readonly counters: readonly Attributes[];
  /** By restart reason, made on first use. */
  readonly reasons: Map<string, Attributes>;
}

/**
 * Series whose value is a counter or up-down counter are SYNCHRONOUS instruments fed from the one
 * batch callback with the change since the last collection, and only when there is one: the SDK's
 * asynchronous path hashes every observed point's attributes twice per collection (the observable
 * result, then the view's attributes processor) and diffs it against its memo, which was ~75 % of
 * a collection's CPU at 1000 nodes. Cumulative output is the same (the SDK keeps re-exporting the
 * last cumulative value of an unchanged series, as it does for an unobserved asynchronous one).
 * Gauges whose value moves on its own (`process.uptime`) or that must be exported every interval
 * whatever the temporality (`drover.restart.delay`, `drover.cluster.nodes`) stay observable.
 */
interface Instruments {
  readonly stdioIo: Counter;
  readonly stdioOperations: Counter;
  readonly restarts: Counter;
  readonly nodeState: UpDownCounter;
  readonly uptime: Observable;
  readonly outputDropped: Counter;
  readonly outputBufferUsage: UpDownCounter;
  readonly outputDroppedLines: Counter;
  readonly restartDelay: Observable;
  readonly clusterNodes: Observable;
  readonly faultsActive: Observable;
  readonly cpuTime: Counter;
  readonly memoryUsage: UpDownCounter;
  readonly memoryVirtual: UpDownCounter;
  readonly diskIo: Counter;
  readonly threadCount: UpDownCounter;
  readonly fdCount: UpDownCounter;
  readonly contextSwitches: Counter;
  readonly pagingFaults: Counter;
  readonly sampleDuration: Histogram;
  /** The observables handed to `addBatchObservableCallback` (always non-empty, so the callback runs). */
  readonly observables: Observable[];
  readonly startDuration: Histogram;
}

interface Registration {
  readonly meter: Meter;
  readonly instruments: Instruments;
  /** Null only while `subscribe()` is running. */
  subscription: Subscription | null;
}

/** When a run entered `starting`, waiting for the same run to be `ready`. */
interface PendingStart {
  readonly run: number;
  readonly timeMs: number;
}

/**
 * Metrics of every node of one cluster. See `docs/telemetry.md` for the table.
 *
 * - `process.*` semantic-convention metrics of each node's whole process tree, sampled from
 *   `/proc` by a {@link ProcSampler} on its own interval; counters keep rising across restarts
 *   (finished runs from their exit rusage or last sample, whichever is larger, plus the current run)
 * - `drover.stdio.io` (By) and `drover.stdio.operations` ({operation}) per `drover.stdio.stream`
 * - `drover.process.restarts` ({restart}) per `drover.restart.reason`, `drover.restart.delay` (s)
 * - `drover.node.state` ({node}): one series per state, 1 for the current one, 0 for the others
 * - `process.uptime` (s) while the node has a running process
 * - `drover.output.dropped` (By), `drover.output.dropped_lines` ({line}), `drover.output.buffer.usage` (By)
 * - `drover.node.start.duration` (s, histogram): `starting` → `ready` of the same run
 * - drover's own health: `drover.cluster.nodes`, `drover.telemetry.sample.duration`
 *
 * Every node point carries `drover.node.name` and `drover.node.replica`; never a pid or argv.
 *
 * @throws DroverError `ERR_INVALID_OPTION` (constructor) for an unknown `metricGroups` name.
 * @example
 * ```ts
 * const processMetrics = new ProcessMetrics({ controller: cluster });
 * processMetrics.register();
 * // …
 * processMetrics.unregister();
 * ```
 */
export class ProcessMetrics {
  private readonly controller: ClusterController;
  private readonly clock: () => number;
  private readonly groups: ReadonlySet<MetricGroup>;
  private readonly sampler: ProcSampler;
  private meterProvider: MeterProvider | undefined;
  private registration: Registration | null = null;
  /** Restarts seen as `restarting` events, per node key, per reason. */
  private readonly restartTallies = new Map<string, Map<string, number>>();
  private readonly pendingStarts = new Map<string, PendingStart>();
  private readonly records = new Map<string, NodeRecord>();
  /**
   * Per node key, for the current meter provider. Kept per provider across `unregister()`: the
   * synchronous instruments' cumulative sums live on in the provider, so a later `register()` on it
   * must continue from the values already recorded, not add them again.
   */
  private attributeSets = new Map<string, NodeAttributeSet>();
  private readonly attributeSetsByProvider = new WeakMap<MeterProvider, Map<string, NodeAttributeSet>>();
  /** Every (fault kind, node) series of drover.faults.active seen so far: reported as 0 once healed. */
  private readonly faultSeries = new Map<string, Attributes>();

  constructor(options: ProcessMetricsOptions) {
    this.controller = options.controller;
    this.meterProvider = options.meterProvider;
    this.clock = options.clock ?? Date.now;
    this.groups = normalizeMetricGroups(options.metricGroups);
    this.sampler = new ProcSampler({
      controller: options.controller,
      ...(options.procRoot === undefined ? {} : { procRoot: options.procRoot }),
      ...(options.sampleIntervalMs === undefined ? {} : { intervalMs: options.sampleIntervalMs }),
      onSampled: (seconds) => this.registration?.instruments.sampleDuration.record(seconds),
    });
  }

  /** True between `register()` and `unregister()`. */
  get isRegistered(): boolean {
    return this.registration !== null;
  }

  /**
   * Creates the instruments, installs the batch callback, subscribes to lifecycle events and
   * starts the `/proc` sampler (when the `process` group is on). Calling it again while
   * registered does nothing.
   */
  register(): void {
    if (this.registration !== null) {
      return;
    }
    const meterProvider = this.meterProvider ?? metrics.getMeterProvider();
    let attributeSets = this.attributeSetsByProvider.get(meterProvider);
    if (attributeSets === undefined) {
      attributeSets = new Map();
      this.attributeSetsByProvider.set(meterProvider, attributeSets);
    }
    this.attributeSets = attributeSets;
    const meter = meterProvider.getMeter(INSTRUMENTATION_SCOPE_NAME);
    const instruments = createInstruments(meter);
    meter.addBatchObservableCallback(this.handleCollect, instruments.observables);
    // Set before subscribing: subscribe() may deliver events synchronously.
    const registration: Registration = { meter, instruments, subscription: null };
    this.registration = registration;
    try {
      registration.subscription = this.controller.subscribe(this.observer);
    } catch (error) {
      this.unregister();
      throw error;
    }
    if (this.groups.has('process')) {
      this.sampler.start();
    }
  }

  /**
   * Removes the batch callback, stops the sampler and unsubscribes. The synchronous histograms
   * stay in the meter (the API cannot remove instruments) but receive nothing more. Safe to call
   * when not registered.
   */
  unregister(): void {
    const registration = this.registration;
    if (registration === null) {
      return;
    }
    this.registration = null;
    this.sampler.stop();
    registration.subscription?.unsubscribe();
    registration.meter.removeBatchObservableCallback(this.handleCollect, registration.instruments.observables);
    this.restartTallies.clear();
    this.pendingStarts.clear();
    this.records.clear();
  }

  /** Moves the instruments to another meter provider (re-registering if registered). */
  setMeterProvider(meterProvider: MeterProvider): void {
    const wasRegistered = this.registration !== null;
    this.unregister();
    this.meterProvider = meterProvider;
    if (wasRegistered) {
      this.register();
    }
  }

  /**
   * Samples every node's process tree from `/proc` now (besides the interval) and resolves when
   * done; the next collection reports it. Never rejects.
   */
  sampleNow(): Promise<void> {
    return this.sampler.sampleNow();
  }

  private readonly observer: ClusterObserver = {
    wantsOutput: false,
    onSnapshot: (snapshot) => {
      for (const node of snapshot.nodes) {
        this.getRecord(node.name, node.replica).runPid = node.pid;
      }
    },
    onEvent: (event) => {
      try {
        this.handleEvent(event);
      } catch (error) {
        // The manager calls observers inline; a bug here must not break its event dispatch.
        diag.error('drover ProcessMetrics: failed to handle a cluster event', error);
      }
    },
  };

  private getRecord(name: string, replica: number): NodeRecord {
    const key = getNodeKey(name, replica);
    let record = this.records.get(key);
    if (record === undefined) {
      record = { runPid: null, finished: createRunTotals(), lastDelayMs: null };
      this.records.set(key, record);
    }
    return record;
  }

  private handleEvent(event: ClusterEvent): void {
    if (this.registration === null) {
      return;
    }
    switch (event.type) {
      case 'restarting': {
        const key = getNodeKey(event.node, event.replica);
        let tally = this.restartTallies.get(key);
        if (tally === undefined) {
          tally = new Map();
          this.restartTallies.set(key, tally);
        }
        tally.set(event.reason, (tally.get(event.reason) ?? 0) + 1);
        this.getRecord(event.node, event.replica).lastDelayMs = event.delayMs;
        return;
      }
      case 'state': {
        const key = getNodeKey(event.node, event.replica);
        const record = this.getRecord(event.node, event.replica);
        if (event.pid !== null && record.runPid !== event.pid) {
          // A run we did not see end (it was not reported) is folded before the new one counts.
          this.foldRun(event.node, event.replica, record, undefined);
          record.runPid = event.pid;
        }
        if (event.exit !== undefined || endsRun(event.to)) {
          this.foldRun(event.node, event.replica, record, event.exit);
        }
        if (event.to === 'starting') {
          this.pendingStarts.set(key, { run: event.run, timeMs: event.time });
        } else if (event.to === 'ready') {
          if (this.groups.has('process')) {
            // A node that just became ready gets its first sample now, not an interval later.
            void this.sampler.sampleNow();
          }
          const pending = this.pendingStarts.get(key);
          this.pendingStarts.delete(key);
          if (pending !== undefined && pending.run === event.run) {
            const seconds = Math.max(0, event.time - pending.timeMs) / 1000;
            this.registration.instruments.startDuration.record(
              seconds,
              getNodeAttributes(event.node, event.replica),
            );
          }
        } else if (abortsStart(event.to)) {
          this.pendingStarts.delete(key);
        }
        return;
      }
      case 'output':
        // Output lines are counted by the manager into the snapshot's stats.
        return;
    }
  }

  /**
   * A run ended: its counters move to `finished`, each the larger of the exit rusage and the last
   * `/proc` sample of the run, so a counter never goes down (rusage lacks live grandchildren the
   * sample saw; the sample lacks the run's last moments rusage has).
   */
  private foldRun(name: string, replica: number, record: NodeRecord, exit: ExitInfo | undefined): void {
    const sample = this.sampler.get(name, replica);
    const runSample = sample !== undefined && record.runPid !== null && sample.rootPid === record.runPid ? sample : undefined;
    const rusage = exit?.rusage ?? null;
    if (record.runPid === null && rusage === null) {
      return; // nothing ran, or this run was folded already
    }
    const { finished } = record;
    finished.userCpuSeconds += Math.max(rusage?.userCpuSeconds ?? 0, runSample?.userCpuSeconds ?? 0);
    finished.systemCpuSeconds += Math.max(rusage?.systemCpuSeconds ?? 0, runSample?.systemCpuSeconds ?? 0);
    finished.voluntaryContextSwitches += Math.max(rusage?.voluntaryContextSwitches ?? 0, runSample?.voluntaryContextSwitches ?? 0);
    finished.involuntaryContextSwitches += Math.max(rusage?.involuntaryContextSwitches ?? 0, runSample?.involuntaryContextSwitches ?? 0);
    finished.minorFaults += Math.max(rusage?.minorFaults ?? 0, runSample?.minorFaults ?? 0);
    finished.majorFaults += Math.max(rusage?.majorFaults ?? 0, runSample?.majorFaults ?? 0);
    finished.readBytes += runSample?.readBytes ?? 0;
    finished.writeBytes += runSample?.writeBytes ?? 0;
    record.runPid = null;
    this.sampler.delete(name, replica);
  }

  /** The one batch callback: reads the in-memory snapshot and samples; no I/O, never throws. */
  private readonly handleCollect = (result: BatchObservableResult): void => {
    const registration = this.registration;
    if (registration === null) {
      return;
    }
    let snapshot: ClusterSnapshot;
    try {
      snapshot = this.controller.snapshot();
    } catch (error) {
      // A throw here would fail the SDK's whole collection, taking every other producer's metrics
      // with it; a controller that cannot answer simply has nothing to report this time.
      diag.debug('drover ProcessMetrics: controller.snapshot() threw; skipping this collection', error);
      return;
    }
    const nowMs = this.clock();
    if (this.groups.has('health')) {
      result.observe(registration.instruments.clusterNodes, snapshot.nodes.length);
    }
    if (this.groups.has('lifecycle')) {
      this.observeFaults(result, registration.instruments);
    }
    // Attribute sets of removed replicas (scale down) are kept: their last recorded values are
    // what the SDK still exports, and a replica that comes back continues from them.
    for (const node of snapshot.nodes) {
      try {
        this.observeNode(result, registration.instruments, node, nowMs);
      } catch (error) {
        // Same reason as above: one malformed node must not cost the rest of the collection.
        diag.debug(`drover ProcessMetrics: skipping node ${node.name} in this collection`, error);
      }
    }
  };

  /** drover.faults.active: active faults per kind and node, from `controller.faults()`; healed series report 0. */
  private observeFaults(result: BatchObservableResult, instruments: Instruments): void {
    let faults: readonly FaultRecord[];
    try {
      faults = this.controller.faults();
    } catch (error) {
      diag.debug('drover ProcessMetrics: controller.faults() threw; no fault metric this time', error);
      return;
    }
    const counts = new Map<string, number>();
    for (const fault of faults) {
      for (const label of new Set(fault.nodes)) {
        const { name, replica } = parseReplicaLabel(label);
        const key = `${fault.kind}\u0000${getNodeKey(name, replica)}`;
        if (!this.faultSeries.has(key)) this.faultSeries.set(key, Object.freeze({ ...getNodeAttributes(name, replica), [ATTR_FAULT_KIND]: fault.kind }));
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    }
    for (const [key, attributes] of this.faultSeries) result.observe(instruments.faultsActive, counts.get(key) ?? 0, attributes);
  }

  private observeNode(result: BatchObservableResult, instruments: Instruments, node: NodeSnapshot, nowMs: number): void {
    const key = getNodeKey(node.name, node.replica);
    let attributeSet = this.attributeSets.get(key);
    if (attributeSet === undefined) {
      attributeSet = createNodeAttributeSet(node.name, node.replica);
      this.attributeSets.set(key, attributeSet);
    }
    const { base, last } = attributeSet;
    const { stats } = node;
    const record = this.records.get(key);

    if (this.groups.has('stdio')) {
      const { stdio } = attributeSet;
      addCounter(instruments.stdioIo, last, SLOT_STDIO_IO, stats.stdin.bytes, stdio[0]!);
      addCounter(instruments.stdioIo, last, SLOT_STDIO_IO + 1, stats.stdout.bytes, stdio[1]!);
      addCounter(instruments.stdioIo, last, SLOT_STDIO_IO + 2, stats.stderr.bytes, stdio[2]!);
      addCounter(instruments.stdioOperations, last, SLOT_STDIO_OPERATIONS, stats.stdin.ops, stdio[0]!);
      addCounter(instruments.stdioOperations, last, SLOT_STDIO_OPERATIONS + 1, stats.stdout.ops, stdio[1]!);
      addCounter(instruments.stdioOperations, last, SLOT_STDIO_OPERATIONS + 2, stats.stderr.ops, stdio[2]!);
    }

    if (this.groups.has('lifecycle')) {
      this.observeRestarts(instruments.restarts, node, attributeSet);
      for (let index = 0; index < NODE_STATES.length; index++) {
        setUpDown(instruments.nodeState, last, SLOT_NODE_STATE + index, NODE_STATES[index] === node.state ? 1 : 0, attributeSet.states[index]!);
      }
      if (record !== undefined && record.lastDelayMs !== null) {
        result.observe(instruments.restartDelay, record.lastDelayMs / 1000, base);
      }
    }

    if (this.groups.has('output')) {
      addCounter(instruments.outputDropped, last, SLOT_OUTPUT_DROPPED, stats.droppedBytes, base);
      addCounter(instruments.outputDroppedLines, last, SLOT_OUTPUT_DROPPED_LINES, stats.droppedLines, base);
      setUpDown(instruments.outputBufferUsage, last, SLOT_OUTPUT_BUFFER_USAGE, stats.bufferedBytes, base);
    }

    if (this.groups.has('process')) {
      if (node.startedAt !== null) {
        result.observe(instruments.uptime, Math.max(0, nowMs - node.startedAt) / 1000, base);
      }
      const sample = this.sampler.get(node.name, node.replica);
      const current = sample !== undefined && node.pid !== null && sample.rootPid === node.pid ? sample : undefined;
      this.observeProcess(instruments, attributeSet, record?.finished ?? EMPTY_RUN_TOTALS, current);
    }
  }

  private observeProcess(
    instruments: Instruments,
    attributeSet: NodeAttributeSet,
    finished: RunTotals,
    current: ProcTreeSample | undefined,
  ): void {
    const { base, counters, last } = attributeSet;
    // Same order as PROCESS_COUNTER_ATTRIBUTES.
    addCounter(instruments.cpuTime, last, SLOT_PROCESS_COUNTERS, finished.userCpuSeconds + (current?.userCpuSeconds ?? 0), counters[0]!);
    addCounter(instruments.cpuTime, last, SLOT_PROCESS_COUNTERS + 1, finished.systemCpuSeconds + (current?.systemCpuSeconds ?? 0), counters[1]!);
    addCounter(instruments.diskIo, last, SLOT_PROCESS_COUNTERS + 2, finished.readBytes + (current?.readBytes ?? 0), counters[2]!);
    addCounter(instruments.diskIo, last, SLOT_PROCESS_COUNTERS + 3, finished.writeBytes + (current?.writeBytes ?? 0), counters[3]!);
    addCounter(instruments.contextSwitches, last, SLOT_PROCESS_COUNTERS + 4, finished.voluntaryContextSwitches + (current?.voluntaryContextSwitches ?? 0), counters[4]!);
    addCounter(instruments.contextSwitches, last, SLOT_PROCESS_COUNTERS + 5, finished.involuntaryContextSwitches + (current?.involuntaryContextSwitches ?? 0), counters[5]!);
    addCounter(instruments.pagingFaults, last, SLOT_PROCESS_COUNTERS + 6, finished.minorFaults + (current?.minorFaults ?? 0), counters[6]!);
    addCounter(instruments.pagingFaults, last, SLOT_PROCESS_COUNTERS + 7, finished.majorFaults + (current?.majorFaults ?? 0), counters[7]!);
    // Without a live sample these keep their last value (as an unobserved asynchronous series did).
    if (current !== undefined) {
      setUpDown(instruments.memoryUsage, last, SLOT_MEMORY_USAGE, current.rssBytes, base);
      setUpDown(instruments.memoryVirtual, last, SLOT_MEMORY_VIRTUAL, current.virtualBytes, base);
      setUpDown(instruments.threadCount, last, SLOT_THREAD_COUNT, current.threads, base);
      setUpDown(instruments.fdCount, last, SLOT_FD_COUNT, current.fileDescriptors, base);
    }
  }

  /**
   * The snapshot's `restarts` is the total; `restarting` events seen since `register()` split it
   * by reason. Whatever the events do not explain happened before we subscribed: `unknown`.
   * Every reason's series exists from the node's first collection, at 0 until it happens: a
   * dashboard's `increase()`/`rate()` needs a sample before the first restart, and a series that
   * first appears at 1 shows no increase at all.
   */
  private observeRestarts(restarts: Counter, node: NodeSnapshot, attributeSet: NodeAttributeSet): void {
    if (attributeSet.lastReasons.size === 0) {
      for (const reason of RESTART_REASON_VALUES) addReasonCount(restarts, attributeSet, reason, 0);
    }
    const tally = this.restartTallies.get(getNodeKey(node.name, node.replica));
    let attributed = 0;
    if (tally !== undefined) {
      for (const [reason, count] of tally) {
        attributed += count;
        addReasonCount(restarts, attributeSet, reason, count);
      }
    }
    const unattributed = node.restarts - attributed;
    if (unattributed > 0) {
      addReasonCount(restarts, attributeSet, RESTART_REASON_VALUE_UNKNOWN, unattributed);
    }
  }
}

// Series slots of NodeAttributeSet.last.
const SLOT_STDIO_IO = 0; // 3, by stream
const SLOT_STDIO_OPERATIONS = 3; // 3, by stream
const SLOT_NODE_STATE = 6; // NODE_STATES.length
const SLOT_OUTPUT_DROPPED = SLOT_NODE_STATE + NODE_STATES.length;
const SLOT_OUTPUT_DROPPED_LINES = SLOT_OUTPUT_DROPPED + 1;
const SLOT_OUTPUT_BUFFER_USAGE = SLOT_OUTPUT_DROPPED_LINES + 1;
const SLOT_PROCESS_COUNTERS = SLOT_OUTPUT_BUFFER_USAGE + 1; // 8, PROCESS_COUNTER_ATTRIBUTES
const SLOT_MEMORY_USAGE = SLOT_PROCESS_COUNTERS + 8;
const SLOT_MEMORY_VIRTUAL = SLOT_MEMORY_USAGE + 1;
const SLOT_THREAD_COUNT = SLOT_MEMORY_VIRTUAL + 1;
const SLOT_FD_COUNT = SLOT_THREAD_COUNT + 1;
const SLOT_COUNT = SLOT_FD_COUNT + 1;

/**
 * Brings a monotonic counter series to `value`: adds the rise since the last recorded value (the
 * first time, the value itself, so even a 0 series exists). A value below the last one (our
 * totals were reset by `unregister()`) records nothing until it rises past it again.
 */
function addCounter(counter: Counter, last: Float64Array, slot: number, value: number, attributes: Attributes): void {
  const previous = last[slot]!;
  if (Number.isNaN(previous)) {
    last[slot] = value;
    counter.add(value, attributes);
  } else if (value > previous) {
    last[slot] = value;
    counter.add(value - previous, attributes);
  }
}

/** Brings an up-down counter series to `value` (the first time, even to 0, so the series exists). */
function setUpDown(counter: UpDownCounter, last: Float64Array, slot: number, value: number, attributes: Attributes): void {
  const previous = last[slot]!;
  if (Number.isNaN(previous)) {
    last[slot] = value;
    counter.add(value, attributes);
  } else if (value !== previous) {
    last[slot] = value;
    counter.add(value - previous, attributes);
  }
}

function addReasonCount(restarts: Counter, attributeSet: NodeAttributeSet, reason: string, count: number): void {
  const previous = attributeSet.lastReasons.get(reason);
  // The first time, even at 0, so the series exists (see observeRestarts).
  if (previous === undefined || count > previous) {
    attributeSet.lastReasons.set(reason, count);
    restarts.add(count - (previous ?? 0), getReasonAttributes(attributeSet, reason));
  }
}

/** The extra attribute of each process counter, in the order `observeProcess` observes them. */
const PROCESS_COUNTER_ATTRIBUTES: readonly (readonly [string, string])[] = [
  [ATTR_CPU_MODE, CPU_MODE_VALUE_USER],
  [ATTR_CPU_MODE, CPU_MODE_VALUE_SYSTEM],
  [ATTR_DISK_IO_DIRECTION, DISK_IO_DIRECTION_VALUE_READ],
  [ATTR_DISK_IO_DIRECTION, DISK_IO_DIRECTION_VALUE_WRITE],
  [ATTR_PROCESS_CONTEXT_SWITCH_TYPE, CONTEXT_SWITCH_TYPE_VALUE_VOLUNTARY],
  [ATTR_PROCESS_CONTEXT_SWITCH_TYPE, CONTEXT_SWITCH_TYPE_VALUE_INVOLUNTARY],
  [ATTR_PROCESS_PAGING_FAULT_TYPE, PAGING_FAULT_TYPE_VALUE_MINOR],
  [ATTR_PROCESS_PAGING_FAULT_TYPE, PAGING_FAULT_TYPE_VALUE_MAJOR],
];

function createNodeAttributeSet(name: string, replica: number): NodeAttributeSet {
  const base = Object.freeze(getNodeAttributes(name, replica));
  const extend = (key: string, value: string): Attributes => Object.freeze({ ...base, [key]: value });
  return {
    last: new Float64Array(SLOT_COUNT).fill(Number.NaN),
    lastReasons: new Map(),
    base,
    stdio: [STDIO_STREAM_VALUE_STDIN, STDIO_STREAM_VALUE_STDOUT, STDIO_STREAM_VALUE_STDERR].map((stream) => extend(ATTR_STDIO_STREAM, stream)),
    states: NODE_STATES.map((state) => extend(ATTR_NODE_STATE, state)),
    counters: PROCESS_COUNTER_ATTRIBUTES.map(([key, value]) => extend(key, value)),
    reasons: new Map(),
  };
}

function getReasonAttributes(attributeSet: NodeAttributeSet, reason: string): Attributes {
  let attributes = attributeSet.reasons.get(reason);
  if (attributes === undefined) {
    attributes = Object.freeze({ ...attributeSet.base, [ATTR_RESTART_REASON]: reason });
    attributeSet.reasons.set(reason, attributes);
  }
  return attributes;
}

const EMPTY_RUN_TOTALS: RunTotals = Object.freeze(createRunTotals());

function createRunTotals(): RunTotals {
  return {
    userCpuSeconds: 0,
    systemCpuSeconds: 0,
    voluntaryContextSwitches: 0,
    involuntaryContextSwitches: 0,
    minorFaults: 0,
    majorFaults: 0,
    readBytes: 0,
    writeBytes: 0,
  };
}

function normalizeMetricGroups(groups: readonly string[] | undefined): ReadonlySet<MetricGroup> {
  if (groups === undefined) {
    return new Set(METRIC_GROUPS);
  }
  if (!Array.isArray(groups)) {
    throw new DroverError('ERR_INVALID_OPTION', `Expected \`metricGroups\` to be an array of ${METRIC_GROUPS.join(', ')}, got ${typeof groups}`);
  }
  for (const [index, group] of groups.entries()) {
    if (!(METRIC_GROUPS as readonly string[]).includes(group)) {
      throw new DroverError(
        'ERR_INVALID_OPTION',
        `Expected \`metricGroups[${index}]\` to be one of ${METRIC_GROUPS.join(', ')}, got ${JSON.stringify(group)} (${typeof group})`,
      );
    }
  }
  return new Set(groups as readonly MetricGroup[]);
}

function createInstruments(meter: Meter): Instruments {
  // Counters and up-down counters are synchronous, fed by the batch callback (see Instruments).
  const counter = (name: string, description: string, unit: string, valueType = ValueType.INT) =>
    meter.createCounter(name, { description, unit, valueType });
  const upDown = (name: string, description: string, unit: string) =>
    meter.createUpDownCounter(name, { description, unit, valueType: ValueType.INT });
  const gauge = (name: string, description: string, unit: string) =>
    meter.createObservableGauge(name, { description, unit, valueType: ValueType.DOUBLE });

  const instruments = {
    stdioIo: counter(METRIC_STDIO_IO, 'Bytes moved through the node process stdio pipes.', UNIT_BYTES),
    stdioOperations: counter(METRIC_STDIO_OPERATIONS, 'Read/write operations on the node process stdio pipes, one per chunk.', UNIT_OPERATIONS),
    restarts: counter(METRIC_PROCESS_RESTARTS, 'Restarts of the node process, by reason.', UNIT_RESTARTS),
    nodeState: upDown(METRIC_NODE_STATE, 'Lifecycle state of the node: 1 for the current state, 0 for the others.', UNIT_NODES),
    uptime: gauge(METRIC_PROCESS_UPTIME, 'Time since the node process was spawned, while it runs.', UNIT_SECONDS),
    outputDropped: counter(METRIC_OUTPUT_DROPPED, 'Output bytes the ring buffer dropped to stay inside its bounds.', UNIT_BYTES),
    outputBufferUsage: upDown(METRIC_OUTPUT_BUFFER_USAGE, 'Output bytes currently held by the ring buffer.', UNIT_BYTES),
    outputDroppedLines: counter(METRIC_OUTPUT_DROPPED_LINES, 'Output lines the ring buffer dropped to stay inside its bounds.', UNIT_LINES),
    restartDelay: gauge(METRIC_RESTART_DELAY, 'Backoff delay chosen before the latest restart of the node.', UNIT_SECONDS),
    clusterNodes: meter.createObservableUpDownCounter(METRIC_CLUSTER_NODES, {
      description: 'Node replicas the manager supervises.',
      unit: UNIT_NODES,
      valueType: ValueType.INT,
    }),
    faultsActive: meter.createObservableUpDownCounter(METRIC_FAULTS_ACTIVE, {
      description: 'Active injected faults, by fault kind and node.',
      unit: UNIT_FAULTS_ACTIVE,
      valueType: ValueType.INT,
    }),
    cpuTime: counter(METRIC_PROCESS_CPU_TIME, 'CPU time of the node process tree, over every run.', UNIT_SECONDS, ValueType.DOUBLE),
    memoryUsage: upDown(METRIC_PROCESS_MEMORY_USAGE, 'Resident memory of the node process tree.', UNIT_BYTES),
    memoryVirtual: upDown(METRIC_PROCESS_MEMORY_VIRTUAL, 'Virtual memory of the node process tree.', UNIT_BYTES),
    diskIo: counter(METRIC_PROCESS_DISK_IO, 'Storage bytes read and written by the node process tree, over every run.', UNIT_BYTES),
    threadCount: upDown(METRIC_PROCESS_THREAD_COUNT, 'Threads of the node process tree.', UNIT_THREADS),
    fdCount: upDown(METRIC_PROCESS_UNIX_FILE_DESCRIPTOR_COUNT, 'Open file descriptors of the node process tree.', UNIT_FILE_DESCRIPTORS),
    contextSwitches: counter(METRIC_PROCESS_CONTEXT_SWITCHES, 'Context switches of the node process tree, over every run.', UNIT_CONTEXT_SWITCHES),
    pagingFaults: counter(METRIC_PROCESS_PAGING_FAULTS, 'Page faults of the node process tree, over every run.', UNIT_FAULTS),
  };
  // All of them whatever the groups: the callback must run (it feeds the synchronous instruments),
  // and an observable that is never observed exports nothing.
  const observables = [instruments.uptime, instruments.restartDelay, instruments.clusterNodes, instruments.faultsActive];
  const startDuration = meter.createHistogram(METRIC_NODE_START_DURATION, {
    description: 'Time from spawn (starting) to ready of one run of the node.',
    unit: UNIT_SECONDS,
    valueType: ValueType.DOUBLE,
    advice: { explicitBucketBoundaries: [...START_DURATION_BUCKETS_SECONDS] },
  });
  const sampleDuration = meter.createHistogram(METRIC_PROC_SAMPLE_DURATION, {
    description: 'Time one /proc sample of every node process tree took.',
    unit: UNIT_SECONDS,
    valueType: ValueType.DOUBLE,
    advice: { explicitBucketBoundaries: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1] },
  });
  return { ...instruments, observables, startDuration, sampleDuration };
}
