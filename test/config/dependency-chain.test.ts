/**
 * Graph walks over `dependsOn` are iterative: a chain of 10,000 nodes validates, orders and
 * reports its cycle without exhausting the stack (a recursive walk overflowed near 5,000).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { normalizeConfig, type ConfigInvalidError } from '../../config/index.js';
import { Cluster } from '../../cluster/cluster.js';
import { getDependents, getStartOrder } from '../../contract/dependency-graph.js';
import { isDroverError } from '../../contract/errors.js';
import { expectAllGone } from '../helpers/processes.js';
import { makeCluster, makeNode } from '../helpers/specs.js';
import { runCliBounded } from './run-bounded.js';

const CHAIN = 10_000;

/** n0 ← n1 ← … ← n9999: every node depends on the one before it (declared last first). */
function chainNodes(closeCycle = false): Record<string, unknown> {
  const nodes: Record<string, unknown> = {};
  for (let i = CHAIN - 1; i >= 0; i -= 1) {
    const deps = i > 0 ? [`n${i - 1}`] : closeCycle ? [`n${CHAIN - 1}`] : [];
    nodes[`n${i}`] = { command: ['sleep', '1'], dependsOn: deps };
  }
  return nodes;
}

describe(`a dependsOn chain of ${CHAIN} nodes`, () => {
  const pids = new Set<number>();
  afterEach(async () => {
    if (pids.size > 0) await expectAllGone(pids);
    pids.clear();
  });

  test('validates and normalizes', () => {
    const { spec } = normalizeConfig({ name: 'chain', nodes: chainNodes() }, { baseDir: '/srv' });
    expect(spec.nodes).toHaveLength(CHAIN);
  });

  test('getStartOrder puts every node after its dependency', () => {
    const nodes = Array.from({ length: CHAIN }, (_, k) => {
      const i = CHAIN - 1 - k;
      return { name: `n${i}`, dependsOn: i > 0 ? { [`n${i - 1}`]: 'ready' as const } : {} };
    });
    const started = performance.now();
    const order = getStartOrder(nodes);
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(order).toEqual(Array.from({ length: CHAIN }, (_, i) => `n${i}`));
    expect(getDependents(nodes).get('n0')).toEqual(['n1']);
  });

  test('getStartOrder reports a cycle through the whole chain, shortened', () => {
    const nodes = Array.from({ length: CHAIN }, (_, i) => ({ name: `n${i}`, dependsOn: { [`n${(i + CHAIN - 1) % CHAIN}`]: 'ready' as const } }));
    let caught: unknown;
    try {
      getStartOrder(nodes);
    } catch (error) {
      caught = error;
    }
    expect(isDroverError(caught, 'ERR_CONFIG_INVALID')).toBe(true);
    expect((caught as Error).message).toBe(`dependency cycle: n0 → n${CHAIN - 1} → n${CHAIN - 2} → … (${CHAIN - 5} more) → n2 → n1 → n0`);
  });

  test('a cycle through the whole chain is reported once, at the edge that closes it, shortened', () => {
    let issues: ConfigInvalidError['issues'] = [];
    try {
      normalizeConfig({ name: 'chain', nodes: chainNodes(true) }, { baseDir: '/srv' });
    } catch (error) {
      if (!isDroverError(error, 'ERR_CONFIG_INVALID')) throw error;
      issues = (error as ConfigInvalidError).issues;
    }
    expect(issues).toEqual([
      {
        path: 'nodes.n0.dependsOn.0',
        message: `expected no dependency cycle, got n${CHAIN - 1} → n${CHAIN - 2} → n${CHAIN - 3} → … (${CHAIN - 5} more) → n1 → n0 → n${CHAIN - 1}`,
      },
    ]);
  });

  test('drover validate accepts it (exit 0, not an internal error)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'drover-chain-'));
    const file = path.join(dir, 'drover.yaml');
    const lines = ['name: chain', 'nodes:'];
    // Declared last first, so a depth-first walk from the first node goes down the whole chain.
    for (let i = CHAIN - 1; i >= 0; i -= 1) lines.push(`  n${i}: { command: [sleep, "1"]${i > 0 ? `, dependsOn: [n${i - 1}]` : ''} }`);
    writeFileSync(file, `${lines.join('\n')}\n`);
    const result = await runCliBounded(['validate', '-f', file]);
    pids.add(result.pid);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain(`valid (cluster chain, ${CHAIN} nodes: n${CHAIN - 1}, n${CHAIN - 2},`);
    expect(result.code).toBe(0);
  });
});

describe(`a Cluster of a ${CHAIN}-node chain`, () => {
  test('is built (start order checked) and stopped (stop order over the dependents)', async () => {
    // Never started: stop() still walks the dependents to order the stops, and spawns nothing.
    const nodes = Array.from({ length: CHAIN }, (_, k) => {
      const i = CHAIN - 1 - k;
      return makeNode(`n${i}`, ['sleep', '1'], { dependsOn: i > 0 ? { [`n${i - 1}`]: 'ready' } : {} });
    });
    const cluster = new Cluster(makeCluster(nodes));
    await cluster.stop();
    expect(cluster.nodes('n0').every((node) => node.state === 'pending' || node.state === 'stopped')).toBe(true);
  });
});
