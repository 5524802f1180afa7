/**
 * ClusterTracing beyond the node spans: the `cluster up` root, TRACEPARENT for the child, command
 * attributes (executable always; args only with recordArgs, redacted), no env values anywhere.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SpanStatusCode } from '@opentelemetry/api';
import type { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import type { ClusterSpec, NodeSpec } from '../../contract/types.js';
import { ClusterTracing } from '../../telemetry/index.js';
import {
  ATTR_CLUSTER_NAME,
  ATTR_CLUSTER_NODE_COUNT,
  ATTR_ERROR_TYPE,
  ATTR_PROCESS_COMMAND_ARGS,
  ATTR_PROCESS_EXECUTABLE_NAME,
} from '../../telemetry/semconv.js';
import { makeNode } from '../helpers/specs.js';
import { createNode, FakeClusterController } from './fake-cluster-controller.js';
import { createTracerProvider, getSpan, hrTimeToMs } from './telemetry-assertions.js';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const SECRET = 's3cr3t-value-that-must-not-leak';

let tracerProvider: BasicTracerProvider | null = null;
afterEach(async () => {
  await tracerProvider?.shutdown();
  tracerProvider = null;
});

function makeNodeSpec(name: string, command: string[], telemetry?: NodeSpec['telemetry']): NodeSpec {
  return makeNode(name, command, { cwd: '/', env: { DB_PASSWORD: SECRET }, restart: { policy: 'no' }, ...(telemetry === undefined ? {} : { telemetry }) });
}

function setup() {
  const spec: ClusterSpec = {
    name: 'ring',
    configPath: null,
    nodes: [
      makeNodeSpec('a', ['/usr/bin/node', 'server.js', `--password=${SECRET}`]),
      makeNodeSpec('b', ['/usr/local/bin/worker', `--token=${SECRET}`, 'postgres://u:pw@db/x', '--key', 'custom-key-42'], {
        logs: false,
        recordArgs: true,
        redact: ['custom-key-\\d+'],
      }),
    ],
  };
  const created = createTracerProvider();
  tracerProvider = created.tracerProvider;
  const controller = new FakeClusterController('ring', [createNode({ name: 'a' }), createNode({ name: 'b' })]);
  const tracing = new ClusterTracing({ controller, tracerProvider: created.tracerProvider, clock: () => T0, spec, isClusterUpTraced: true });
  tracing.register();
  return { controller, exporter: created.exporter, tracing };
}

describe('ClusterTracing context', () => {
  it('opens one `cluster up` root that ends when every node settled; node starts are its children', () => {
    const { controller, exporter } = setup();
    controller.transition('a', 'starting', T0 + 1, { run: 1, pid: null });
    controller.transition('b', 'starting', T0 + 2, { run: 1, pid: null });
    controller.transition('a', 'running', T0 + 3, { run: 1, pid: 11 });
    controller.transition('a', 'ready', T0 + 50, { run: 1 });
    expect(exporter.getFinishedSpans().map((span) => span.name)).toEqual(['start a']);
    controller.transition('b', 'failed', T0 + 80, { run: 1, error: { code: 'ERR_COMMAND_NOT_FOUND', message: 'worker: not found' } });

    const spans = exporter.getFinishedSpans();
    const up = getSpan(spans, 'cluster up');
    expect(up.parentSpanContext).toBeUndefined();
    expect(hrTimeToMs(up.startTime)).toBe(T0);
    expect(hrTimeToMs(up.endTime)).toBe(T0 + 80);
    expect(up.attributes).toEqual({ [ATTR_CLUSTER_NAME]: 'ring', [ATTR_CLUSTER_NODE_COUNT]: 2, [ATTR_ERROR_TYPE]: 'ERR_COMMAND_NOT_FOUND' });
    expect(up.status.code).toBe(SpanStatusCode.ERROR);
    for (const name of ['start a', 'start b']) {
      const start = getSpan(spans, name);
      expect(start.parentSpanContext?.spanId).toBe(up.spanContext().spanId);
      expect(start.spanContext().traceId).toBe(up.spanContext().traceId);
    }
    expect(getSpan(spans, 'start a').events.map((event) => [event.name, event.attributes])).toEqual([['process.spawned', { 'process.pid': 11 }]]);
  });

  it('gives the child the W3C TRACEPARENT of its run’s start span', () => {
    const { controller, exporter, tracing } = setup();
    expect(controller.getSpawnEnvironment('a', 0, 1)).toEqual({});
    controller.transition('a', 'starting', T0, { run: 1, pid: null });
    const env = controller.getSpawnEnvironment('a', 0, 1);
    controller.transition('a', 'running', T0 + 1, { run: 1, pid: 11 });
    controller.transition('a', 'ready', T0 + 2, { run: 1 });

    const start = getSpan(exporter.getFinishedSpans(), 'start a');
    const { traceId, spanId } = start.spanContext();
    expect(env).toEqual({ TRACEPARENT: `00-${traceId}-${spanId}-01` });
    expect(tracing.getRunSpanContext('a', 0)?.spanId).toBe(spanId);
  });

  it('gives the environment through the controller’s provideSpawnEnvironment while registered, and withdraws it at unregister()', () => {
    const { controller, tracing } = setup();
    expect(controller.spawnEnvironmentProviderCount).toBe(1);
    controller.transition('a', 'starting', T0, { run: 1, pid: null });
    expect(Object.keys(controller.getSpawnEnvironment('a', 0, 1))).toEqual(['TRACEPARENT']);
    tracing.unregister();
    expect(controller.spawnEnvironmentProviderCount).toBe(0);
    expect(controller.observerCount).toBe(0);
    expect(controller.getSpawnEnvironment('a', 0, 1)).toEqual({});
  });

  it('records the executable name always, and arguments only with recordArgs, redacted', () => {
    const { controller, exporter } = setup();
    for (const name of ['a', 'b']) {
      controller.transition(name, 'starting', T0, { run: 1, pid: null });
      controller.transition(name, 'ready', T0 + 1, { run: 1 });
    }
    const spans = exporter.getFinishedSpans();
    const a = getSpan(spans, 'start a');
    expect(a.attributes[ATTR_PROCESS_EXECUTABLE_NAME]).toBe('node');
    expect(a.attributes[ATTR_PROCESS_COMMAND_ARGS]).toBeUndefined();
    const b = getSpan(spans, 'start b');
    expect(b.attributes[ATTR_PROCESS_EXECUTABLE_NAME]).toBe('worker');
    expect(b.attributes[ATTR_PROCESS_COMMAND_ARGS]).toEqual([
      '/usr/local/bin/worker',
      '--token=[REDACTED]',
      'postgres://[REDACTED]@db/x',
      '--key',
      '[REDACTED]',
    ]);
    expect(JSON.stringify(spans.map((span) => [span.attributes, span.events, span.status]))).not.toContain(SECRET);
  });
});
