import type { ClusterSpec, NodeSpec, ReadySpec } from '../../contract/types.js';

/** A ready spec where the timing fields (and http's method/headers) may be left out. */
export type LooseReadySpec = { kind: ReadySpec['kind']; timeoutMs: number; intervalMs?: number; initialDelayMs?: number } & Record<string, unknown>;

type NodeOverrides = Partial<Omit<NodeSpec, 'restart' | 'ready'>> & { restart?: Partial<NodeSpec['restart']>; ready?: LooseReadySpec | null };

/** Fills a ready spec's optional-in-tests fields with the config defaults. */
export function makeReady(ready: LooseReadySpec): ReadySpec {
  const filled: Record<string, unknown> = { intervalMs: 250, initialDelayMs: 0, ...ready };
  if (ready.kind === 'http') Object.assign(filled, { method: 'GET', headers: {} }, ready);
  if (ready.kind === 'all' || ready.kind === 'any') filled['checks'] = (ready['checks'] as LooseReadySpec[]).map(makeReady);
  return filled as unknown as ReadySpec;
}

/** A normalized node spec with test-friendly defaults (fast backoff, short stop timeout). */
export function makeNode(name: string, command: readonly string[], overrides: NodeOverrides = {}): NodeSpec {
  const { restart, ready, ...rest } = overrides;
  return {
    name,
    command,
    cwd: process.cwd(),
    env: {},
    ready: ready == null ? null : makeReady(ready),
    stop: { signal: 'SIGTERM', timeoutMs: 2000 },
    output: { maxLines: 1000, maxBytes: 1024 * 1024 },
    ports: [],
    replicas: 1,
    dependsOn: {},
    liveness: null,
    // Checkless test nodes count as ready at once; tests about minUptime set it.
    minUptimeMs: 0,
    ...rest,
    restart: {
      policy: 'on-failure',
      backoff: { initialMs: 10, maxMs: 50, multiplier: 2, jitter: 0 },
      maxRestarts: 5,
      windowMs: 60_000,
      successExitCodes: [0],
      stableAfterMs: 50,
      ...restart,
    },
  };
}

export function makeCluster(nodes: NodeSpec[], name = 'test'): ClusterSpec {
  return { name, configPath: null, nodes };
}
