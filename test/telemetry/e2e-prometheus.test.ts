/**
 * End to end with a real Prometheus server (Debian's `prometheus` package; `.ci/run` installs it):
 * `drover up` runs the ring example with `telemetry.prometheus.port` from drover.yaml, Prometheus
 * scrapes drover's exporter on 127.0.0.1, and every PromQL query of the bundled Grafana dashboard
 * returns data while the cluster runs and after a node is SIGKILLed and restarted.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import getPort from 'get-port';
import { afterEach, describe, expect, it } from 'vitest';
import { createGrafanaDashboard, getDashboardQueries } from '../../telemetry/grafana-dashboard.js';
import { CliProcess, type PsRow, readPsRows, runCli } from '../helpers/cli.js';
import { expectAllGone, expectNoShepherds } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';

const RING_NODE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'ring', 'node.mjs');
const PROMETHEUS = process.env['DROVER_PROMETHEUS_BIN'] ?? 'prometheus';
/**
 * Panels whose series exist only once a restart happened (a gauge set by the restart). The
 * Restarts panel is not one: its counter exists at 0 per reason from the node's start, so that
 * increase() shows the first restart.
 */
const RESTART_PANELS = new Set(['Backoff delay']);

let up: CliProcess | null = null;
let prometheus: ChildProcess | null = null;
const pids = new Set<number>();

afterEach(async () => {
  if (up !== null && up.child.exitCode === null && up.child.signalCode === null) up.child.kill('SIGKILL');
  await up?.closed;
  up = null;
  if (prometheus !== null && prometheus.exitCode === null && prometheus.signalCode === null) {
    const exited = new Promise((resolve) => prometheus?.once('exit', resolve));
    prometheus.kill('SIGKILL');
    await exited;
  }
  prometheus = null;
  if (pids.size > 0) await expectAllGone(pids);
  pids.clear();
  await expectNoShepherds();
});


function ps(file: string, env: NodeJS.ProcessEnv): Promise<PsRow[]> {
  return readPsRows(file, env, pids);
}

interface QueryResult {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

/** One instant PromQL query of a dashboard expression ($node = every node, 30 s windows). */
async function query(baseUrl: string, panel: string, expr: string): Promise<QueryResult[]> {
  const promql = expr.replaceAll('$node', '.*').replaceAll('$__rate_interval', '30s');
  const response = await fetch(`${baseUrl}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await response.json()) as { status: string; error?: string; data?: { result: QueryResult[] } };
  if (body.status !== 'success') throw new Error(`${panel}: ${promql}: ${body.error}`);
  return body.data?.result ?? [];
}

/** Queries whose result is empty right now, as `panel: expr`. */
async function getEmptyQueries(baseUrl: string, queries: { panel: string; expr: string }[]): Promise<string[]> {
  const empty: string[] = [];
  for (const { panel, expr } of queries) {
    if ((await query(baseUrl, panel, expr)).length === 0) empty.push(`${panel}: ${expr}`);
  }
  return empty;
}

describe('drover up → Prometheus → Grafana dashboard queries', () => {
  it('every dashboard query returns data while the ring runs and after a node is killed and restarted', async () => {
    const version = spawnSync(PROMETHEUS, ['--version'], { encoding: 'utf8' });
    expect(version.error, `Prometheus is needed: apt-get install -y prometheus (.ci/run does), or set DROVER_PROMETHEUS_BIN`).toBeUndefined();

    const dir = mkdtempSync(path.join(tmpdir(), 'drover-prom-'));
    const [metricsPort, prometheusPort, ...ringPorts] = await Promise.all([getPort(), getPort(), getPort(), getPort(), getPort()]);
    const nodes = ['a', 'b', 'c']
      .map((name, i) => {
        const peers = ringPorts.filter((_, j) => j !== i).map((p) => `127.0.0.1:${p}`).join(',');
        return [
          `  ${name}:`,
          `    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(RING_NODE)}]`,
          `    env: { PORT: ${ringPorts[i]}, PEERS: "${peers}" }`,
          `    ready: { http: { url: "http://127.0.0.1:${ringPorts[i]}/health" }, timeout: 10s, interval: 50ms }`,
          `    restart: { policy: on-failure, backoff: { initial: 50ms, max: 1s } }`,
          `    stop: { timeout: 3s }`,
          // b allows clock faults: one stays active so the dashboard's fault annotation has data.
          ...(name === 'b' ? ['    clock: true'] : []),
        ].join('\n');
      })
      .join('\n');
    const file = path.join(dir, 'drover.yaml');
    writeFileSync(file, `name: ring\ntelemetry: { prometheus: { port: ${metricsPort} } }\nnodes:\n${nodes}\n`);
    const env = { DROVER_STATE_DIR: path.join(dir, 'state') };

    up = new CliProcess(['up', '-f', file], env);
    const upProcess = up;
    await waitFor(() => upProcess.stdout, (out) => out.includes('3/3 nodes ready'), { timeoutMs: 20_000, describe: 'drover up to report 3/3 nodes ready' });
    await ps(file, env);
    const fault = await runCli(['fault', 'clock', 'b', '+1s', '-f', file], env);
    expect(fault.stderr, 'drover fault clock needs libfaketime: bash scripts/install-test-deps.sh').toBe('');

    writeFileSync(
      path.join(dir, 'prometheus.yml'),
      `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: drover\n    static_configs:\n      - targets: ["127.0.0.1:${metricsPort}"]\n`,
    );
    prometheus = spawn(
      PROMETHEUS,
      [
        `--config.file=${path.join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${path.join(dir, 'tsdb')}`,
        `--web.listen-address=127.0.0.1:${prometheusPort}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let prometheusLog = '';
    prometheus.stderr?.on('data', (chunk: Buffer) => (prometheusLog += chunk.toString()));
    const baseUrl = `http://127.0.0.1:${prometheusPort}`;
    const queries = getDashboardQueries(createGrafanaDashboard());

    const steady = queries.filter((query) => !RESTART_PANELS.has(query.panel));
    await waitFor(() => getEmptyQueries(baseUrl, steady), (empty) => empty.length === 0, {
      timeoutMs: 20_000,
      intervalMs: 500,
      describe: `every dashboard query (but restart panels) to return data (prometheus log: ${prometheusLog.slice(-500)})`,
    });

    const victim = (await ps(file, env)).find((row) => row.name === 'a')!;
    process.kill(victim.pid!, 'SIGKILL');
    await waitFor(() => ps(file, env), (rows) => rows.some((row) => row.name === 'a' && row.state === 'ready' && row.restarts === 1 && row.pid !== victim.pid), {
      timeoutMs: 15_000,
      describe: 'node a restarted and ready',
    });
    const empty = await waitFor(() => getEmptyQueries(baseUrl, queries), (left) => left.length === 0, {
      timeoutMs: 30_000,
      intervalMs: 500,
      describe: 'every dashboard query to return data after the restart',
    });
    expect(empty).toEqual([]);

    // The Restarts panel shows the first crash: increase() over a series that existed at 0 before it.
    const restartsPanel = queries.find((q) => q.panel === 'Restarts')!;
    const crashed = (rows: QueryResult[]) => rows.find((r) => r.metric['drover_node_name'] === 'a' && r.metric['drover_restart_reason'] === 'crashed');
    const shown = await waitFor(() => query(baseUrl, restartsPanel.panel, restartsPanel.expr), (rows) => Number(crashed(rows)?.value[1] ?? 0) > 0, {
      timeoutMs: 15_000,
      intervalMs: 500,
      describe: 'the Restarts panel to show the first crash of node a (increase > 0)',
    });
    expect(Number(crashed(shown)!.value[1])).toBeGreaterThan(0);

    up.child.kill('SIGTERM');
    expect(await up.closed).toBe(0);
  }, 90_000);
});
