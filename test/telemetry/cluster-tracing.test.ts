import { afterEach, describe, expect, it } from 'vitest';
import { SpanStatusCode } from '@opentelemetry/api';
import type { BasicTracerProvider, InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { ClusterTracing } from '../../telemetry/index.js';
import {
  ATTR_ERROR_TYPE,
  ATTR_NODE_NAME,
  ATTR_NODE_REPLICA,
  ATTR_NODE_RUN,
  ATTR_PROCESS_EXIT_CODE,
  ATTR_PROCESS_PID,
  ATTR_RESTART_ATTEMPT,
  ATTR_RESTART_REASON,
  ATTR_READINESS_ATTEMPTS,
  ERROR_TYPE_VALUE_PROCESS_EXITED,
  ERROR_TYPE_VALUE_STOPPED,
} from '../../telemetry/semconv.js';
import { createExit, createNode, FakeClusterController } from './fake-cluster-controller.js';
import { createTracerProvider, getSpan, hrTimeToMs } from './telemetry-assertions.js';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);

let tracerProvider: BasicTracerProvider | null = null;
afterEach(async () => {
  await tracerProvider?.shutdown();
  tracerProvider = null;
});

function setup(nodes = [createNode({ name: 'a' })], nowMs = T0) {
  const created = createTracerProvider();
  tracerProvider = created.tracerProvider;
  const controller = new FakeClusterController('ring', nodes);
  const tracing = new ClusterTracing({ controller, tracerProvider: created.tracerProvider, clock: () => nowMs });
  tracing.register();
  return { controller, exporter: created.exporter, tracing };
}

function getSpans(exporter: InMemorySpanExporter) {
  return exporter.getFinishedSpans();
}

/** pending → starting → running (pid) → ready. */
function startNode(controller: FakeClusterController, name: string, startMs: number, readyMs: number, run = 1, pid = 4242): void {
  controller.transition(name, 'starting', startMs, { run, pid: null });
  controller.transition(name, 'running', startMs + 10, { run, pid });
  controller.transition(name, 'ready', readyMs, { run });
}

describe('ClusterTracing', () => {
  it('makes a `start a` span from starting to ready', () => {
    const { controller, exporter } = setup();
    controller.transition('a', 'starting', T0, { run: 1, pid: null });
    controller.transition('a', 'running', T0 + 10, { run: 1, pid: 4242 });
    expect(getSpans(exporter)).toEqual([]);
    controller.transition('a', 'ready', T0 + 500, { run: 1 });

    const span = getSpan(getSpans(exporter), 'start a');
    expect(hrTimeToMs(span.startTime)).toBe(T0);
    expect(hrTimeToMs(span.endTime)).toBe(T0 + 500);
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.parentSpanContext).toBeUndefined();
    expect(span.attributes).toEqual({
      [ATTR_NODE_NAME]: 'a',
      [ATTR_NODE_REPLICA]: 0,
      [ATTR_NODE_RUN]: 1,
      [ATTR_PROCESS_PID]: 4242,
    });
  });

  it('ends `start a` with an error status and error.type when the node goes failed', () => {
    const { controller, exporter } = setup();
    controller.transition('a', 'starting', T0, { run: 1, pid: null });
    controller.transition('a', 'failed', T0 + 3, {
      run: 1,
      error: { code: 'ERR_COMMAND_NOT_FOUND', message: 'command not found: nope' },
    });

    const span = getSpan(getSpans(exporter), 'start a');
    expect(hrTimeToMs(span.endTime)).toBe(T0 + 3);
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'command not found: nope' });
    expect(span.attributes[ATTR_ERROR_TYPE]).toBe('ERR_COMMAND_NOT_FOUND');
  });

  it('ends `start a` with ERR_PROCESS_EXITED and the exit code when the run exits before ready', () => {
    const { controller, exporter } = setup();
    controller.transition('a', 'starting', T0, { run: 1, pid: null });
    controller.transition('a', 'running', T0 + 10, { run: 1, pid: 77 });
    controller.transition('a', 'exited', T0 + 40, { run: 1, exit: createExit({ exitCode: 3 }) });

    const span = getSpan(getSpans(exporter), 'start a');
    expect(hrTimeToMs(span.endTime)).toBe(T0 + 40);
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'exited with code 3' });
    expect(span.attributes[ATTR_ERROR_TYPE]).toBe(ERROR_TYPE_VALUE_PROCESS_EXITED);
    expect(span.attributes[ATTR_PROCESS_EXIT_CODE]).toBe(3);
    expect(span.attributes[ATTR_PROCESS_PID]).toBe(77);
  });

  it('makes `restart a` from the restarting event to ready, linked to the previous start span', () => {
    const { controller, exporter } = setup();
    startNode(controller, 'a', T0, T0 + 500);
    controller.transition('a', 'exited', T0 + 1000, { run: 1, exit: createExit({ exitCode: null, signal: 'SIGSEGV' }) });
    controller.restarting('a', T0 + 1001, 1, 'crashed');
    controller.transition('a', 'backoff', T0 + 1001, { run: 1 });
    startNode(controller, 'a', T0 + 1200, T0 + 1500, 2, 5151);

    const spans = getSpans(exporter);
    const [firstStart, secondStart] = spans.filter((span) => span.name === 'start a');
    const restart = getSpan(spans, 'restart a');
    expect(firstStart).toBeDefined();
    expect(secondStart).toBeDefined();

    expect(hrTimeToMs(restart.startTime)).toBe(T0 + 1001);
    expect(hrTimeToMs(restart.endTime)).toBe(T0 + 1500);
    expect(restart.status.code).toBe(SpanStatusCode.UNSET);
    expect(restart.attributes).toMatchObject({
      [ATTR_NODE_NAME]: 'a',
      [ATTR_NODE_REPLICA]: 0,
      [ATTR_RESTART_ATTEMPT]: 1,
      [ATTR_RESTART_REASON]: 'crashed',
      [ATTR_PROCESS_PID]: 5151,
    });
    expect(restart.links).toHaveLength(1);
    expect(restart.links[0]?.context.spanId).toBe(firstStart?.spanContext().spanId);
    expect(restart.links[0]?.context.traceId).toBe(firstStart?.spanContext().traceId);
    expect(restart.parentSpanContext).toBeUndefined();

    // The start inside the restart is its child and covers the respawn only.
    expect(secondStart?.parentSpanContext?.spanId).toBe(restart.spanContext().spanId);
    expect(hrTimeToMs(secondStart!.startTime)).toBe(T0 + 1200);
    expect(hrTimeToMs(secondStart!.endTime)).toBe(T0 + 1500);
    expect(secondStart?.attributes[ATTR_NODE_RUN]).toBe(2);
  });

  it('links a second restart to the first one and fails the attempt that never got ready', () => {
    const { controller, exporter } = setup();
    startNode(controller, 'a', T0, T0 + 500);
    controller.transition('a', 'exited', T0 + 1000, { run: 1, exit: createExit({ exitCode: 1 }) });
    controller.restarting('a', T0 + 1001, 1, 'crashed');
    controller.transition('a', 'starting', T0 + 1100, { run: 2, pid: null });
    controller.transition('a', 'backoff', T0 + 1150, { run: 2, exit: createExit({ exitCode: 1 }) });
    controller.restarting('a', T0 + 1151, 2, 'crashed');
    controller.transition('a', 'failed', T0 + 1152, {
      run: 2,
      error: { code: 'ERR_RESTART_LIMIT', message: 'more than 1 restart in 60 s' },
    });

    const restarts = getSpans(exporter).filter((span) => span.name === 'restart a');
    expect(restarts).toHaveLength(2);
    const [first, second] = restarts;
    expect(first?.attributes[ATTR_ERROR_TYPE]).toBe(ERROR_TYPE_VALUE_PROCESS_EXITED);
    expect(hrTimeToMs(first!.endTime)).toBe(T0 + 1151);
    expect(second?.links[0]?.context.spanId).toBe(first?.spanContext().spanId);
    expect(second?.attributes[ATTR_RESTART_ATTEMPT]).toBe(2);
    expect(second?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'more than 1 restart in 60 s' });
    expect(second?.attributes[ATTR_ERROR_TYPE]).toBe('ERR_RESTART_LIMIT');
  });

  it('makes `stop a` from stopping to stopped', () => {
    const { controller, exporter } = setup();
    startNode(controller, 'a', T0, T0 + 500);
    controller.transition('a', 'stopping', T0 + 2000, { run: 1 });
    controller.transition('a', 'stopped', T0 + 2300, { run: 1, exit: createExit({ exitCode: 0 }) });

    const stop = getSpan(getSpans(exporter), 'stop a');
    expect(hrTimeToMs(stop.startTime)).toBe(T0 + 2000);
    expect(hrTimeToMs(stop.endTime)).toBe(T0 + 2300);
    expect(stop.status.code).toBe(SpanStatusCode.UNSET);
    expect(stop.attributes).toEqual({
      [ATTR_NODE_NAME]: 'a',
      [ATTR_NODE_REPLICA]: 0,
      [ATTR_PROCESS_PID]: 4242,
      [ATTR_PROCESS_EXIT_CODE]: 0,
    });
  });

  it('fails a start that a stop interrupts with ERR_STOPPED', () => {
    const { controller, exporter } = setup();
    controller.transition('a', 'starting', T0, { run: 1, pid: null });
    controller.transition('a', 'running', T0 + 10, { run: 1, pid: 4242 });
    controller.transition('a', 'stopping', T0 + 20, { run: 1 });
    controller.transition('a', 'stopped', T0 + 30, { run: 1, exit: createExit({ exitCode: null, signal: 'SIGTERM' }) });

    const spans = getSpans(exporter);
    const start = getSpan(spans, 'start a');
    expect(start.status.code).toBe(SpanStatusCode.ERROR);
    expect(start.attributes[ATTR_ERROR_TYPE]).toBe(ERROR_TYPE_VALUE_STOPPED);
    expect(hrTimeToMs(start.endTime)).toBe(T0 + 20);
    expect(getSpan(spans, 'stop a').status.code).toBe(SpanStatusCode.UNSET);
  });

  it('keeps a manual restart open across its own stop: stop and start are its children', () => {
    const { controller, exporter } = setup();
    startNode(controller, 'a', T0, T0 + 500);
    controller.restarting('a', T0 + 1000, 1, 'manual');
    controller.transition('a', 'stopping', T0 + 1000, { run: 1 });
    controller.transition('a', 'stopped', T0 + 1100, { run: 1, exit: createExit({ exitCode: 0 }) });
    startNode(controller, 'a', T0 + 1200, T0 + 1400, 2, 6000);

    const spans = getSpans(exporter);
    const restart = getSpan(spans, 'restart a');
    const stop = getSpan(spans, 'stop a');
    const secondStart = spans.filter((span) => span.name === 'start a')[1];
    expect(restart.status.code).toBe(SpanStatusCode.UNSET);
    expect(hrTimeToMs(restart.startTime)).toBe(T0 + 1000);
    expect(hrTimeToMs(restart.endTime)).toBe(T0 + 1400);
    expect(restart.attributes[ATTR_RESTART_REASON]).toBe('manual');
    expect(stop.parentSpanContext?.spanId).toBe(restart.spanContext().spanId);
    expect(secondStart?.parentSpanContext?.spanId).toBe(restart.spanContext().spanId);
  });

  it('keeps replicas apart', () => {
    const { controller, exporter } = setup([createNode({ name: 'a' }), createNode({ name: 'a', replica: 1 })]);
    controller.transition('a', 'starting', T0, { replica: 0, run: 1, pid: null });
    controller.transition('a', 'starting', T0 + 5, { replica: 1, run: 1, pid: null });
    controller.transition('a', 'ready', T0 + 50, { replica: 1, run: 1, pid: 2 });
    controller.transition('a', 'ready', T0 + 80, { replica: 0, run: 1, pid: 1 });

    const starts = getSpans(exporter).filter((span) => span.name === 'start a');
    expect(starts.map((span) => [span.attributes[ATTR_NODE_REPLICA], hrTimeToMs(span.startTime), hrTimeToMs(span.endTime)])).toEqual([
      [1, T0 + 5, T0 + 50],
      [0, T0, T0 + 80],
    ]);
  });

  it('picks up a start already in progress from the snapshot', () => {
    const { controller, exporter } = setup([createNode({ name: 'a', state: 'starting', startedAt: T0 - 100, stateSince: T0 - 100, pid: 9 })]);
    controller.transition('a', 'ready', T0, { run: 1 });
    const span = getSpan(getSpans(exporter), 'start a');
    expect(hrTimeToMs(span.startTime)).toBe(T0 - 100);
    expect(hrTimeToMs(span.endTime)).toBe(T0);
  });

  it('unregister() ends open spans at clock() and unsubscribes', () => {
    const { controller, exporter, tracing } = setup([createNode({ name: 'a' })], T0 + 777);
    controller.transition('a', 'starting', T0, { run: 1, pid: null });
    tracing.register();
    expect(controller.observerCount).toBe(1);

    tracing.unregister();
    expect(tracing.isRegistered).toBe(false);
    expect(controller.observerCount).toBe(0);
    const span = getSpan(getSpans(exporter), 'start a');
    expect(hrTimeToMs(span.endTime)).toBe(T0 + 777);

    controller.transition('a', 'ready', T0 + 800, { run: 1 });
    expect(getSpans(exporter)).toHaveLength(1);
  });

  it('ignores output events', () => {
    const { controller, exporter } = setup();
    controller.emit({ type: 'output', node: 'a', replica: 0, line: { stream: 'stdout', text: 'hi', seq: 1, time: T0 } });
    expect(getSpans(exporter)).toEqual([]);
  });

  it('adds each readiness attempt of the run as an event on `start a`, with the count on the span', () => {
    const { controller, exporter } = setup();
    controller.transition('a', 'starting', T0, { run: 1, pid: null });
    controller.transition('a', 'running', T0 + 10, { run: 1, pid: 4242 });
    controller.readiness('a', T0 + 20, { attempt: 1, ok: false, message: 'connect failed: ECONNREFUSED' });
    controller.readiness('a', T0 + 270, { attempt: 2, ok: false, kind: 'http', message: 'status 503' });
    controller.readiness('a', T0 + 520, { attempt: 3, ok: true, kind: 'log', message: null });
    controller.transition('a', 'ready', T0 + 520, { run: 1 });

    const span = getSpan(getSpans(exporter), 'start a');
    expect(span.events.map((event) => [event.name, hrTimeToMs(event.time), event.attributes])).toEqual([
      ['process.spawned', T0 + 10, { 'process.pid': 4242 }],
      ['drover.readiness.attempt', T0 + 20, { 'drover.readiness.attempt': 1, 'drover.readiness.check.kind': 'tcp', 'drover.readiness.ok': false, 'drover.readiness.message': 'connect failed: ECONNREFUSED' }],
      ['drover.readiness.attempt', T0 + 270, { 'drover.readiness.attempt': 2, 'drover.readiness.check.kind': 'http', 'drover.readiness.ok': false, 'drover.readiness.message': 'status 503' }],
      ['drover.readiness.attempt', T0 + 520, { 'drover.readiness.attempt': 3, 'drover.readiness.check.kind': 'log', 'drover.readiness.ok': true }],
    ]);
    expect(span.attributes[ATTR_READINESS_ATTEMPTS]).toBe(3);
  });

  it('keeps the first 10 readiness attempts and the last one when a start times out after 25', () => {
    const { controller, exporter } = setup();
    controller.transition('a', 'starting', T0, { run: 1, pid: null });
    controller.transition('a', 'running', T0 + 10, { run: 1, pid: 4242 });
    for (let attempt = 1; attempt <= 25; attempt++) {
      controller.readiness('a', T0 + attempt * 100, { attempt, ok: false, message: `connect failed: attempt ${attempt}` });
    }
    controller.transition('a', 'failed', T0 + 2600, { run: 1, error: { code: 'ERR_READY_TIMEOUT', message: 'not ready after 2600 ms' } });

    const span = getSpan(getSpans(exporter), 'start a');
    const attempts = span.events.filter((event) => event.name === 'drover.readiness.attempt');
    expect(attempts.map((event) => [event.attributes?.['drover.readiness.attempt'], hrTimeToMs(event.time)])).toEqual([
      ...Array.from({ length: 10 }, (_, index) => [index + 1, T0 + (index + 1) * 100]),
      [25, T0 + 2500],
    ]);
    expect(attempts.at(-1)?.attributes?.['drover.readiness.message']).toBe('connect failed: attempt 25');
    expect(span.attributes[ATTR_READINESS_ATTEMPTS]).toBe(25);
    expect(span.attributes[ATTR_ERROR_TYPE]).toBe('ERR_READY_TIMEOUT');
  });

  it('cuts a long readiness message to 256 characters and ignores attempts of another run', () => {
    const { controller, exporter } = setup();
    controller.transition('a', 'starting', T0, { run: 2, pid: null });
    controller.readiness('a', T0 + 5, { run: 1, attempt: 7, ok: true, message: 'late attempt of run 1' });
    controller.readiness('a', T0 + 10, { run: 2, attempt: 1, ok: false, kind: 'exec', message: 'x'.repeat(1000) });
    controller.transition('a', 'ready', T0 + 20, { run: 2 });
    controller.readiness('a', T0 + 30, { run: 2, attempt: 2, ok: true, message: 'after ready' });

    const span = getSpan(getSpans(exporter), 'start a');
    expect(span.events.map((event) => event.attributes?.['drover.readiness.message'])).toEqual([`${'x'.repeat(255)}…`]);
    expect(span.attributes[ATTR_READINESS_ATTEMPTS]).toBe(1);
  });
});
