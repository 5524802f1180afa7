/**
 * `drover/vitest`: start a cluster in vitest's `globalSetup`, hand its ports and URLs to the tests
 * through `provide`/`inject`, and stop it in teardown.
 *
 * @example
 * // vitest.config.ts
 * export default defineConfig({ test: { globalSetup: ['./global-setup.ts'] } });
 * // global-setup.ts
 * import { setupCluster } from 'drover/vitest';
 * export default setupCluster('./drover.yaml');
 * // api.test.ts
 * import { inject } from 'vitest';
 * const { nodes } = inject('drover');
 * await fetch(`${nodes.api[0].urls.http}/health`);
 */
import { startCluster, type StartClusterOptions } from '../manager/start-cluster.js';
import type { Cluster } from '../manager/cluster.js';
// Types only: the augmentation below adds `drover` to vitest's ProvidedContext; nothing of vitest loads at run time.
import type {} from 'vitest';
import type { ClusterSpec } from '../manager/types.js';

/** One replica as the tests see it (plain data: it crosses from globalSetup to the test workers). */
export interface ProvidedNode {
  readonly name: string;
  readonly replica: number;
  readonly pid: number | null;
  /** Allocated ports by name. */
  readonly ports: Readonly<Record<string, number>>;
  /** `http://127.0.0.1:<port>` for each port, by port name. */
  readonly urls: Readonly<Record<string, string>>;
}

/** What `inject('drover')` returns (or `inject(key)` with a custom key). */
export interface ProvidedCluster {
  readonly name: string;
  /** Replicas by node name, in replica order. */
  readonly nodes: Readonly<Record<string, readonly ProvidedNode[]>>;
}

declare module 'vitest' {
  export interface ProvidedContext {
    drover: ProvidedCluster;
  }
}

/** The part of vitest's `TestProject` globalSetup uses (kept structural so drover needs no vitest at run time). */
export interface GlobalSetupProject {
  provide(key: string, value: unknown): void;
}

/** Options of {@link setupCluster}: those of `startCluster` plus the provide key. */
export interface SetupClusterOptions extends StartClusterOptions {
  /** Key under which the cluster is provided. @default 'drover' */
  readonly key?: string;
  /** Called once the cluster is ready, before the tests run (e.g. to seed data). */
  readonly onReady?: (cluster: Cluster) => void | Promise<void>;
}

/** Plain data for the tests: names, pids, ports and loopback URLs of every replica. */
export function getProvidedCluster(cluster: Cluster): ProvidedCluster {
  const nodes: Record<string, ProvidedNode[]> = {};
  for (const node of cluster.nodes()) {
    const ports = { ...node.ports };
    const urls = Object.fromEntries(Object.entries(ports).map(([name, port]) => [name, `http://127.0.0.1:${port}`]));
    (nodes[node.name] ??= []).push({ name: node.name, replica: node.replica, pid: node.pid, ports, urls });
  }
  return { name: cluster.name, nodes };
}

/**
 * A vitest `globalSetup` function: starts the cluster (resolving when every node is ready),
 * provides {@link ProvidedCluster} under `key`, and returns the teardown that stops it. A start
 * failure fails the run with drover's message (node, reason, output tail) and leaves nothing running.
 * @throws {DroverError} every error of `startCluster`.
 */
export function setupCluster(
  configOrPath: string | ClusterSpec | Record<string, unknown>,
  options: SetupClusterOptions = {},
): (project: GlobalSetupProject) => Promise<() => Promise<void>> {
  const { key = 'drover', onReady, ...startOptions } = options;
  return async (project) => {
    const cluster = await startCluster(configOrPath, startOptions);
    try {
      await onReady?.(cluster);
      project.provide(key, getProvidedCluster(cluster));
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return () => cluster.stop();
  };
}
