/**
 * examples/grafana/drover.json is generated from telemetry/grafana-dashboard.ts and committed; this
 * test fails when it is stale. Regenerate with `npm run build:ts && node examples/grafana/generate.mjs`
 * (or DROVER_WRITE_DASHBOARD=1 npx vitest run test/telemetry/grafana-dashboard.test.ts).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createGrafanaDashboard, getDashboardQueries, getPrometheusName } from '../../telemetry/grafana-dashboard.js';
import * as semconv from '../../telemetry/semconv.js';

const DASHBOARD_PATH = fileURLToPath(new URL('../../examples/grafana/drover.json', import.meta.url));

describe('Grafana dashboard', () => {
  it('examples/grafana/drover.json matches the generator', () => {
    const expected = `${JSON.stringify(createGrafanaDashboard(), null, 2)}\n`;
    if (process.env['DROVER_WRITE_DASHBOARD'] === '1') writeFileSync(DASHBOARD_PATH, expected);
    expect(readFileSync(DASHBOARD_PATH, 'utf8'), 'examples/grafana/drover.json is stale; see the comment at the top of this test').toBe(expected);
  });

  it('is deterministic', () => {
    expect(JSON.stringify(createGrafanaDashboard())).toBe(JSON.stringify(createGrafanaDashboard()));
  });

  it('queries only metrics drover exports, filtered by the node variable', () => {
    const known = new Set(
      Object.entries(semconv)
        .filter(([key]) => key.startsWith('METRIC_'))
        .flatMap(([, name]) => ['', '_total', '_bucket'].map((suffix) => getPrometheusName(name as string, suffix as '' | '_total' | '_bucket'))),
    );
    const labels = new Set(
      Object.entries(semconv)
        .filter(([key]) => key.startsWith('ATTR_'))
        .map(([, name]) => getPrometheusName(name as string)),
    );
    const queries = getDashboardQueries(createGrafanaDashboard());
    expect(queries.length).toBeGreaterThanOrEqual(18);
    for (const { panel, expr } of queries) {
      // Metric selectors are the names followed by `{` or `[`, or alone in parentheses (labels never are).
      const metricNames = [...expr.matchAll(/\b((?:drover|process)_[a-z_]+)(?=[{[])|\(((?:drover|process)_[a-z_]+)\)/g)]
        .map((match) => (match[1] ?? match[2])!)
        .filter((name) => expr.includes(`${name}{`) || expr.includes(`${name}[`) || !labels.has(name));
      expect(metricNames.length, `${panel}: ${expr}`).toBeGreaterThan(0);
      for (const name of metricNames) expect(known.has(name), `${panel}: unknown metric ${name}`).toBe(true);
      if (!expr.includes('drover_cluster_nodes') && !expr.includes('sample_duration')) expect(expr, panel).toContain('drover_node_name=~"$node"');
    }
  });
});
