/**
 * drover's public API: `import { spawn, startCluster } from 'drover'`.
 */
export {
  Cluster,
  ClusterNode,
  DroverError,
  isDroverError,
  ManagedProcess,
  NODE_STATES,
  nextDelayMs,
  OutputBuffer,
  Ready,
  RestartWindow,
  shouldRestart,
  spawn,
  startCluster,
} from './manager/index.js';
export type {
  BackoffSpec,
  BufferedLine,
  ClusterController,
  ClusterEvent,
  ClusterObserver,
  ClusterOptions,
  ClusterSnapshot,
  ClusterSpec,
  DroverErrorCode,
  ExitInfo,
  NodeSnapshot,
  NodeSpec,
  NodeState,
  OutputLine,
  OutputPolicy,
  OutputStream,
  ProcessResult,
  ProcessStats,
  ReadinessCheck,
  ReadySpec,
  ResourceUsage,
  RestartPolicyName,
  RestartReason,
  SpawnOptions,
  StartClusterOptions,
  StreamStats,
} from './manager/index.js';
export { loadConfig, normalizeConfig } from './config/index.js';
export { startTelemetry, ProcessMetrics, ClusterTracing, OutputLogs, LifecycleEvents, METRIC_GROUPS } from './telemetry/index.js';
export type {
  StartTelemetryOptions,
  TelemetryHandle,
  ProcessMetricsOptions,
  MetricGroup,
  ClusterTracingOptions,
  OutputLogsOptions,
  LifecycleEventsOptions,
} from './telemetry/index.js';
export type { ClusterTelemetrySpec, NodeTelemetrySpec } from './manager/types.js';
