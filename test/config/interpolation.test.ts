/**
 * `${VAR}` interpolation: the syntax (a pure function, with a property test for `$$`), and what
 * loadConfig makes of it (environment over the project .env, values not keys, retyped plain
 * values, warnings for unset variables, errors at their paths, the checked read of .env).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import { interpolate, MAX_INTERPOLATION_DEPTH } from '../../config/interpolation.js';
import { loadConfig, type ConfigInvalidError, type LoadConfigOptions } from '../../config/index.js';
import { isDroverError, type DroverError } from '../../contract/errors.js';

const VARS: Record<string, string> = { A: 'a', EMPTY: '', PORT: '0123', N: '3' };
const lookup = (name: string): string | undefined => (Object.hasOwn(VARS, name) ? VARS[name] : undefined);
const value = (text: string): string => {
  const result = interpolate(text, lookup);
  if (!result.ok) throw new Error(result.message);
  return result.value;
};
const problem = (text: string): string => {
  const result = interpolate(text, lookup);
  if (result.ok) throw new Error(`expected ${text} to fail, got ${result.value}`);
  return result.message;
};

describe('interpolate', () => {
  test('text without ${ stays as written; $$ is a literal $', () => {
    expect(value('plain')).toBe('plain');
    expect(value('$HOME and $1 and a$ and $')).toBe('$HOME and $1 and a$ and $');
    expect(value('cost: $$5, $${A} is literal')).toBe('cost: $5, ${A} is literal');
  });

  test('${VAR}: the value, or an empty string reported as unset', () => {
    expect(interpolate('x${A}y${EMPTY}z', lookup)).toEqual({ ok: true, value: 'xayz', unset: [] });
    expect(interpolate('${NOPE}-${NOPE}', lookup)).toEqual({ ok: true, value: '-', unset: ['NOPE', 'NOPE'] });
  });

  test('defaults, required variables and alternatives, with and without the colon', () => {
    const table: [string, string][] = [
      ['${A:-d}', 'a'], ['${EMPTY:-d}', 'd'], ['${NOPE:-d}', 'd'],
      ['${A-d}', 'a'], ['${EMPTY-d}', ''], ['${NOPE-d}', 'd'],
      ['${A:?m}', 'a'], ['${A?m}', 'a'], ['${EMPTY?m}', ''],
      ['${A:+x}', 'x'], ['${EMPTY:+x}', ''], ['${NOPE:+x}', ''],
      ['${A+x}', 'x'], ['${EMPTY+x}', 'x'], ['${NOPE+x}', ''],
      ['${NOPE:-}', ''], ['${NOPE:-a:b-c}', 'a:b-c'],
    ];
    for (const [text, expected] of table) expect(value(text), text).toBe(expected);
    expect(problem('${NOPE:?set NOPE to the API URL}')).toBe('expected the variable NOPE to be set and not empty (${NOPE:?set NOPE to the API URL} requires it), got it unset: set NOPE to the API URL');
    expect(problem('${EMPTY:?}')).toBe('expected the variable EMPTY to be set and not empty (${EMPTY:?} requires it), got an empty value');
    expect(problem('${NOPE?}')).toBe('expected the variable NOPE to be set (${NOPE?} requires it), got it unset');
  });

  test('defaults nest and are evaluated only when used', () => {
    expect(interpolate('${NOPE:-${ALSO:-${A}}}', lookup)).toEqual({ ok: true, value: 'a', unset: [] });
    expect(interpolate('${A:-${UNUSED}}', lookup)).toEqual({ ok: true, value: 'a', unset: [] });
    expect(interpolate('${NOPE:-${UNSET}x}', lookup)).toEqual({ ok: true, value: 'x', unset: ['UNSET'] });
    expect(value('${NOPE:-$${A}}')).toBe('${A}');
  });

  test('malformed ${ is an error saying what was expected and how to escape', () => {
    expect(problem('a ${')).toBe('expected a variable name (a letter or "_", then letters, digits or "_") after "${" at character 3, got "a ${" (string); write $$ for a literal $');
    expect(problem('${}')).toMatch(/^expected a variable name .* at character 1/);
    expect(problem('${1A}')).toMatch(/^expected a variable name .* at character 1/);
    expect(problem('${A')).toBe('expected a "}" closing the "${" at character 1, got "${A" (string); write $$ for a literal $');
    expect(problem('x ${A:-d')).toMatch(/^expected a "}" closing the "\$\{" at character 3/);
    expect(problem('${A B}')).toBe('expected "}" or one of :- :? :+ - ? + after "${A" at character 1, got "${A B}" (string); write $$ for a literal $');
    const deep = `${'${A:-'.repeat(MAX_INTERPOLATION_DEPTH)}x${'}'.repeat(MAX_INTERPOLATION_DEPTH)}`;
    expect(value(deep)).toBe('a');
    expect(problem(`\${A:-${deep}}`)).toMatch(/^expected "\$\{" nested at most 16 deep, got /);
  });

  test('the result is bounded', () => {
    const result = interpolate('${A}'.repeat(10), lookup, 5);
    expect(result).toEqual({ ok: false, message: 'expected interpolated values of at most 1048576 characters in the whole config, got more' });
  });

  test('property: escaping every $ as $$ gives the text back; text without $ is unchanged', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('$', '{', '}', 'A', ':', '-', '?', '+', ' ', 'x') }), (text) => {
        expect(interpolate(text.replaceAll('$', () => '$$'), () => 'never')).toEqual({ ok: true, value: text, unset: [] });
        if (!text.includes('$')) expect(interpolate(text, () => 'never')).toEqual({ ok: true, value: text, unset: [] });
      }),
      { numRuns: 500 },
    );
  });
});

describe('loadConfig interpolation', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'drover-interp-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  let count = 0;

  /** A fresh directory with drover.yaml (and .env when given); returns the config path. */
  function project(yaml: string, dotEnv?: string): string {
    const dir = path.join(root, String(count++));
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'drover.yaml'), yaml);
    if (dotEnv !== undefined) writeFileSync(path.join(dir, '.env'), dotEnv);
    return path.join(dir, 'drover.yaml');
  }

  async function loadError(file: string, options?: LoadConfigOptions): Promise<DroverError> {
    const error: unknown = await loadConfig(file, options).then(() => new Error('expected loadConfig to reject'), (rejection: unknown) => rejection);
    if (isDroverError(error)) return error;
    throw error;
  }

  const NODE = 'name: x\nnodes:\n  a:\n    command: [node, a.js]\n';

  test('the environment wins over .env; .env fills the rest; env values keep the interpolated text', async () => {
    // Unquoted ${…} needs block style: in a flow map ({ … }) YAML reads its braces as syntax.
    const file = project(`${NODE}    env:\n      HOST: "\${HOST}"\n      PORT: \${PORT}\n      ONLY: \${FROM_DOTENV}\n`, 'HOST=dotenv-host\nPORT=9\nFROM_DOTENV=yes\n');
    const { spec, warnings } = await loadConfig(file, { env: { HOST: 'env-host', PORT: '0123' } });
    expect(spec.nodes[0]!.env).toEqual({ HOST: 'env-host', PORT: '0123', ONLY: 'yes' });
    expect(warnings).toEqual([]);
  });

  test('process.env is the default environment', async () => {
    const file = project(`${NODE}    cwd: \${DROVER_TEST_INTERP_DIR:-.}\n`);
    process.env['DROVER_TEST_INTERP_DIR'] = 'sub';
    try {
      expect((await loadConfig(file)).spec.nodes[0]!.cwd).toBe(path.join(path.dirname(file), 'sub'));
    } finally {
      delete process.env['DROVER_TEST_INTERP_DIR'];
    }
  });

  test('keys are not interpolated; a plain value that becomes a number is one, a quoted one stays a string', async () => {
    const file = project(`${NODE}    replicas: \${N:-2}\n  b:\n    command: [x]\n    replicas: "\${N:-2}"\n`);
    const error = (await loadError(file, { env: {} })) as ConfigInvalidError;
    expect(error.issues).toEqual([{ path: 'nodes.b.replicas', message: 'expected an integer from 0 to 1000, got "2" (string)' }]);
    const fixed = project(`${NODE}    replicas: \${N:-2}\n    env: { "\${KEY}": "\${N:-2}" }\n    stop:\n      timeout: \${T:-1.5s}\n`);
    const { spec } = await loadConfig(fixed, { env: {} });
    expect(spec.nodes[0]).toMatchObject({ replicas: 2, env: { '${KEY}': '2' }, stop: { timeoutMs: 1500 } });
  });

  test('an unset variable without default is an empty string and one warning, at its first use', async () => {
    const file = project(`${NODE}    env:\n      A: \${MISSING}\n      B: x\${MISSING}y\n`);
    const { spec, warnings } = await loadConfig(file, { env: {} });
    expect(spec.nodes[0]!.env).toEqual({ A: '', B: 'xy' });
    expect(warnings).toEqual([
      {
        path: 'nodes.a.env.A',
        message: `the variable MISSING is not set (not in the environment, and there is no ${path.join(path.dirname(file), '.env')}), so "\${MISSING}" is an empty string; set it, or give a default: "\${MISSING:-default}"`,
      },
    ]);
  });

  test('a shared (anchored) value is interpolated once; merge keys read through', async () => {
    const file = project(
      'name: x\nx-defaults: &defaults\n  env: { LEVEL: "${LEVEL}" }\nnodes:\n  a: { command: [a], <<: *defaults }\n  b: { command: [b], <<: *defaults }\n',
      '',
    );
    const { spec, warnings } = await loadConfig(file, { env: {}, strict: false });
    expect(spec.nodes.map((node) => node.env)).toEqual([{ LEVEL: '' }, { LEVEL: '' }]);
    expect(warnings.map((warning) => warning.path)).toEqual(['x-defaults.env.LEVEL', 'x-defaults']);
  });

  test('a required variable and a malformed ${ are errors at their paths, reported once, with the rest of the file', async () => {
    const file = project(`name: x\nnodes:\n  a:\n    command: [node, "\${ENTRY:?set ENTRY to the script}"]\n    replicas: \${N:?}\n    dependsOn: [bb]\n    env: { X: "\${oops" }\n`);
    const error = (await loadError(file, { env: {} })) as ConfigInvalidError;
    expect(error.code).toBe('ERR_CONFIG_INVALID');
    expect(error.issues).toEqual([
      { path: 'nodes.a.command.1', message: 'expected the variable ENTRY to be set and not empty (${ENTRY:?set ENTRY to the script} requires it), got it unset: set ENTRY to the script' },
      { path: 'nodes.a.replicas', message: 'expected the variable N to be set and not empty (${N:?} requires it), got it unset' },
      { path: 'nodes.a.env.X', message: 'expected a "}" closing the "${" at character 1, got "${oops" (string); write $$ for a literal $' },
      { path: 'nodes.a.dependsOn.0', message: 'expected the name of another node, got "bb" (string)' },
    ]);
  });

  test('.env is read like an env_file: a regular file of at most 1 MiB, no __proto__; only when the config interpolates', async () => {
    const dirEnv = project(`${NODE}    env: { A: "\${A}" }\n`);
    mkdirSync(path.join(path.dirname(dirEnv), '.env'));
    const notRegular = await loadError(dirEnv, { env: { A: 'a' } });
    expect(notRegular).toMatchObject({ code: 'ERR_CONFIG_READ', path: path.join(path.dirname(dirEnv), '.env') });
    expect(notRegular.message).toBe(`Cannot read ${path.join(path.dirname(dirEnv), '.env')}, the .env for the \${…} variables of config ${dirEnv}: it is a directory, not a regular file`);
    // Without ${ in the config, a broken .env is no concern of drover's.
    const plain = project(NODE);
    mkdirSync(path.join(path.dirname(plain), '.env'));
    await expect(loadConfig(plain)).resolves.toMatchObject({ warnings: [] });

    const fifo = project(`${NODE}    env: { A: "\${A}" }\n`);
    execFileSync('mkfifo', [path.join(path.dirname(fifo), '.env')]);
    expect((await loadError(fifo)).message).toMatch(/: it is a FIFO, not a regular file$/);
    const large = project(`${NODE}    env: { A: "\${A}" }\n`, `A=${'x'.repeat(1024 * 1024)}\n`);
    expect((await loadError(large)).message).toMatch(/: it has 1048579 bytes, more than the 1 MiB an env file may have$/);
    const proto = project(`${NODE}    env: { A: "\${A}" }\n`, '__proto__=x\n');
    expect((await loadError(proto)).message).toMatch(/: it sets __proto__, which cannot be a variable$/);
  });

  test('a config object passed in code is not interpolated', async () => {
    const { normalizeConfig } = await import('../../config/index.js');
    expect(normalizeConfig({ name: 'x', nodes: { a: { command: ['echo', '${A}', '$$'] } } }).spec.nodes[0]!.command).toEqual(['echo', '${A}', '$$']);
  });
});

describe('hostile interpolation', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'drover-interp-hostile-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('a large variable repeated through a large config is refused once, fast, at the value that crossed the bound', async () => {
    const file = path.join(dir, 'repeat.yaml');
    const values = Array.from({ length: 20_000 }, (_, i) => `      V${i}: "\${BIG}\${BIG}"`).join('\n');
    writeFileSync(file, `name: x\nnodes:\n  a:\n    command: [x]\n    env:\n${values}\n`);
    const started = performance.now();
    const error = (await loadConfig(file, { env: { BIG: 'x'.repeat(64 * 1024) } }).catch((rejection: unknown) => rejection)) as ConfigInvalidError;
    expect(error.issues).toEqual([{ path: 'nodes.a.env.V8', message: 'expected interpolated values of at most 1048576 characters in the whole config, got more' }]);
    expect(performance.now() - started).toBeLessThan(5000);
  });

  test('${ nested a hundred thousand deep is an error, not a stack overflow', async () => {
    const file = path.join(dir, 'deep.yaml');
    writeFileSync(file, `name: x\nnodes:\n  a:\n    command: [x]\n    env:\n      A: "${'${A:-'.repeat(100_000)}x${'}'.repeat(100_000)}"\n`);
    const error = (await loadConfig(file, { env: {} }).catch((rejection: unknown) => rejection)) as ConfigInvalidError;
    expect(error.issues).toEqual([{ path: 'nodes.a.env.A', message: expect.stringMatching(/^expected "\$\{" nested at most 16 deep, got "/) }]);
  });
});
