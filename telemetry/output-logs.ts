/**
 * Output lines as OpenTelemetry log records, for the nodes that opt in (`telemetry: { logs: true }`).
 * Each record carries the node, replica, stream (`log.iostream`), sequence number, a severity
 * parsed from the line (`log-severity.ts`), and the trace context of the node's current run, so a
 * backend shows a run's output under its `start` span. Bounded and never blocking: a token bucket
 * caps records per second (excess lines are counted as dropped, never queued), and the SDK's batch
 * processor bounds its own queue.
 */

import { diag, metrics, ROOT_CONTEXT, trace, ValueType } from '@opentelemetry/api';
import type { MeterProvider, ObservableCounter, ObservableResult, SpanContext } from '@opentelemetry/api';
import { logs } from '@opentelemetry/api-logs';
import type { Logger, LoggerProvider } from '@opentelemetry/api-logs';
import type { ClusterController, ClusterObserver, ClusterSpec, OutputLine, Subscription } from '../contract/types.js';
import { getLogSeverity } from './log-severity.js';
import {
  ATTR_LOG_IOSTREAM,
  ATTR_NODE_NAME,
  ATTR_NODE_REPLICA,
  ATTR_OUTPUT_SEQUENCE,
  INSTRUMENTATION_SCOPE_NAME,
  METRIC_LOGS_DROPPED,
  UNIT_LINES,
} from './semconv.js';

/** Options of {@link OutputLogs}. */
export interface OutputLogsOptions {
  /** The cluster to observe. Read only through `subscribe()`. */
  readonly controller: ClusterController;
  /** Which nodes have `telemetry.logs: true`; nodes absent from it are not logged. */
  readonly spec: ClusterSpec;
  /**
   * Where records go.
   * @default the global logger provider (`logs.getLoggerProvider()`), looked up at `register()`
   */
  readonly loggerProvider?: LoggerProvider;
  /**
   * Where the dropped-lines counter is created.
   * @default the global meter provider, looked up at `register()`
   */
  readonly meterProvider?: MeterProvider;
  /** Trace context of a node's current run (`ClusterTracing.getRunSpanContext`). */
  readonly getSpanContext?: (node: string, replica: number) => SpanContext | undefined;
  /**
   * Most records per second over the whole cluster; lines beyond it are dropped and counted.
   * @default 10000
   */
  readonly maxRecordsPerSecond?: number;
  /**
   * Epoch-ms clock (rate limit and `observedTimestamp`).
   * @default Date.now
   */
  readonly clock?: () => number;
}

const DEFAULT_MAX_RECORDS_PER_SECOND = 10_000;

/**
 * Bridges node output to log records. See `docs/telemetry.md` ("Log records").
 *
 * @example
 * ```ts
 * const outputLogs = new OutputLogs({ controller: cluster, spec });
 * outputLogs.register();
 * ```
 */
export class OutputLogs {
  private readonly controller: ClusterController;
  private readonly loggedNodes: ReadonlySet<string>;
  private readonly loggerProvider: LoggerProvider | undefined;
  private readonly meterProvider: MeterProvider | undefined;
  private readonly getSpanContext: ((node: string, replica: number) => SpanContext | undefined) | undefined;
  private readonly maxRecordsPerSecond: number;
  private readonly clock: () => number;
  private logger: Logger | null = null;
  private subscription: Subscription | null = null;
  private droppedCounter: ObservableCounter | null = null;
  private tokens: number;
  private lastRefillMs: number;
  private droppedLines = 0;

  constructor(options: OutputLogsOptions) {
    this.controller = options.controller;
    this.loggedNodes = new Set(options.spec.nodes.filter((node) => node.telemetry?.logs === true).map((node) => node.name));
    this.loggerProvider = options.loggerProvider;
    this.meterProvider = options.meterProvider;
    this.getSpanContext = options.getSpanContext;
    this.maxRecordsPerSecond = options.maxRecordsPerSecond ?? DEFAULT_MAX_RECORDS_PER_SECOND;
    this.clock = options.clock ?? Date.now;
    this.tokens = this.maxRecordsPerSecond;
    this.lastRefillMs = this.clock();
  }

  /** Lines dropped by the rate limit so far. */
  get dropped(): number {
    return this.droppedLines;
  }

  /** Subscribes (only when some node has logs on). Calling it again while registered does nothing. */
  register(): void {
    if (this.logger !== null || this.loggedNodes.size === 0) {
      return;
    }
    this.logger = (this.loggerProvider ?? logs.getLoggerProvider()).getLogger(INSTRUMENTATION_SCOPE_NAME);
    const meter = (this.meterProvider ?? metrics.getMeterProvider()).getMeter(INSTRUMENTATION_SCOPE_NAME);
    this.droppedCounter = meter.createObservableCounter(METRIC_LOGS_DROPPED, {
      description: 'Output lines not turned into log records because the rate limit was reached.',
      unit: UNIT_LINES,
      valueType: ValueType.INT,
    });
    this.droppedCounter.addCallback(this.handleCollect);
    this.subscription = this.controller.subscribe(this.observer);
  }

  /** Unsubscribes. Safe to call when not registered. */
  unregister(): void {
    this.subscription?.unsubscribe();
    this.subscription = null;
    this.droppedCounter?.removeCallback(this.handleCollect);
    this.droppedCounter = null;
    this.logger = null;
  }

  private readonly handleCollect = (result: ObservableResult): void => {
    result.observe(this.droppedLines);
  };

  private readonly observer: ClusterObserver = {
    onEvent: (event) => {
      if (event.type !== 'output' || !this.loggedNodes.has(event.node)) {
        return;
      }
      try {
        this.emit(event.node, event.replica, event.line);
      } catch (error) {
        // The manager calls observers inline; a bug here must not break its event dispatch.
        diag.error('drover OutputLogs: failed to emit a log record', error);
      }
    },
  };

  private emit(node: string, replica: number, line: OutputLine): void {
    const logger = this.logger;
    if (logger === null || !this.takeToken()) {
      return;
    }
    const severity = getLogSeverity(line.text);
    const spanContext = this.getSpanContext?.(node, replica);
    logger.emit({
      timestamp: new Date(line.time),
      observedTimestamp: new Date(this.clock()),
      ...(severity === null ? {} : severity),
      body: line.text,
      attributes: {
        [ATTR_NODE_NAME]: node,
        [ATTR_NODE_REPLICA]: replica,
        [ATTR_LOG_IOSTREAM]: line.stream,
        [ATTR_OUTPUT_SEQUENCE]: line.seq,
      },
      context: spanContext === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, spanContext),
    });
  }

  /** Token bucket: `maxRecordsPerSecond` tokens, refilled continuously. */
  private takeToken(): boolean {
    const nowMs = this.clock();
    const elapsedMs = Math.max(0, nowMs - this.lastRefillMs);
    this.lastRefillMs = nowMs;
    this.tokens = Math.min(this.maxRecordsPerSecond, this.tokens + (elapsedMs * this.maxRecordsPerSecond) / 1000);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    this.droppedLines += 1;
    return false;
  }
}
