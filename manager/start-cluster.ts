import { loadConfig, normalizeConfig } from '../config/index.js';
import { Cluster, createAbortError, type ClusterOptions } from './cluster.js';
import type { ClusterSpec } from './types.js';

/** Options of {@link startCluster}. */
export interface StartClusterOptions extends ClusterOptions {
  /** Cancels the start: nodes already started are stopped and the promise rejects with ERR_ABORTED. */
  readonly signal?: AbortSignal;
  /** Unknown config keys are errors instead of warnings. @default false */
  readonly strict?: boolean;
  /** Directory relative `cwd`s of a config object resolve against. @default process.cwd() */
  readonly baseDir?: string;
  /** Called with the cluster before it starts, e.g. to subscribe to its events from the first one. */
  readonly onCreate?: (cluster: Cluster) => void;
}

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
 * @throws {DroverError} ERR_CONFIG_READ, ERR_CONFIG_INVALID, ERR_ABORTED, and every start error of {@link Cluster.start}.
 */
export async function startCluster(configOrPath: string | ClusterSpec | Record<string, unknown>, options: StartClusterOptions = {}): Promise<Cluster> {
  const { signal, strict = false, baseDir = process.cwd(), onCreate, ...clusterOptions } = options;
  let spec: ClusterSpec;
  if (typeof configOrPath === 'string') {
    spec = (await loadConfig(configOrPath, { strict })).spec;
  } else if (isClusterSpec(configOrPath)) {
    spec = configOrPath;
  } else {
    spec = normalizeConfig(configOrPath, { baseDir, configPath: null, strict }).spec;
  }
  if (signal?.aborted) throw createAbortError('startCluster was aborted before any node started', signal);
  const cluster = new Cluster(spec, clusterOptions);
  onCreate?.(cluster);
  return cluster.start(signal ? { signal } : {});
}

function isClusterSpec(value: object): value is ClusterSpec {
  return Array.isArray((value as { nodes?: unknown }).nodes) && 'configPath' in value;
}
