export { Cluster } from './cluster.js';
export type { ClusterOptions } from './cluster.js';
export { ClusterNode } from './cluster-node.js';
export { DroverError, isDroverError } from './errors.js';
export type { DroverErrorCode, DroverErrorFields } from './errors.js';
export { describeExit, ManagedProcess, spawn } from './managed-process.js';
export type { ProcessResult } from './managed-process.js';
export type { OutputPolicy, SpawnOptions } from './options.js';
export type { PipeReader } from './pipe-streams.js';
export { OutputBuffer } from './output-buffer.js';
export type { BufferedLine, OutputBufferOptions } from './output-buffer.js';
export { nextDelayMs } from './backoff.js';
export { RestartWindow, shouldRestart } from './restart-policy.js';
export { Ready, waitForReady } from './readiness/ready.js';
export type { ReadinessCheck, ReadinessContext } from './readiness/readiness-check.js';
export { startCluster } from './start-cluster.js';
export type { StartClusterOptions } from './start-cluster.js';
export { NODE_STATES } from './types.js';
export type {
  BackoffSpec,
  ClusterController,
  ClusterEvent,
  ClusterObserver,
  ClusterSnapshot,
  ClusterSpec,
  ExitInfo,
  NodeSnapshot,
  NodeSpec,
  NodeState,
  OutputLine,
  OutputSpec,
  OutputStream,
  ProcessStats,
  ReadySpec,
  RestartPolicyName,
  RestartReason,
  RestartSpec,
  ResourceUsage,
  StopSpec,
  StreamStats,
  Subscription,
  CheckTiming,
  DependencyCondition,
  LivenessSpec,
  NodeFailurePolicy,
  ResolvedConfig,
  ResolvedNodeConfig,
  StopProgressEvent,
  StopReport,
  ReadinessAttemptEvent,
  ReadinessAttemptKind,
} from './types.js';
export type { ReadinessAttempt } from './readiness/readiness-check.js';
export type { WaitContext } from './readiness/ready.js';
