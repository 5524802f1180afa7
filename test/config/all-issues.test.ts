/**
 * Every problem of a config in one run: schema issues, unknown keys, cross-field rules
 * (dependencies, templates) and unreadable env files together, not in rounds; and a missing key
 * paired with the unknown key one edit away as one issue. Pure: no processes.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { loadConfig, normalizeConfig, type ConfigInvalidError, type NormalizeConfigOptions } from '../../config/index.js';
import { isDroverError } from '../../contract/errors.js';

const dir = mkdtempSync(path.join(tmpdir(), 'drover-issues-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function issuesOf(input: unknown, options: NormalizeConfigOptions = { baseDir: dir }): { path: string; message: string }[] {
  try {
    normalizeConfig(input, options);
  } catch (error) {
    if (isDroverError(error, 'ERR_CONFIG_INVALID')) return [...(error as ConfigInvalidError).issues];
    throw error;
  }
  throw new Error('expected the config to be invalid');
}

describe('one run reports every problem', () => {
  test('a misspelled required key is one issue: the unknown key with its did-you-mean and what is missing', () => {
    const expected = [{ path: 'nodes.a.comand', message: '"comand" is not a key; did you mean "command"? (nodes.a.command is required: an array of strings)' }];
    expect(issuesOf({ name: 'x', nodes: { a: { comand: ['node', 'a.js'] } } })).toEqual(expected);
    // With strict: false too: the missing key makes it an error, and it is no warning besides.
    expect(issuesOf({ name: 'x', nodes: { a: { comand: ['node', 'a.js'] } } }, { baseDir: dir, strict: false })).toEqual(expected);
    expect(issuesOf({ nmae: 'x', nodes: { a: { command: ['x'] } } })).toEqual([
      { path: 'nmae', message: '"nmae" is not a key; did you mean "name"? (name is required: a cluster name of letters, digits, "_", "." and "-" that starts with a letter or digit)' },
    ]);
  });

  test('schema issues, an unknown dependency, unknown templates and a missing env_file come together', () => {
    const issues = issuesOf({
      name: 'shop',
      nodes: {
        a: {
          comand: ['node', 'a.js'],
          dependsOn: ['bb'],
          env: { URL: 'http://127.0.0.1:{{nodes.b.ports.htp}}' },
        },
        b: {
          command: ['node', 'b.js'],
          ports: ['http'],
          replicas: -1,
          ready: { tcp: { port: '{{ports.web}}' } },
          env_file: 'missing.env',
        },
      },
    });
    expect(issues.map((issue) => issue.path)).toEqual([
      'nodes.a.comand',
      'nodes.b.replicas',
      'nodes.a.dependsOn.0',
      'nodes.a.env.URL',
      'nodes.b.ready.tcp.port',
      'nodes.b.env_file',
    ]);
    expect(issues[2]!.message).toBe('expected the name of another node, got "bb" (string); did you mean "b"?');
    expect(issues[3]!.message).toBe('expected a port of node b, got "{{nodes.b.ports.htp}}" (string); did you mean "http"?');
    expect(issues[5]!.message).toMatch(/^expected a regular file of at most 1 MiB, got "missing.env" \(string\); .*missing\.env: no such file$/);
  });

  test('a rule that needs an invalid field is skipped, not reported with a wrong reason', () => {
    // ports is invalid, so whether {{ports.http}} names one of them is unknown: only the ports issue.
    expect(issuesOf({ name: 'x', nodes: { a: { command: ['x', '{{ports.http}}'], ports: ['http', 7] } } }).map((issue) => issue.path)).toEqual([
      'nodes.a.ports.1',
    ]);
    // A node that is no object still exists as a name for dependsOn.
    expect(issuesOf({ name: 'x', nodes: { a: { command: ['x'], dependsOn: ['b'] }, b: 'oops' } }).map((issue) => issue.path)).toEqual(['nodes.b']);
  });

  test('from a file: the YAML of the issue report', async () => {
    const file = path.join(dir, 'drover.yaml');
    writeFileSync(
      file,
      [
        'name: shop',
        'nodes:',
        '  a:',
        '    comand: [node, a.js]',
        '    dependsOn: [bb]',
        '    env: { URL: "http://127.0.0.1:{{nodes.b.ports.htp}}" }',
        '  b:',
        '    command: [node, b.js]',
        '    ports: [http]',
        '    ready: { tcp: { port: "{{ports.http}}" } }',
        '',
      ].join('\n'),
    );
    const error = (await loadConfig(file).catch((rejection: unknown) => rejection)) as ConfigInvalidError;
    expect(error.code).toBe('ERR_CONFIG_INVALID');
    expect(error.message).toBe(
      `Invalid config ${file}:\n` +
        '  - nodes.a.comand: "comand" is not a key; did you mean "command"? (nodes.a.command is required: an array of strings)\n' +
        '  - nodes.a.dependsOn.0: expected the name of another node, got "bb" (string); did you mean "b"?\n' +
        '  - nodes.a.env.URL: expected a port of node b, got "{{nodes.b.ports.htp}}" (string); did you mean "http"?',
    );
  });
});

describe('every issue has a place', () => {
  test('an empty key is named "" in the path, never the whole document\'s empty path', () => {
    expect(issuesOf({ '': 1, name: 'x', nodes: { a: { command: ['x'], env: { '': 'v' } } } })).toEqual([
      { path: 'nodes.a.env.""', message: 'expected an environment variable name (non-empty, without "="), got "" (string)' },
      { path: '""', message: 'unknown key; known keys: $schema, include, name, nodes, onNodeFailure, telemetry, output, network' },
    ]);
  });
});
