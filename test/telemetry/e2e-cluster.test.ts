/**
 * End to end inside the test process: a real cluster (manager, shepherd, addon, fixture
 * processes) observed by ProcessMetrics, ClusterTracing and OutputLogs on local providers. Real
 * /proc numbers of real process trees, counters that keep rising across a SIGKILL + restart,
 * TRACEPARENT in the child's real environment, output lines as log records in the run's trace.
 */
import { readFileSync } from 'node:fs';
import getPort from 'get-port';
import { afterEach, describe, expect, it } from 'vitest';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import type { DataPoint } from '@opentelemetry/sdk-metrics';
import { Cluster } from '../../cluster/cluster.js';
import { getCgroupSupport } from '../../process/cgroup.js';
import type { ReadinessAttemptEvent } from '../../contract/types.js';
import { ClusterTracing, OutputLogs, ProcessMetrics } from '../../telemetry/index.js';
import {
  ATTR_CPU_MODE,
  ATTR_NODE_NAME,
  ATTR_NODE_REPLICA,
  ATTR_READINESS_ATTEMPTS,
  METRIC_PROCESS_CPU_TIME,
  METRIC_PROCESS_MEMORY_USAGE,
  METRIC_PROCESS_THREAD_COUNT,
  METRIC_PROCESS_UNIX_FILE_DESCRIPTOR_COUNT,
  METRIC_PROCESS_RESTARTS,
} from '../../telemetry/semconv.js';
import { fixture } from '../helpers/fixtures.js';
import { expectAllGone, expectNoShepherds, findShepherds } from '../helpers/processes.js';
import { makeCluster, makeNode } from '../helpers/specs.js';
import { waitFor } from '../helpers/wait-for.js';
import { collect, createMeterProvider, createTracerProvider, getMetric, getPoint } from './telemetry-assertions.js';

const SECRET = 'e2e-env-secret-value';
const cleanups: (() => Promise<unknown>)[] = [];
const pids = new Set<number>();

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  if (pids.size > 0) await expectAllGone(pids);
  pids.clear();
  await expectNoShepherds();
});

function getEnviron(pid: number): Record<string, string> {
  const entries = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
  return Object.fromEntries(entries.map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
}

function getValue(point: DataPoint<unknown>): number {
  return point.value as number;
}

describe('telemetry on a real cluster', () => {
  it('samples real process trees, keeps counters rising across a restart, passes TRACEPARENT and logs output in the run’s trace', async () => {
    const spec = makeCluster(
      [
        makeNode('tree', fixture('spawn-tree'), {
          env: { API_KEY: SECRET },
          ready: { kind: 'log', pattern: '^tree ', stream: 'stdout', count: 1, timeoutMs: 10_000 },
          restart: { policy: 'always', backoff: { initialMs: 10, maxMs: 50, multiplier: 2, jitter: 0 } },
          telemetry: { logs: true, recordArgs: false, redact: [] },
        }),
      ],
      'e2e',
    );
    const cluster = new Cluster(spec);
    cleanups.push(() => cluster.stop());
    const { meterProvider, reader } = createMeterProvider();
    const { tracerProvider, exporter: spanExporter } = createTracerProvider();
    const logExporter = new InMemoryLogRecordExporter();
    const loggerProvider = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter: logExporter })] });
    cleanups.push(() => Promise.all([meterProvider.shutdown(), tracerProvider.shutdown(), loggerProvider.shutdown()]));

    const tracing = new ClusterTracing({ controller: cluster, tracerProvider, spec, isClusterUpTraced: true });
    const processMetrics = new ProcessMetrics({ controller: cluster, meterProvider, sampleIntervalMs: 1e9 });
    const outputLogs = new OutputLogs({ controller: cluster, spec, loggerProvider, getSpanContext: (n, r) => tracing.getRunSpanContext(n, r) });
    tracing.register();
    processMetrics.register();
    outputLogs.register();
    cleanups.push(async () => {
      tracing.unregister();
      processMetrics.unregister();
      outputLogs.unregister();
    });

    await cluster.start();
    findShepherds().forEach((pid) => pids.add(pid));
    const node = cluster.node('tree');
    const firstPid = node.pid as number;
    const grandchild = Number(/^tree \d+ (\d+)$/m.exec(node.output.tail().map((l) => l.text).join('\n'))?.[1]);
    pids.add(firstPid).add(grandchild);

    // The child's real environment carries the start span's trace context.
    const startSpan = spanExporter.getFinishedSpans().find((span) => span.name === 'start tree');
    expect(startSpan).toBeDefined();
    const { traceId, spanId } = startSpan!.spanContext();
    expect(getEnviron(firstPid)['TRACEPARENT']).toBe(`00-${traceId}-${spanId}-01`);
    const clusterUp = spanExporter.getFinishedSpans().find((span) => span.name === 'cluster up');
    expect(startSpan!.parentSpanContext?.spanId).toBe(clusterUp?.spanContext().spanId);

    // Real /proc numbers of the whole tree: two Node processes.
    await processMetrics.sampleNow();
    let metrics = await collect(reader);
    const node0 = { [ATTR_NODE_NAME]: 'tree', [ATTR_NODE_REPLICA]: 0 };
    const rss = getValue(getPoint(getMetric(metrics, METRIC_PROCESS_MEMORY_USAGE), node0));
    const rssOfPid = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024;
    expect(rss).toBeGreaterThan(rssOfPid(firstPid));
    expect(getValue(getPoint(getMetric(metrics, METRIC_PROCESS_THREAD_COUNT), node0))).toBeGreaterThanOrEqual(2);
    expect(getValue(getPoint(getMetric(metrics, METRIC_PROCESS_UNIX_FILE_DESCRIPTOR_COUNT), node0))).toBeGreaterThanOrEqual(6);
    const cpuBefore = getValue(getPoint(getMetric(metrics, METRIC_PROCESS_CPU_TIME), { ...node0, [ATTR_CPU_MODE]: 'user' }));
    expect(cpuBefore).toBeGreaterThan(0);

    // SIGKILL the node: it is restarted; CPU time keeps rising across runs.
    node.kill('SIGKILL');
    await waitFor(() => ({ state: node.state, pid: node.pid }), (s) => s.state === 'ready' && s.pid !== firstPid, { timeoutMs: 10_000, describe: 'tree restarted and ready' });
    pids.add(node.pid as number);
    const secondGrandchild = Number(/^tree \d+ (\d+)$/m.exec(node.output.tail().filter((l) => l.text.startsWith(`tree ${node.pid} `)).map((l) => l.text).join('\n'))?.[1]);
    if (Number.isInteger(secondGrandchild)) pids.add(secondGrandchild);
    await processMetrics.sampleNow();
    metrics = await collect(reader);
    const cpuAfter = getValue(getPoint(getMetric(metrics, METRIC_PROCESS_CPU_TIME), { ...node0, [ATTR_CPU_MODE]: 'user' }));
    expect(cpuAfter).toBeGreaterThan(cpuBefore);
    expect(getValue(getPoint(getMetric(metrics, METRIC_PROCESS_RESTARTS), { ...node0, 'drover.restart.reason': 'crashed' }))).toBe(1);

    // The restart span links to the first start; the new child carries the new run's context.
    const restartSpan = spanExporter.getFinishedSpans().find((span) => span.name === 'restart tree');
    expect(restartSpan?.links.map((link) => link.context.spanId)).toEqual([spanId]);
    const secondStart = spanExporter.getFinishedSpans().filter((span) => span.name === 'start tree').at(-1)!;
    expect(getEnviron(node.pid as number)['TRACEPARENT']).toBe(`00-${secondStart.spanContext().traceId}-${secondStart.spanContext().spanId}-01`);

    // Output lines became log records in their run's trace.
    const records = logExporter.getFinishedLogRecords();
    const firstLine = records.find((record) => record.body === `tree ${firstPid} ${grandchild}`);
    expect(firstLine?.spanContext?.spanId).toBe(spanId);
    expect(firstLine?.attributes['log.iostream']).toBe('stdout');

    // No environment value anywhere.
    const everything = JSON.stringify([
      spanExporter.getFinishedSpans().map((span) => [span.attributes, span.events, span.links.map((l) => l.attributes)]),
      records.map((record) => [record.attributes, record.body]),
      metrics.scopeMetrics.map((scope) => scope.metrics.map((metric) => metric.dataPoints.map((point) => point.attributes))),
    ]);
    expect(everything).not.toContain(SECRET);

    await cluster.stop();
  });

  it('puts the readiness attempts of a real http node on its start span: failed probes, then the passing one', async () => {
    const port = await getPort();
    const spec = makeCluster([
      makeNode('web', fixture('http-server', port, 500), {
        ready: { kind: 'http', url: `http://127.0.0.1:${port}/health`, timeoutMs: 10_000, intervalMs: 50 },
      }),
    ]);
    const cluster = new Cluster(spec);
    cleanups.push(() => cluster.stop());
    const attempts: ReadinessAttemptEvent[] = [];
    cluster.on('event', (event) => {
      if (event.type === 'readiness') attempts.push(event);
      if (event.type === 'state' && event.pid !== null) pids.add(event.pid);
    });
    const { tracerProvider, exporter } = createTracerProvider();
    cleanups.push(() => tracerProvider.shutdown());
    const tracing = new ClusterTracing({ controller: cluster, tracerProvider, spec });
    tracing.register();
    cleanups.push(async () => tracing.unregister());

    await cluster.start();
    findShepherds().forEach((pid) => pids.add(pid));

    const span = exporter.getFinishedSpans().find((candidate) => candidate.name === 'start web');
    expect(span).toBeDefined();
    const events = span!.events.filter((event) => event.name === 'drover.readiness.attempt');
    // 500 ms of 503 at a 50 ms interval: well over 10 attempts, so the middle ones are left out.
    expect(attempts.length).toBeGreaterThan(1);
    expect(span!.attributes[ATTR_READINESS_ATTEMPTS]).toBe(attempts.length);
    const kept = attempts.filter((attempt) => attempt.attempt <= 10 || attempt === attempts.at(-1));
    expect(events.map((event) => [event.attributes?.['drover.readiness.attempt'], event.attributes?.['drover.readiness.ok'], event.attributes?.['drover.readiness.message']])).toEqual(
      kept.map((attempt) => [attempt.attempt, attempt.ok, attempt.message]),
    );
    expect(events.at(-1)?.attributes).toMatchObject({ 'drover.readiness.ok': true, 'drover.readiness.check.kind': 'http', 'drover.readiness.message': 'status 200' });
    await cluster.stop();
  });

  it('counts a setsid daemon that left the tree, through the node’s cgroup leaf', async (context) => {
    if (getCgroupSupport().root === null) context.skip();
    // sh runs daemonize.mjs, which starts a setsid daemon and exits: the daemon re-parents to the
    // shepherd (subreaper), outside the node's tree. Then sh becomes `sleep`.
    const [node0Path, daemonize] = fixture('daemonize');
    const spec = makeCluster([
      makeNode('d', ['/bin/sh', '-c', `"${node0Path}" "${daemonize}" && exec sleep 1000`], {
        ready: { kind: 'log', pattern: '^daemon \\d+$', stream: 'stdout', count: 1, timeoutMs: 10_000 },
      }),
    ]);
    const cluster = new Cluster(spec);
    cleanups.push(() => cluster.stop());
    const { meterProvider, reader } = createMeterProvider();
    cleanups.push(() => meterProvider.shutdown());
    const processMetrics = new ProcessMetrics({ controller: cluster, meterProvider, sampleIntervalMs: 1e9 });
    processMetrics.register();
    cleanups.push(async () => processMetrics.unregister());

    await cluster.start();
    findShepherds().forEach((pid) => pids.add(pid));
    const node = cluster.node('d');
    const child = node.pid as number;
    const daemon = Number(/^daemon (\d+)$/m.exec(node.output.tail().map((l) => l.text).join('\n'))?.[1]);
    pids.add(child).add(daemon);
    const statusOf = (pid: number, key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    const childrenOf = (pid: number) => readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    await waitFor(
      () => ({ comm: readFileSync(`/proc/${child}/comm`, 'utf8').trim(), children: childrenOf(child), daemonThreads: statusOf(daemon, 'Threads') }),
      (s) => s.comm === 'sleep' && s.children === '' && s.daemonThreads >= 2,
      { timeoutMs: 10_000, describe: 'the node is `sleep` with no children and the daemon runs its threads' },
    );
    // The daemon is in the node's leaf but no descendant of the node's process.
    const leaf = cluster.snapshot().nodes[0]!.cgroup;
    expect(leaf).toMatch(/\/drover-\d+\//);
    expect(readFileSync(`${leaf}/cgroup.procs`, 'utf8').split('\n')).toContain(String(daemon));
    expect(Number(readFileSync(`/proc/${daemon}/stat`, 'utf8').split(') ')[1]!.split(' ')[1])).not.toBe(child);

    await processMetrics.sampleNow();
    const metrics = await collect(reader);
    const node0 = { [ATTR_NODE_NAME]: 'd', [ATTR_NODE_REPLICA]: 0 };
    const threads = getValue(getPoint(getMetric(metrics, METRIC_PROCESS_THREAD_COUNT), node0));
    const rss = getValue(getPoint(getMetric(metrics, METRIC_PROCESS_MEMORY_USAGE), node0));
    // `sleep` has 1 thread and ~2 MB; the Node daemon adds its threads and tens of MB.
    expect(threads).toBeGreaterThan(statusOf(child, 'Threads'));
    expect(rss).toBeGreaterThan((statusOf(child, 'VmRSS') + statusOf(daemon, 'VmRSS') / 2) * 1024);
    await cluster.stop();
    // The daemon goes with the node (the shepherd's cgroup.kill).
    await expectAllGone([daemon]);
  });
});
