import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import type { ClusterSpec } from '../../contract/types.js';
import { isDroverError, type DroverError } from '../../contract/errors.js';
import { loadConfig, type ConfigInvalidError, type LoadConfigOptions } from '../../config/index.js';

const FIXTURES_DIR = fileURLToPath(new URL('fixtures/', import.meta.url)).replace(/\/$/, '');
const fixture = (name: string): string => `${FIXTURES_DIR}/${name}`;

/** Runs `loadConfig` expecting a DroverError with `code`, and returns it. */
async function getLoadError(path: string, code: string, options?: LoadConfigOptions): Promise<DroverError> {
  const error: unknown = await loadConfig(path, options).then(
    () => new Error(`expected loadConfig(${path}) to reject`),
    (rejection: unknown) => rejection,
  );
  if (isDroverError(error) && error.code === code) return error;
  throw error;
}

describe('loadConfig', () => {
  test('loads a .yaml file end to end', async () => {
    const { spec, warnings } = await loadConfig(fixture('ring.yaml'));
    expect(warnings).toEqual([]);
    expect(spec).toStrictEqual<ClusterSpec>({
      name: 'ring',
      configPath: fixture('ring.yaml'),
      onNodeFailure: 'continue',
      nodes: [
        {
          name: 'b',
          command: ['node', 'b.js'],
          cwd: `${FIXTURES_DIR}/services/b`,
          env: { LOG_LEVEL: 'debug', PORT: '8080', VERBOSE: 'true' },
          ready: { kind: 'tcp', host: '127.0.0.1', port: 8080, timeoutMs: 5000, intervalMs: 250, initialDelayMs: 0 },
          restart: {
            policy: 'always',
            backoff: { initialMs: 50, maxMs: 2000, multiplier: 1.5, jitter: 0 },
            maxRestarts: 3,
            windowMs: 60_000,
            successExitCodes: [0],
            stableAfterMs: 2000,
          },
          stop: { signal: 'SIGINT', timeoutMs: 2500 },
          output: { maxLines: 200, maxBytes: 65_536 },
          ports: [],
          replicas: 1,
          dependsOn: {},
          liveness: null,
          minUptimeMs: 500,
        },
        {
          name: 'a',
          command: ['/bin/sh', '-c', 'echo ready && sleep 1000'],
          cwd: FIXTURES_DIR,
          env: {},
          ready: { kind: 'log', pattern: '^ready$', stream: 'stdout', count: 1, timeoutMs: 30_000, intervalMs: 250, initialDelayMs: 0 },
          restart: {
            policy: 'on-failure',
            backoff: { initialMs: 100, maxMs: 30_000, multiplier: 2, jitter: 0.2 },
            maxRestarts: 5,
            windowMs: 60_000,
            successExitCodes: [0],
            stableAfterMs: 30_000,
          },
          stop: { signal: 'SIGTERM', timeoutMs: 10_000 },
          output: { maxLines: 1000, maxBytes: 1_048_576 },
          ports: [],
          replicas: 1,
          dependsOn: {},
          liveness: null,
          minUptimeMs: 500,
        },
      ],
    });
    expect(Object.isFrozen(spec.nodes[0]?.ready)).toBe(true);
  });

  test('loads a .json file', async () => {
    const { spec } = await loadConfig(fixture('ring.json'));
    expect(spec.nodes.map((node) => [node.name, node.ready])).toEqual([
      ['a', { kind: 'http', url: 'http://127.0.0.1:8080/health', method: 'GET', status: 204, headers: {}, timeoutMs: 30_000, intervalMs: 250, initialDelayMs: 0 }],
    ]);
  });

  test('a relative path resolves against process.cwd()', async () => {
    const relative = fixture('ring.json').slice(process.cwd().length + 1);
    const { spec } = await loadConfig(relative);
    expect(spec.configPath).toBe(fixture('ring.json'));
  });

  test('a missing file is ERR_CONFIG_READ naming the path', async () => {
    const path = fixture('does-not-exist.yaml');
    const error = await getLoadError(path, 'ERR_CONFIG_READ');
    expect(error.message).toBe(`Cannot read config ${path}: no such file`);
    expect(error).toMatchObject({ path, errno: 'ENOENT', syscall: 'stat' });
    expect(error.cause).toBeInstanceOf(Error);
  });

  test('a directory is ERR_CONFIG_READ', async () => {
    const error = await getLoadError(FIXTURES_DIR, 'ERR_CONFIG_READ');
    expect(error.message).toContain(FIXTURES_DIR);
    expect(error).toMatchObject({ errno: 'EISDIR' });
  });

  test('a YAML syntax error is ERR_CONFIG_INVALID with line:col', async () => {
    const path = fixture('syntax-error.yaml');
    const error = (await getLoadError(path, 'ERR_CONFIG_INVALID')) as ConfigInvalidError;
    expect(error.path).toBe(path);
    expect(error.issues[0]).toEqual({
      path: '',
      message: 'YAML syntax error at 4:14: Nested mappings are not allowed in compact mappings',
    });
    expect(error.message).toMatch(new RegExp(`^Invalid config ${path}:\\n  - YAML syntax error at 4:14: `));
  });

  test('validation errors name the file and list every issue', async () => {
    const path = fixture('invalid.yaml');
    const error = (await getLoadError(path, 'ERR_CONFIG_INVALID')) as ConfigInvalidError;
    expect(error.message).toBe(
      `Invalid config ${path}:\n` +
        '  - nodes.a.command: expected an array of strings, got 42 (number)\n' +
        '  - nodes.a.restart.policy: expected one of no, on-failure, always, got "sometimes" (string)',
    );
  });

  test('unknown keys are errors by default, warnings with strict: false', async () => {
    const path = fixture('unknown-key.yaml');
    const { warnings } = await loadConfig(path, { strict: false });
    expect(warnings).toEqual([{ path: 'nodes.a.comand', message: 'unknown key; did you mean "command"?' }]);
    const error = (await getLoadError(path, 'ERR_CONFIG_INVALID')) as ConfigInvalidError;
    expect(error.issues).toEqual(warnings);
  });
});
