/**
 * Metric instruments for a cluster's nodes: observable instruments fed by ONE batch callback that
 * reads the controller's in-memory snapshot, plus a start-duration histogram recorded from
 * lifecycle events (otel `instrumentation-host-metrics` `src/metric.ts`).
 */

import { diag, metrics, ValueType } from '@opentelemetry/api';
import type {
  Attributes,
  BatchObservableResult,
  Histogram,
  Meter,
  MeterProvider,
  Observable,
} from '@opentelemetry/api';
import type {
  ClusterController,
  ClusterEvent,
  ClusterObserver,
  ClusterSnapshot,
  NodeSnapshot,
  Subscription,
} from '../manager/types.js';
import { getNodeAttributes, getNodeKey } from './node-attributes.js';
import {
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
  NODE_STATE_VALUE_BACKOFF,
  NODE_STATE_VALUE_EXITED,
  NODE_STATE_VALUE_FAILED,
  NODE_STATE_VALUE_READY,
  NODE_STATE_VALUE_STARTING,
  NODE_STATE_VALUE_STOPPED,
  NODE_STATE_VALUE_STOPPING,
  NODE_STATE_VALUES,
  RESTART_REASON_VALUE_UNKNOWN,
  START_DURATION_BUCKETS_SECONDS,
  STDIO_STREAM_VALUE_STDERR,
  STDIO_STREAM_VALUE_STDIN,
  STDIO_STREAM_VALUE_STDOUT,
  UNIT_BYTES,
  UNIT_NODES,
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
}

interface Instruments {
  readonly stdioIo: Observable;
  readonly stdioOperations: Observable;
  readonly restarts: Observable;
  readonly nodeState: Observable;
  readonly uptime: Observable;
  readonly outputDropped: Observable;
  readonly outputBufferUsage: Observable;
  /** Every observable above, as handed to `addBatchObservableCallback`. */
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

/** Transitions that end a run's start without it becoming ready. */
const START_ABORTING_STATES: ReadonlySet<string> = new Set([
  NODE_STATE_VALUE_STOPPING,
  NODE_STATE_VALUE_STOPPED,
  NODE_STATE_VALUE_EXITED,
  NODE_STATE_VALUE_BACKOFF,
  NODE_STATE_VALUE_FAILED,
]);

/**
 * Metrics of every node of one cluster. See `telemetry/README.md` for the table.
 *
 * - `drover.stdio.io` (By) and `drover.stdio.operations` ({operation}) per `drover.stdio.stream`
 * - `drover.process.restarts` ({restart}) per `drover.restart.reason`
 * - `drover.node.state` ({node}): one series per state, 1 for the current one, 0 for the others
 * - `process.uptime` (s) while the node has a running process
 * - `drover.output.dropped` (By), `drover.output.buffer.usage` (By)
 * - `drover.node.start.duration` (s, histogram): `starting` → `ready` of the same run
 *
 * Every point carries `drover.node.name` and `drover.node.replica`; never a pid or argv.
 *
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
  private meterProvider: MeterProvider | undefined;
  private registration: Registration | null = null;
  /** Restarts seen as `restarting` events, per node key, per reason. */
  private readonly restartTallies = new Map<string, Map<string, number>>();
  private readonly pendingStarts = new Map<string, PendingStart>();

  constructor(options: ProcessMetricsOptions) {
    this.controller = options.controller;
    this.meterProvider = options.meterProvider;
    this.clock = options.clock ?? Date.now;
  }

  /** True between `register()` and `unregister()`. */
  get isRegistered(): boolean {
    return this.registration !== null;
  }

  /**
   * Creates the instruments, installs the batch callback and subscribes to lifecycle events.
   * Calling it again while registered does nothing.
   */
  register(): void {
    if (this.registration !== null) {
      return;
    }
    const meter = (this.meterProvider ?? metrics.getMeterProvider()).getMeter(INSTRUMENTATION_SCOPE_NAME);
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
  }

  /**
   * Removes the batch callback and unsubscribes. The synchronous histogram stays in the meter
   * (the API cannot remove instruments) but receives nothing more. Safe to call when not registered.
   */
  unregister(): void {
    const registration = this.registration;
    if (registration === null) {
      return;
    }
    this.registration = null;
    registration.subscription?.unsubscribe();
    registration.meter.removeBatchObservableCallback(this.handleCollect, registration.instruments.observables);
    this.restartTallies.clear();
    this.pendingStarts.clear();
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

  private readonly observer: ClusterObserver = {
    onEvent: (event) => {
      try {
        this.handleEvent(event);
      } catch (error) {
        // The manager calls observers inline; a bug here must not break its event dispatch.
        diag.error('drover ProcessMetrics: failed to handle a cluster event', error);
      }
    },
  };

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
        return;
      }
      case 'state': {
        const key = getNodeKey(event.node, event.replica);
        if (event.to === NODE_STATE_VALUE_STARTING) {
          this.pendingStarts.set(key, { run: event.run, timeMs: event.time });
        } else if (event.to === NODE_STATE_VALUE_READY) {
          const pending = this.pendingStarts.get(key);
          this.pendingStarts.delete(key);
          if (pending !== undefined && pending.run === event.run) {
            const seconds = Math.max(0, event.time - pending.timeMs) / 1000;
            this.registration.instruments.startDuration.record(
              seconds,
              getNodeAttributes(event.node, event.replica),
            );
          }
        } else if (START_ABORTING_STATES.has(event.to)) {
          this.pendingStarts.delete(key);
        }
        return;
      }
      case 'output':
        // Output lines are counted by the manager into the snapshot's stats.
        return;
    }
  }

  /** The one batch callback: reads the in-memory snapshot; no I/O, never throws. */
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
    for (const node of snapshot.nodes) {
      try {
        this.observeNode(result, registration.instruments, node, nowMs);
      } catch (error) {
        // Same reason as above: one malformed node must not cost the rest of the collection.
        diag.debug(`drover ProcessMetrics: skipping node ${node.name} in this collection`, error);
      }
    }
  };

  private observeNode(result: BatchObservableResult, instruments: Instruments, node: NodeSnapshot, nowMs: number): void {
    const base = getNodeAttributes(node.name, node.replica);
    const { stats } = node;
    const streams = [
      [STDIO_STREAM_VALUE_STDIN, stats.stdin],
      [STDIO_STREAM_VALUE_STDOUT, stats.stdout],
      [STDIO_STREAM_VALUE_STDERR, stats.stderr],
    ] as const;
    for (const [stream, streamStats] of streams) {
      const attributes: Attributes = { ...base, [ATTR_STDIO_STREAM]: stream };
      result.observe(instruments.stdioIo, streamStats.bytes, attributes);
      result.observe(instruments.stdioOperations, streamStats.ops, attributes);
    }

    this.observeRestarts(result, instruments.restarts, node, base);

    for (const state of NODE_STATE_VALUES) {
      result.observe(instruments.nodeState, state === node.state ? 1 : 0, { ...base, [ATTR_NODE_STATE]: state });
    }

    if (node.startedAt !== null) {
      result.observe(instruments.uptime, Math.max(0, nowMs - node.startedAt) / 1000, base);
    }

    result.observe(instruments.outputDropped, stats.droppedBytes, base);
    result.observe(instruments.outputBufferUsage, stats.bufferedBytes, base);
  }

  /**
   * The snapshot's `restarts` is the total; `restarting` events seen since `register()` split it
   * by reason. Whatever the events do not explain happened before we subscribed: `unknown`.
   */
  private observeRestarts(result: BatchObservableResult, restarts: Observable, node: NodeSnapshot, base: Attributes): void {
    const tally = this.restartTallies.get(getNodeKey(node.name, node.replica));
    let attributed = 0;
    if (tally !== undefined) {
      for (const [reason, count] of tally) {
        attributed += count;
        result.observe(restarts, count, { ...base, [ATTR_RESTART_REASON]: reason });
      }
    }
    const unattributed = node.restarts - attributed;
    if (unattributed > 0) {
      result.observe(restarts, unattributed, { ...base, [ATTR_RESTART_REASON]: RESTART_REASON_VALUE_UNKNOWN });
    }
  }
}

function createInstruments(meter: Meter): Instruments {
  const stdioIo = meter.createObservableCounter(METRIC_STDIO_IO, {
    description: 'Bytes moved through the node process stdio pipes.',
    unit: UNIT_BYTES,
    valueType: ValueType.INT,
  });
  const stdioOperations = meter.createObservableCounter(METRIC_STDIO_OPERATIONS, {
    description: 'Read/write operations on the node process stdio pipes, one per chunk.',
    unit: UNIT_OPERATIONS,
    valueType: ValueType.INT,
  });
  const restarts = meter.createObservableCounter(METRIC_PROCESS_RESTARTS, {
    description: 'Restarts of the node process, by reason.',
    unit: UNIT_RESTARTS,
    valueType: ValueType.INT,
  });
  const nodeState = meter.createObservableUpDownCounter(METRIC_NODE_STATE, {
    description: 'Lifecycle state of the node: 1 for the current state, 0 for the others.',
    unit: UNIT_NODES,
    valueType: ValueType.INT,
  });
  const uptime = meter.createObservableGauge(METRIC_PROCESS_UPTIME, {
    description: 'Time since the node process was spawned, while it runs.',
    unit: UNIT_SECONDS,
    valueType: ValueType.DOUBLE,
  });
  const outputDropped = meter.createObservableCounter(METRIC_OUTPUT_DROPPED, {
    description: 'Output bytes the ring buffer dropped to stay inside its bounds.',
    unit: UNIT_BYTES,
    valueType: ValueType.INT,
  });
  const outputBufferUsage = meter.createObservableUpDownCounter(METRIC_OUTPUT_BUFFER_USAGE, {
    description: 'Output bytes currently held by the ring buffer.',
    unit: UNIT_BYTES,
    valueType: ValueType.INT,
  });
  const startDuration = meter.createHistogram(METRIC_NODE_START_DURATION, {
    description: 'Time from spawn (starting) to ready of one run of the node.',
    unit: UNIT_SECONDS,
    valueType: ValueType.DOUBLE,
    advice: { explicitBucketBoundaries: [...START_DURATION_BUCKETS_SECONDS] },
  });
  return {
    stdioIo,
    stdioOperations,
    restarts,
    nodeState,
    uptime,
    outputDropped,
    outputBufferUsage,
    observables: [stdioIo, stdioOperations, restarts, nodeState, uptime, outputDropped, outputBufferUsage],
    startDuration,
  };
}
