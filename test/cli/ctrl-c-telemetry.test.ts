/**
 * A second Ctrl-C on `drover up` SIGKILLs every node, and the run's telemetry still reaches the
 * exporter before the process exits 130 (an OTLP/HTTP receiver inside the test; the SDK's batch
 * delays are set far beyond the test, so only the flush on the way out can deliver anything).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupCliRun, CliProcess, runCli } from '../helpers/cli.js';
import { FIXTURES_DIR } from '../helpers/fixtures.js';
import { findShepherds } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';
import { HangingOtlpReceiver, OtlpReceiver } from '../telemetry/otlp-receiver.js';

const ups: CliProcess[] = [];
const pids = new Set<number>();
let receiver: OtlpReceiver | null = null;
let hanging: HangingOtlpReceiver | null = null;

afterEach(async () => {
  await cleanupCliRun(ups, pids);
  await receiver?.close();
  receiver = null;
  await hanging?.close();
  hanging = null;
});

/** Writes a cluster of one node that ignores SIGTERM (stop timeout 60 s) and returns its path. */
function writeStubborn(): { file: string; dir: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'drover-sig-otlp-'));
  const file = path.join(dir, 'drover.yaml');
  writeFileSync(
    file,
    [
      'name: twice',
      'nodes:',
      '  s:',
      `    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(path.join(FIXTURES_DIR, 'ignore-sigterm.mjs'))}]`,
      '    ready: { log: { pattern: ready } }',
      '    stop: { timeout: 60s }',
      '',
    ].join('\n'),
  );
  return { file, dir };
}

function getOtelEnv(dir: string, endpoint: string): NodeJS.ProcessEnv {
  return {
    DROVER_STATE_DIR: path.join(dir, 'state'),
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_TIMEOUT: '60000',
    // Nothing is exported on a schedule during the test: only the final flush delivers.
    OTEL_METRIC_EXPORT_INTERVAL: '600000',
    OTEL_BSP_SCHEDULE_DELAY: '600000',
    OTEL_BLRP_SCHEDULE_DELAY: '600000',
  };
}

/** Starts `up`, waits for s to be ready, records the pids, presses Ctrl-C and waits until s is still stopping. */
async function startAndInterrupt(file: string, env: NodeJS.ProcessEnv): Promise<CliProcess> {
  const up = new CliProcess(['up', '--no-tty', '-f', file], env);
  ups.push(up);
  pids.add(up.child.pid!);
  await up.waitForStdout('1/1 nodes ready', 's ready');
  const rows = JSON.parse((await runCli(['ps', '--json', '-f', file], env)).stdout) as { pid: number }[];
  rows.forEach((r) => pids.add(r.pid));
  findShepherds().forEach((p) => pids.add(p));
  up.child.kill('SIGINT');
  await up.waitForStdout('Ctrl-C again to kill every node at once', 'the graceful down to begin');
  await up.waitForStdout(/still stopping: s pid \d+: SIGTERM sent/, 's still stopping (it ignores SIGTERM)');
  return up;
}

describe('a graceful down with an exporter that never answers', () => {
  it('exits 0 once the 5 s telemetry shutdown bound has passed, not when the 60 s exporter timeout runs out', async () => {
    hanging = new HangingOtlpReceiver();
    const dir = mkdtempSync(path.join(tmpdir(), 'drover-down-otlp-'));
    const file = path.join(dir, 'drover.yaml');
    writeFileSync(file, `name: calm\nnodes:\n  c:\n    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(path.join(FIXTURES_DIR, 'forever.mjs'))}]\n    ready: { log: { pattern: ready } }\n`);
    const env = getOtelEnv(dir, await hanging.listen());
    const up = new CliProcess(['up', '--no-tty', '-f', file], env);
    ups.push(up);
    pids.add(up.child.pid!);
    await up.waitForStdout('1/1 nodes ready', 'c ready');
    const rows = JSON.parse((await runCli(['ps', '--json', '-f', file], env)).stdout) as { pid: number }[];
    rows.forEach((r) => pids.add(r.pid));
    findShepherds().forEach((p) => pids.add(p));
    const downAt = Date.now();
    const down = await runCli(['down', '-f', file], env);
    expect(down.code).toBe(0);
    await waitFor(() => up.isRunning, (running) => !running, { timeoutMs: 30_000, describe: 'up to exit' });
    expect(await up.closed).toBe(0);
    const tookMs = Date.now() - downAt;
    expect(hanging.requests.length).toBeGreaterThan(0);
    expect(tookMs).toBeGreaterThanOrEqual(5000); // telemetry had its full bound to flush
    expect(tookMs).toBeLessThan(15_000); // and the open request did not hold the process
  });
});

describe('Ctrl-C twice on drover up with telemetry', () => {
  it('SIGKILLs every node, then flushes spans and metrics before exiting 130', async () => {
    receiver = new OtlpReceiver();
    const { file, dir } = writeStubborn();
    const up = await startAndInterrupt(file, getOtelEnv(dir, await receiver.listen()));
    expect(receiver.spans).toEqual([]); // nothing exported yet: the flush below is what delivers

    up.child.kill('SIGINT');
    expect(await up.closed).toBe(130);
    expect(up.stdout).toMatch(/^drover \| s: stopped \(killed by SIGKILL/m);
    const names = receiver.spans.map((span) => span.name);
    expect(names).toEqual(expect.arrayContaining(['cluster up', 'start s', 'stop s']));
    expect(receiver.points.some((point) => point.metric === 'process.cpu.time' && point.attributes['drover.node.name'] === 's')).toBe(true);
    expect(up.stderr).toBe('');
  });

  it('a Ctrl-C while telemetry flushes exits 130 at once', async () => {
    hanging = new HangingOtlpReceiver();
    const { file, dir } = writeStubborn();
    const up = await startAndInterrupt(file, getOtelEnv(dir, await hanging.listen()));
    up.child.kill('SIGINT');
    const received = hanging;
    await waitFor(() => received.requests.length, (n) => n > 0, { describe: 'the flush to send its first export request (never answered)' });
    up.child.kill('SIGINT');
    expect(await up.closed).toBe(130);
    expect(up.stdout).toMatch(/^drover \| s: stopped \(killed by SIGKILL/m);
    expect(up.stdout).toMatch(/^drover \| Ctrl-C again: exiting without waiting for telemetry to flush$/m);
  });

  it('gives up on a flush that cannot finish after 2 s and exits 130', async () => {
    hanging = new HangingOtlpReceiver();
    const { file, dir } = writeStubborn();
    const up = await startAndInterrupt(file, getOtelEnv(dir, await hanging.listen()));
    const killedAt = Date.now();
    up.child.kill('SIGINT');
    // The exporter's own timeout is 60 s: only the 2 s bound ends this.
    await waitFor(() => up.isRunning, (running) => !running, { timeoutMs: 15_000, describe: 'up to exit' });
    expect(await up.closed).toBe(130);
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    expect(hanging.requests.length).toBeGreaterThan(0);
    expect(up.stderr).toContain('drover: telemetry did not finish flushing within 2 s after the second Ctrl-C; exiting without it');
  });
});
