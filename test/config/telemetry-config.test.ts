/** drover.yaml `telemetry:` (cluster) and `nodes.<name>.telemetry` (node): defaults and errors. */
import { describe, expect, test } from 'vitest';
import { normalizeConfig, type ConfigInvalidError } from '../../config/index.js';
import { isDroverError } from '../../contract/errors.js';

const FROM_FILE = { configPath: '/srv/ring/drover.yaml' };

function getIssues(input: unknown): ConfigInvalidError['issues'] {
  try {
    normalizeConfig(input, FROM_FILE);
  } catch (error) {
    if (isDroverError(error, 'ERR_CONFIG_INVALID')) return (error as ConfigInvalidError).issues;
    throw error;
  }
  throw new Error('expected ERR_CONFIG_INVALID');
}

describe('telemetry config', () => {
  test('is absent from the spec unless written', () => {
    const { spec } = normalizeConfig({ name: 'ring', nodes: { a: { command: ['node'] } } }, FROM_FILE);
    expect(spec.telemetry).toBeUndefined();
    expect(spec.nodes[0]?.telemetry).toBeUndefined();
  });

  test('applies every default inside a written section', () => {
    const { spec } = normalizeConfig({ name: 'ring', telemetry: {}, nodes: { a: { command: ['node'], telemetry: {} } } }, FROM_FILE);
    expect(spec.telemetry).toStrictEqual({ serviceName: null, resourceAttributes: {}, prometheusPort: null });
    expect(spec.nodes[0]?.telemetry).toStrictEqual({ logs: false, recordArgs: false, redact: [] });
  });

  test('keeps the values written', () => {
    const { spec, warnings } = normalizeConfig(
      {
        name: 'ring',
        telemetry: { serviceName: 'ring-dev', resourceAttributes: { 'deployment.environment.name': 'dev', 'team.id': 7 }, prometheus: { port: 9465 } },
        nodes: { a: { command: ['node'], telemetry: { logs: true, recordArgs: true, redact: ['--key=\\S+'] } } },
      },
      FROM_FILE,
    );
    expect(warnings).toEqual([]);
    expect(spec.telemetry).toStrictEqual({ serviceName: 'ring-dev', resourceAttributes: { 'deployment.environment.name': 'dev', 'team.id': '7' }, prometheusPort: 9465 });
    expect(spec.nodes[0]?.telemetry).toStrictEqual({ logs: true, recordArgs: true, redact: ['--key=\\S+'] });
  });

  test('reports every problem with its path', () => {
    const issues = getIssues({
      name: 'ring',
      telemetry: { prometheus: { port: 70000 }, serviceName: '' },
      nodes: { a: { command: ['node'], telemetry: { logs: 'yes', redact: ['(unclosed'] } } },
    });
    expect(issues.map((issue) => issue.path).sort()).toEqual(['nodes.a.telemetry.logs', 'nodes.a.telemetry.redact.0', 'telemetry.prometheus.port', 'telemetry.serviceName']);
    expect(issues.find((issue) => issue.path === 'nodes.a.telemetry.redact.0')?.message).toMatch(/^expected a regular expression in RE2 syntax, got "\(unclosed" \(string\); missing closing \)/);
  });
});
