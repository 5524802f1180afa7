/** OutputLogs (output lines → log records), LifecycleEvents (named events) and severity parsing. */
import { afterEach, describe, expect, it } from 'vitest';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import type { MeterProvider } from '@opentelemetry/sdk-metrics';
import type { ClusterSpec, OutputLine } from '../../contract/types.js';
import {
  ClusterTracing,
  getLogSeverity,
  LifecycleEvents,
  OutputLogs,
} from '../../telemetry/index.js';
import { METRIC_LOGS_DROPPED } from '../../telemetry/semconv.js';
import { makeNode } from '../helpers/specs.js';
import { createExit, createNode, FakeClusterController } from './fake-cluster-controller.js';
import { collect, createMeterProvider, createTracerProvider, expectPoint, getMetric, hrTimeToMs } from './telemetry-assertions.js';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const SECRET = 'env-secret-never-in-telemetry';

const disposers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const dispose of disposers.splice(0)) await dispose();
});

function createLoggerProvider() {
  const exporter = new InMemoryLogRecordExporter();
  const loggerProvider = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter })] });
  disposers.push(() => loggerProvider.shutdown());
  return { loggerProvider, exporter };
}

function spec(logsFor: string[]): ClusterSpec {
  return {
    name: 'ring',
    configPath: null,
    nodes: ['a', 'b'].map((name) =>
      makeNode(name, ['node'], {
        cwd: '/',
        env: { API_SECRET: SECRET },
        restart: { policy: 'no' },
        telemetry: { logs: logsFor.includes(name), recordArgs: false, redact: [] },
      }),
    ),
  };
}

function line(text: string, seq: number, stream: 'stdout' | 'stderr' = 'stdout'): OutputLine {
  return { stream, text, seq, time: T0 + seq };
}

describe('OutputLogs', () => {
  it('turns each line of an opted-in node into a log record with stream, severity and the run’s trace context', async () => {
    const { loggerProvider, exporter } = createLoggerProvider();
    const { tracerProvider } = createTracerProvider();
    disposers.push(() => tracerProvider.shutdown());
    const controller = new FakeClusterController('ring', [createNode({ name: 'a' }), createNode({ name: 'b' })]);
    const tracing = new ClusterTracing({ controller, tracerProvider });
    tracing.register();
    const clock = { nowMs: T0 + 1000 };
    const outputLogs = new OutputLogs({ controller, spec: spec(['a']), loggerProvider, getSpanContext: (n, r) => tracing.getRunSpanContext(n, r), clock: () => clock.nowMs });
    outputLogs.register();

    controller.transition('a', 'starting', T0, { run: 1, pid: null });
    controller.output('a', line('{"level":"error","msg":"boom"}', 1));
    controller.output('a', line('plain text', 2, 'stderr'));
    controller.output('b', line('[ERROR] b is not logged', 3));

    const records = exporter.getFinishedLogRecords();
    expect(records.map((record) => [record.body, record.severityNumber, record.severityText, record.attributes])).toEqual([
      ['{"level":"error","msg":"boom"}', SeverityNumber.ERROR, 'error', { 'drover.node.name': 'a', 'drover.node.replica': 0, 'log.iostream': 'stdout', 'drover.output.seq': 1 }],
      ['plain text', undefined, undefined, { 'drover.node.name': 'a', 'drover.node.replica': 0, 'log.iostream': 'stderr', 'drover.output.seq': 2 }],
    ]);
    const runContext = tracing.getRunSpanContext('a', 0);
    expect(runContext).toBeDefined();
    for (const record of records) {
      expect(record.spanContext?.spanId).toBe(runContext?.spanId);
      expect(record.spanContext?.traceId).toBe(runContext?.traceId);
    }
    expect(hrTimeToMs(records[0]!.hrTime)).toBe(T0 + 1);
    expect(hrTimeToMs(records[0]!.hrTimeObserved)).toBe(T0 + 1000);
    tracing.unregister();
  });

  it('drops lines beyond the rate limit instead of queueing them, and counts them', async () => {
    const { loggerProvider, exporter } = createLoggerProvider();
    const { meterProvider, reader } = createMeterProvider();
    disposers.push(() => (meterProvider as MeterProvider).shutdown());
    const controller = new FakeClusterController('ring', [createNode({ name: 'a' })]);
    const clock = { nowMs: T0 };
    const outputLogs = new OutputLogs({ controller, spec: spec(['a']), loggerProvider, meterProvider, maxRecordsPerSecond: 3, clock: () => clock.nowMs });
    outputLogs.register();
    for (let seq = 1; seq <= 5; seq++) controller.output('a', line(`line ${seq}`, seq));
    clock.nowMs += 1000; // the bucket refills
    controller.output('a', line('line 6', 6));

    expect(exporter.getFinishedLogRecords().map((record) => record.body)).toEqual(['line 1', 'line 2', 'line 3', 'line 6']);
    expect(outputLogs.dropped).toBe(2);
    expectPoint(getMetric(await collect(reader), METRIC_LOGS_DROPPED), {}, 2);
  });
});

describe('LifecycleEvents', () => {
  it('emits ready, crashed, restarting, exited and failed as named events without env or args', () => {
    const { loggerProvider, exporter } = createLoggerProvider();
    const controller = new FakeClusterController('ring', [createNode({ name: 'a' })]);
    new LifecycleEvents({ controller, loggerProvider }).register();

    controller.transition('a', 'starting', T0, { run: 1, pid: null });
    controller.transition('a', 'running', T0 + 1, { run: 1, pid: 7 });
    controller.transition('a', 'ready', T0 + 2, { run: 1 });
    controller.restarting('a', T0 + 3, 1, 'crashed');
    controller.transition('a', 'backoff', T0 + 3, { run: 1, pid: null, exit: createExit({ exitCode: null, signal: 'SIGKILL' }) });
    controller.transition('a', 'starting', T0 + 4, { run: 2, pid: null });
    controller.transition('a', 'exited', T0 + 5, { run: 2, pid: null, exit: createExit({ exitCode: 0 }) });
    controller.transition('a', 'failed', T0 + 6, { run: 2, error: { code: 'ERR_RESTART_LIMIT', message: 'too many restarts\nmore' } });

    const records = exporter.getFinishedLogRecords();
    expect(records.map((record) => [record.eventName, record.severityNumber, record.body, record.attributes])).toEqual([
      ['drover.node.ready', SeverityNumber.INFO, 'node a is ready', { 'drover.node.name': 'a', 'drover.node.replica': 0, 'drover.node.run': 1 }],
      ['drover.node.restarting', SeverityNumber.WARN, 'node a restarting in 100 ms (attempt 1, crashed)', { 'drover.node.name': 'a', 'drover.node.replica': 0, 'drover.restart.attempt': 1, 'drover.restart.reason': 'crashed', 'drover.restart.delay_ms': 100 }],
      ['drover.node.crashed', SeverityNumber.ERROR, 'node a killed by SIGKILL', { 'drover.node.name': 'a', 'drover.node.replica': 0, 'drover.node.run': 1, 'drover.process.exit.signal': 'SIGKILL' }],
      ['drover.node.exited', SeverityNumber.INFO, 'node a exited with code 0', { 'drover.node.name': 'a', 'drover.node.replica': 0, 'drover.node.run': 2, 'process.exit.code': 0 }],
      ['drover.node.failed', SeverityNumber.ERROR, 'node a failed: ERR_RESTART_LIMIT: too many restarts', { 'drover.node.name': 'a', 'drover.node.replica': 0, 'drover.node.run': 2, 'error.type': 'ERR_RESTART_LIMIT' }],
    ]);
    expect(records.map((record) => hrTimeToMs(record.hrTime))).toEqual([T0 + 2, T0 + 3, T0 + 3, T0 + 5, T0 + 6]);
    expect(JSON.stringify(records.map((record) => [record.body, record.attributes]))).not.toContain(SECRET);
  });
});

describe('getLogSeverity', () => {
  it.each([
    ['{"level":"warn","msg":"x"}', SeverityNumber.WARN, 'warn'],
    ['{"level":50,"msg":"pino"}', SeverityNumber.ERROR, '50'],
    ['{"severity":"DEBUG"}', SeverityNumber.DEBUG, 'DEBUG'],
    ['[ERROR] disk full', SeverityNumber.ERROR, 'ERROR'],
    ['[ warn ] slow', SeverityNumber.WARN, 'warn'],
    ['ERROR: disk full', SeverityNumber.ERROR, 'ERROR'],
    ['INFO listening on 3000', SeverityNumber.INFO, 'INFO'],
    ['FATAL out of memory', SeverityNumber.FATAL, 'FATAL'],
    ['<3>kernel style', SeverityNumber.ERROR, '<3>'],
    ['ts=1 level=debug msg=hi', SeverityNumber.DEBUG, 'debug'],
  ])('%s', (text, severityNumber, severityText) => {
    expect(getLogSeverity(text)).toEqual({ severityNumber, severityText });
  });

  it.each(['listening on 3000', 'error handling is lowercase prose', '{"msg":"no level"}', '{not json', ''])('none for %j', (text) => {
    expect(getLogSeverity(text)).toBeNull();
  });
});
