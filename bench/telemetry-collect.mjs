#!/usr/bin/env node
// Cost of telemetry for a large cluster: one /proc sampling round and one metric collection for
// N nodes (default 1000), each node a real process (`sleep`) so /proc reads are real.
// Run: npm run build:ts && node bench/telemetry-collect.mjs [nodes]
import { spawn } from 'node:child_process';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { getCardinalityLimit, ProcessMetrics, ProcSampler } from '../dist/telemetry/index.js';

const nodeCount = Number(process.argv[2] ?? 1000);
const ROUNDS = Number(process.env.ROUNDS ?? 9);

class ManualMetricReader extends MetricReader {
  onShutdown() {
    return Promise.resolve();
  }
  onForceFlush() {
    return Promise.resolve();
  }
}

const children = [];
for (let i = 0; i < nodeCount; i++) {
  children.push(spawn('sleep', ['3600'], { stdio: 'ignore' }));
}
await Promise.all(children.map((child) => new Promise((resolve) => child.once('spawn', resolve))));

const stream = { bytes: 1234, ops: 12 };
const snapshot = {
  name: 'bench',
  configPath: null,
  nodes: children.map((child, i) => ({
    name: `n${i}`,
    replica: 0,
    state: 'ready',
    pid: child.pid,
    restarts: 0,
    startedAt: Date.now(),
    stateSince: Date.now(),
    lastExit: null,
    error: null,
    stats: { stdin: stream, stdout: stream, stderr: stream, droppedLines: 0, droppedBytes: 0, bufferedBytes: 100, bufferedLines: 2 },
  })),
};
// Like a real cluster started under telemetry: each node went pending → starting → running → ready.
const controller = {
  snapshot: () => snapshot,
  subscribe: (observer) => {
    observer.onSnapshot?.({ ...snapshot, nodes: snapshot.nodes.map((node) => ({ ...node, state: 'pending', pid: null })) });
    snapshot.nodes.forEach((node) => {
      const states = ['pending', 'starting', 'running', 'ready'];
      for (let i = 1; i < states.length; i++) {
        observer.onEvent({ type: 'state', node: node.name, replica: 0, from: states[i - 1], to: states[i], time: Date.now(), pid: i >= 2 ? node.pid : null, run: 1 });
      }
    });
    return { unsubscribe() {} };
  },
};

function summarize(label, values, unit = 'ms') {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  console.log(`${label}: median ${median.toFixed(2)} ${unit}, min ${sorted[0].toFixed(2)}, max ${sorted.at(-1).toFixed(2)} (${values.length} rounds)`);
}

try {
  // 1. /proc sampling round (sliced reads; the event loop keeps turning).
  const sampler = new ProcSampler({ controller, intervalMs: 1e9 });
  const sampleMs = [];
  const sampleCpuMs = [];
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  for (let round = 0; round < ROUNDS; round++) {
    const cpu = process.cpuUsage();
    const start = performance.now();
    await sampler.sampleNow();
    sampleMs.push(performance.now() - start);
    const used = process.cpuUsage(cpu);
    sampleCpuMs.push((used.user + used.system) / 1000);
  }
  histogram.disable();
  summarize(`/proc sample of ${nodeCount} process trees, wall`, sampleMs);
  summarize(`/proc sample of ${nodeCount} process trees, CPU`, sampleCpuMs);
  console.log(`event-loop delay while sampling: max ${(histogram.max / 1e6).toFixed(2)} ms, p99 ${(histogram.percentile(99) / 1e6).toFixed(2)} ms`);

  // 2. One metric collection (the batch callback reads the cached samples; no I/O).
  const reader = new ManualMetricReader();
  const meterProvider = new MeterProvider({
    readers: [reader],
    views: [{ meterName: 'drover', instrumentName: '*', aggregationCardinalityLimit: getCardinalityLimit(nodeCount) }],
  });
  const processMetrics = new ProcessMetrics({ controller, meterProvider, sampleIntervalMs: 1e9 });
  processMetrics.register();
  await processMetrics.sampleNow();
  // Counters and up-down counters are recorded only when they changed (process-metrics.ts), so
  // the first collection (every series new), an idle one and a busy one (every node's stdio and
  // buffer moved) cost different amounts. The 15 s / 60 s figures below use the idle median.
  const countPoints = (resourceMetrics) =>
    resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics).reduce((sum, metric) => sum + metric.dataPoints.length, 0);
  const timeCollect = async () => {
    const cpu = process.cpuUsage();
    const start = performance.now();
    const { resourceMetrics, errors } = await reader.collect();
    const wall = performance.now() - start;
    const used = process.cpuUsage(cpu);
    if (errors.length > 0) throw errors[0];
    return { wall, cpuMs: (used.user + used.system) / 1000, points: countPoints(resourceMetrics) };
  };
  const first = await timeCollect();
  console.log(`first metric collection for ${nodeCount} nodes (${first.points} points, every series new): wall ${first.wall.toFixed(2)} ms, CPU ${first.cpuMs.toFixed(2)} ms`);
  const collectMs = [];
  const collectCpuMs = [];
  let points = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const measured = await timeCollect();
    collectMs.push(measured.wall);
    collectCpuMs.push(measured.cpuMs);
    points = measured.points;
  }
  summarize(`metric collection for ${nodeCount} idle nodes (${points} points), wall`, collectMs);
  summarize(`metric collection for ${nodeCount} idle nodes (${points} points), CPU`, collectCpuMs);
  // What a Prometheus scrape adds on top of the collection: the exporter's text serializer.
  const serializer = new PrometheusSerializer();
  const { resourceMetrics: scraped } = await reader.collect();
  const serializeCpuMs = [];
  let textBytes = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const cpu = process.cpuUsage();
    textBytes = serializer.serialize(scraped).length;
    const used = process.cpuUsage(cpu);
    serializeCpuMs.push((used.user + used.system) / 1000);
  }
  summarize(`Prometheus text serialization of that collection (${(textBytes / 1e6).toFixed(1)} MB, exporter's own code), CPU`, serializeCpuMs);
  const busyCpuMs = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const node of snapshot.nodes) {
      const moved = { bytes: node.stats.stdout.bytes + 100, ops: node.stats.stdout.ops + 1 };
      node.stats = { ...node.stats, stdin: moved, stdout: moved, stderr: moved, bufferedBytes: node.stats.bufferedBytes + 100 };
    }
    busyCpuMs.push((await timeCollect()).cpuMs);
  }
  summarize(`metric collection for ${nodeCount} nodes with stdio + buffer changed on every node (7 series each), CPU`, busyCpuMs);
  const sampleCpu = [...sampleCpuMs].sort((a, b) => a - b)[Math.floor(sampleCpuMs.length / 2)];
  const collectCpu = [...collectCpuMs].sort((a, b) => a - b)[Math.floor(collectCpuMs.length / 2)];
  for (const intervalS of [15, 60]) {
    console.log(`one sample + one collection every ${intervalS} s: ${(((sampleCpu + collectCpu) / (intervalS * 1000)) * 100).toFixed(2)} % of one core (medians)`);
  }
  processMetrics.unregister();
  await meterProvider.shutdown();
} finally {
  for (const child of children) child.kill('SIGKILL');
}
