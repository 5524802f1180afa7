/**
 * drover's package entry: `import { spawn, startCluster } from 'drover'`.
 *
 * What users write code against, and nothing else: one supervised process (`spawn`), a cluster of
 * named nodes (`startCluster`, `Cluster`, the `ClusterNode` handle), config loading, the telemetry
 * starter, `DroverError`, and the types these take and return. The surface is recorded in
 * etc/drover.api.md (`npm run api:update` after a deliberate change; test/api fails on any other).
 * Lower-level telemetry producers are in `drover/telemetry`, the vitest helpers in `drover/vitest`.
 *
 * Loading this module loads no zod, yaml or OpenTelemetry code (test/api/cold-import.test.ts):
 * `loadConfig`, `normalizeConfig` and `startTelemetry` import their module on their first call,
 * and `startCluster` imports the config loader only when given a path or a config object.
 *
 * @packageDocumentation
 */
import type { ConfigInput, ConfigInvalidError, LoadConfigOptions, LoadedConfig, NormalizeConfigOptions } from './config/index.js';
import type { ClusterSpec } from './contract/types.js';
import type { StartTelemetryOptions, TelemetryHandle } from './telemetry/sdk.js';

// One supervised OS process.
export { spawn } from './process/managed-process.js';
export type { ManagedProcess, ProcessResult } from './process/managed-process.js';
export type { OutputPolicy, SpawnOptions } from './process/options.js';
export type { PipeReader } from './process/pipe-streams.js';
export type { BufferedLine, OutputBuffer } from './process/output-buffer.js';

// A cluster of named nodes.
export { startCluster } from './start-cluster.js';
export type { StartClusterOptions, TelemetryCluster } from './start-cluster.js';
export { Cluster } from './cluster/cluster.js';
export type { ClusterEventsOptions, ClusterEventStream, ClusterOptions, NetworkLink } from './cluster/cluster.js';
export type { ClusterStartOptions } from './cluster/cluster.js';
export type { ClusterNode, CrashOptions, NodeMark, PauseOptions } from './cluster/cluster-node.js';
export type { NodeClock } from './cluster/clock-fault.js';
export { planChaos } from './cluster/chaos.js';
export type { ChaosEntry, ChaosPlanOptions, ChaosStep } from './cluster/chaos.js';

// Errors.
export { DroverError, isDroverError } from './contract/errors.js';
export type { DroverErrorCode, DroverErrorFields } from './contract/errors.js';

// Specs, snapshots and events: the data a cluster consumes and publishes.
export { NODE_STATES } from './contract/types.js';
export { RESOURCE_LIMIT_NAMES } from './contract/defaults.js';
export type {
  BackoffSpec,
  CheckTiming,
  ClusterController,
  ClusterEvent,
  ClusterObserver,
  ClusterSnapshot,
  ClusterSpec,
  ClusterTelemetrySpec,
  DependencyCondition,
  ExitInfo,
  LivenessSpec,
  NodeFailurePolicy,
  NodeSnapshot,
  NodeSpec,
  NodeState,
  NodeTelemetrySpec,
  OutputLine,
  OutputSpec,
  OutputFileSpec,
  WatchSpec,
  OutputStream,
  ProcessStats,
  ReadinessAttemptEvent,
  ReadinessAttemptKind,
  ReadySpec,
  ResolvedConfig,
  ResolvedNodeConfig,
  ResourceLimitName,
  ResourceLimits,
  ResourceLimitValue,
  ResourceUsage,
  RestartPolicyName,
  RestartReason,
  RestartSpec,
  StopProgressEvent,
  StopReport,
  StopCommandReport,
  StopSpec,
  StreamStats,
  SpawnEnvironmentProvider,
  Subscription,
  FaultEvent,
  FaultKind,
  FaultRecord,
  ClusterNetworkSpec,
  LinkFaultEffect,
  LinkFaultRequest,
} from './contract/types.js';

// Config: types here, the loader imported on first use.
export type { ConfigInput, ConfigInvalidError, ConfigIssue, LoadConfigOptions, LoadedConfig, NormalizeConfigOptions } from './config/index.js';

// Telemetry: types here, the OpenTelemetry SDK imported on first use.
export type { StartTelemetryOptions, TelemetryHandle, TelemetrySettings } from './telemetry/sdk.js';

/**
 * Loads drover.yaml (or a `.json` file) into a normalized {@link ClusterSpec} plus its warnings.
 * The file must be a regular file of at most 1 MiB; `${VAR}` values are interpolated from
 * `options.env` (default `process.env`), then the `.env` beside the config; every default is
 * applied (durations become ms, sizes bytes, `cwd`s absolute). Unknown keys are errors unless
 * `options.strict` is `false` (default `true`). Imports the config loader (yaml, zod) on its first
 * call. Full reference: config/loader.ts `loadConfig`.
 *
 * @example
 * const { spec, warnings } = await loadConfig('drover.yaml');
 * @throws {DroverError} ERR_CONFIG_READ when the file (or the `.env` beside it) is missing,
 *   unreadable, not a regular file or larger than 1 MiB (`path`, and `errno`/`syscall` for system
 *   errors); ERR_CONFIG_INVALID ({@link ConfigInvalidError}: `issues` lists every problem with its
 *   path, YAML errors with line:col).
 */
export async function loadConfig(path: string, options?: LoadConfigOptions): Promise<LoadedConfig> {
  const config = await import('./config/index.js');
  return config.loadConfig(path, options);
}

/**
 * Validates and normalizes a config object written in code (the shape of drover.yaml:
 * {@link ConfigInput}) into a {@link ClusterSpec} plus its warnings, with the defaults of
 * {@link loadConfig}; relative `cwd`s resolve against `options.baseDir` (default: the directory of
 * `options.configPath`, else `process.cwd()`). Asynchronous because it imports the config loader
 * (yaml, zod) on its first call; `startCluster` takes a config object directly.
 *
 * @example
 * const { spec } = await normalizeConfig({ name: 'ring', nodes: { a: { command: ['node', 'a.js'] } } }, { baseDir: here });
 * @throws {DroverError} ERR_CONFIG_INVALID ({@link ConfigInvalidError}: `issues` lists every problem with its path).
 */
export async function normalizeConfig(input: unknown, options?: NormalizeConfigOptions): Promise<LoadedConfig> {
  const config = await import('./config/index.js');
  return config.normalizeConfig(input, options);
}

/**
 * Starts OpenTelemetry for a cluster (`options.controller`): a NodeSDK configured from the
 * standard `OTEL_*` variables (nothing is exported unless they ask for it; Prometheus binds
 * 127.0.0.1 only), with drover's process metrics, lifecycle spans and, per node, output log
 * records. Resolves once a requested Prometheus endpoint listens. Imports the OpenTelemetry SDK on
 * its first call. Names and units: telemetry/README.md.
 *
 * @example
 * await using telemetry = await startTelemetry({ controller: cluster, spec: cluster.spec });
 * @throws {DroverError} ERR_TELEMETRY_ENDPOINT when the Prometheus endpoint cannot listen
 *   (`port`, `errno`, `syscall: 'listen'`, the holder's `pid` when known); everything started is
 *   shut down first.
 */
export async function startTelemetry(options: StartTelemetryOptions): Promise<TelemetryHandle> {
  const telemetry = await import('./telemetry/index.js');
  return telemetry.startTelemetry(options);
}
