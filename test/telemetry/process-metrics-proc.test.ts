/**
 * ProcessMetrics' `process.*` metrics from a fake /proc: exact values, counters that keep rising
 * across restarts (finished runs: max of rusage and the last sample), gauges only while running.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { MeterProvider } from '@opentelemetry/sdk-metrics';
import { ProcessMetrics } from '../../telemetry/index.js';
import {
  ATTR_CPU_MODE,
  ATTR_DISK_IO_DIRECTION,
  ATTR_NODE_NAME,
  ATTR_NODE_REPLICA,
  ATTR_PROCESS_CONTEXT_SWITCH_TYPE,
  ATTR_PROCESS_PAGING_FAULT_TYPE,
  METRIC_CLUSTER_NODES,
  METRIC_PROC_SAMPLE_DURATION,
  METRIC_PROCESS_CONTEXT_SWITCHES,
  METRIC_PROCESS_CPU_TIME,
  METRIC_PROCESS_DISK_IO,
  METRIC_PROCESS_MEMORY_USAGE,
  METRIC_PROCESS_MEMORY_VIRTUAL,
  METRIC_PROCESS_PAGING_FAULTS,
  METRIC_PROCESS_THREAD_COUNT,
  METRIC_PROCESS_UNIX_FILE_DESCRIPTOR_COUNT,
  METRIC_RESTART_DELAY,
  METRIC_STDIO_IO,
} from '../../telemetry/semconv.js';
import { createExit, createNode, FakeClusterController } from './fake-cluster-controller.js';
import { FakeProc } from './fake-proc.js';
import { collect, createMeterProvider, expectPoint, getDataPoints, getMetric } from './telemetry-assertions.js';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const NODE_A = { [ATTR_NODE_NAME]: 'a', [ATTR_NODE_REPLICA]: 0 };

let meterProvider: MeterProvider | null = null;
let fake: FakeProc | null = null;
let processMetrics: ProcessMetrics | null = null;
afterEach(async () => {
  processMetrics?.unregister();
  await meterProvider?.shutdown();
  fake?.dispose();
  meterProvider = null;
  fake = null;
  processMetrics = null;
});

function setup(metricGroups?: Parameters<typeof createProcessMetrics>[3]) {
  const created = createMeterProvider();
  meterProvider = created.meterProvider;
  fake = new FakeProc();
  const controller = new FakeClusterController('ring', [createNode({ name: 'a' })]);
  processMetrics = createProcessMetrics(controller, created.meterProvider, fake.root, metricGroups);
  processMetrics.register();
  return { controller, reader: created.reader, proc: fake, processMetrics };
}

function createProcessMetrics(
  controller: FakeClusterController,
  provider: MeterProvider,
  procRoot: string,
  metricGroups?: ('process' | 'stdio' | 'lifecycle' | 'output' | 'health')[],
): ProcessMetrics {
  return new ProcessMetrics({
    controller,
    meterProvider: provider,
    clock: () => T0,
    procRoot,
    // Only sampleNow() samples during the test.
    sampleIntervalMs: 1e9,
    ...(metricGroups === undefined ? {} : { metricGroups }),
  });
}

describe('ProcessMetrics /proc metrics', () => {
  it('reports the live tree of the current run and keeps counters rising across a restart', async () => {
    const { controller, reader, proc, processMetrics: pm } = setup();
    proc.write({ pid: 1000, children: { 1000: [1001] }, utimeTicks: 200, stimeTicks: 100, minflt: 50, majflt: 1, rssKiB: 1000, vsizeKiB: 4000, voluntary: 10, involuntary: 4, readBytes: 100, writeBytes: 200, fds: 5 });
    proc.write({ pid: 1001, ppid: 1000, utimeTicks: 100, rssKiB: 24, vsizeKiB: 96, voluntary: 1, fds: 3 });

    controller.transition('a', 'starting', T0, { run: 1, pid: null });
    controller.transition('a', 'running', T0 + 10, { run: 1, pid: 1000 });
    await pm.sampleNow();

    let metrics = await collect(reader);
    expectPoint(getMetric(metrics, METRIC_PROCESS_CPU_TIME), { ...NODE_A, [ATTR_CPU_MODE]: 'user' }, 3);
    expectPoint(getMetric(metrics, METRIC_PROCESS_CPU_TIME), { ...NODE_A, [ATTR_CPU_MODE]: 'system' }, 1);
    expectPoint(getMetric(metrics, METRIC_PROCESS_MEMORY_USAGE), NODE_A, 1024 * 1024);
    expectPoint(getMetric(metrics, METRIC_PROCESS_MEMORY_VIRTUAL), NODE_A, 4096 * 1024);
    expectPoint(getMetric(metrics, METRIC_PROCESS_THREAD_COUNT), NODE_A, 2);
    expectPoint(getMetric(metrics, METRIC_PROCESS_UNIX_FILE_DESCRIPTOR_COUNT), NODE_A, 8);
    expectPoint(getMetric(metrics, METRIC_PROCESS_CONTEXT_SWITCHES), { ...NODE_A, [ATTR_PROCESS_CONTEXT_SWITCH_TYPE]: 'voluntary' }, 11);
    expectPoint(getMetric(metrics, METRIC_PROCESS_CONTEXT_SWITCHES), { ...NODE_A, [ATTR_PROCESS_CONTEXT_SWITCH_TYPE]: 'involuntary' }, 4);
    expectPoint(getMetric(metrics, METRIC_PROCESS_PAGING_FAULTS), { ...NODE_A, [ATTR_PROCESS_PAGING_FAULT_TYPE]: 'minor' }, 50);
    expectPoint(getMetric(metrics, METRIC_PROCESS_PAGING_FAULTS), { ...NODE_A, [ATTR_PROCESS_PAGING_FAULT_TYPE]: 'major' }, 1);
    expectPoint(getMetric(metrics, METRIC_PROCESS_DISK_IO), { ...NODE_A, [ATTR_DISK_IO_DIRECTION]: 'read' }, 100);
    expectPoint(getMetric(metrics, METRIC_PROCESS_DISK_IO), { ...NODE_A, [ATTR_DISK_IO_DIRECTION]: 'write' }, 200);
    expectPoint(getMetric(metrics, METRIC_CLUSTER_NODES), {}, 1);
    expect(getDataPoints(metrics, METRIC_PROC_SAMPLE_DURATION)).toHaveLength(1);

    // The run crashes. rusage has more user CPU (its last moments) but fewer context switches
    // (it lacks the live grandchild): each counter keeps the larger.
    const rusage = { userCpuSeconds: 3.5, systemCpuSeconds: 0.5, maxRssKiB: 1000, minorFaults: 60, majorFaults: 0, voluntaryContextSwitches: 9, involuntaryContextSwitches: 4 };
    proc.remove(1000);
    proc.remove(1001);
    controller.restarting('a', T0 + 100, 1, 'crashed');
    controller.transition('a', 'backoff', T0 + 100, { run: 1, pid: null, exit: createExit({ exitCode: 1, rusage }) });
    await pm.sampleNow();

    metrics = await collect(reader);
    expectPoint(getMetric(metrics, METRIC_PROCESS_CPU_TIME), { ...NODE_A, [ATTR_CPU_MODE]: 'user' }, 3.5);
    expectPoint(getMetric(metrics, METRIC_PROCESS_CPU_TIME), { ...NODE_A, [ATTR_CPU_MODE]: 'system' }, 1);
    expectPoint(getMetric(metrics, METRIC_PROCESS_CONTEXT_SWITCHES), { ...NODE_A, [ATTR_PROCESS_CONTEXT_SWITCH_TYPE]: 'voluntary' }, 11);
    expectPoint(getMetric(metrics, METRIC_PROCESS_PAGING_FAULTS), { ...NODE_A, [ATTR_PROCESS_PAGING_FAULT_TYPE]: 'minor' }, 60);
    expectPoint(getMetric(metrics, METRIC_PROCESS_DISK_IO), { ...NODE_A, [ATTR_DISK_IO_DIRECTION]: 'write' }, 200);
    expectPoint(getMetric(metrics, METRIC_RESTART_DELAY), NODE_A, 0.1);

    // The second run adds on top of the first.
    proc.write({ pid: 2000, utimeTicks: 50, stimeTicks: 50, minflt: 5, rssKiB: 10, vsizeKiB: 20, voluntary: 2, writeBytes: 7, fds: 3 });
    controller.transition('a', 'starting', T0 + 200, { run: 2, pid: null });
    controller.transition('a', 'running', T0 + 210, { run: 2, pid: 2000 });
    await pm.sampleNow();
    metrics = await collect(reader);
    expectPoint(getMetric(metrics, METRIC_PROCESS_CPU_TIME), { ...NODE_A, [ATTR_CPU_MODE]: 'user' }, 4);
    expectPoint(getMetric(metrics, METRIC_PROCESS_CPU_TIME), { ...NODE_A, [ATTR_CPU_MODE]: 'system' }, 1.5);
    expectPoint(getMetric(metrics, METRIC_PROCESS_CONTEXT_SWITCHES), { ...NODE_A, [ATTR_PROCESS_CONTEXT_SWITCH_TYPE]: 'voluntary' }, 13);
    expectPoint(getMetric(metrics, METRIC_PROCESS_DISK_IO), { ...NODE_A, [ATTR_DISK_IO_DIRECTION]: 'write' }, 207);
    expectPoint(getMetric(metrics, METRIC_PROCESS_MEMORY_USAGE), NODE_A, 10 * 1024);
  });

  it('never puts a pid or argv on a metric point', async () => {
    const { controller, reader, proc, processMetrics: pm } = setup();
    proc.write({ pid: 1000, utimeTicks: 1 });
    controller.transition('a', 'running', T0, { run: 1, pid: 1000 });
    await pm.sampleNow();
    const metrics = await collect(reader);
    for (const scope of metrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        for (const point of metric.dataPoints) {
          for (const [key, value] of Object.entries(point.attributes)) {
            expect(key).not.toMatch(/pid|command|args/);
            expect(value).not.toBe(1000);
          }
        }
      }
    }
  });

  it('produces only the metric groups asked for and rejects unknown group names', async () => {
    const { reader, controller } = setup(['stdio']);
    controller.transition('a', 'running', T0, { run: 1, pid: 1000 });
    const metrics = await collect(reader);
    expect(getDataPoints(metrics, METRIC_STDIO_IO)).toHaveLength(3);
    expect(getDataPoints(metrics, METRIC_PROCESS_CPU_TIME)).toHaveLength(0);
    expect(getDataPoints(metrics, METRIC_CLUSTER_NODES)).toHaveLength(0);
    expect(() => createProcessMetrics(controller, meterProvider as MeterProvider, '/x', ['stdio', 'proces' as 'process'])).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION', message: expect.stringContaining('`metricGroups[1]`') }),
    );
  });
});
