import { afterEach, describe, expect, it, vi } from 'vitest';
import { AggregationTemporality, MeterProvider } from '@opentelemetry/sdk-metrics';
import { NODE_STATES } from '../../contract/types.js';
import { ProcessMetrics } from '../../telemetry/index.js';
import {
  ATTR_NODE_NAME,
  ATTR_NODE_REPLICA,
  ATTR_NODE_STATE,
  ATTR_RESTART_REASON,
  ATTR_STDIO_STREAM,
  METRIC_NODE_START_DURATION,
  METRIC_NODE_STATE,
  METRIC_OUTPUT_BUFFER_USAGE,
  METRIC_OUTPUT_DROPPED,
  METRIC_PROCESS_RESTARTS,
  METRIC_PROCESS_UPTIME,
  METRIC_STDIO_IO,
  METRIC_STDIO_OPERATIONS,
  RESTART_REASON_VALUE_CRASHED,
  RESTART_REASON_VALUE_MANUAL,
  RESTART_REASON_VALUE_UNKNOWN,
  RESTART_REASON_VALUES,
  START_DURATION_BUCKETS_SECONDS,
  STDIO_STREAM_VALUE_STDERR,
  STDIO_STREAM_VALUE_STDIN,
  STDIO_STREAM_VALUE_STDOUT,
  UNIT_BYTES,
  UNIT_NODES,
  UNIT_OPERATIONS,
  UNIT_RESTARTS,
  UNIT_SECONDS,
} from '../../telemetry/semconv.js';
import { createExit, createNode, createStats, FakeClusterController } from './fake-cluster-controller.js';
import {
  collect,
  createMeterProvider,
  expectHistogramPoint,
  expectPoint,
  getDataPoints,
  getMetric,
  ManualMetricReader,
} from './telemetry-assertions.js';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const NODE_A = { [ATTR_NODE_NAME]: 'a', [ATTR_NODE_REPLICA]: 0 };
const NODE_A1 = { [ATTR_NODE_NAME]: 'a', [ATTR_NODE_REPLICA]: 1 };
const NODE_B = { [ATTR_NODE_NAME]: 'b', [ATTR_NODE_REPLICA]: 0 };
const DROVER_METRICS = [
  METRIC_STDIO_IO,
  METRIC_STDIO_OPERATIONS,
  METRIC_PROCESS_RESTARTS,
  METRIC_NODE_STATE,
  METRIC_PROCESS_UPTIME,
  METRIC_OUTPUT_DROPPED,
  METRIC_OUTPUT_BUFFER_USAGE,
];

let meterProvider: MeterProvider | null = null;
afterEach(async () => {
  await meterProvider?.shutdown();
  meterProvider = null;
});

/** No /proc at all: these tests are about the snapshot-fed metrics (fake-proc tests cover /proc). */
const NO_PROC_ROOT = '/nonexistent/drover-test-proc';

function setup(nodes = [createNode({ name: 'a' })], nowMs = T0, procRoot = NO_PROC_ROOT) {
  const created = createMeterProvider();
  meterProvider = created.meterProvider;
  const controller = new FakeClusterController('ring', nodes);
  const clock = { nowMs };
  const processMetrics = new ProcessMetrics({
    controller,
    meterProvider: created.meterProvider,
    clock: () => clock.nowMs,
    procRoot,
  });
  processMetrics.register();
  return { controller, reader: created.reader, processMetrics, clock };
}

describe('ProcessMetrics', () => {
  it('reports stdio bytes and operations per stream per node', async () => {
    const { reader } = setup([
      createNode({
        name: 'a',
        state: 'ready',
        pid: 4242,
        stats: createStats({ stdin: { bytes: 5, ops: 1 }, stdout: { bytes: 1234, ops: 7 }, stderr: { bytes: 56, ops: 2 } }),
      }),
      createNode({ name: 'a', replica: 1, stats: createStats({ stdout: { bytes: 99, ops: 3 } }) }),
      createNode({ name: 'b', stats: createStats({ stderr: { bytes: 17, ops: 1 } }) }),
    ]);

    const resourceMetrics = await collect(reader);
    const io = getMetric(resourceMetrics, METRIC_STDIO_IO);
    expect(io.descriptor.unit).toBe(UNIT_BYTES);
    expectPoint(io, { ...NODE_A, [ATTR_STDIO_STREAM]: STDIO_STREAM_VALUE_STDIN }, 5);
    expectPoint(io, { ...NODE_A, [ATTR_STDIO_STREAM]: STDIO_STREAM_VALUE_STDOUT }, 1234);
    expectPoint(io, { ...NODE_A, [ATTR_STDIO_STREAM]: STDIO_STREAM_VALUE_STDERR }, 56);
    expectPoint(io, { ...NODE_A1, [ATTR_STDIO_STREAM]: STDIO_STREAM_VALUE_STDOUT }, 99);
    expectPoint(io, { ...NODE_B, [ATTR_STDIO_STREAM]: STDIO_STREAM_VALUE_STDERR }, 17);
    expectPoint(io, { ...NODE_B, [ATTR_STDIO_STREAM]: STDIO_STREAM_VALUE_STDOUT }, 0);
    expect(io.dataPoints).toHaveLength(9);

    const operations = getMetric(resourceMetrics, METRIC_STDIO_OPERATIONS);
    expect(operations.descriptor.unit).toBe(UNIT_OPERATIONS);
    expectPoint(operations, { ...NODE_A, [ATTR_STDIO_STREAM]: STDIO_STREAM_VALUE_STDOUT }, 7);
    expectPoint(operations, { ...NODE_A, [ATTR_STDIO_STREAM]: STDIO_STREAM_VALUE_STDERR }, 2);
    expectPoint(operations, { ...NODE_A1, [ATTR_STDIO_STREAM]: STDIO_STREAM_VALUE_STDOUT }, 3);
  });

  it('puts node name and replica on every point and never a pid', async () => {
    const { reader } = setup([
      createNode({ name: 'a', state: 'ready', pid: 4242, startedAt: T0 - 1000, restarts: 1 }),
    ]);
    const resourceMetrics = await collect(reader);
    for (const name of DROVER_METRICS) {
      for (const point of getMetric(resourceMetrics, name).dataPoints) {
        expect(point.attributes).toMatchObject(NODE_A);
        expect(Object.keys(point.attributes).every((key) => key.startsWith('drover.'))).toBe(true);
      }
    }
  });

  it('counts restarts by reason, attributing restarts from before subscription to unknown', async () => {
    const { controller, reader } = setup([
      createNode({ name: 'a', state: 'ready', restarts: 1 }),
      createNode({ name: 'b', state: 'ready' }),
    ]);
    controller.restarting('a', T0 + 1, 1, 'crashed');
    controller.restarting('a', T0 + 2, 2, 'crashed');
    controller.restarting('a', T0 + 3, 3, 'manual');

    const restarts = getMetric(await collect(reader), METRIC_PROCESS_RESTARTS);
    expect(restarts.descriptor.unit).toBe(UNIT_RESTARTS);
    expectPoint(restarts, { ...NODE_A, [ATTR_RESTART_REASON]: RESTART_REASON_VALUE_CRASHED }, 2);
    expectPoint(restarts, { ...NODE_A, [ATTR_RESTART_REASON]: RESTART_REASON_VALUE_MANUAL }, 1);
    expectPoint(restarts, { ...NODE_A, [ATTR_RESTART_REASON]: RESTART_REASON_VALUE_UNKNOWN }, 1);
    // Every other reason of a, and every reason of b (never restarted), is a series at 0.
    for (const reason of RESTART_REASON_VALUES) expectPoint(restarts, { ...NODE_B, [ATTR_RESTART_REASON]: reason }, 0);
    expect(restarts.dataPoints).toHaveLength(2 * RESTART_REASON_VALUES.length);
  });

  it('has a restart series at 0 for every reason from the first collection, so the first restart is an increase', async () => {
    // A dashboard's increase()/rate() needs a sample before the first restart: a series that
    // appears at 1 shows no increase at all.
    const { controller, reader } = setup([createNode({ name: 'a', state: 'ready' })]);
    const before = getMetric(await collect(reader), METRIC_PROCESS_RESTARTS);
    expect(before.dataPoints.map((p) => [p.attributes[ATTR_RESTART_REASON], p.value]).sort()).toEqual(RESTART_REASON_VALUES.map((r) => [r, 0]).sort());
    controller.restarting('a', T0 + 1, 1, 'crashed');
    const after = getMetric(await collect(reader), METRIC_PROCESS_RESTARTS);
    expectPoint(after, { ...NODE_A, [ATTR_RESTART_REASON]: RESTART_REASON_VALUE_CRASHED }, 1);
    expectPoint(after, { ...NODE_A, [ATTR_RESTART_REASON]: RESTART_REASON_VALUE_UNKNOWN }, 0);
    expect(after.dataPoints).toHaveLength(RESTART_REASON_VALUES.length);
  });

  it('reports one state series per state: 1 for the current state, 0 for the others', async () => {
    const { controller, reader } = setup([createNode({ name: 'a', state: 'ready' })]);

    let nodeState = getMetric(await collect(reader), METRIC_NODE_STATE);
    expect(nodeState.descriptor.unit).toBe(UNIT_NODES);
    expect(nodeState.dataPoints).toHaveLength(NODE_STATES.length);
    for (const state of NODE_STATES) {
      expectPoint(nodeState, { ...NODE_A, [ATTR_NODE_STATE]: state }, state === 'ready' ? 1 : 0);
    }

    controller.transition('a', 'backoff', T0 + 10, { exit: createExit({ exitCode: 1 }) });
    nodeState = getMetric(await collect(reader), METRIC_NODE_STATE);
    for (const state of NODE_STATES) {
      expectPoint(nodeState, { ...NODE_A, [ATTR_NODE_STATE]: state }, state === 'backoff' ? 1 : 0);
    }
  });

  it('reports process.uptime from the injected clock, only while running', async () => {
    const { reader, clock } = setup(
      [
        createNode({ name: 'a', state: 'ready', startedAt: T0 - 12_500 }),
        createNode({ name: 'b', state: 'stopped', startedAt: null }),
      ],
      T0,
    );

    let uptime = getMetric(await collect(reader), METRIC_PROCESS_UPTIME);
    expect(uptime.descriptor.unit).toBe(UNIT_SECONDS);
    expectPoint(uptime, NODE_A, 12.5);
    expect(uptime.dataPoints).toHaveLength(1);

    clock.nowMs = T0 + 2_000;
    uptime = getMetric(await collect(reader), METRIC_PROCESS_UPTIME);
    expectPoint(uptime, NODE_A, 14.5);
  });

  it('reports dropped and buffered output bytes', async () => {
    const { reader } = setup([
      createNode({ name: 'a', stats: createStats({ droppedBytes: 4096, droppedLines: 40, bufferedBytes: 1000 }) }),
    ]);
    const resourceMetrics = await collect(reader);
    const dropped = getMetric(resourceMetrics, METRIC_OUTPUT_DROPPED);
    expect(dropped.descriptor.unit).toBe(UNIT_BYTES);
    expectPoint(dropped, NODE_A, 4096);
    expectPoint(getMetric(resourceMetrics, METRIC_OUTPUT_BUFFER_USAGE), NODE_A, 1000);
  });

  it('records start duration from starting to ready of the same run', async () => {
    const { controller, reader } = setup([createNode({ name: 'a' }), createNode({ name: 'b' })]);

    controller.transition('a', 'starting', T0, { run: 1 });
    controller.transition('a', 'running', T0 + 20, { run: 1, pid: 100 });
    controller.transition('a', 'ready', T0 + 1500, { run: 1 });
    // A run that fails before ready records nothing.
    controller.transition('b', 'starting', T0, { run: 1 });
    controller.transition('b', 'failed', T0 + 5, { run: 1, error: { code: 'ERR_COMMAND_NOT_FOUND', message: 'nope' } });
    // A second run of a.
    controller.transition('a', 'exited', T0 + 2000, { run: 1, exit: createExit({ exitCode: 1 }) });
    controller.transition('a', 'starting', T0 + 3000, { run: 2 });
    controller.transition('a', 'ready', T0 + 3250, { run: 2 });
    // `ready` of a run whose start we did not see records nothing.
    controller.transition('b', 'ready', T0 + 4000, { run: 2 });

    const duration = getMetric(await collect(reader), METRIC_NODE_START_DURATION);
    expect(duration.descriptor.unit).toBe(UNIT_SECONDS);
    expect(duration.dataPoints).toHaveLength(1);
    const histogram = expectHistogramPoint(duration, NODE_A, 2, 1.75);
    expect(histogram.min).toBe(0.25);
    expect(histogram.max).toBe(1.5);
    expect(histogram.buckets.boundaries).toEqual(START_DURATION_BUCKETS_SECONDS);
  });

  it('keeps the collection alive when snapshot() throws', async () => {
    const { controller, reader } = setup([createNode({ name: 'a', state: 'ready' })]);
    controller.snapshotError = new Error('controller is gone');
    const { errors, resourceMetrics } = await reader.collect();
    expect(errors).toEqual([]);
    for (const name of DROVER_METRICS) {
      expect(getDataPoints(resourceMetrics, name)).toEqual([]);
    }
  });

  it('unregister() removes the callback and the subscription; register() is idempotent', async () => {
    const { controller, reader, processMetrics } = setup([createNode({ name: 'a', state: 'ready' })]);
    processMetrics.register();
    expect(controller.observerCount).toBe(1);
    expect(getMetric(await collect(reader), METRIC_STDIO_IO).dataPoints).toHaveLength(3);

    processMetrics.unregister();
    processMetrics.unregister();
    expect(processMetrics.isRegistered).toBe(false);
    expect(controller.observerCount).toBe(0);
    // The SDK keeps re-exporting the last cumulative values of series it saw; what matters is
    // that our callback no longer runs.
    const snapshot = vi.spyOn(controller, 'snapshot');
    await collect(reader);
    expect(snapshot).not.toHaveBeenCalled();
  });

  it('stops reporting process.uptime when the node stops (delta reader, where the SDK drops unobserved series)', async () => {
    const reader = new ManualMetricReader({ aggregationTemporalitySelector: () => AggregationTemporality.DELTA });
    meterProvider = new MeterProvider({ readers: [reader] });
    const controller = new FakeClusterController('ring', [createNode({ name: 'a', state: 'ready', startedAt: T0 - 1000 })]);
    new ProcessMetrics({ controller, meterProvider, clock: () => T0 }).register();

    expectPoint(getMetric(await collect(reader), METRIC_PROCESS_UPTIME), NODE_A, 1);
    controller.transition('a', 'stopped', T0, { exit: createExit() });
    expect(getDataPoints(await collect(reader), METRIC_PROCESS_UPTIME)).toEqual([]);
  });

  it('reports the current value of every series at each collection, changed or not (changes are recorded as deltas)', async () => {
    const { controller, reader } = setup([
      createNode({ name: 'a', state: 'ready', stats: createStats({ stdout: { bytes: 10, ops: 1 }, bufferedBytes: 40 }) }),
      createNode({ name: 'b', state: 'ready', stats: createStats({ stdout: { bytes: 7, ops: 1 } }) }),
    ]);
    await collect(reader);
    controller.updateNode('a', 0, { stats: createStats({ stdout: { bytes: 25, ops: 3 }, bufferedBytes: 15 }) });
    for (let round = 0; round < 2; round++) {
      const resourceMetrics = await collect(reader);
      const io = getMetric(resourceMetrics, METRIC_STDIO_IO);
      expectPoint(io, { ...NODE_A, [ATTR_STDIO_STREAM]: STDIO_STREAM_VALUE_STDOUT }, 25);
      // b did not change: still exported with its value.
      expectPoint(io, { ...NODE_B, [ATTR_STDIO_STREAM]: STDIO_STREAM_VALUE_STDOUT }, 7);
      expectPoint(getMetric(resourceMetrics, METRIC_STDIO_OPERATIONS), { ...NODE_A, [ATTR_STDIO_STREAM]: STDIO_STREAM_VALUE_STDOUT }, 3);
      // An up-down counter goes down too.
      expectPoint(getMetric(resourceMetrics, METRIC_OUTPUT_BUFFER_USAGE), NODE_A, 15);
      expectPoint(getMetric(resourceMetrics, METRIC_NODE_STATE), { ...NODE_B, [ATTR_NODE_STATE]: 'ready' }, 1);
    }
  });

  it('continues from the recorded values when registered again on the same meter provider (no double counting)', async () => {
    const { reader, processMetrics } = setup([
      createNode({ name: 'a', state: 'ready', restarts: 2, stats: createStats({ stdout: { bytes: 10, ops: 1 }, bufferedBytes: 40 }) }),
    ]);
    await collect(reader);
    processMetrics.unregister();
    processMetrics.register();
    const resourceMetrics = await collect(reader);
    expectPoint(getMetric(resourceMetrics, METRIC_STDIO_IO), { ...NODE_A, [ATTR_STDIO_STREAM]: STDIO_STREAM_VALUE_STDOUT }, 10);
    expectPoint(getMetric(resourceMetrics, METRIC_OUTPUT_BUFFER_USAGE), NODE_A, 40);
    expectPoint(getMetric(resourceMetrics, METRIC_PROCESS_RESTARTS), { ...NODE_A, [ATTR_RESTART_REASON]: RESTART_REASON_VALUE_UNKNOWN }, 2);
    expectPoint(getMetric(resourceMetrics, METRIC_NODE_STATE), { ...NODE_A, [ATTR_NODE_STATE]: 'ready' }, 1);
  });

  it('a replica removed by a scale down and added back continues its series (no double counting)', async () => {
    const a1 = createNode({ name: 'a', replica: 1, state: 'ready', stats: createStats({ stdout: { bytes: 10, ops: 1 } }) });
    const { controller, reader } = setup([createNode({ name: 'a', state: 'ready' }), a1]);
    await collect(reader);
    controller.nodes = controller.nodes.filter((node) => node.replica === 0);
    await collect(reader);
    controller.nodes = [...controller.nodes, { ...a1, stats: createStats({ stdout: { bytes: 12, ops: 2 } }) }];
    const resourceMetrics = await collect(reader);
    expectPoint(getMetric(resourceMetrics, METRIC_STDIO_IO), { ...NODE_A1, [ATTR_STDIO_STREAM]: STDIO_STREAM_VALUE_STDOUT }, 12);
    expectPoint(getMetric(resourceMetrics, METRIC_NODE_STATE), { ...NODE_A1, [ATTR_NODE_STATE]: 'ready' }, 1);
  });

  it('moves to another meter provider with setMeterProvider()', async () => {
    const { controller, reader, processMetrics } = setup([createNode({ name: 'a', state: 'ready' })]);
    const other = createMeterProvider();
    try {
      processMetrics.setMeterProvider(other.meterProvider);
      expect(controller.observerCount).toBe(1);
      expect(getMetric(await collect(other.reader), METRIC_STDIO_IO).dataPoints).toHaveLength(3);
      expect(getDataPoints(await collect(reader), METRIC_STDIO_IO)).toEqual([]);
    } finally {
      processMetrics.unregister();
      await other.meterProvider.shutdown();
    }
  });
});
