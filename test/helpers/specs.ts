import type { ClusterSpec, NodeSpec } from '../../manager/types.js';

type NodeOverrides = Partial<Omit<NodeSpec, 'restart'>> & { restart?: Partial<NodeSpec['restart']> };

/** A normalized node spec with test-friendly defaults (fast backoff, short stop timeout). */
export function makeNode(name: string, command: readonly string[], overrides: NodeOverrides = {}): NodeSpec {
  const { restart, ...rest } = overrides;
  return {
    name,
    command,
    cwd: process.cwd(),
    env: {},
    ready: null,
    stop: { signal: 'SIGTERM', timeoutMs: 2000 },
    output: { maxLines: 1000, maxBytes: 1024 * 1024 },
    ...rest,
    restart: {
      policy: 'on-failure',
      backoff: { initialMs: 10, maxMs: 50, multiplier: 2, jitter: 0 },
      maxRestarts: 5,
      windowMs: 60_000,
      ...restart,
    },
  };
}

export function makeCluster(nodes: NodeSpec[], name = 'test'): ClusterSpec {
  return { name, configPath: null, nodes };
}
