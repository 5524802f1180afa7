export { Cluster } from './cluster/cluster.js';
export type { ClusterOptions } from './cluster/cluster.js';
export { ClusterNode } from './cluster/cluster-node.js';
export { DroverError, isDroverError } from './contract/errors.js';
export type { DroverErrorCode, DroverErrorFields } from './contract/errors.js';
export { ManagedProcess, spawn } from './process/managed-process.js';
export { describeExit } from './contract/lifecycle.js';
export type { ProcessResult } from './process/managed-process.js';
export type { OutputPolicy, SpawnOptions } from './process/options.js';
export type { PipeReader } from './process/pipe-streams.js';
export { OutputBuffer } from './process/output-buffer.js';
export type { BufferedLine, OutputBufferOptions } from './process/output-buffer.js';
export { nextDelayMs } from './cluster/backoff.js';
export { RestartWindow, shouldRestart } from './cluster/restart-policy.js';
export { Ready, waitForReady } from './cluster/readiness/ready.js';
export type { ReadinessCheck, ReadinessContext } from './cluster/readiness/readiness-check.js';
export { startCluster } from './start-cluster.js';
export type { StartClusterOptions } from './start-cluster.js';
export { NODE_STATES } from './contract/types.js';
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
} from './contract/types.js';
export type { ReadinessAttempt } from './cluster/readiness/readiness-check.js';
export type { WaitContext } from './cluster/readiness/ready.js';
