import { Cluster, createAbortError, type ClusterOptions } from './cluster/cluster.js';
import type { ConfigIssue } from './config/index.js';
import { DroverError } from './contract/errors.js';
import type { ClusterSpec } from './contract/types.js';
import type { TelemetryHandle, TelemetrySettings } from './telemetry/sdk.js';

/** Options of {@link startCluster}. */
export interface StartClusterOptions extends ClusterOptions {
  /** Cancels the start: nodes already started are stopped and the promise rejects with ERR_ABORTED. */
  readonly signal?: AbortSignal;
  /**
   * Unknown config keys are errors (ERR_CONFIG_INVALID, nothing starts); `false` makes them
   * warnings, passed to `onWarning`. @default true
   */
  readonly strict?: boolean;
  /**
   * Receives each config warning (an unknown key with `strict: false`, a `${VAR}` whose variable
   * is not set), once, before any node starts. Without it each warning becomes a process warning
   * (`process.emitWarning`, name `DroverConfigWarning`, code `DROVER_CONFIG`, printed on stderr by
   * Node): never silence.
   * Not called for a {@link ClusterSpec}, which is already normalized.
   */
  readonly onWarning?: (warning: ConfigIssue) => void;
  /** Directory relative `cwd`s of a config object resolve against. @default process.cwd() */
  readonly baseDir?: string;
  /**
   * Start only these nodes and, unless `noDeps`, their dependencies (transitively); the others
   * stay `pending` until `cluster.startNode(name)`. Unknown names: ERR_UNKNOWN_NODE. @default every node
   */
  readonly only?: readonly string[];
  /** With `only`: start exactly those nodes, without their dependencies (`docker compose up --no-deps`). @default false */
  readonly noDeps?: boolean;
  /** Called with the cluster before it starts, e.g. to subscribe to its events from the first one. */
  readonly onCreate?: (cluster: Cluster) => void;
  /**
   * OpenTelemetry for the cluster, as `drover up` has it: `true` (the `OTEL_*` variables and
   * drover.yaml's `telemetry:` section decide), or {@link TelemetrySettings}: an OTLP endpoint
   * (`otlpEndpoint`), a Prometheus port (`prometheusPort`), or `{ exporter: 'memory' }` for spans,
   * metrics and log records a test reads (`cluster.telemetry.spans()`). Started before the first
   * node (which gets its `start` span's `TRACEPARENT`), shut down (flushed) by `cluster.stop()`,
   * after the nodes. The OpenTelemetry SDK is imported only when this is set (`false` is the same
   * as leaving it out).
   * @default none: no telemetry
   */
  readonly telemetry?: true | TelemetrySettings;
}

/**
 * A cluster started with the `telemetry` option: `telemetry` is its pipeline (`spans()`,
 * `collectMetrics()`, `logs()` with `exporter: 'memory'`; `setParentContext()`), shut down by
 * `stop()`.
 */
export type TelemetryCluster = Cluster & {
  /** The cluster's telemetry, started by `startCluster` and shut down (flushed) by `stop()`. */
  readonly telemetry: TelemetryHandle;
};

/**
 * Starts a cluster from a path to drover.yaml (or .json), a config object, or a normalized
 * {@link ClusterSpec}, and resolves when every node is ready (jobs: completed), in `dependsOn`
 * order. On failure it stops what it started and rejects with the node, the reason and its output
 * tail. An aborted `signal` (even one aborted before the call) stops what was started and rejects
 * with ERR_ABORTED, whose `cause` is the signal's reason.
 *
 * @example
 * await using cluster = await startCluster('examples/ring/drover.yaml');
 * await cluster.node('a').waitFor('ready');
 *
 * @throws {DroverError} ERR_CONFIG_READ, ERR_CONFIG_INVALID (every problem of the config, unknown
 *   keys included unless `strict: false`), ERR_ABORTED, ERR_INVALID_OPTION for a `telemetry`
 *   setting that cannot be used (naming it), ERR_TELEMETRY_ENDPOINT for a Prometheus port that
 *   cannot listen (before any node starts), and every start error of {@link Cluster.start}.
 */
export async function startCluster(
  configOrPath: string | ClusterSpec | Record<string, unknown>,
  options: StartClusterOptions & { readonly telemetry: true | TelemetrySettings },
): Promise<TelemetryCluster>;
/**
 * Starts a cluster (see the overload above for the whole contract); without the `telemetry`
 * option it resolves to a plain {@link Cluster}, with no OpenTelemetry loaded.
 * @throws {DroverError} as the overload above.
 */
export async function startCluster(configOrPath: string | ClusterSpec | Record<string, unknown>, options?: StartClusterOptions): Promise<Cluster>;
export async function startCluster(configOrPath: string | ClusterSpec | Record<string, unknown>, options: StartClusterOptions = {}): Promise<Cluster> {
  const { signal, strict = true, baseDir = process.cwd(), onCreate, onWarning, telemetry, only, noDeps, ...clusterOptions } = options;
  const startOptions = { ...(signal ? { signal } : {}), ...(only === undefined ? {} : { only }), ...(noDeps === undefined ? {} : { noDeps }) };
  let spec: ClusterSpec;
  if (isClusterSpec(configOrPath)) {
    spec = configOrPath;
  } else {
    // Imported here, not at the top: a ClusterSpec (and `import { spawn } from 'drover'`) needs no
    // config code, and the loader brings zod and yaml with it.
    const { loadConfig, normalizeConfig } = await import('./config/index.js');
    const loaded =
      typeof configOrPath === 'string'
        ? await loadConfig(configOrPath, { strict })
        : normalizeConfig(configOrPath, { baseDir, configPath: null, strict });
    spec = loaded.spec;
    for (const warning of loaded.warnings) {
      if (onWarning === undefined) emitConfigWarning(spec.configPath, warning);
      else onWarning(warning);
    }
  }
  if (signal?.aborted) throw createAbortError('startCluster was aborted before any node started', signal);
  const isTelemetryOff = telemetry == null || (telemetry as unknown) === false;
  if (!isTelemetryOff && telemetry !== true && (typeof telemetry !== 'object' || Array.isArray(telemetry))) {
    throw new DroverError('ERR_INVALID_OPTION', `startCluster option \`telemetry\` must be true, false or an object of settings ({ exporter, otlpEndpoint, prometheusPort, … }), got ${JSON.stringify(telemetry)}`, {});
  }
  const cluster = new Cluster(spec, clusterOptions);
  if (isTelemetryOff) {
    onCreate?.(cluster);
    return cluster.start(startOptions);
  }
  // Imported here, not at the top: the OpenTelemetry SDK loads only for a cluster that asks.
  const { startTelemetry } = await import('./telemetry/index.js');
  const handle = await startTelemetry({ ...(telemetry === true ? {} : telemetry), controller: cluster, spec });
  Object.defineProperty(cluster, 'telemetry', { value: handle, enumerable: true });
  cluster.addStopHook(() => handle.shutdown());
  try {
    onCreate?.(cluster);
    return await cluster.start(startOptions);
  } catch (error) {
    // A failed start stopped its nodes (and so the telemetry) already, unless it failed before
    // any started; shutdown() is idempotent.
    await handle.shutdown();
    throw error;
  }
}

/** A config warning as a process warning: `<config path | config object>: <path>: <message>`. */
function emitConfigWarning(configPath: string | null, warning: ConfigIssue): void {
  const where = warning.path === '' ? '' : `${warning.path}: `;
  process.emitWarning(`${configPath ?? 'config object'}: ${where}${warning.message}`, { type: 'DroverConfigWarning', code: 'DROVER_CONFIG' });
}

function isClusterSpec(value: string | object): value is ClusterSpec {
  if (typeof value === 'string') return false;
  return Array.isArray((value as { nodes?: unknown }).nodes) && 'configPath' in value;
}
