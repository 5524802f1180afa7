/**
 * Telemetry in tests, through the real SDK and real processes: `startCluster(config, { telemetry })`
 * (in memory, OTLP, Prometheus), shut down by `cluster.stop()`, and drover/vitest's `traceTests`
 * making each test the parent span of what drover does during it, down to the node's TRACEPARENT.
 */
import getPort from 'get-port';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { SpanStatusCode } from '@opentelemetry/api';
import { Cluster } from '../../cluster/cluster.js';
import { isDroverError } from '../../contract/errors.js';
import { startCluster, type TelemetryCluster } from '../../start-cluster.js';
import { IN_MEMORY_MAX_SPANS } from '../../telemetry/in-memory.js';
import * as semconv from '../../telemetry/semconv.js';
import * as incubating from '@opentelemetry/semantic-conventions/incubating';
import { setupCluster } from '../../vitest/index.js';
import { traceTests } from '../../vitest/test-span.js';
import { createClusterTracker } from '../helpers/cluster-tracker.js';
import { FIXTURES_DIR } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/wait-for.js';
import { OtlpReceiver } from './otlp-receiver.js';

const tracker = createClusterTracker();
afterAll(tracker.cleanup);

const NODE = process.execPath;
/** Prints `env TRACEPARENT=…` (its run's trace context), then `ready`, and runs until stopped. */
const TRACED_NODE = { command: [NODE, 'echo-env.mjs', 'TRACEPARENT'], ready: { log: { pattern: '^ready$' } } };
const onCreate = (created: Cluster) => void tracker.track(created);

function findSpan(spans: readonly ReadableSpan[], name: string, predicate: (span: ReadableSpan) => boolean = () => true): ReadableSpan {
  const found = spans.filter((span) => span.name === name && predicate(span));
  expect(found.map((span) => span.name), `one span named ${name}; all: ${spans.map((span) => span.name).join(', ')}`).toHaveLength(1);
  return found[0]!;
}

/** The W3C TRACEPARENT a run printed: `00-<trace id>-<span id>-<flags>`. */
function parseTraceparent(line: string): { traceId: string; spanId: string } {
  const match = /^env TRACEPARENT=00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/.exec(line);
  expect(match, `a TRACEPARENT line: ${line}`).not.toBeNull();
  return { traceId: match![1]!, spanId: match![2]! };
}

describe('traceTests: each test is the parent span of what drover does during it', async () => {
  let cluster: TelemetryCluster;
  beforeAll(async () => {
    cluster = await startCluster({ name: 'traced', nodes: { a: TRACED_NODE } }, { baseDir: FIXTURES_DIR, telemetry: { exporter: 'memory' }, onCreate });
  });
  await traceTests(() => cluster, { traceparent: null });

  test('restarts a', async () => {
    await cluster.node('a').restart();
  });

  test('crashes a', async () => {
    const a = cluster.node('a');
    await a.crash();
    await a.waitFor('ready', { run: 'next', timeoutMs: 10_000 });
  });

  test.fails('fails on purpose', () => {
    throw new Error('boom');
  });

  test('sees the tests above as the parents of the spans, and the nodes got their trace', async () => {
    const spans = cluster.telemetry.spans();
    const restartTest = findSpan(spans, 'test traceTests: each test is the parent span of what drover does during it > restarts a');
    expect(restartTest.attributes).toEqual({
      [semconv.ATTR_TEST_CASE_NAME]: 'traceTests: each test is the parent span of what drover does during it > restarts a',
      [semconv.ATTR_CODE_FILE_PATH]: 'test/telemetry/tests-telemetry.test.ts',
      [semconv.ATTR_TEST_CASE_RESULT_STATUS]: 'pass',
    });
    expect(restartTest.parentSpanContext).toBeUndefined();
    const testTrace = restartTest.spanContext().traceId;

    // The manual restart: restart → its stop and the start of run 2, all in the test's trace.
    const restart = findSpan(spans, 'restart a', (span) => span.attributes['drover.restart.reason'] === 'manual');
    expect(restart.parentSpanContext?.spanId).toBe(restartTest.spanContext().spanId);
    expect(restart.spanContext().traceId).toBe(testTrace);
    const start2 = findSpan(spans, 'start a', (span) => span.attributes['drover.node.run'] === 2);
    expect(start2.parentSpanContext?.spanId).toBe(restart.spanContext().spanId);
    expect(start2.spanContext().traceId).toBe(testTrace);
    expect(findSpan(spans, 'stop a', (span) => span.parentSpanContext?.spanId === restart.spanContext().spanId).spanContext().traceId).toBe(testTrace);

    // Run 2 was started inside the test: its TRACEPARENT is its start span, in the test's trace.
    const traceparents = cluster
      .node('a')
      .output.tail()
      .filter((line) => line.text.startsWith('env TRACEPARENT='))
      .map((line) => parseTraceparent(line.text));
    expect(traceparents).toHaveLength(3); // runs 1, 2, 3
    expect(traceparents[1]).toEqual({ traceId: testTrace, spanId: start2.spanContext().spanId });

    // Run 1 started before any test (beforeAll): a child of `cluster up`, in a trace of its own.
    const start1 = findSpan(spans, 'start a', (span) => span.attributes['drover.node.run'] === 1);
    expect(start1.parentSpanContext?.spanId).toBe(findSpan(spans, 'cluster up').spanContext().spanId);
    expect(traceparents[0]).toEqual({ traceId: start1.spanContext().traceId, spanId: start1.spanContext().spanId });
    expect(start1.spanContext().traceId).not.toBe(testTrace);

    // The crash: its fault span and the automatic restart are children of the crash test.
    const crashTest = findSpan(spans, 'test traceTests: each test is the parent span of what drover does during it > crashes a');
    const crashTrace = crashTest.spanContext().traceId;
    expect(crashTrace).not.toBe(testTrace);
    const fault = findSpan(spans, 'fault crash a');
    expect(fault.parentSpanContext?.spanId).toBe(crashTest.spanContext().spanId);
    const crashRestart = findSpan(spans, 'restart a', (span) => span.attributes['drover.restart.reason'] === 'crashed');
    expect(crashRestart.parentSpanContext?.spanId).toBe(crashTest.spanContext().spanId);
    const start3 = findSpan(spans, 'start a', (span) => span.attributes['drover.node.run'] === 3);
    expect(traceparents[2]).toEqual({ traceId: crashTrace, spanId: start3.spanContext().spanId });

    // A failed test's span ends with an error status and its first error.
    const failed = findSpan(spans, 'test traceTests: each test is the parent span of what drover does during it > fails on purpose');
    expect(failed.attributes[semconv.ATTR_TEST_CASE_RESULT_STATUS]).toBe('fail');
    expect(failed.status).toEqual({ code: SpanStatusCode.ERROR, message: 'boom' });
  });

  afterAll(async () => {
    await cluster?.stop();
  });
});

describe('traceTests under a traceparent', async () => {
  const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
  const PARENT_ID = '00f067aa0ba902b7';
  let cluster: TelemetryCluster;
  beforeAll(async () => {
    cluster = await startCluster({ name: 'parented', nodes: { a: TRACED_NODE } }, { baseDir: FIXTURES_DIR, telemetry: { exporter: 'memory' }, onCreate });
  });
  afterAll(async () => {
    await cluster?.stop();
  });
  await traceTests(() => cluster, { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` });

  test('restarts a', async () => {
    await cluster.node('a').restart();
  });

  test('the test span is a child of the traceparent, and so is the restart', () => {
    const spans = cluster.telemetry.spans();
    const testSpan = findSpan(spans, 'test traceTests under a traceparent > restarts a');
    expect(testSpan.spanContext().traceId).toBe(TRACE_ID);
    expect(testSpan.parentSpanContext?.spanId).toBe(PARENT_ID);
    const restart = findSpan(spans, 'restart a');
    expect(restart.spanContext().traceId).toBe(TRACE_ID);
    expect(restart.parentSpanContext?.spanId).toBe(testSpan.spanContext().spanId);
  });
});

describe('startCluster(config, { telemetry })', () => {
  test("exporter: 'memory' keeps spans, metrics and log records; cluster.stop() ends and flushes them", async () => {
    const cluster = await startCluster({ name: 'memory', nodes: { a: TRACED_NODE } }, { baseDir: FIXTURES_DIR, telemetry: { exporter: 'memory' }, onCreate });
    const a = cluster.node('a');
    a.kill('SIGKILL');
    await a.waitFor('ready', { run: 'next', timeoutMs: 10_000 });
    const before = await cluster.telemetry.collectMetrics();
    const restarts = before.scopeMetrics.flatMap((scope) => scope.metrics).find((metric) => metric.descriptor.name === 'drover.process.restarts');
    expect(restarts?.dataPoints.find((point) => point.attributes['drover.restart.reason'] === 'crashed')?.value).toBe(1);
    expect(cluster.telemetry.spans().map((span) => span.name)).not.toContain('stop a');

    await cluster.stop();
    const spans = cluster.telemetry.spans();
    expect(spans.map((span) => span.name)).toEqual(expect.arrayContaining(['cluster up', 'start a', 'restart a', 'stop a']));
    expect(cluster.telemetry.logs().map((record) => record.eventName)).toEqual(['drover.node.ready', 'drover.node.restarting', 'drover.node.crashed', 'drover.node.ready']);
    // After shutdown: the last collection, made during it (the node is stopped).
    const after = await cluster.telemetry.collectMetrics();
    const state = after.scopeMetrics.flatMap((scope) => scope.metrics).find((metric) => metric.descriptor.name === 'drover.node.state');
    expect(state?.dataPoints.find((point) => point.attributes['drover.node.state'] === 'stopped')?.value).toBe(1);
    cluster.telemetry.reset();
    expect(cluster.telemetry.spans()).toEqual([]);
  });

  test("exporter: 'memory' holds at most IN_MEMORY_MAX_SPANS spans, says so once, and takes more after reset()", async () => {
    const logged: string[] = [];
    await using cluster = await startCluster({ name: 'bounded', nodes: { a: TRACED_NODE } }, { baseDir: FIXTURES_DIR, telemetry: { exporter: 'memory', log: (line) => logged.push(line) }, onCreate });
    const tracer = cluster.telemetry.tracerProvider.getTracer('test');
    const held = cluster.telemetry.spans().length; // drover's own so far (start a, cluster up)
    for (let i = 0; i < IN_MEMORY_MAX_SPANS + 10; i++) tracer.startSpan(`span ${i}`).end();
    expect(cluster.telemetry.spans()).toHaveLength(IN_MEMORY_MAX_SPANS);
    expect(cluster.telemetry.spans().at(-1)?.name).toBe(`span ${IN_MEMORY_MAX_SPANS - held - 1}`);
    expect(logged).toEqual([`drover telemetry: the in-memory exporter holds ${IN_MEMORY_MAX_SPANS} spans; later ones are dropped until telemetry.reset()`]);
    cluster.telemetry.reset();
    tracer.startSpan('after reset').end();
    expect(cluster.telemetry.spans().map((span) => span.name)).toEqual(['after reset']);
  });

  test('otlpEndpoint: a test span and the restart it caused reach an OTLP receiver, flushed by stop()', async () => {
    const receiver = new OtlpReceiver();
    try {
      const endpoint = await receiver.listen();
      const cluster = await startCluster(
        { name: 'otlp', nodes: { a: TRACED_NODE } },
        { baseDir: FIXTURES_DIR, telemetry: { otlpEndpoint: endpoint, env: { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' } }, onCreate },
      );
      const tracer = cluster.telemetry.tracerProvider.getTracer('drover');
      const { ROOT_CONTEXT, trace } = await import('@opentelemetry/api');
      const testSpan = tracer.startSpan('test by hand', {}, ROOT_CONTEXT);
      cluster.telemetry.setParentContext(trace.setSpan(ROOT_CONTEXT, testSpan));
      await cluster.node('a').restart();
      cluster.telemetry.setParentContext(undefined);
      testSpan.end();
      await cluster.stop();
      const received = receiver.spans;
      const root = received.find((span) => span.name === 'test by hand');
      const restart = received.find((span) => span.name === 'restart a');
      expect(root, `spans received: ${received.map((span) => span.name).join(', ')}`).toBeDefined();
      expect(restart?.parentSpanId).toBe(root!.spanId);
      expect(restart?.traceId).toBe(root!.traceId);
      expect(received.map((span) => span.name)).toContain('stop a');
    } finally {
      await receiver.close();
    }
  });

  test('prometheusPort: serves the metrics on 127.0.0.1 while the cluster runs, and stop() closes it', async () => {
    const port = await getPort();
    const cluster = await startCluster({ name: 'prom', nodes: { a: TRACED_NODE } }, { baseDir: FIXTURES_DIR, telemetry: { prometheusPort: port }, onCreate });
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(text).toMatch(/^drover_node_state\{.*drover_node_name="a".*drover_node_state="ready".*\} 1$/m);
    expect(() => cluster.telemetry.spans()).toThrow(/only when it was started with exporter: 'memory'/);
    await cluster.stop();
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
  });

  test('settings that cannot be used are refused before any node starts, naming the setting', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ exporter: 'jaeger' }, "telemetry option `exporter` must be 'env' or 'memory', got \"jaeger\""],
      [{ otlpEndpoint: 'localhost:4318' }, 'telemetry option `otlpEndpoint` must be an http:// or https:// URL, got "localhost:4318"'],
      [{ prometheusPort: 70_000 }, 'telemetry option `prometheusPort` must be an integer from 1 to 65535, got 70000'],
      [{ exporter: 'memory', prometheusPort: 9464 }, "telemetry option exporter: 'memory' keeps everything in memory; `prometheusPort` needs exporter: 'env' (the default)"],
      ['memory' as unknown as Record<string, unknown>, 'startCluster option `telemetry` must be true, false or an object of settings ({ exporter, otlpEndpoint, prometheusPort, … }), got "memory"'],
    ];
    for (const [telemetry, message] of cases) {
      let created: Cluster | null = null;
      const error = await startCluster({ name: 'bad', nodes: { a: TRACED_NODE } }, { baseDir: FIXTURES_DIR, telemetry, onCreate: (c) => (created = c) }).then(
        () => null,
        (caught: unknown) => caught,
      );
      expect(isDroverError(error, 'ERR_INVALID_OPTION'), String(error)).toBe(true);
      expect((error as Error).message).toBe(message);
      expect(created).toBeNull();
    }
  });

  test('setupCluster passes the option through: the globalSetup cluster has it, and teardown flushes it', async () => {
    let seen: TelemetryCluster | null = null;
    const globalSetup = setupCluster({ name: 'setup', nodes: { a: TRACED_NODE } }, {
      baseDir: FIXTURES_DIR,
      telemetry: { exporter: 'memory' },
      onCreate,
      onReady: (ready) => {
        seen = ready as TelemetryCluster;
      },
    });
    const teardown = await globalSetup({ provide: () => {} });
    expect(seen!.telemetry.spans().map((span) => span.name)).toContain('start a');
    await teardown();
    expect(seen!.telemetry.spans().map((span) => span.name)).toContain('stop a');
  });

  test('uses the OpenTelemetry names for the test attributes', () => {
    expect(semconv.ATTR_TEST_CASE_NAME).toBe(incubating.ATTR_TEST_CASE_NAME);
    expect(semconv.ATTR_TEST_CASE_RESULT_STATUS).toBe(incubating.ATTR_TEST_CASE_RESULT_STATUS);
    expect(semconv.TEST_CASE_RESULT_STATUS_VALUE_PASS).toBe(incubating.TEST_CASE_RESULT_STATUS_VALUE_PASS);
    expect(semconv.TEST_CASE_RESULT_STATUS_VALUE_FAIL).toBe(incubating.TEST_CASE_RESULT_STATUS_VALUE_FAIL);
    expect(semconv.ATTR_CODE_FILE_PATH).toBe(incubating.ATTR_CODE_FILE_PATH);
    expect(SpanStatusCode.ERROR).toBe(2);
  });
});
