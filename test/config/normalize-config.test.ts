import { resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { ClusterSpec } from '../../contract/types.js';
import { isDroverError } from '../../contract/errors.js';
import { normalizeConfig, type ConfigInvalidError, type NormalizeConfigOptions } from '../../config/index.js';

const BASE_DIR = resolve('/srv/ring');
const CONFIG_PATH = resolve(BASE_DIR, 'drover.yaml');
const FROM_FILE: NormalizeConfigOptions = { configPath: CONFIG_PATH };

const DEFAULT_RESTART = {
  policy: 'on-failure',
  backoff: { initialMs: 100, maxMs: 30_000, multiplier: 2, jitter: 0.2 },
  maxRestarts: 5,
  windowMs: 60_000,
  successExitCodes: [0],
  stableAfterMs: 30_000,
} as const;
const DEFAULT_STOP = { signal: 'SIGTERM', timeoutMs: 10_000 } as const;
const DEFAULT_OUTPUT = { maxLines: 1000, maxBytes: 1_048_576 } as const;

/** Runs `normalizeConfig` expecting ERR_CONFIG_INVALID, and returns the error. */
function getConfigError(input: unknown, options: NormalizeConfigOptions = FROM_FILE): ConfigInvalidError {
  try {
    normalizeConfig(input, options);
  } catch (error) {
    if (isDroverError(error, 'ERR_CONFIG_INVALID')) return error as ConfigInvalidError;
    throw error;
  }
  throw new Error('expected normalizeConfig to throw ERR_CONFIG_INVALID');
}

function node(fields: Record<string, unknown>): unknown {
  return { name: 'ring', nodes: { a: { command: ['node', 'a.js'], ...fields } } };
}

describe('normalizeConfig: valid configs', () => {
  test('a full config normalizes to the expected ClusterSpec, in declaration order', () => {
    const { spec, warnings } = normalizeConfig(
      {
        name: 'ring',
        nodes: {
          b: {
            command: ['node', 'server.js', '--port', '8080'],
            cwd: './services/b',
            env: { LOG_LEVEL: 'debug', PORT: 8080, VERBOSE: true },
            ready: { http: { url: 'http://127.0.0.1:8080/health', status: 204 }, timeout: '5s', interval: 100 },
            restart: {
              policy: 'always',
              backoff: { initial: '50ms', max: '2s', multiplier: 1.5, jitter: 0 },
              maxRestarts: 0,
              window: '1m',
            },
            stop: { signal: 'SIGINT', timeout: '2.5s' },
            output: { maxLines: 50, maxBytes: '64KiB' },
          },
          a: { command: ['sleep', '1000'] },
        },
      },
      FROM_FILE,
    );
    expect(warnings).toEqual([]);
    expect(spec).toStrictEqual<ClusterSpec>({
      name: 'ring',
      configPath: CONFIG_PATH,
      onNodeFailure: 'continue',
      nodes: [
        {
          name: 'b',
          command: ['node', 'server.js', '--port', '8080'],
          cwd: resolve(BASE_DIR, 'services/b'),
          env: { LOG_LEVEL: 'debug', PORT: '8080', VERBOSE: 'true' },
          ready: { kind: 'http', url: 'http://127.0.0.1:8080/health', method: 'GET', status: 204, headers: {}, timeoutMs: 5000, intervalMs: 100, initialDelayMs: 0 },
          restart: {
            policy: 'always',
            backoff: { initialMs: 50, maxMs: 2000, multiplier: 1.5, jitter: 0 },
            maxRestarts: 0,
            windowMs: 60_000,
            successExitCodes: [0],
            stableAfterMs: 2000,
          },
          stop: { signal: 'SIGINT', timeoutMs: 2500 },
          output: { maxLines: 50, maxBytes: 65_536 },
          ports: [],
          replicas: 1,
          dependsOn: {},
          liveness: null,
          minUptimeMs: 500,
        },
        {
          name: 'a',
          command: ['sleep', '1000'],
          cwd: BASE_DIR,
          env: {},
          ready: null,
          restart: DEFAULT_RESTART,
          stop: DEFAULT_STOP,
          output: DEFAULT_OUTPUT,
          ports: [],
          replicas: 1,
          dependsOn: {},
          liveness: null,
          minUptimeMs: 500,
        },
      ],
    });
  });

  test('defaults are applied inside partially given sections; empty (null) sections mean defaults', () => {
    const { spec } = normalizeConfig(
      node({ restart: { backoff: { max: '5s' } }, stop: null, output: { maxLines: 10 }, env: null }),
      FROM_FILE,
    );
    expect(spec.nodes[0]).toMatchObject({
      env: {},
      restart: { ...DEFAULT_RESTART, backoff: { ...DEFAULT_RESTART.backoff, maxMs: 5000 }, stableAfterMs: 5000 },
      stop: DEFAULT_STOP,
      output: { maxLines: 10, maxBytes: 1_048_576 },
    });
  });

  test('readiness checks get their kind and defaults', () => {
    const ready = (value: unknown) => normalizeConfig(node({ ready: value }), FROM_FILE).spec.nodes[0]?.ready;
    expect(ready({ log: { pattern: '^listening' } })).toStrictEqual({
      kind: 'log',
      pattern: '^listening',
      stream: 'both',
      count: 1,
      timeoutMs: 30_000,
      intervalMs: 250,
      initialDelayMs: 0,
    });
    expect(ready({ tcp: { port: 5432 } })).toStrictEqual({
      kind: 'tcp',
      host: '127.0.0.1',
      port: 5432,
      timeoutMs: 30_000,
      intervalMs: 250,
      initialDelayMs: 0,
    });
    expect(ready({ http: { url: 'https://localhost/health' } })).toStrictEqual({
      kind: 'http',
      url: 'https://localhost/health',
      method: 'GET',
      headers: {},
      timeoutMs: 30_000,
      intervalMs: 250,
      initialDelayMs: 0,
    });
    expect(ready(null)).toBeNull();
  });

  test('a shell string command becomes /bin/sh -c', () => {
    const { spec } = normalizeConfig(node({ shell: true, command: 'node server.js | tee log' }), FROM_FILE);
    expect(spec.nodes[0]?.command).toEqual(['/bin/sh', '-c', 'node server.js | tee log']);
  });

  test('signal names are accepted without the SIG prefix and in any case', () => {
    const signal = (value: string) => normalizeConfig(node({ stop: { signal: value } }), FROM_FILE).spec.nodes[0]?.stop.signal;
    expect(signal('TERM')).toBe('SIGTERM');
    expect(signal('hup')).toBe('SIGHUP');
    expect(signal('SIGUSR2')).toBe('SIGUSR2');
  });

  test('cwd resolves against baseDir; an absolute cwd is kept', () => {
    const cwd = (value: string, options: NormalizeConfigOptions) =>
      normalizeConfig(node({ cwd: value }), options).spec.nodes[0]?.cwd;
    expect(cwd('../other', FROM_FILE)).toBe(resolve(BASE_DIR, '../other'));
    expect(cwd('/opt/app', FROM_FILE)).toBe('/opt/app');
    expect(cwd('sub', { baseDir: '/tmp/base', configPath: CONFIG_PATH })).toBe('/tmp/base/sub');
  });

  test('without a config path, configPath is null and cwd defaults to process.cwd()', () => {
    const { spec } = normalizeConfig(node({}));
    expect(spec.configPath).toBeNull();
    expect(spec.nodes[0]?.cwd).toBe(process.cwd());
  });

  test('a relative configPath is made absolute', () => {
    const { spec } = normalizeConfig(node({}), { configPath: 'drover.yaml' });
    expect(spec.configPath).toBe(resolve('drover.yaml'));
  });

  test('the result is deeply frozen', () => {
    const loaded = normalizeConfig(node({ env: { A: 'b' } }), FROM_FILE);
    const first = loaded.spec.nodes[0];
    expect(Object.isFrozen(loaded)).toBe(true);
    expect(Object.isFrozen(loaded.warnings)).toBe(true);
    expect(Object.isFrozen(loaded.spec.nodes)).toBe(true);
    expect(Object.isFrozen(first?.command)).toBe(true);
    expect(Object.isFrozen(first?.env)).toBe(true);
    expect(Object.isFrozen(first?.restart.backoff)).toBe(true);
  });

  test('the input object is not modified', () => {
    const input = node({ stop: { signal: 'TERM' } });
    const copy = structuredClone(input);
    normalizeConfig(input, FROM_FILE);
    expect(input).toEqual(copy);
    expect(Object.isFrozen(input)).toBe(false);
  });
});

describe('normalizeConfig: errors', () => {
  test('a wrong type names the path, what was expected and what was received with its type', () => {
    const error = getConfigError({ name: 'ring', nodes: { a: { command: 42 } } });
    expect(error.code).toBe('ERR_CONFIG_INVALID');
    expect(error.path).toBe(CONFIG_PATH);
    expect(error.issues).toEqual([{ path: 'nodes.a.command', message: 'expected an array of strings, got 42 (number)' }]);
    expect(error.message).toBe(
      `Invalid config ${CONFIG_PATH}:\n  - nodes.a.command: expected an array of strings, got 42 (number)`,
    );
  });

  test('every problem is collected in one throw', () => {
    const error = getConfigError({
      name: 'bad name!',
      nodes: {
        a: { command: [], restart: { policy: 'sometimes', backoff: { jitter: 2 } } },
        b: {
          command: ['', 'x'],
          ready: { tcp: { port: 70_000 }, timeout: '5 minutes' },
          output: { maxBytes: '1MB' },
        },
        'c!': { command: ['x'] },
      },
    });
    expect(error.issues).toEqual([
      { path: 'name', message: expect.stringMatching(/^expected a cluster name .*, got "bad name!" \(string\)$/) },
      { path: 'nodes.a.command', message: 'expected a non-empty array of strings, got [] (array)' },
      { path: 'nodes.a.restart.policy', message: 'expected one of no, on-failure, always, got "sometimes" (string)' },
      { path: 'nodes.a.restart.backoff.jitter', message: 'expected a number from 0 to 1, got 2 (number)' },
      { path: 'nodes.b.command.0', message: 'expected a non-empty string, got "" (string)' },
      { path: 'nodes.b.ready.tcp.port', message: 'expected an integer from 1 to 65535, got 70000 (number)' },
      { path: 'nodes.b.ready.timeout', message: expect.stringContaining('got "5 minutes" (string); unit "minutes" is not one of ms, s, m, h') },
      { path: 'nodes.b.output.maxBytes', message: expect.stringContaining('got "1MB" (string); unit "MB" is not one of B, KiB, MiB, GiB') },
      { path: 'nodes.c!', message: expect.stringMatching(/^expected a node name .*, got "c!" \(string\)$/) },
    ]);
    expect(error.message.split('\n')).toHaveLength(1 + error.issues.length);
  });

  test('missing required keys and a non-object document', () => {
    expect(getConfigError({ nodes: { a: {} } }).issues).toEqual([
      { path: 'name', message: expect.stringMatching(/^expected a cluster name .*, got nothing \(missing\)$/) },
      { path: 'nodes.a.command', message: 'expected an array of strings, got nothing (missing)' },
    ]);
    expect(getConfigError({ name: 'x', nodes: {} }).issues).toEqual([
      { path: 'nodes', message: 'expected at least one node, got {} (object)' },
    ]);
    expect(getConfigError(null).issues).toEqual([{ path: '', message: 'expected an object with name and nodes, got null (null)' }]);
    expect(getConfigError(null, {}).message).toBe('Invalid config object:\n  - expected an object with name and nodes, got null (null)');
  });

  test('a string command without shell: true is refused with a hint', () => {
    const [issue, ...rest] = getConfigError(node({ command: 'node server.js' })).issues;
    expect(rest).toEqual([]);
    expect(issue?.path).toBe('nodes.a.command');
    expect(issue?.message).toMatch(/^expected an array of strings, got "node server.js" \(string\); .*set shell: true/);
  });

  test('an array command with shell: true is refused', () => {
    expect(getConfigError(node({ shell: true })).issues).toEqual([
      { path: 'nodes.a.command', message: expect.stringMatching(/^expected a string \(shell: true .*\), got \["node","a.js"\] \(array\)/) },
    ]);
  });

  test('a bad regex in ready.log names the regex error', () => {
    expect(getConfigError(node({ ready: { log: { pattern: 'listening (on' } } })).issues).toEqual([
      {
        path: 'nodes.a.ready.log.pattern',
        message: 'expected a regular expression in RE2 syntax, got "listening (on" (string); missing closing ): `listening (on`',
      },
    ]);
  });

  test('two readiness kinds at once are refused, and so is none', () => {
    expect(
      getConfigError(node({ ready: { log: { pattern: 'up' }, tcp: { port: 80 } } })).issues,
    ).toEqual([{ path: 'nodes.a.ready', message: 'expected exactly one of log, tcp, http, exec, exit, all or any, got log and tcp' }]);
    expect(getConfigError(node({ ready: { timeout: '1s' } })).issues).toEqual([
      { path: 'nodes.a.ready', message: 'expected exactly one of log, tcp, http, exec, exit, all or any, got none of them' },
    ]);
  });

  test('a section of the wrong type gets one issue', () => {
    expect(getConfigError(node({ ready: ['log'] })).issues).toEqual([
      { path: 'nodes.a.ready', message: 'expected an object with one of log, tcp, http, exec, exit, all, any, got ["log"] (array)' },
    ]);
    expect(getConfigError({ name: 'ring', nodes: { a: 'node a.js' } }).issues).toEqual([
      { path: 'nodes.a', message: expect.stringMatching(/^expected an object with command .*, got "node a.js" \(string\)$/) },
    ]);
  });

  test('the readiness-kind rule is reported together with problems inside the kinds', () => {
    const { issues } = getConfigError(node({ ready: { tcp: { port: 0 }, http: { url: 'not a url' } } }));
    expect(issues.map((issue) => issue.path)).toEqual(['nodes.a.ready.tcp.port', 'nodes.a.ready.http.url', 'nodes.a.ready']);
    expect(issues[1]?.message).toBe('expected an http:// or https:// URL, got "not a url" (string)');
  });

  test('an invalid signal is refused with a did-you-mean hint', () => {
    expect(getConfigError(node({ stop: { signal: 'SIGTREM' } })).issues).toEqual([
      {
        path: 'nodes.a.stop.signal',
        message: expect.stringMatching(/^expected a signal name .*, got "SIGTREM" \(string\); did you mean "SIGTERM"\?$/),
      },
    ]);
    expect(getConfigError(node({ stop: { signal: 15 } })).issues[0]?.message).toMatch(/got 15 \(number\)$/);
  });

  test('env values must be strings, numbers or booleans, and names must not contain "="', () => {
    expect(getConfigError(node({ env: { A: null, 'B=C': 'x', D: { nested: true } } })).issues).toEqual([
      { path: 'nodes.a.env.A', message: 'expected a string, number or boolean, got null (null)' },
      { path: 'nodes.a.env.B=C', message: 'expected an environment variable name (non-empty, without "="), got "B=C" (string)' },
      { path: 'nodes.a.env.D', message: 'expected a string, number or boolean, got {"nested":true} (object)' },
    ]);
  });

  test('the error message is not affected by zod default wording', () => {
    const { message } = getConfigError({ name: 7, nodes: [] });
    expect(message).not.toMatch(/Invalid input|received/);
    expect(message).toContain('name: expected a cluster name');
    expect(message).toContain('got 7 (number)');
    expect(message).toContain('nodes: expected an object mapping node names to nodes, got [] (array)');
  });
});

describe('normalizeConfig: unknown keys', () => {
  const input = {
    name: 'ring',
    nodse: {},
    nodes: { a: { command: ['x'], restart: { maxRestart: 3, backoff: { factor: 2 } }, colour: 'red' } },
  };

  test('with strict: false, are warnings with a did-you-mean hint, and are ignored', () => {
    const { spec, warnings } = normalizeConfig(input, { ...FROM_FILE, strict: false });
    expect(warnings).toEqual([
      { path: 'nodse', message: 'unknown key; did you mean "nodes"?' },
      { path: 'nodes.a.restart.maxRestart', message: 'unknown key; did you mean "maxRestarts"?' },
      { path: 'nodes.a.restart.backoff.factor', message: 'unknown key; known keys: initial, max, multiplier, jitter, jitterMode' },
      { path: 'nodes.a.colour', message: 'unknown key; known keys: command, shell, cwd, env, envFile, env_file, ports, replicas, dependsOn, ready, minUptime, liveness, restart, stop, output, pty, limits, clock, telemetry, watch, extends, profiles' },
    ]);
    expect(spec.nodes[0]?.restart.maxRestarts).toBe(5);
  });

  test('are errors by default (strict)', () => {
    const error = getConfigError(input, FROM_FILE);
    expect(error.issues).toHaveLength(4);
    expect(error.message).toContain('  - nodes.a.restart.maxRestart: unknown key; did you mean "maxRestarts"?');
  });

  test('are listed alongside schema errors; a misspelled required key is one issue', () => {
    const error = getConfigError({ name: 'ring', nodes: { a: { comand: ['x'], restart: { policy: 'sometimes', maxRestart: 3 } } } });
    expect(error.issues).toEqual([
      { path: 'nodes.a.comand', message: '"comand" is not a key; did you mean "command"? (nodes.a.command is required: an array of strings)' },
      { path: 'nodes.a.restart.policy', message: 'expected one of no, on-failure, always, got "sometimes" (string)' },
      { path: 'nodes.a.restart.maxRestart', message: 'unknown key; did you mean "maxRestarts"?' },
    ]);
  });

  test('with strict: false, an invalid config lists its warnings after its errors', () => {
    const error = getConfigError({ name: 'ring', nodes: { a: { command: 42, colour: 'red', redy: null } } }, { ...FROM_FILE, strict: false });
    expect(error.issues).toEqual([{ path: 'nodes.a.command', message: 'expected an array of strings, got 42 (number)' }]);
    expect(error.warnings.map((warning) => warning.path)).toEqual(['nodes.a.colour', 'nodes.a.redy']);
    expect(error.message).toBe(
      `Invalid config ${CONFIG_PATH}:\n` +
        '  - nodes.a.command: expected an array of strings, got 42 (number)\n' +
        'Warnings:\n' +
        `  - nodes.a.colour: ${error.warnings[0]!.message}\n` +
        '  - nodes.a.redy: unknown key; did you mean "ready"?',
    );
  });
});

describe('normalizeConfig: pty and limits', () => {
  test('pass through to the node spec, with sizes and "unlimited"', () => {
    const { spec } = normalizeConfig(
      { name: 'x', nodes: { a: { command: ['sh'], pty: { columns: 100 }, limits: { nofile: 64, as: '1GiB', core: { soft: 0, hard: 'unlimited' } } }, b: { command: ['sh'] } } },
      FROM_FILE,
    );
    expect(spec.nodes[0]).toMatchObject({ pty: { columns: 100, rows: 24 }, limits: { nofile: 64, as: 1024 ** 3, core: { soft: 0, hard: 'unlimited' } } });
    expect(spec.nodes[1]).not.toHaveProperty('pty');
    expect(spec.nodes[1]).not.toHaveProperty('limits');
  });

  test('bad values are errors naming their path', () => {
    let caught: unknown;
    try {
      normalizeConfig({ name: 'x', nodes: { a: { command: ['sh'], pty: 'yes', limits: { nofile: -1, core: { soft: 1 } } } } }, FROM_FILE);
    } catch (error) {
      caught = error;
    }
    const paths = (caught as ConfigInvalidError).issues.map((i) => i.path).sort();
    expect(paths).toEqual(['nodes.a.limits.core.hard', 'nodes.a.limits.nofile', 'nodes.a.pty']);
  });
});

describe('normalizeConfig: minUptime', () => {
  test('defaults to 500 ms, takes a duration, and is bounded like every duration', () => {
    const nodes = (fields: Record<string, unknown>) => normalizeConfig(node(fields), FROM_FILE).spec.nodes[0]!;
    expect(nodes({}).minUptimeMs).toBe(500);
    expect(nodes({ minUptime: '2s' }).minUptimeMs).toBe(2000);
    expect(nodes({ minUptime: 0 }).minUptimeMs).toBe(0);
    expect(getConfigError(node({ minUptime: '600h' })).issues).toEqual([
      { path: 'nodes.a.minUptime', message: expect.stringMatching(/^expected a duration: .*, got "600h" \(string\); at most 2147483647 ms/) },
    ]);
  });

  test('beside a ready check it would do nothing, so it is an error', () => {
    expect(getConfigError(node({ minUptime: '1s', ready: { log: '^up' } })).issues).toEqual([
      { path: 'nodes.a.minUptime', message: 'expected minUptime only on a node without a ready check, got 1000 (number); its ready check decides when it is ready; remove one of them' },
    ]);
  });
});

describe('normalizeConfig: clock', () => {
  test('clock: true allows clock faults; false or absent leaves the key out; anything else is refused', () => {
    expect(normalizeConfig(node({ clock: true }), FROM_FILE).spec.nodes[0]?.clock).toBe(true);
    expect(normalizeConfig(node({ clock: false }), FROM_FILE).spec.nodes[0]).not.toHaveProperty('clock');
    expect(normalizeConfig(node({}), FROM_FILE).spec.nodes[0]).not.toHaveProperty('clock');
    expect(getConfigError(node({ clock: 'yes' })).issues).toEqual([{ path: 'nodes.a.clock', message: 'expected true or false, got "yes" (string)' }]);
  });
});
