import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import getPort from 'get-port';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanupCliRun, CliProcess, type PsRow, readPsRows, runCli, writeRing as writeRingConfig } from '../helpers/cli.js';
import { expectAllGone, findShepherds, isAlive } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';


let dir: string;
let env: NodeJS.ProcessEnv;
const ups: CliProcess[] = [];
const pids = new Set<number>();

/** The ring example with free ports, in the test's temp dir with its own state dir. */
function writeRing(): Promise<string> {
  return writeRingConfig(dir);
}

function ps(file: string): Promise<PsRow[]> {
  return readPsRows(file, env, pids);
}

function startUp(file: string): CliProcess {
  const up = new CliProcess(['up', '-f', file], env);
  ups.push(up);
  return up;
}

async function waitUntilReady(up: CliProcess): Promise<void> {
  await waitFor(() => up.stdout, (out) => out.includes('3/3 nodes ready'), { timeoutMs: 20_000, describe: 'drover up to report 3/3 nodes ready' });
}

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'drover-cli-'));
  env = { DROVER_STATE_DIR: path.join(dir, 'state') };
});

afterEach(() => cleanupCliRun(ups, pids));

describe('drover CLI', () => {
  it('validate names the bad path and exits 1', async () => {
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, 'name: bad\nnodes: { a: { command: 42 } }\n');
    const result = await runCli(['validate', '-f', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('nodes.a.command');
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('validate accepts the bundled example', async () => {
    const result = await runCli(['validate', '-f', 'examples/ring/drover.yaml']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('valid (cluster ring, 3 nodes: a, b, c)');
  });

  it('ps without a running cluster says how to start one and exits 1', async () => {
    const file = await writeRing();
    const result = await runCli(['ps', '-f', file], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`no running cluster for ${file}; start one with \`drover up -f ${file}\``);
  });

  it('up → ps → kill -9 of a node → restarted and ready → down exits 0 and leaves nothing', async () => {
    const file = await writeRing();
    const up = startUp(file);
    await waitUntilReady(up);
    const rows = await ps(file);
    expect(rows.map((r) => [r.name, r.state, r.restarts])).toEqual([
      ['a', 'ready', 0],
      ['b', 'ready', 0],
      ['c', 'ready', 0],
    ]);
    expect(rows.every((r) => typeof r.pid === 'number' && isAlive(r.pid))).toBe(true);
    expect(statSync(path.join(dir, 'state', 'control.sock')).mode & 0o777).toBe(0o600);
    const shepherds = findShepherds();
    expect(shepherds.length).toBe(3);
    shepherds.forEach((p) => pids.add(p));

    const first = rows[0]!.pid!;
    process.kill(first, 'SIGKILL');
    const after = await waitFor(() => ps(file), (r) => r[0]!.restarts === 1 && r[0]!.state === 'ready', { timeoutMs: 15_000, describe: 'a restarted once and ready' });
    expect(after[0]!.pid).not.toBe(first);
    await waitFor(() => up.stdout, (out) => out.includes('a: killed by SIGKILL; restarting in'), { describe: 'restart announced in up output' });
    findShepherds().forEach((p) => pids.add(p));

    const second = await runCli(['up', '-f', file], env);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain('already running');

    const down = await runCli(['down', '-f', file], env);
    expect(down.stderr).toBe('');
    expect(down.code).toBe(0);
    expect(await up.closed).toBe(0);
    expect(up.stdout).toContain('cluster ring stopped');
  });

  it('kill -9 of `drover up` takes every node and shepherd down within 3 s', async () => {
    const file = await writeRing();
    const up = startUp(file);
    await waitUntilReady(up);
    const rows = await ps(file);
    const shepherds = findShepherds();
    expect(shepherds.length).toBe(3);
    const all = [...rows.map((r) => r.pid!), ...shepherds];
    up.child.kill('SIGKILL');
    await up.closed;
    const killedAt = Date.now();
    await expectAllGone(all, 3000);
    expect(Date.now() - killedAt).toBeLessThan(3000);
  });

  it('SIGTERM to `drover up` is a clean down with exit 0', async () => {
    const file = await writeRing();
    const up = startUp(file);
    await waitUntilReady(up);
    await ps(file);
    findShepherds().forEach((p) => pids.add(p));
    up.child.kill('SIGTERM');
    expect(await up.closed).toBe(0);
    expect(up.stdout).toMatch(/a: stopped \((killed by SIGTERM|exited with code 0), \d+\.\d s after SIGTERM\)/);
  });

  it('exports node metrics through the real OpenTelemetry SDK when OTEL_* asks (Prometheus on 127.0.0.1)', async () => {
    const file = await writeRing();
    const port = await getPort();
    env = { ...env, OTEL_METRICS_EXPORTER: 'prometheus', OTEL_EXPORTER_PROMETHEUS_PORT: String(port) };
    const up = startUp(file);
    await waitUntilReady(up);
    await ps(file);
    findShepherds().forEach((p) => pids.add(p));
    const text = await waitFor(
      async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text(),
      (body) => /drover_node_state\{[^}]*drover_node_name="a"[^}]*drover_node_state="ready"[^}]*\} 1/.test(body) && /drover_stdio_io_total\{[^}]*drover_node_name="b"/.test(body),
      { timeoutMs: 10_000, describe: 'ready state and stdio series for the ring nodes' },
    );
    expect(text).toMatch(/process_uptime\{[^}]*drover_node_name="c"/);
    up.child.kill('SIGTERM');
    expect(await up.closed).toBe(0);
  });

  it('an unknown command is a usage error without a stack trace', async () => {
    const result = await runCli(['frobnicate']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('drover:');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
