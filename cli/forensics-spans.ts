import type { Context } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan, type Span, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Cluster } from '../cluster/cluster.js';
import type { ClusterSpec } from '../contract/types.js';
import { ClusterTracing } from '../telemetry/cluster-tracing.js';

/** Most spans a run keeps for its bundle: the first ones (the cluster's start is what a failure is read against). */
export const MAX_RUN_SPANS = 10_000;

/** Passes ended spans on to `inner` until {@link MAX_RUN_SPANS} were kept; counts the rest. */
class BoundedSpanProcessor implements SpanProcessor {
  kept = 0;
  dropped = 0;
  constructor(private readonly inner: SpanProcessor) {}
  onStart(span: Span, parentContext: Context): void {
    this.inner.onStart(span, parentContext);
  }
  onEnd(span: ReadableSpan): void {
    if (this.kept >= MAX_RUN_SPANS) {
      this.dropped++;
      return;
    }
    this.kept++;
    this.inner.onEnd(span);
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}

/**
 * The spans of a `drover run` (the same `cluster up`, `start`, `stop`, `restart` spans telemetry
 * exports, see docs/telemetry.md), kept in the OpenTelemetry SDK's in-memory exporter for the
 * forensic bundle, whatever `OTEL_*` says. Its tracer provider is its own (never the global one).
 * Register it before `startTelemetry`: the `TRACEPARENT` the nodes get is then the exported trace's.
 */
export class RunSpans {
  private readonly exporter = new InMemorySpanExporter();
  private readonly processor = new BoundedSpanProcessor(new SimpleSpanProcessor(this.exporter));
  private readonly tracing: ClusterTracing;
  private closed = false;

  constructor(cluster: Cluster, spec: ClusterSpec) {
    const resource = resourceFromAttributes({ 'service.name': spec.telemetry?.serviceName ?? 'drover', 'service.namespace': spec.name });
    const tracerProvider = new BasicTracerProvider({ resource, spanProcessors: [this.processor] });
    this.tracing = new ClusterTracing({ controller: cluster, tracerProvider, spec, isClusterUpTraced: true });
    this.tracing.register();
  }

  /** Spans left out past {@link MAX_RUN_SPANS}. */
  get dropped(): number {
    return this.processor.dropped;
  }

  /** Ends the spans still open (at the time of the call) and stops recording. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.tracing.unregister();
  }

  /**
   * The spans ended so far as an OTLP/JSON `ExportTraceServiceRequest`, encoded by
   * `@opentelemetry/otlp-transformer`'s `JsonTraceSerializer` (loaded here, on first use: a run
   * that needs no bundle never loads it).
   */
  async toOtlpJson(): Promise<string> {
    const { JsonTraceSerializer } = await import('@opentelemetry/otlp-transformer');
    const bytes = JsonTraceSerializer.serializeRequest(this.exporter.getFinishedSpans());
    return Buffer.from(bytes ?? new Uint8Array()).toString('utf8');
  }
}
