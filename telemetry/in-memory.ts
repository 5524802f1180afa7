/**
 * Telemetry kept in memory, for tests that assert on it: the SDK's in-memory exporters
 * (`InMemorySpanExporter`, `InMemoryMetricExporter`, `InMemoryLogRecordExporter`) behind
 * providers of their own, with drover's producers registered against them. Nothing global is
 * registered, so several clusters of one process (concurrent tests) each keep their own.
 */

import type { Context, TracerProvider } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import type { LogRecordProcessor, ReadableLogRecord, SdkLogRecord } from '@opentelemetry/sdk-logs';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { DroverError } from '../contract/errors.js';
import type { ClusterController, ClusterSpec } from '../contract/types.js';
import { ClusterTracing } from './cluster-tracing.js';
import { LifecycleEvents } from './lifecycle-events.js';
import { OutputLogs } from './output-logs.js';
import { DEFAULT_SAMPLE_INTERVAL_MS } from './proc-sampler.js';
import { ProcessMetrics } from './process-metrics.js';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_NAMESPACE, INSTRUMENTATION_SCOPE_NAME } from './semconv.js';

/** What {@link startInMemoryTelemetry} needs. */
export interface InMemoryTelemetryOptions {
  readonly controller: ClusterController;
  readonly spec: ClusterSpec | undefined;
  readonly serviceName: string;
  readonly cardinalityLimit: number;
  readonly sampleIntervalMs: number | undefined;
  readonly shutdownTimeoutMs: number;
  readonly log: (message: string) => void;
}

/** A started in-memory pipeline (the parts of `TelemetryHandle` it implements). */
export interface InMemoryTelemetry {
  shutdown(): Promise<void>;
  spans(): readonly ReadableSpan[];
  logs(): readonly ReadableLogRecord[];
  collectMetrics(): Promise<ResourceMetrics>;
  reset(): void;
  readonly tracerProvider: TracerProvider;
  setParentContext(context: Context | undefined): void;
}

/**
 * Most spans, and most log records, kept in memory (until `reset()`): a cluster that runs for a
 * whole test run with restarts in a loop must not grow without bound. Past it, new ones are
 * dropped, reported once through `log`.
 */
export const IN_MEMORY_MAX_SPANS = 20_000;
/** Most log records kept in memory; see {@link IN_MEMORY_MAX_SPANS}. */
export const IN_MEMORY_MAX_LOG_RECORDS = 20_000;

/**
 * The metric reader's export interval, in ms: metrics are collected when the test asks
 * (`collectMetrics()`, which flushes the reader) and once at shutdown, not on a timer. The
 * longest interval a Node timer takes.
 */
const MANUAL_EXPORT_INTERVAL_MS = 2_147_483_647;

/**
 * Starts drover's producers against in-memory exporters. Spans and log records are exported as
 * they end (simple processors), so `spans()` shows a span as soon as it ended; metrics are
 * collected on `collectMetrics()`. Everything is kept after `shutdown()` (which ends the open
 * spans and collects the metrics a last time), until `reset()`.
 */
export function startInMemoryTelemetry(options: InMemoryTelemetryOptions): InMemoryTelemetry {
  const { controller, spec, serviceName, cardinalityLimit, shutdownTimeoutMs, log } = options;
  const resource = resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName, [ATTR_SERVICE_NAMESPACE]: controller.snapshot().name, ...spec?.telemetry?.resourceAttributes });
  const reportFull = (what: string, max: number): (() => void) => {
    let reported = false;
    return () => {
      if (reported) return;
      reported = true;
      log(`drover telemetry: the in-memory exporter holds ${max} ${what}; later ones are dropped until telemetry.reset()`);
    };
  };
  const spanExporter = new InMemorySpanExporter();
  const spanProcessor = new BoundedSpanProcessor(new SimpleSpanProcessor(spanExporter), () => spanExporter.getFinishedSpans().length < IN_MEMORY_MAX_SPANS, reportFull('spans', IN_MEMORY_MAX_SPANS));
  const tracerProvider = new BasicTracerProvider({ resource, spanProcessors: [spanProcessor] });
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: MANUAL_EXPORT_INTERVAL_MS, exportTimeoutMillis: shutdownTimeoutMs });
  const meterProvider = new MeterProvider({
    resource,
    readers: [reader],
    views: [{ meterName: INSTRUMENTATION_SCOPE_NAME, instrumentName: '*', aggregationCardinalityLimit: cardinalityLimit }],
  });
  const logExporter = new InMemoryLogRecordExporter();
  const logProcessor = new BoundedLogRecordProcessor(
    new SimpleLogRecordProcessor({ exporter: logExporter }),
    () => logExporter.getFinishedLogRecords().length < IN_MEMORY_MAX_LOG_RECORDS,
    reportFull('log records', IN_MEMORY_MAX_LOG_RECORDS),
  );
  const loggerProvider = new LoggerProvider({ resource, processors: [logProcessor] });

  const clusterTracing = new ClusterTracing({ controller, tracerProvider, isClusterUpTraced: true, ...(spec === undefined ? {} : { spec }) });
  const getSpanContext = (node: string, replica: number) => clusterTracing.getRunSpanContext(node, replica);
  const processMetrics = new ProcessMetrics({ controller, meterProvider, sampleIntervalMs: options.sampleIntervalMs ?? DEFAULT_SAMPLE_INTERVAL_MS });
  const lifecycleEvents = new LifecycleEvents({ controller, loggerProvider, getSpanContext });
  const outputLogs = spec === undefined ? null : new OutputLogs({ controller, spec, loggerProvider, meterProvider, getSpanContext });
  // Tracing first: its observer hands TRACEPARENT to the children and run contexts to the logs.
  clusterTracing.register();
  processMetrics.register();
  lifecycleEvents.register();
  outputLogs?.register();

  /** Set by shutdown(): what the exporters held then (shutting a provider down empties its exporter). */
  let final: { spans: ReadableSpan[]; logs: ReadableLogRecord[]; metrics: ResourceMetrics | null } | null = null;

  const collectMetrics = async (): Promise<ResourceMetrics> => {
    if (final !== null) {
      if (final.metrics === null) throw new DroverError('ERR_STOPPED', 'the telemetry was shut down and its last metric collection failed (reported through its log); no metrics were kept', {});
      return final.metrics;
    }
    await reader.forceFlush();
    const collected = metricExporter.getMetrics();
    // Cumulative temporality: the last collection holds every series; the older ones are dropped.
    const latest = collected[collected.length - 1];
    metricExporter.reset();
    if (latest === undefined) throw new DroverError('ERR_UNSUPPORTED', 'the in-memory metric reader exported nothing when flushed', {});
    return latest;
  };

  let shutdownPromise: Promise<void> | null = null;
  const shutdown = (): Promise<void> => {
    shutdownPromise ??= (async () => {
      clusterTracing.unregister(); // ends the spans still open
      lifecycleEvents.unregister();
      outputLogs?.unregister();
      let metrics: ResourceMetrics | null = null;
      try {
        metrics = await withTimeout(collectMetrics(), shutdownTimeoutMs);
      } catch (error) {
        log(`drover telemetry: the last metric collection failed: ${error instanceof Error ? error.message : String(error)}`);
      }
      processMetrics.unregister();
      final = { spans: [...spanExporter.getFinishedSpans()], logs: [...logExporter.getFinishedLogRecords()], metrics };
      const outcome = await withTimeout(Promise.all([tracerProvider.shutdown(), meterProvider.shutdown(), loggerProvider.shutdown()]), shutdownTimeoutMs).then(
        () => null,
        (error: unknown) => error,
      );
      if (outcome !== null) log(`drover telemetry: shutdown could not finish: ${outcome instanceof Error ? outcome.message : String(outcome)}`);
    })();
    return shutdownPromise;
  };

  return {
    shutdown,
    spans: () => (final === null ? spanExporter.getFinishedSpans() : final.spans),
    logs: () => (final === null ? logExporter.getFinishedLogRecords() : final.logs),
    collectMetrics,
    reset: () => {
      spanExporter.reset();
      logExporter.reset();
      metricExporter.reset();
      if (final !== null) final = { spans: [], logs: [], metrics: final.metrics };
    },
    tracerProvider,
    setParentContext: (context) => clusterTracing.setParentContext(context),
  };
}

/** Passes ended spans on to `inner` while `hasRoom()`; past it drops them (`onDrop`). */
class BoundedSpanProcessor implements SpanProcessor {
  constructor(
    private readonly inner: SpanProcessor,
    private readonly hasRoom: () => boolean,
    private readonly onDrop: () => void,
  ) {}

  onStart(span: Span, parentContext: Context): void {
    this.inner.onStart(span, parentContext);
  }

  onEnd(span: ReadableSpan): void {
    if (this.hasRoom()) this.inner.onEnd(span);
    else this.onDrop();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}

/** Passes emitted log records on to `inner` while `hasRoom()`; past it drops them (`onDrop`). */
class BoundedLogRecordProcessor implements LogRecordProcessor {
  constructor(
    private readonly inner: LogRecordProcessor,
    private readonly hasRoom: () => boolean,
    private readonly onDrop: () => void,
  ) {}

  onEmit(logRecord: SdkLogRecord, context?: Context): void {
    if (this.hasRoom()) this.inner.onEmit(logRecord, context);
    else this.onDrop();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}

/** `promise`, or a rejection once `timeoutMs` passed. */
async function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not finish within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
