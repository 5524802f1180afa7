/**
 * `drover graph` (from the config, no cluster) and `drover analyze` (the startup critical chain of
 * a running cluster) through the CLI, with real processes for analyze: a chain a → b → c whose
 * nodes become ready after known delays, beside an independent node d.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StartupAnalysis } from '../../cli/analyze.js';
import { cleanupDetachedRun, readPsRows, runCli } from '../helpers/cli.js';
import { findShepherds } from '../helpers/processes.js';

let dir: string;
let env: NodeJS.ProcessEnv;
const pids = new Set<number>();

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'drover-graph-'));
  env = { DROVER_STATE_DIR: path.join(dir, 'state') };
});

afterEach(async () => {
  await cleanupDetachedRun(pids);
});

/** A node printing "ready" after `delayMs`, then idling. */
const delayed = (delayMs: number) =>
  `[${JSON.stringify(process.execPath)}, -e, "setTimeout(() => console.log('ready'), ${delayMs}); setInterval(() => {}, 1 << 30)"]`;

describe('drover graph', () => {
  const config = [
    'name: shop',
    'nodes:',
    '  db:',
    '    command: [db]',
    '  migrate:',
    '    command: [migrate]',
    '    ready: { exit: {} }',
    '    dependsOn: { db: ready }',
    '  api.v2:',
    '    command: [api]',
    '    replicas: 2',
    '    dependsOn: { migrate: completed-successfully, db: started }',
    '  web:',
    '    command: [web]',
    '    dependsOn: [api.v2]',
    '',
  ].join('\n');

  it('prints a Mermaid flowchart, JSON and DOT, edges from dependency to dependent labelled by condition', { timeout: 30_000 }, async () => {
    const file = path.join(dir, 'drover.yaml');
    writeFileSync(file, config);
    const mermaid = await runCli(['graph', '-f', file], env);
    expect([mermaid.code, mermaid.stderr]).toEqual([0, '']);
    expect(mermaid.stdout).toBe(
      [
        'flowchart TD',
        '  n0["db"]',
        '  n1["migrate"]',
        '  n2["api.v2 ×2"]',
        '  n3["web"]',
        '  n0 -->|ready| n1',
        '  n0 -->|started| n2',
        '  n1 -->|completed-successfully| n2',
        '  n2 -->|ready| n3',
        '',
      ].join('\n'),
    );
    const json = await runCli(['graph', '-f', file, '--format', 'json'], env);
    expect(JSON.parse(json.stdout)).toEqual({
      nodes: [
        { name: 'db', replicas: 1 },
        { name: 'migrate', replicas: 1 },
        { name: 'api.v2', replicas: 2 },
        { name: 'web', replicas: 1 },
      ],
      edges: [
        { from: 'db', to: 'migrate', condition: 'ready' },
        { from: 'db', to: 'api.v2', condition: 'started' },
        { from: 'migrate', to: 'api.v2', condition: 'completed-successfully' },
        { from: 'api.v2', to: 'web', condition: 'ready' },
      ],
    });
    const dot = await runCli(['graph', '-f', file, '--format', 'dot'], env);
    expect(dot.stdout).toContain('  "db" -> "api.v2" [label="started"];\n');
    expect(dot.stdout.startsWith('digraph "shop" {\n')).toBe(true);
    // Deterministic: the same config prints the same bytes.
    expect((await runCli(['graph', '-f', file], env)).stdout).toBe(mermaid.stdout);
  });

  it('an invalid config or format is an error naming it, exit 1', { timeout: 30_000 }, async () => {
    const file = path.join(dir, 'drover.yaml');
    writeFileSync(file, 'name: x\nnodes:\n  a:\n    command: [a]\n    dependsOn: [nope]\n');
    const bad = await runCli(['graph', '-f', file], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('nodes.a.dependsOn');
    const format = await runCli(['graph', '-f', file, '--format', 'png'], env);
    expect(format.code).toBe(1);
    expect(format.stderr).toMatch(/--format|format/);
  });
});

describe('drover analyze', () => {
  it('shows the critical chain a → b → c of a running cluster with plausible durations', { timeout: 60_000 }, async () => {
    const file = path.join(dir, 'drover.yaml');
    const ready = 'ready: { log: { pattern: ready } }';
    writeFileSync(
      file,
      [
        'name: chain',
        'nodes:',
        `  a:\n    command: ${delayed(300)}\n    ${ready}`,
        `  b:\n    command: ${delayed(400)}\n    ${ready}\n    dependsOn: [a]`,
        `  c:\n    command: ${delayed(500)}\n    ${ready}\n    dependsOn: { b: ready }`,
        `  d:\n    command: ${delayed(50)}\n    ${ready}`,
        '',
      ].join('\n'),
    );
    const up = await runCli(['up', '--wait', '-f', file], env);
    expect([up.code, up.stderr]).toEqual([0, '']);
    pids.add(Number(/drover up pid (\d+)/.exec(up.stdout)![1]));
    findShepherds().forEach((p) => pids.add(p));
    await readPsRows(file, env, pids);

    const json = await runCli(['analyze', '-f', file, '--json'], env);
    expect([json.code, json.stderr]).toEqual([0, '']);
    const analysis = JSON.parse(json.stdout) as StartupAnalysis;
    expect(analysis.chain).toEqual(['c', 'b', 'a']);
    const node = (name: string) => analysis.nodes.find((n) => n.name === name)!;
    expect([node('a').waitedOn, node('b').waitedOn, node('c').waitedOn, node('d').waitedOn]).toEqual([null, 'a', 'b', null]);
    expect(node('c').condition).toBe('ready');
    // Each took at least its own delay to be ready; each dependent was spawned after its dependency was ready.
    expect(node('a').startupMs).toBeGreaterThanOrEqual(300);
    expect(node('b').startupMs).toBeGreaterThanOrEqual(400);
    expect(node('c').startupMs).toBeGreaterThanOrEqual(500);
    expect(node('b').startedMs).toBeGreaterThanOrEqual(node('a').readyMs!);
    expect(node('c').startedMs).toBeGreaterThanOrEqual(node('b').readyMs!);
    expect(node('c').waitedMs).toBe(node('c').startedMs);
    expect(node('c').waitedMs).toBeGreaterThanOrEqual(700);
    expect(analysis.totalMs).toBe(node('c').readyMs);
    expect(analysis.totalMs).toBeGreaterThanOrEqual(1200);
    expect(node('a').startedMs).toBeLessThan(node('b').startedMs!); // a starts with d, without waiting

    const text = await runCli(['analyze', '-f', file], env);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^cluster chain: ready in \S+ \(first spawn → last node ready\)$/m);
    expect(text.stdout).toMatch(/^NODE +SPAWNED +READY +STARTUP +WAITED ON +WAITED$/m);
    expect(text.stdout).toMatch(/^c +@\S+ +@\S+ +\+\S+ +b \(ready\) +\S+$/m);
    expect(text.stdout).toMatch(/^c @\S+ \+\S+\n└─b @\S+ \+\S+\n  └─a @\S+ \+\S+\n$/m);
    expect((await runCli(['down', '-f', file], env)).code).toBe(0);
  });

  it('without a running cluster: an error saying so, exit 1', { timeout: 30_000 }, async () => {
    const file = path.join(dir, 'drover.yaml');
    writeFileSync(file, 'name: x\nnodes:\n  a:\n    command: [a]\n');
    const result = await runCli(['analyze', '-f', file], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/drover: .*(no cluster|not running|drover up)/i);
  });
});
