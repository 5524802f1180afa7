/**
 * Bounds on numbers in a config: sizes the output buffer can really allocate, durations a timer
 * can really wait, a restart window that is a window. Each bound is a validation error naming the
 * path, never a value that validates and misbehaves later.
 */
import { constants as bufferConstants } from 'node:buffer';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { MAX_OUTPUT_BYTES, MAX_OUTPUT_LINES, MAX_TIMER_MS, normalizeConfig, parseDurationMs } from '../../config/index.js';
import { runCli } from '../helpers/cli.js';
import { getIssues, withNode } from '../helpers/config-issues.js';


describe('output bounds', () => {
  test('the byte bound is the largest Buffer Node.js can allocate', () => {
    expect(MAX_OUTPUT_BYTES).toBe(bufferConstants.MAX_LENGTH);
    // Throws before allocating anything: proves a larger ring could never be built.
    expect(() => Buffer.allocUnsafe(MAX_OUTPUT_BYTES + 1)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  });

  test.each([['5GiB'], [bufferConstants.MAX_LENGTH + 1], [Number.MAX_SAFE_INTEGER]])('output.maxBytes %j is an error naming the path and the bound', (maxBytes) => {
    const issues = getIssues(withNode({ output: { maxBytes } }));
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toBe('nodes.a.output.maxBytes');
    expect(issues[0]!.message).toMatch(/^expected a size of at most 4 GiB \(4294967296 bytes, the largest Buffer\), got /);
  });

  test('output.maxBytes at the bound is valid', () => {
    const { spec } = normalizeConfig(withNode({ output: { maxBytes: '4GiB' } }), { baseDir: '/srv' });
    expect(spec.nodes[0]!.output.maxBytes).toBe(bufferConstants.MAX_LENGTH);
  });

  test('output.maxLines above the bound is an error naming the path', () => {
    const issues = getIssues(withNode({ output: { maxLines: 2 ** 32 } }));
    expect(issues).toEqual([{ path: 'nodes.a.output.maxLines', message: `expected an integer from 1 to ${MAX_OUTPUT_LINES}, got 4294967296 (number)` }]);
  });
});

describe('duration bound (setTimeout fires at once beyond 2^31 - 1 ms)', () => {
  test('MAX_TIMER_MS is the largest delay setTimeout honours', () => {
    expect(MAX_TIMER_MS).toBe(2 ** 31 - 1);
  });

  test('parseDurationMs accepts the bound and refuses anything above it, saying why', () => {
    expect(parseDurationMs(MAX_TIMER_MS)).toBe(MAX_TIMER_MS);
    expect(parseDurationMs('596h')).toBe(596 * 3_600_000);
    for (const value of [MAX_TIMER_MS + 1, '597h', '1000h', '99999999m', 1e300]) {
      expect(() => parseDurationMs(value)).toThrow(/; at most 2147483647 ms \(24d 20h 31m 23\.647s, the longest a timer can wait\)$/);
    }
  });

  const DURATION_PATHS: [string, Record<string, unknown>][] = [
    ['ready.timeout', { ready: { log: { pattern: 'x' }, timeout: '1000h' } }],
    ['ready.interval', { ready: { tcp: { port: 1 }, interval: '1000h' } }],
    ['ready.initialDelay', { ready: { tcp: { port: 1 }, initialDelay: '1000h' } }],
    ['ready.all.0.timeout', { ready: { all: [{ tcp: { port: 1 }, timeout: '1000h' }] } }],
    ['liveness.interval', { liveness: { tcp: { port: 1 }, interval: '1000h' } }],
    ['liveness.timeout', { liveness: { tcp: { port: 1 }, timeout: '1000h' } }],
    ['restart.backoff.initial', { restart: { backoff: { initial: '1000h' } } }],
    ['restart.backoff.max', { restart: { backoff: { max: '1000h' } } }],
    ['restart.window', { restart: { window: '1000h' } }],
    ['restart.stableAfter', { restart: { stableAfter: '1000h' } }],
    ['stop.timeout', { stop: { timeout: 3_600_000_000 } }],
  ];

  test.each(DURATION_PATHS)('%s: 1000h is an error naming the path and the bound', (where, fields) => {
    const issues = getIssues(withNode(fields));
    expect(issues.map((issue) => issue.path)).toEqual([`nodes.a.${where}`]);
    expect(issues[0]!.message).toMatch(/^expected a duration: .*; at most 2147483647 ms \(24d 20h 31m 23\.647s, the longest a timer can wait\)$/);
  });
});

describe('restart.window', () => {
  test.each([[0], ['0s'], ['0ms']])('window %j is an error: a zero window would turn the restart limit off', (window) => {
    const issues = getIssues(withNode({ restart: { window } }));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ path: 'nodes.a.restart.window' });
    expect(issues[0]!.message).toMatch(/^expected a duration greater than 0 \(the window in which maxRestarts is counted\), got /);
  });

  test('a 1 ms window is valid', () => {
    const { spec } = normalizeConfig(withNode({ restart: { window: 1 } }), { baseDir: '/srv' });
    expect(spec.nodes[0]!.restart.windowMs).toBe(1);
  });
});

describe('CLI duration flags share the bound', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'drover-limits-'));
  const file = path.join(dir, 'drover.yaml');
  writeFileSync(file, 'name: limits\nnodes: { a: { command: [sleep, "1"] } }\n');
  const env = { DROVER_STATE_DIR: path.join(dir, 'state') };

  test.each([
    [['down', '--timeout', '1000h'], '--timeout'],
    [['logs', '--since', '1000h'], '--since'],
  ])('%j exits 1 naming the flag and the bound', async (args, flag) => {
    const result = await runCli([...args, '-f', file], env);
    expect(result.stderr).toContain(`\`${flag}\``);
    expect(result.stderr).toContain('at most 2147483647 ms');
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.code).toBe(1);
  });
});
