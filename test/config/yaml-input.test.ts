/**
 * What the YAML layer hands to validation: env values as written, merge keys applied, unknown tags
 * and `__proto__` keys refused with their place, and hostile documents (alias bombs, deep
 * nesting, collection keys) refused quickly with a bounded list of issues.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadConfig, normalizeConfig, type ConfigInvalidError, type LoadedConfig } from '../../config/index.js';
import { isDroverError } from '../../contract/errors.js';

const dir = mkdtempSync(path.join(tmpdir(), 'drover-yaml-input-'));
let count = 0;

function write(text: string): string {
  const file = path.join(dir, `config-${++count}.yaml`);
  writeFileSync(file, text);
  return file;
}

async function load(text: string): Promise<LoadedConfig> {
  return loadConfig(write(text));
}

async function getIssues(text: string): Promise<ConfigInvalidError['issues']> {
  const file = write(text);
  const error: unknown = await loadConfig(file).then(
    () => new Error('expected loadConfig to reject'),
    (rejection: unknown) => rejection,
  );
  if (isDroverError(error, 'ERR_CONFIG_INVALID')) return (error as ConfigInvalidError).issues;
  throw error;
}

describe('env values keep their source text', () => {
  test('YAML numbers and booleans are not rewritten', async () => {
    const { spec } = await load(
      'name: c\nnodes:\n  a:\n    command: [sleep, "1"]\n    env: { ZIP: 0123, VERSION: 1.10, MASK: 0x10, FLAG: True, BIG: 1e400, INF: .inf, NEG: -0, PLAIN: 8080, QUOTED: "0123" }\n',
    );
    expect(spec.nodes[0]!.env).toEqual({ ZIP: '0123', VERSION: '1.10', MASK: '0x10', FLAG: 'True', BIG: '1e400', INF: '.inf', NEG: '-0', PLAIN: '8080', QUOTED: '0123' });
  });

  test('also through anchors, aliases and merge keys', async () => {
    const { spec } = await load(
      [
        'name: c',
        'nodes:',
        '  a:',
        '    command: [sleep, "1"]',
        '    env: &common { ZIP: 0123, PORT: &port 08080 }',
        '  b:',
        '    command: [sleep, "1"]',
        '    env: { <<: *common, VERSION: 1.10, OTHER: *port }',
      ].join('\n'),
    );
    expect(spec.nodes.map((node) => node.env)).toEqual([
      { ZIP: '0123', PORT: '08080' },
      { ZIP: '0123', PORT: '08080', VERSION: '1.10', OTHER: '08080' },
    ]);
  });

  test('an empty value is still an error with its path', async () => {
    const issues = await getIssues('name: c\nnodes:\n  a:\n    command: [sleep, "1"]\n    env: { EMPTY: }\n');
    expect(issues).toEqual([{ path: 'nodes.a.env.EMPTY', message: 'expected a string, number or boolean, got null (null)' }]);
  });
});

describe('__proto__ keys are errors, never dropped', () => {
  test.each([
    ['a node name', 'nodes:\n  __proto__: { command: [sleep, "1"] }\n  a: { command: [sleep, "1"] }\n', 'nodes.__proto__'],
    ['a dependsOn entry (map)', 'nodes:\n  a: { command: [sleep, "1"], dependsOn: { __proto__: ready } }\n', 'nodes.a.dependsOn.__proto__'],
    ['an env variable', 'nodes:\n  a: { command: [sleep, "1"], env: { __proto__: x } }\n', 'nodes.a.env.__proto__'],
    ['a top-level key', '__proto__: { polluted: true }\nnodes:\n  a: { command: [sleep, "1"] }\n', '__proto__'],
  ])('as %s', async (_what, yaml, where) => {
    const issues = await getIssues(`name: c\n${yaml}`);
    expect(issues).toContainEqual({ path: where, message: 'expected a key other than "__proto__", got "__proto__" (string)' });
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  test('as a dependsOn list entry it is an unknown node', async () => {
    const issues = await getIssues('name: c\nnodes:\n  a: { command: [sleep, "1"], dependsOn: [__proto__] }\n');
    expect(issues).toEqual([{ path: 'nodes.a.dependsOn.0', message: 'expected the name of another node, got "__proto__" (string)' }]);
  });

  test('in a config object passed to normalizeConfig (JSON.parse makes it an own key)', () => {
    const input: unknown = JSON.parse('{"name":"c","nodes":{"a":{"command":["x"],"env":{"__proto__":"x"}}}}');
    expect(() => normalizeConfig(input)).toThrow(/nodes\.a\.env\.__proto__: expected a key other than "__proto__"/);
  });
});

describe('merge keys and tags', () => {
  test('<< merges an anchored node; explicit keys win', async () => {
    const { spec, warnings } = await load(
      [
        'name: c',
        'nodes:',
        '  a: &defaults',
        '    command: [sleep, "1"]',
        '    restart: { policy: always, maxRestarts: 9 }',
        '    stop: { timeout: 3s }',
        '  b:',
        '    <<: *defaults',
        '    command: [sleep, "2"]',
      ].join('\n'),
    );
    expect(warnings).toEqual([]);
    const b = spec.nodes[1]!;
    expect(b.command).toEqual(['sleep', '2']);
    expect(b.restart).toMatchObject({ policy: 'always', maxRestarts: 9 });
    expect(b.stop.timeoutMs).toBe(3000);
  });

  test.each([
    ['!!js/function "function () {}"', '!!js/function', '5:15'],
    ['!foo bar', '!foo', '5:15'],
    ['!!binary aGVsbG8=', '!!binary', '5:15'],
    ['!!set { a, b }', '!!set', '5:15'],
  ])('an unknown tag (%s) is an error with line:col', async (value, tag, position) => {
    const issues = await getIssues(`name: c\nnodes:\n  a:\n    command: [sleep, "1"]\n    env: { A: ${value} }\n`);
    expect(issues).toEqual([{ path: '', message: `YAML error at ${position}: unknown tag ${tag} (only the YAML core tags !!str, !!int, !!float, !!bool, !!null, !!map and !!seq are allowed)` }]);
  });

  test('core tags still work', async () => {
    const { spec } = await load('name: c\nnodes:\n  a:\n    command: [sleep, !!str 1]\n    output: { maxLines: !!int "5" }\n');
    expect(spec.nodes[0]!.command).toEqual(['sleep', '1']);
    expect(spec.nodes[0]!.output.maxLines).toBe(5);
  });
});

describe('hostile documents', () => {
  test('an alias bomb is refused quickly', async () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i += 1) {
      const prev = String.fromCharCode(96 + i);
      levels.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${prev}`).join(', ')}]`);
    }
    const started = performance.now();
    const issues = await getIssues(`name: c\nnodes: { a: { command: [x] } }\nbomb:\n${levels.map((l) => `  ${l}`).join('\n')}\n`);
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(issues).toEqual([{ path: '', message: 'YAML error at 9:14: the document expands to more than 250000 values (alias *e repeats 111111; an alias bomb?)' }]);
  });

  test('100,000 nested brackets: a bounded list of errors with line:col', async () => {
    const issues = await getIssues(`name: c\nnodes: ${'['.repeat(100_000)}\n`);
    expect(issues.length).toBeLessThanOrEqual(21);
    expect(issues[0]!.message).toMatch(/^YAML (syntax )?error at \d+:\d+: /);
  });

  test('nesting deeper than the bound is an error naming where', async () => {
    let ready = '{ log: { pattern: x } }';
    for (let i = 0; i < 70; i += 1) ready = `{ all: [${ready}] }`;
    const issues = await getIssues(`name: c\nnodes:\n  a:\n    command: [x]\n    ready: ${ready}\n`);
    expect(issues).toHaveLength(1);
    expect(issues[0]!.message).toMatch(/^YAML error at 5:\d+: nested deeper than 64 levels$/);
  });

  test('a collection used as a key is an error with line:col (no process warning)', async () => {
    const issues = await getIssues('name: c\nnodes:\n  ? [a, b]\n  : { command: [x] }\n');
    expect(issues).toEqual([{ path: '', message: 'YAML error at 3:5: a key must be a plain value, not a sequence or map' }]);
  });

  test('a cyclic config object is refused, not walked forever', () => {
    const env: Record<string, unknown> = {};
    env['self'] = env;
    expect(() => normalizeConfig({ name: 'c', nodes: { a: { command: ['x'], env } } })).toThrow(/nodes\.a\.env\.self: expected no cycle/);
  });
});

describe('port names map to distinct DROVER_PORT_* variables', () => {
  test.each([
    [['a-b', 'a_b'], 'DROVER_PORT_A_B'],
    [['http', 'HTTP'], 'DROVER_PORT_HTTP'],
    [['x.y', 'x-y'], 'DROVER_PORT_X_Y'],
  ])('%j is an error naming both', async (ports, variable) => {
    const issues = await getIssues(`name: c\nnodes:\n  a:\n    command: [x]\n    ports: [${ports.join(', ')}]\n`);
    expect(issues).toEqual([
      {
        path: 'nodes.a.ports.1',
        message: `expected a port name with its own DROVER_PORT_* variable, got "${ports[1]}" (string); "${ports[1]}" and "${ports[0]}" (nodes.a.ports.0) both become ${variable}`,
      },
    ]);
  });
});

describe('duplicate keys', () => {
  test('are an error with line:col, including keys that only become equal as properties', async () => {
    expect(await getIssues('name: c\nnodes:\n  a: { command: [x] }\n  a: { command: [y] }\n')).toEqual([
      { path: '', message: 'YAML error at 4:3: duplicate key "a" (map keys must be unique)' },
    ]);
    expect(await getIssues('name: c\nnodes:\n  a: { command: [x], env: { 1: a, "1": b } }\n')).toEqual([
      { path: '', message: 'YAML error at 3:35: duplicate key "1" (map keys must be unique)' },
    ]);
  });

  test('are found in linear time: a map of 80,000 keys loads in seconds', async () => {
    const env = Array.from({ length: 80_000 }, (_, i) => `k${i.toString(36)}: 1`).join(', ');
    const started = performance.now();
    const { spec } = await load(`name: c\nnodes:\n  a: { command: [x], env: { ${env} } }\n`);
    expect(Object.keys(spec.nodes[0]!.env)).toHaveLength(80_000);
    expect(performance.now() - started).toBeLessThan(15_000);
  }, 120_000);
});

describe('many issues', () => {
  test('the message lists the first 100 and counts the rest; issues keeps them all', async () => {
    const file = write(`name: c\nnodes:\n  a:\n    command: [x]\n    ports: [${Array.from({ length: 5000 }, () => '"-"').join(', ')}]\n`);
    const error: unknown = await loadConfig(file).catch((rejection: unknown) => rejection);
    expect(isDroverError(error, 'ERR_CONFIG_INVALID')).toBe(true);
    const { issues, message } = error as ConfigInvalidError;
    expect(issues).toHaveLength(5000);
    expect(message.split('\n')).toHaveLength(1 + 100 + 1);
    expect(message.endsWith('\n  … and 4900 more (drover validate --json lists them all)')).toBe(true);
  });
});
