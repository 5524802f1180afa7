// A cluster per vitest worker: the worker-scoped fixture starts it when a test of the worker
// first uses `cluster`, and stops it when the worker ends. Each cluster allocates its own ports.
import { appendFileSync } from 'node:fs';
import type { Cluster } from 'drover';
import { clusterFixture } from 'drover/vitest';
import { test as base } from 'vitest';

export const test = base.extend<{ cluster: Cluster }>({
  cluster: clusterFixture(new URL('../drover.yaml', import.meta.url), { scope: 'worker' }),
});

/** For the repository's own check of this example (test/vitest/example.test.ts): which worker used which cluster. */
export function report(file: string, cluster: Cluster): void {
  const to = process.env.DROVER_EXAMPLE_REPORT;
  if (to === undefined) return;
  const nodes = cluster.nodes().map((n) => ({ name: n.name, pid: n.pid, ports: n.ports }));
  appendFileSync(to, `${JSON.stringify({ file, worker: process.env.VITEST_POOL_ID, pid: process.pid, nodes })}\n`);
}
