/**
 * End to end through the real SDK: `drover up` (the built CLI) configured only by `OTEL_*`
 * variables exports spans, metrics and log records over OTLP/HTTP JSON to a receiver inside the
 * test, and flushes on SIGTERM.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CliProcess } from '../helpers/cli.js';
import { FIXTURES_DIR } from '../helpers/fixtures.js';
import { expectAllGone, expectNoShepherds } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';
import { OtlpReceiver } from './otlp-receiver.js';

const SECRET = 'otlp-e2e-secret-env-value';
let up: CliProcess | null = null;
let receiver: OtlpReceiver | null = null;
const pids = new Set<number>();

afterEach(async () => {
  if (up !== null && up.child.exitCode === null && up.child.signalCode === null) up.child.kill('SIGKILL');
  await up?.closed;
  up = null;
  await receiver?.close();
  receiver = null;
  if (pids.size > 0) await expectAllGone(pids);
  pids.clear();
  await expectNoShepherds();
});

describe('drover up → OTLP/HTTP', () => {
  it('exports spans, /proc metrics and log records configured only by OTEL_*, and flushes on SIGTERM', async () => {
    receiver = new OtlpReceiver();
    const endpoint = await receiver.listen();
    const dir = mkdtempSync(path.join(tmpdir(), 'drover-otlp-'));
    const file = path.join(dir, 'drover.yaml');
    const node = JSON.stringify(process.execPath);
    writeFileSync(
      file,
      [
        'name: otlp-e2e',
        'telemetry: { serviceName: otlp-e2e-service, resourceAttributes: { deployment.environment.name: test } }',
        'nodes:',
        '  talker:',
        `    command: [${node}, ${JSON.stringify(path.join(FIXTURES_DIR, 'forever.mjs'))}, "[WARN] tick"]`,
        `    env: { SECRET_TOKEN: ${SECRET} }`,
        '    ready: { log: { pattern: "^ready$" }, timeout: 10s }',
        '    telemetry: { logs: true }',
        '  tree:',
        `    command: [${node}, ${JSON.stringify(path.join(FIXTURES_DIR, 'spawn-tree.mjs'))}]`,
        '    ready: { log: { pattern: "^tree " }, timeout: 10s }',
        '',
      ].join('\n'),
    );
    up = new CliProcess(['up', '-f', file], {
      DROVER_STATE_DIR: path.join(dir, 'state'),
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_METRIC_EXPORT_INTERVAL: '300',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_BLRP_SCHEDULE_DELAY: '100',
    });
    const received = receiver;

    await waitFor(
      () => ({
        spans: received.spans.map((span) => span.name),
        metrics: [...new Set(received.points.map((point) => point.metric))],
        logs: received.logs.length,
      }),
      (seen) =>
        ['cluster up', 'start talker', 'start tree'].every((name) => seen.spans.includes(name)) &&
        seen.metrics.includes('process.cpu.time') &&
        received.points.some((point) => point.metric === 'process.memory.usage' && point.attributes['drover.node.name'] === 'tree' && point.value > 0) &&
        received.logs.some((log) => log.body === '[WARN] tick') &&
        received.logs.some((log) => log.eventName === 'drover.node.ready'),
      { timeoutMs: 20_000, describe: 'spans, /proc metrics and log records at the OTLP receiver' },
    );
    for (const span of received.spans) {
      if (typeof span.attributes['process.pid'] === 'number') pids.add(span.attributes['process.pid']);
    }

    const clusterUp = received.spans.find((span) => span.name === 'cluster up')!;
    const startTalker = received.spans.find((span) => span.name === 'start talker')!;
    expect(startTalker.parentSpanId).toBe(clusterUp.spanId);
    expect(startTalker.attributes['process.executable.name']).toBe(path.basename(process.execPath));
    expect(startTalker.attributes['process.command_args']).toBeUndefined();
    expect(clusterUp.resource['service.name']).toBe('otlp-e2e-service');
    expect(clusterUp.resource['service.namespace']).toBe('otlp-e2e');
    expect(clusterUp.resource['deployment.environment.name']).toBe('test');

    const tick = received.logs.find((log) => log.body === '[WARN] tick')!;
    expect(tick.severityNumber).toBe(13);
    expect(tick.attributes).toMatchObject({ 'drover.node.name': 'talker', 'log.iostream': 'stdout' });
    expect(tick.spanId).toBe(startTalker.spanId);
    expect(received.logs.some((log) => log.attributes['drover.node.name'] === 'tree' && log.eventName === undefined)).toBe(false);

    const cpu = received.points.filter((point) => point.metric === 'process.cpu.time' && point.attributes['drover.node.name'] === 'tree');
    expect(cpu.map((point) => point.unit)).toContain('s');
    expect(Math.max(...cpu.map((point) => point.value))).toBeGreaterThan(0);

    up.child.kill('SIGTERM');
    expect(await up.closed).toBe(0);
    // The SDK was flushed on the way out: the stop spans made it.
    expect(received.spans.map((span) => span.name)).toEqual(expect.arrayContaining(['stop talker', 'stop tree']));
    expect(JSON.stringify([received.spans, received.points, received.logs])).not.toContain(SECRET);
    expect(up.stderr).not.toMatch(/drover telemetry (error|warn)/);
  });
});
