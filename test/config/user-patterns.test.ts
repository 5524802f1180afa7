/**
 * Regular expressions written by users (readiness/liveness log patterns, http body patterns,
 * telemetry redact patterns) run on RE2 (re2js): time linear in the text, so no pattern can stall
 * the manager. Patterns are checked at config time in RE2 syntax, with a clear word when they use
 * what RE2 lacks (backreferences, lookaround).
 */
import { afterEach, describe, expect, test } from 'vitest';
import { compileUserPattern, normalizeConfig } from '../../config/index.js';
import { Cluster } from '../../cluster/cluster.js';
import { isDroverError } from '../../contract/errors.js';
import { Ready } from '../../cluster/readiness/ready.js';
import type { ReadinessContext } from '../../cluster/readiness/readiness-check.js';
import type { OutputLine } from '../../contract/types.js';
import { getCommandAttributes } from '../../telemetry/command-attributes.js';
import { ATTR_PROCESS_COMMAND_ARGS } from '../../telemetry/semconv.js';
import { getIssues, withNode } from '../helpers/config-issues.js';
import { fixture } from '../helpers/fixtures.js';
import { expectAllGone, expectNoShepherds } from '../helpers/processes.js';
import { makeCluster, makeNode } from '../helpers/specs.js';

/**
 * Exponential for a backtracking engine: ~6 s per test of 27 `a`s with V8's RegExp, doubling with
 * each more `a`, so about 1.5 min here; RE2 takes milliseconds. The 5 s bounds below sit far from
 * both, so only a backtracking engine fails them.
 */
const CATASTROPHIC = '^(a+)+$';
const HOSTILE_LINE = `${'a'.repeat(31)}!`;
/** The same for redaction (V8's replace is faster at it: ~2.5 s at 30, ~40 s here). */
const HOSTILE_ARG = `${'a'.repeat(34)}!`;


function line(text: string): OutputLine {
  return { stream: 'stdout', text, seq: 0, time: 0 } as OutputLine;
}

/** A readiness context over fixed lines (pure logic: no process involved). */
function contextOf(lines: readonly string[], signal: AbortSignal): ReadinessContext {
  return { tail: () => lines.map(line), subscribe: () => () => {}, signal };
}

describe('config validation in RE2 syntax', () => {
  const PATTERN_PATHS: [string, (pattern: string) => Record<string, unknown>][] = [
    ['ready.log.pattern', (pattern) => ({ ready: { log: { pattern } } })],
    ['ready.any.0.log.pattern', (pattern) => ({ ready: { any: [{ log: { pattern } }] } })],
    ['ready.http.body', (pattern) => ({ ready: { http: { url: 'http://127.0.0.1:1/', body: pattern } } })],
    ['liveness.http.body', (pattern) => ({ liveness: { http: { url: 'http://127.0.0.1:1/', body: pattern } } })],
    ['telemetry.redact.0', (pattern) => ({ telemetry: { redact: [pattern] } })],
  ];

  test.each(PATTERN_PATHS)('%s: a backreference is an error naming the path and what RE2 lacks', (where, fields) => {
    const issues = getIssues(withNode(fields('(a)\\1')));
    expect(issues).toEqual([
      {
        path: `nodes.a.${where}`,
        message:
          'expected a regular expression in RE2 syntax, got "(a)\\\\1" (string); backreferences (\\1, \\k<name>) are not supported: patterns run on RE2, which matches in time linear in the text',
      },
    ]);
  });

  test.each([
    ['(?=x)y', 'lookahead ((?=…), (?!…))'],
    ['(?!x)y', 'lookahead ((?=…), (?!…))'],
    ['(?<=x)y', 'lookbehind ((?<=…), (?<!…))'],
    ['(?<!x)y', 'lookbehind ((?<=…), (?<!…))'],
    ['\\k<n>', 'backreferences (\\1, \\k<name>)'],
  ])('%j is refused as %s', (pattern, feature) => {
    const issues = getIssues(withNode({ ready: { log: { pattern } } }));
    expect(issues).toHaveLength(1);
    expect(issues[0]!.message).toContain(`; ${feature} are not supported: patterns run on RE2`);
  });

  test('a plain syntax error says what RE2 found', () => {
    const issues = getIssues(withNode({ ready: { log: { pattern: '(unclosed' } } }));
    expect(issues).toEqual([
      { path: 'nodes.a.ready.log.pattern', message: 'expected a regular expression in RE2 syntax, got "(unclosed" (string); missing closing ): `(unclosed`' },
    ]);
  });

  test('a pattern longer than the cap is refused', () => {
    const issues = getIssues(withNode({ ready: { log: { pattern: 'a'.repeat(4097) } } }));
    expect(issues).toHaveLength(1);
    expect(issues[0]!.message).toMatch(/^expected a regular expression of at most 4096 characters, got "a+… \(string\)$/);
  });

  test('common patterns stay valid: anchors, classes, named groups, flags', () => {
    const { spec } = normalizeConfig(
      withNode({ ready: { any: [{ log: { pattern: '^listening on (?<port>\\d+)$' } }, { log: { pattern: '(?i)ready\\b' } }, { http: { url: 'http://127.0.0.1:1/', body: '"ok"' } }] } }),
      { baseDir: '/srv' },
    );
    expect(spec.nodes[0]!.ready).toMatchObject({ kind: 'any' });
  });
});

describe('matching never stalls', () => {
  test('a log check with a catastrophic pattern fails its line in linear time', async () => {
    const check = Ready.fromSpec({ kind: 'log', pattern: CATASTROPHIC, stream: 'both', count: 1, timeoutMs: 1000, intervalMs: 250, initialDelayMs: 0 });
    const controller = new AbortController();
    const started = performance.now();
    const waiting = check.waitUntilReady(contextOf([HOSTILE_LINE, HOSTILE_LINE.repeat(1000)], controller.signal));
    const elapsedMs = performance.now() - started;
    controller.abort(new Error('done'));
    await expect(waiting).rejects.toThrow('done');
    expect(elapsedMs).toBeLessThan(5000);
    expect(check.lastSeen()).toMatch(/^0 matching so far/);
  });

  test('a RegExp passed to the API keeps its flags and runs on RE2', async () => {
    const check = Ready.forLogLine(/^LISTENING/i, { timeoutMs: 1000 });
    await check.waitUntilReady(contextOf(['starting', 'listening on 80'], new AbortController().signal));
    expect(check.describe()).toBe('a line of output matching /^LISTENING/i');
    expect(() => Ready.forLogLine(/(a)\1/)).toThrow(/backreferences \(\\1, \\k<name>\) are not supported/);
  });

  test('compileUserPattern reports what it cannot run as ERR_INVALID_OPTION', () => {
    let caught: unknown;
    try {
      compileUserPattern('(?=x)', 'pattern');
    } catch (error) {
      caught = error;
    }
    expect(isDroverError(caught, 'ERR_INVALID_OPTION')).toBe(true);
    expect((caught as Error).message).toMatch(/^Invalid pattern: expected a regular expression in RE2 syntax, got "\(\?=x\)" \(string\); lookahead/);
  });

  test('telemetry redaction with a catastrophic user pattern runs in linear time; the built-in patterns still redact', () => {
    const started = performance.now();
    const attributes = getCommandAttributes({
      command: ['worker', HOSTILE_ARG, '--password=hunter2', 'https://user:pw@host/x', 'aaaa'],
      telemetry: { logs: false, recordArgs: true, redact: [CATASTROPHIC] },
    });
    expect(performance.now() - started).toBeLessThan(5000);
    expect(attributes[ATTR_PROCESS_COMMAND_ARGS]).toEqual(['worker', HOSTILE_ARG, '--password=[REDACTED]', 'https://[REDACTED]@host/x', '[REDACTED]']);
  });
});

describe('redaction keeps the groups named before and after', () => {
  test('only the text between them becomes [REDACTED]', () => {
    const attributes = getCommandAttributes({
      command: ['worker', '--key=abc', 'x<secret>y', '--other=1'],
      telemetry: { logs: false, recordArgs: true, redact: ['(?<before>--key=)\\S+', '(?P<before>x<)[a-z]+(?<after>>y)'] },
    });
    expect(attributes[ATTR_PROCESS_COMMAND_ARGS]).toEqual(['worker', '--key=[REDACTED]', 'x<[REDACTED]>y', '--other=1']);
  });
});

describe('a real node whose output meets a catastrophic ready pattern', () => {
  const clusters: Cluster[] = [];
  const pids = new Set<number>();

  afterEach(async () => {
    await Promise.all(clusters.splice(0).map((cluster) => cluster.stop()));
    await expectAllGone(pids);
    pids.clear();
    await expectNoShepherds();
  });

  test('times out on schedule while the manager stays responsive', async () => {
    const cluster = new Cluster(
      makeCluster([
        makeNode('a', fixture('forever', HOSTILE_LINE), {
          ready: { kind: 'log', pattern: CATASTROPHIC, stream: 'stdout', count: 1, timeoutMs: 1000 },
          restart: { policy: 'no' },
        }),
      ]),
    );
    clusters.push(cluster);
    cluster.on('event', (event) => {
      if (event.type === 'state' && event.pid !== null) pids.add(event.pid);
    });
    // The event loop's longest stall while the check runs: ticks every 20 ms.
    let longestGapMs = 0;
    let last = performance.now();
    const ticker = setInterval(() => {
      const now = performance.now();
      longestGapMs = Math.max(longestGapMs, now - last);
      last = now;
    }, 20);
    const started = performance.now();
    const error: unknown = await cluster.start().then(
      () => new Error('expected the start to fail'),
      (rejection: unknown) => rejection,
    );
    const elapsedMs = performance.now() - started;
    clearInterval(ticker);
    expect(isDroverError(error), String(error)).toBe(true);
    expect((error as Error).message).toContain('not ready after');
    expect(elapsedMs).toBeLessThan(5000);
    expect(longestGapMs).toBeLessThan(1000);
  });
});

describe('templates are parsed in time linear in the text', () => {
  // `.ports.` repeated: a backtracking split of nodes.<node>.ports.<port> tries every occurrence,
  // quadratic in the text (5.8 s at 32,000 repeats, so about a minute here). Linear, it takes well
  // under a second; the 10 s bound sits two orders of magnitude from both, so a loaded machine
  // cannot fail it and a quadratic split cannot pass it.
  const LONG_TEMPLATE = `{{nodes.a${'.ports.a'.repeat(96_000)}!}}`;

  test('in a command', () => {
    const started = performance.now();
    const issues = getIssues(withNode({ command: ['sleep', LONG_TEMPLATE] }));
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(issues.map((issue) => issue.path)).toEqual(['nodes.a.command.1']);
  });

  test('as a tcp port', () => {
    const started = performance.now();
    const issues = getIssues(withNode({ ready: { tcp: { port: LONG_TEMPLATE } } }));
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(issues.map((issue) => issue.path)).toEqual(['nodes.a.ready.tcp.port']);
  });
});
