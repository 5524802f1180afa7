/**
 * Config warnings as a library user meets them through `startCluster`: unknown keys are errors by
 * default (nothing starts), and with `strict: false` every warning reaches the caller (`onWarning`,
 * or a process warning when there is none). Never silence.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Cluster } from '../../cluster/cluster.js';
import { startCluster } from '../../start-cluster.js';
import type { ConfigIssue } from '../../config/index.js';
import { fixture, FIXTURES_DIR } from '../helpers/fixtures.js';
import { expectAllGone, expectNoShepherds } from '../helpers/processes.js';

const started: Cluster[] = [];
const dirs: string[] = [];

afterEach(async () => {
  const clusters = started.splice(0);
  const pids = clusters.flatMap((cluster) => cluster.nodes().map((node) => node.pid)).filter((pid): pid is number => pid !== null);
  await Promise.all(clusters.map((cluster) => cluster.stop()));
  if (pids.length > 0) await expectAllGone(pids);
  await expectNoShepherds();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** `redy:` instead of `ready:`: a node that would start without its readiness check. */
const typoConfig = () => ({
  name: 'typo',
  nodes: { a: { command: fixture('forever'), redy: { log: { pattern: '^ready$' } } } },
});

/** startCluster, remembering any cluster it creates so afterEach stops it. */
function start(...args: Parameters<typeof startCluster>): Promise<Cluster> {
  const [config, options = {}] = args;
  return startCluster(config, { baseDir: FIXTURES_DIR, ...options, onCreate: (cluster) => started.push(cluster) });
}

describe('startCluster: config warnings', () => {
  it('an unknown key is an error by default: nothing starts, the error names the key and the hint', async () => {
    await expect(start(typoConfig())).rejects.toMatchObject({
      code: 'ERR_CONFIG_INVALID',
      issues: [{ path: 'nodes.a.redy', message: expect.stringContaining('did you mean "ready"?') }],
    });
    expect(started).toEqual([]);
  });

  it('an unknown key in a file is an error by default too', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'drover-warn-'));
    dirs.push(dir);
    const file = path.join(dir, 'drover.yaml');
    writeFileSync(file, `name: typo\nnodes:\n  a:\n    command: ${JSON.stringify(fixture('forever'))}\n    redy: { log: { pattern: "^ready$" } }\n`);
    await expect(start(file)).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID', path: file, issues: [{ path: 'nodes.a.redy' }] });
    expect(started).toEqual([]);
  });

  it('with strict: false the warning reaches onWarning before the cluster starts', async () => {
    const warnings: ConfigIssue[] = [];
    const cluster = await start(typoConfig(), { strict: false, onWarning: (warning) => warnings.push(warning) });
    expect(warnings).toEqual([{ path: 'nodes.a.redy', message: 'unknown key; did you mean "ready"?' }]);
    expect(cluster.node('a').state).toBe('ready');
  });

  it('warnings other than unknown keys (an unset ${VAR}) reach onWarning in the default strict mode too', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'drover-warn-'));
    dirs.push(dir);
    const file = path.join(dir, 'drover.yaml');
    writeFileSync(file, `name: vars\nnodes:\n  a:\n    command: ${JSON.stringify(fixture('forever'))}\n    env:\n      LEVEL: \${DROVER_TEST_SURELY_UNSET}\n`);
    const warnings: ConfigIssue[] = [];
    const cluster = await start(file, { onWarning: (warning) => warnings.push(warning) });
    expect(warnings).toEqual([{ path: 'nodes.a.env.LEVEL', message: expect.stringMatching(/^the variable DROVER_TEST_SURELY_UNSET is not set /) }]);
    expect(cluster.node('a').state).toBe('ready');
  });

  it('with strict: false and no onWarning, the warning is a process warning (never silence)', async () => {
    const seen: NodeJS.ErrnoException[] = [];
    // test/setup.ts fails the run on any process warning; this test wants one, so it listens alone.
    const others = process.listeners('warning');
    process.removeAllListeners('warning');
    process.on('warning', (warning) => void seen.push(warning));
    try {
      // Emitted (on a next tick) while the config loads, long before the nodes are ready.
      await start(typoConfig(), { strict: false });
    } finally {
      process.removeAllListeners('warning');
      for (const listener of others) process.on('warning', listener);
    }
    expect(seen.map((warning) => [warning.name, warning.code, warning.message])).toEqual([
      ['DroverConfigWarning', 'DROVER_CONFIG', 'config object: nodes.a.redy: unknown key; did you mean "ready"?'],
    ]);
  });
});
