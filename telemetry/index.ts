/**
 * drover telemetry: OpenTelemetry metrics, lifecycle spans, output log records and lifecycle
 * events for a cluster. It reaches the cluster only through the `ClusterController` interface
 * (contract/types.ts) and imports nothing but contract/:
 *
 * - it reads `snapshot()` (node states, pids, I/O counters, for metrics and the `/proc` sampler)
 *   and the events of `subscribe()` (state changes, restarts, readiness attempts, output lines);
 * - it provides one thing: through `provideSpawnEnvironment()`, each run's child gets the W3C
 *   `TRACEPARENT`/`TRACESTATE` of its `start` span (ClusterTracing).
 *
 * It never starts, stops or signals a node. Metric, span and attribute names and units:
 * `docs/telemetry.md` and `./semconv.ts` (import that module directly for the constants).
 */

export { ProcessMetrics, METRIC_GROUPS } from './process-metrics.js';
export type { MetricGroup, ProcessMetricsOptions } from './process-metrics.js';
export { ProcSampler, DEFAULT_SAMPLE_INTERVAL_MS } from './proc-sampler.js';
export type { ProcSamplerOptions } from './proc-sampler.js';
export { readProcTree } from './proc-tree.js';
export type { ProcTreeSample, ReadProcTreeOptions } from './proc-tree.js';
export { ClusterTracing } from './cluster-tracing.js';
export type { ClusterTracingOptions } from './cluster-tracing.js';
export { OutputLogs } from './output-logs.js';
export type { OutputLogsOptions } from './output-logs.js';
export { LifecycleEvents } from './lifecycle-events.js';
export type { LifecycleEventsOptions } from './lifecycle-events.js';
export { getLogSeverity } from './log-severity.js';
export type { LogSeverity } from './log-severity.js';
export { getCommandAttributes, redact, DEFAULT_REDACT_PATTERNS } from './command-attributes.js';
export { startTelemetry, normalizeOtelEnv, getCardinalityLimit, PROMETHEUS_HOST, PROMETHEUS_DEFAULT_PORT } from './sdk.js';
export type { NormalizedOtelEnv, StartTelemetryOptions, TelemetryHandle } from './sdk.js';
