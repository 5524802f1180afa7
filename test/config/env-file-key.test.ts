/**
 * `envFile` (the schema's camelCase) and its documented alias `env_file` (docker compose's name):
 * either one works, both at once is an error. Pure: reads test/config/fixtures/node.env.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { normalizeConfig, type ConfigInvalidError } from '../../config/index.js';

const FIXTURES = resolve(fileURLToPath(new URL('.', import.meta.url)), 'fixtures');
const FILE_ENV = { FROM_FILE: 'one', SHARED: 'file', QUOTED: 'a b' };

function envOf(fields: Record<string, unknown>): Readonly<Record<string, string>> {
  return normalizeConfig({ name: 'x', nodes: { a: { command: ['x'], ...fields } } }, { baseDir: FIXTURES }).spec.nodes[0]!.env;
}

function issuesOf(fields: Record<string, unknown>): readonly { path: string; message: string }[] {
  try {
    envOf(fields);
  } catch (error) {
    return (error as ConfigInvalidError).issues;
  }
  throw new Error('expected the config to be invalid');
}

describe('envFile and env_file', () => {
  test('envFile reads the file, as does its alias env_file; env wins over both', () => {
    expect(envOf({ envFile: 'node.env' })).toEqual(FILE_ENV);
    expect(envOf({ env_file: ['node.env'], env: { SHARED: 'env' } })).toEqual({ ...FILE_ENV, SHARED: 'env' });
  });

  test('both at once is an error; a missing file is named under the key it was given with', () => {
    expect(issuesOf({ envFile: 'node.env', env_file: 'node.env' })).toEqual([
      { path: 'nodes.a.env_file', message: 'expected envFile or its alias env_file, not both, got both; list every file under one of them' },
    ]);
    expect(issuesOf({ envFile: ['node.env', 'missing.env'] })).toEqual([
      { path: 'nodes.a.envFile.1', message: `expected a regular file of at most 1 MiB, got "missing.env" (string); ${FIXTURES}/missing.env: no such file` },
    ]);
  });

  test('a misspelling suggests the camelCase key', () => {
    expect(issuesOf({ envFiles: 'node.env' })).toEqual([{ path: 'nodes.a.envFiles', message: 'unknown key; did you mean "envFile"?' }]);
  });
});
