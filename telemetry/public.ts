/**
 * `drover/telemetry`: drover's OpenTelemetry producers one by one, for a program that runs its
 * own OpenTelemetry SDK (or several clusters under one). Each reads a cluster only through its
 * `ClusterController` and records against the providers it is given (default: the global ones).
 * `startTelemetry` from `drover` builds an SDK from the `OTEL_*` variables and registers these
 * for you; names and units: telemetry/README.md.
 *
 * @example
 * import { ProcessMetrics, ClusterTracing } from 'drover/telemetry';
 * const metrics = new ProcessMetrics({ controller: cluster, meterProvider });
 * metrics.register();
 * const tracing = new ClusterTracing({ controller: cluster, tracerProvider });
 * tracing.register();
 *
 * This module is the package's `./telemetry` export (package.json); other drover folders import
 * telemetry/index.ts.
 *
 * @packageDocumentation
 */
export { METRIC_GROUPS, ProcessMetrics } from './process-metrics.js';
export type { MetricGroup, ProcessMetricsOptions } from './process-metrics.js';
export { ClusterTracing } from './cluster-tracing.js';
export type { ClusterTracingOptions } from './cluster-tracing.js';
export { OutputLogs } from './output-logs.js';
export type { OutputLogsOptions } from './output-logs.js';
export { LifecycleEvents } from './lifecycle-events.js';
export type { LifecycleEventsOptions } from './lifecycle-events.js';
