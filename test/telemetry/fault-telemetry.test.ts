/** Faults in telemetry: `fault <kind> <target>` spans, drover.fault.* events and drover.faults.active. */
import { afterEach, describe, expect, it } from 'vitest';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { describeFaultTarget } from '../../contract/fault-target.js';
import { ClusterTracing, LifecycleEvents, ProcessMetrics } from '../../telemetry/index.js';
import {
  ATTR_FAULT_BY,
  ATTR_FAULT_DETAIL,
  ATTR_FAULT_ID,
  ATTR_FAULT_KIND,
  ATTR_FAULT_NODES,
  ATTR_NODE_NAME,
  ATTR_NODE_REPLICA,
  EVENT_FAULT_HEALED,
  EVENT_FAULT_INJECTED,
  METRIC_FAULTS_ACTIVE,
  UNIT_FAULTS_ACTIVE,
} from '../../telemetry/semconv.js';
import { createNode, FakeClusterController } from './fake-cluster-controller.js';
import { collect, createMeterProvider, createTracerProvider, expectPoint, getMetric, getSpan, hrTimeToMs } from './telemetry-assertions.js';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);

const disposers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const dispose of disposers.splice(0)) await dispose();
});

function nodes() {
  return [createNode({ name: 'a' }), createNode({ name: 'b' }), createNode({ name: 'b', replica: 1 })];
}

function startAll(controller: FakeClusterController): void {
  for (const node of controller.snapshot().nodes) {
    controller.transition(node.name, 'starting', T0, { replica: node.replica, run: 1, pid: null });
    controller.transition(node.name, 'running', T0 + 1, { replica: node.replica, run: 1, pid: 100 + node.replica });
    controller.transition(node.name, 'ready', T0 + 2, { replica: node.replica, run: 1 });
  }
}

describe('fault spans', () => {
  it('one span per fault from injected to healed, named by kind and target, linked to the affected nodes’ run spans', () => {
    const { tracerProvider, exporter } = createTracerProvider();
    disposers.push(() => tracerProvider.shutdown());
    const controller = new FakeClusterController('ring', nodes());
    const tracing = new ClusterTracing({ controller, tracerProvider, clock: () => T0 + 10_000 });
    tracing.register();
    startAll(controller);

    const latency = controller.injectFault(T0 + 100, { kind: 'latency', nodes: ['a', 'b[1]'], link: { from: 'a', to: 'b[1]', port: 'peer' }, detail: 'latency 200 ms', by: 'cli' });
    const clock = controller.injectFault(T0 + 150, { kind: 'clock', nodes: ['a'], detail: 'clock +90s', by: 'chaos 7' });
    controller.healFault(T0 + 400, latency.id);
    expect(exporter.getFinishedSpans().filter((s) => s.name.startsWith('fault'))).toHaveLength(1);
    controller.healFault(T0 + 900, clock.id);

    const spans = exporter.getFinishedSpans();
    const latencySpan = getSpan(spans, 'fault latency a→b[1]:peer');
    expect(hrTimeToMs(latencySpan.startTime)).toBe(T0 + 100);
    expect(hrTimeToMs(latencySpan.endTime)).toBe(T0 + 400);
    expect(latencySpan.attributes).toEqual({
      [ATTR_FAULT_ID]: latency.id,
      [ATTR_FAULT_KIND]: 'latency',
      [ATTR_FAULT_NODES]: ['a', 'b[1]'],
      [ATTR_FAULT_DETAIL]: 'latency 200 ms',
      [ATTR_FAULT_BY]: 'cli',
    });
    const runOf = (name: string, replica: number) => tracing.getRunSpanContext(name, replica)!.spanId;
    expect(latencySpan.links.map((l) => [l.context.spanId, l.attributes])).toEqual([
      [runOf('a', 0), { [ATTR_NODE_NAME]: 'a', [ATTR_NODE_REPLICA]: 0 }],
      [runOf('b', 1), { [ATTR_NODE_NAME]: 'b', [ATTR_NODE_REPLICA]: 1 }],
    ]);
    expect(latencySpan.parentSpanContext).toBeUndefined();
    const clockSpan = getSpan(spans, 'fault clock a');
    expect([hrTimeToMs(clockSpan.startTime), hrTimeToMs(clockSpan.endTime)]).toEqual([T0 + 150, T0 + 900]);
    expect(clockSpan.links.map((l) => l.context.spanId)).toEqual([runOf('a', 0)]);
  });

  it('a fault active at register() gets its span from its injection time; unregister() ends open fault spans', () => {
    const { tracerProvider, exporter } = createTracerProvider();
    disposers.push(() => tracerProvider.shutdown());
    const controller = new FakeClusterController('ring', nodes());
    controller.activeFaults.push({ id: 'f3', kind: 'partition', nodes: ['a', 'b'], link: null, partition: { groups: [['a'], ['b']], oneWay: false }, detail: 'partition: 2 links cut', since: T0 - 5000, by: 'api' });
    const tracing = new ClusterTracing({ controller, tracerProvider, clock: () => T0 + 1000 });
    tracing.register();
    controller.injectFault(T0 + 200, { id: 'f4', kind: 'pause', nodes: ['b'] });
    tracing.unregister();
    const spans = exporter.getFinishedSpans();
    const partition = getSpan(spans, 'fault partition a|b'); // named by its groups
    expect([hrTimeToMs(partition.startTime), hrTimeToMs(partition.endTime)]).toEqual([T0 - 5000, T0 + 1000]);
    const pause = getSpan(spans, 'fault pause b');
    expect([hrTimeToMs(pause.startTime), hrTimeToMs(pause.endTime)]).toEqual([T0 + 200, T0 + 1000]);
  });
});

describe('fault targets', () => {
  it('read as the partition groups (both ways: |, one way: →), the link, or the nodes', () => {
    const base = { id: 'f1', kind: 'partition', nodes: ['a', 'b', 'c'], link: null, detail: '', since: T0, by: 'api' } as const;
    expect(describeFaultTarget({ ...base, partition: { groups: [['a'], ['b', 'c']], oneWay: false } })).toBe('a|b,c');
    expect(describeFaultTarget({ ...base, partition: { groups: [['a', 'b'], ['c']], oneWay: true } }, ' → ')).toBe('a,b → c');
    expect(describeFaultTarget({ ...base, kind: 'latency', link: { from: 'a', to: 'b', port: 'peer' } })).toBe('a→b:peer');
    expect(describeFaultTarget({ ...base, kind: 'pause', nodes: ['b[1]'] })).toBe('b[1]');
  });
});

describe('fault events', () => {
  it('drover.fault.injected and drover.fault.healed with kind, nodes, detail, id and who', () => {
    const exporter = new InMemoryLogRecordExporter();
    const loggerProvider = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter })] });
    disposers.push(() => loggerProvider.shutdown());
    const controller = new FakeClusterController('ring', nodes());
    new LifecycleEvents({ controller, loggerProvider }).register();
    const fault = controller.injectFault(T0 + 10, { kind: 'crash', nodes: ['b[1]'], detail: 'SIGKILL', by: 'chaos 42' });
    controller.healFault(T0 + 20, fault.id);
    const attributes = {
      [ATTR_NODE_NAME]: 'b',
      [ATTR_NODE_REPLICA]: 1,
      [ATTR_FAULT_ID]: 'f1',
      [ATTR_FAULT_KIND]: 'crash',
      [ATTR_FAULT_NODES]: ['b[1]'],
      [ATTR_FAULT_DETAIL]: 'SIGKILL',
      [ATTR_FAULT_BY]: 'chaos 42',
    };
    const records = exporter.getFinishedLogRecords();
    expect(records.map((r) => [r.eventName, r.severityNumber, r.body, r.attributes, hrTimeToMs(r.hrTime)])).toEqual([
      [EVENT_FAULT_INJECTED, SeverityNumber.WARN, 'fault f1 crash b[1] injected: SIGKILL (chaos 42)', attributes, T0 + 10],
      [EVENT_FAULT_HEALED, SeverityNumber.INFO, 'fault f1 crash b[1] healed: SIGKILL (chaos 42)', attributes, T0 + 20],
    ]);
  });
});

describe('drover.faults.active', () => {
  it('counts active faults per kind and node (both ends of a link) and reports 0 once healed', async () => {
    const { meterProvider, reader } = createMeterProvider();
    disposers.push(() => meterProvider.shutdown());
    const controller = new FakeClusterController('ring', nodes());
    new ProcessMetrics({ controller, meterProvider, clock: () => T0, procRoot: '/nonexistent/drover-test-proc' }).register();
    const a = { [ATTR_NODE_NAME]: 'a', [ATTR_NODE_REPLICA]: 0 };
    const b1 = { [ATTR_NODE_NAME]: 'b', [ATTR_NODE_REPLICA]: 1 };

    const first = controller.injectFault(T0, { kind: 'latency', nodes: ['a', 'b[1]'], link: { from: 'a', to: 'b[1]', port: null } });
    controller.injectFault(T0, { kind: 'latency', nodes: ['a', 'b'], link: { from: 'a', to: 'b', port: null } });
    controller.injectFault(T0, { kind: 'clock', nodes: ['a'] });
    let metric = getMetric(await collect(reader), METRIC_FAULTS_ACTIVE);
    expect(metric.descriptor.unit).toBe(UNIT_FAULTS_ACTIVE);
    expectPoint(metric, { ...a, [ATTR_FAULT_KIND]: 'latency' }, 2);
    expectPoint(metric, { ...b1, [ATTR_FAULT_KIND]: 'latency' }, 1);
    expectPoint(metric, { ...a, [ATTR_FAULT_KIND]: 'clock' }, 1);
    expect(metric.dataPoints).toHaveLength(4);

    controller.healFault(T0 + 1, first.id);
    metric = getMetric(await collect(reader), METRIC_FAULTS_ACTIVE);
    expectPoint(metric, { ...a, [ATTR_FAULT_KIND]: 'latency' }, 1);
    expectPoint(metric, { ...b1, [ATTR_FAULT_KIND]: 'latency' }, 0);
  });
});
