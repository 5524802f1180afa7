/**
 * `drover/vitest`: start a cluster in vitest's `globalSetup`, hand its ports and URLs to the tests
 * through `provide`/`inject`, and stop it in teardown.
 *
 * @example
 * // vitest.config.ts
 * export default defineConfig({ test: { globalSetup: ['./global-setup.ts'] } });
 * // global-setup.ts — './drover.yaml' is relative to the vitest project's root
 * import { setupCluster } from 'drover/vitest';
 * export default setupCluster('./drover.yaml');
 * // api.test.ts
 * import { inject } from 'vitest';
 * const { nodes } = inject('drover');
 * await fetch(`${nodes.api[0].urls.http}/health`);       // an HTTP port
 * createClient({ url: `redis://${nodes.cache[0].addresses.redis}` }); // any port: host:port
 *
 * @packageDocumentation
 */

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster, type StartClusterOptions } from '../start-cluster.js';
import { serveControlApi } from './serve.js';
import type { Cluster } from '../cluster/cluster.js';
// Types only: the augmentation below adds `drover` to vitest's ProvidedContext; nothing of vitest loads at run time.
import type {} from 'vitest';
import type { ClusterSpec, ReadySpec, ResolvedNodeConfig } from '../contract/types.js';

/** The address every allocated port listens on, as the nodes are told to bind it. */
const HOST = '127.0.0.1';

/** One replica as the tests see it (plain data: it crosses from globalSetup to the test workers). */
export interface ProvidedNode {
  /** Node name. */
  readonly name: string;
  /** Replica index. */
  readonly replica: number;
  /** Pid of the replica's process when the cluster was ready, or null. */
  readonly pid: number | null;
  /** Where the ports are: `127.0.0.1`. */
  readonly host: string;
  /** Allocated ports by name. */
  readonly ports: Readonly<Record<string, number>>;
  /** `127.0.0.1:<port>` for every port, by port name (for any client: redis, postgres, gRPC …). */
  readonly addresses: Readonly<Record<string, string>>;
  /**
   * `http://127.0.0.1:<port>` (`https://` where the check's URL says so) for the ports that speak
   * HTTP only, by port name: a port whose name begins with `http` (`http`, `https`, `http-admin`),
   * or one that the node's `http` readiness or liveness check requests. Other ports (redis …) have
   * no entry: use {@link ProvidedNode.addresses}.
   */
  readonly urls: Readonly<Record<string, string>>;
}

/** What `inject('drover')` returns (or `inject(key)` with a custom key). */
export interface ProvidedCluster {
  /** Cluster name. */
  readonly name: string;
  /** Replicas by node name, in replica order. */
  readonly nodes: Readonly<Record<string, readonly ProvidedNode[]>>;
  /**
   * Path of the cluster's control socket (in a private 0700 dir), set by {@link setupCluster}:
   * {@link useCluster} drives the cluster through it. Absent from {@link getProvidedCluster}'s answer.
   */
  readonly controlSocket?: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    drover: ProvidedCluster;
  }
}

/**
 * The part of vitest's `TestProject` globalSetup uses (kept structural so drover needs no vitest
 * at run time): `provide`, and `config.root` to resolve a relative config path.
 */
export interface GlobalSetupProject {
  /** Makes `value` available to the tests as `inject(key)`. */
  provide(key: string, value: unknown): void;
  /** The project's resolved config; `root` is the directory relative paths resolve against. */
  readonly config?: { readonly root?: string };
}

/** Options of {@link setupCluster}: those of `startCluster` plus the provide key. */
export interface SetupClusterOptions extends StartClusterOptions {
  /** Key under which the cluster is provided. @default 'drover' */
  readonly key?: string;
  /** Called once the cluster is ready, before the tests run (e.g. to seed data). */
  readonly onReady?: (cluster: Cluster) => void | Promise<void>;
}

/** Every `http` check of a readiness or liveness spec, `all`/`any` included. */
function getHttpUrls(check: ReadySpec | null | undefined): string[] {
  if (check == null) return [];
  if (check.kind === 'http') return [check.url];
  if (check.kind === 'all' || check.kind === 'any') return check.checks.flatMap(getHttpUrls);
  return [];
}

/**
 * The URL scheme of each port that speaks HTTP: named `http…` (`https…` → https), or requested by
 * one of the replica's http checks (its URLs are resolved: the port is a number by now).
 */
function getHttpSchemes(resolved: ResolvedNodeConfig): Map<string, string> {
  const schemes = new Map<string, string>();
  for (const name of Object.keys(resolved.ports)) {
    if (/^https/i.test(name)) schemes.set(name, 'https');
    else if (/^http/i.test(name)) schemes.set(name, 'http');
  }
  for (const raw of [...getHttpUrls(resolved.ready), ...getHttpUrls(resolved.liveness?.check)]) {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      continue; // not a URL after all: it names no port
    }
    const scheme = url.protocol === 'https:' ? 'https' : 'http';
    const port = Number(url.port || (scheme === 'https' ? 443 : 80));
    for (const [name, allocated] of Object.entries(resolved.ports)) if (allocated === port && !schemes.has(name)) schemes.set(name, scheme);
  }
  return schemes;
}

/**
 * Plain data for the tests: names, pids, host, ports and addresses of every replica, and `urls`
 * for the ports that speak HTTP (see {@link ProvidedNode.urls}).
 */
export function getProvidedCluster(cluster: Cluster): ProvidedCluster {
  const resolved = new Map(cluster.resolvedConfig().nodes.map((n) => [`${n.name}\0${n.replica}`, n]));
  const nodes: Record<string, ProvidedNode[]> = {};
  for (const node of cluster.nodes()) {
    const ports = { ...node.ports };
    const config = resolved.get(`${node.name}\0${node.replica}`);
    const schemes = config === undefined ? new Map<string, string>() : getHttpSchemes(config);
    const addresses = Object.fromEntries(Object.entries(ports).map(([name, port]) => [name, `${HOST}:${port}`]));
    const urls = Object.fromEntries(Object.entries(ports).flatMap(([name, port]) => (schemes.has(name) ? [[name, `${schemes.get(name)}://${HOST}:${port}`]] : [])));
    (nodes[node.name] ??= []).push({ name: node.name, replica: node.replica, pid: node.pid, host: HOST, ports, addresses, urls });
  }
  return { name: cluster.name, nodes };
}

/**
 * The error as it should read once: a cause whose message its parent's message already contains
 * adds nothing but a repeat (drover's messages embed their cause's), so it is left out of the
 * chain; a cause that says something new is kept, with its own stack. The errors are not changed:
 * a link that needs a different cause is a copy.
 * @internal
 */
export function dedupeCauseChain<T>(error: T): T {
  if (!(error instanceof Error)) return error;
  const chain: Error[] = [];
  const seen = new Set<unknown>();
  for (let e: unknown = error; e instanceof Error && !seen.has(e); e = e.cause) {
    seen.add(e);
    chain.push(e);
  }
  const kept = chain.filter((e, i) => i === 0 || !chain[i - 1]!.message.includes(e.message));
  if (kept.length === chain.length) return error;
  // Rebuild from the deepest kept link up: each kept error points at the next kept one.
  let next: Error | undefined;
  for (let i = kept.length - 1; i >= 0; i--) {
    const original = kept[i]!;
    if (original.cause === next) {
      next = original;
      continue;
    }
    const copy = Object.create(Object.getPrototypeOf(original) as object) as Error;
    for (const key of Reflect.ownKeys(original)) if (key !== 'cause') Object.defineProperty(copy, key, Object.getOwnPropertyDescriptor(original, key)!);
    if (next !== undefined) Object.defineProperty(copy, 'cause', { value: next, writable: true, configurable: true, enumerable: false });
    next = copy;
  }
  return next as T;
}

/**
 * A vitest `globalSetup` function: starts the cluster (resolving when every node is ready), serves
 * its control API on a socket in a private 0700 dir (`DROVER_CONTROL_SOCKET` is set to it in
 * vitest's main process while the cluster runs), provides {@link ProvidedCluster} (with
 * `controlSocket`) under `key`, and returns the teardown that closes the socket and stops the
 * cluster. Test files drive the cluster with {@link useCluster}. A relative
 * config path (and `baseDir`, when not given) resolves against the vitest project's root
 * (`config.root`, the directory of vitest.config.ts unless `--root` says otherwise), not the
 * current directory. A start failure fails the run with drover's message (node, reason, output
 * tail; causes that only repeat it left out) and leaves nothing running.
 * @throws {DroverError} every error of `startCluster`.
 */
export function setupCluster(
  configOrPath: string | ClusterSpec | Record<string, unknown>,
  options: SetupClusterOptions = {},
): (project: GlobalSetupProject) => Promise<() => Promise<void>> {
  const { key = 'drover', onReady, ...startOptions } = options;
  return async (project) => {
    const root = project.config?.root;
    const config = typeof configOrPath === 'string' && root !== undefined ? path.resolve(root, configOrPath) : configOrPath;
    let cluster: Cluster;
    try {
      cluster = await startCluster(config, root === undefined || startOptions.baseDir !== undefined ? startOptions : { ...startOptions, baseDir: root });
    } catch (error) {
      throw dedupeCauseChain(error);
    }
    let served: Awaited<ReturnType<typeof serveControlApi>> | null = null;
    const previousSocket = process.env.DROVER_CONTROL_SOCKET;
    const teardown = async () => {
      if (previousSocket === undefined) delete process.env.DROVER_CONTROL_SOCKET;
      else process.env.DROVER_CONTROL_SOCKET = previousSocket;
      try {
        await served?.close();
      } finally {
        await cluster.stop();
      }
    };
    try {
      served = await serveControlApi(cluster, typeof config === 'string' ? config : `cluster ${cluster.name} of setupCluster`);
      process.env.DROVER_CONTROL_SOCKET = served.socket;
      await onReady?.(cluster);
      project.provide(key, { ...getProvidedCluster(cluster), controlSocket: served.socket } satisfies ProvidedCluster);
    } catch (error) {
      await teardown();
      throw error;
    }
    return teardown;
  };
}
export { traceTests, type TracedCluster, type TraceTestsOptions } from './test-span.js';

/** Options of {@link clusterFixture}: those of `startCluster` plus the fixture's scope. */
export interface ClusterFixtureOptions<S extends 'test' | 'file' | 'worker' = 'test' | 'file' | 'worker'> extends StartClusterOptions {
  /**
   * When vitest starts a cluster: for every `test`, once per test `file`, or once per `worker`
   * (with vitest's default isolation a worker runs one file; with `isolate: false` it runs several
   * in turn and they share the cluster). @default 'test'
   */
  readonly scope?: S;
}

/** What {@link clusterFixture} returns: a fixture function and its options, for `test.extend`. */
export type ClusterFixture<S extends 'test' | 'file' | 'worker'> = [(context: object, use: (cluster: Cluster) => Promise<void>) => Promise<void>, { readonly scope: S }];

/**
 * A vitest fixture (vitest ≥ 4.1's `test.extend`) that starts a cluster from `configOrPath` when a
 * test first uses it, and stops it (and everything it started) when its `scope` ends. A string
 * path is resolved against the current directory; a `file:` URL (`new URL('./drover.yaml',
 * import.meta.url)`) against nothing. Each cluster allocates its own ports.
 *
 * @example
 * const test = base.extend<{ cluster: Cluster }>({ cluster: clusterFixture(new URL('./drover.yaml', import.meta.url), { scope: 'worker' }) });
 * test('api answers', async ({ cluster }) => { await fetch(`http://127.0.0.1:${cluster.node('api').ports.http}/`); });
 *
 * @throws {DroverError} (when the fixture is set up) every error of `startCluster`, with causes
 *   that only repeat its message left out.
 */
export function clusterFixture<S extends 'test' | 'file' | 'worker' = 'test'>(
  configOrPath: string | URL | ClusterSpec | Record<string, unknown>,
  options: ClusterFixtureOptions<S> = {},
): ClusterFixture<S> {
  const { scope = 'test' as S, ...startOptions } = options;
  const config = configOrPath instanceof URL ? fileURLToPath(configOrPath) : configOrPath;
  // vitest reads a fixture's dependencies from its first parameter, which must be a destructuring pattern.
  const fixture = async ({}: object, use: (cluster: Cluster) => Promise<void>): Promise<void> => {
    let cluster: Cluster;
    try {
      cluster = await startCluster(config, startOptions);
    } catch (error) {
      throw dedupeCauseChain(error);
    }
    try {
      await use(cluster);
    } finally {
      await cluster.stop();
    }
  };
  return [fixture, { scope }];
}

export { useCluster, RemoteCluster, RemoteNode, type RemoteLink, type RemoteWaitOptions, type UseClusterOptions } from './use-cluster.js';
export type { EventGap, ReplicaInfo } from '../cli/control-server.js';
