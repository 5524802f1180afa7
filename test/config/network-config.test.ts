/** drover.yaml `network:` (cluster): absent by default, `faults` defaults to false, clear errors. */
import { describe, expect, test } from 'vitest';
import { normalizeConfig, type ConfigInvalidError } from '../../config/index.js';
import { isDroverError } from '../../contract/errors.js';

const FROM_FILE = { configPath: '/srv/ring/drover.yaml' };
const NODES = { a: { command: ['node'] } };

function getIssues(input: unknown): ConfigInvalidError['issues'] {
  try {
    normalizeConfig(input, FROM_FILE);
  } catch (error) {
    if (isDroverError(error, 'ERR_CONFIG_INVALID')) return (error as ConfigInvalidError).issues;
    throw error;
  }
  throw new Error('expected ERR_CONFIG_INVALID');
}

describe('network config', () => {
  test('is absent from the spec unless written', () => {
    expect(normalizeConfig({ name: 'ring', nodes: NODES }, FROM_FILE).spec.network).toBeUndefined();
    expect(normalizeConfig({ name: 'ring', network: null, nodes: NODES }, FROM_FILE).spec.network).toBeUndefined();
  });

  test('faults defaults to false inside a written section, and keeps true', () => {
    expect(normalizeConfig({ name: 'ring', network: {}, nodes: NODES }, FROM_FILE).spec.network).toStrictEqual({ faults: false });
    expect(normalizeConfig({ name: 'ring', network: { faults: true }, nodes: NODES }, FROM_FILE).spec.network).toStrictEqual({ faults: true });
  });

  test('names the key that is wrong', () => {
    const issues = getIssues({ name: 'ring', network: { faults: 'yes', relay: 1 }, nodes: NODES });
    expect(issues.map((i) => `${i.path}: ${i.message}`).join('\n')).toMatch(/network\.faults: expected true or false/);
    expect(issues.map((i) => i.path)).toContain('network.relay');
    expect(getIssues({ name: 'ring', network: 3, nodes: NODES }).map((i) => `${i.path}: ${i.message}`)).toEqual([expect.stringMatching(/^network: expected an object with faults/)]);
  });
});
