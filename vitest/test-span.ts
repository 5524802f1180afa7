/**
 * Each test as the parent span of what drover does during it: `traceTests(cluster)` opens a span
 * `test <full name>` before each test, makes it the parent of the spans drover opens meanwhile
 * (start, stop, restart, fault) and so of the `TRACEPARENT` of the nodes (re)started meanwhile,
 * and ends it after the test with its outcome.
 *
 * vitest and OpenTelemetry are imported when `traceTests` is called, not when `drover/vitest`
 * loads: a globalSetup file imports `drover/vitest` outside any test worker.
 */
import path from 'node:path';
import type { Span } from '@opentelemetry/api';
import { DroverError } from '../contract/errors.js';
import type { TelemetryHandle } from '../telemetry/sdk.js';
import {
  ATTR_CODE_FILE_PATH,
  ATTR_TEST_CASE_NAME,
  ATTR_TEST_CASE_RESULT_STATUS,
  INSTRUMENTATION_SCOPE_NAME,
  SPAN_NAME_TEST,
  TEST_CASE_RESULT_STATUS_VALUE_FAIL,
  TEST_CASE_RESULT_STATUS_VALUE_PASS,
} from '../telemetry/semconv.js';

/** A cluster whose telemetry `traceTests` can use: `startCluster(config, { telemetry })` returns one. */
export interface TracedCluster {
  /** The cluster's telemetry (`startCluster`'s `telemetry` option). */
  readonly telemetry: TelemetryHandle;
}

/** The part of a vitest test's context `traceTests` reads (structural: no vitest types at run time). */
interface TestContextLike {
  readonly task: {
    readonly name: string;
    readonly fullTestName?: string;
    readonly file?: { readonly filepath?: string };
    readonly result?: { readonly state?: string; readonly errors?: readonly { readonly message?: string }[] };
  };
}

/** Options of {@link traceTests}. */
export interface TraceTestsOptions {
  /**
   * W3C `traceparent` the test spans are children of (a CI job's, or the one `drover run` or
   * another traced parent gave the test process); `null` makes each test span a root. A value
   * that is not a valid traceparent is ignored (roots).
   * @default process.env.TRACEPARENT (roots when unset)
   */
  readonly traceparent?: string | null;
}

/** The hooks `traceTests` registers, as vitest exports them. */
interface VitestHooks {
  beforeEach(fn: (context: TestContextLike) => void): void;
  afterEach(fn: (context: TestContextLike) => void): void;
}

/**
 * The vitest package, imported by name when `traceTests` runs. A constant rather than a literal:
 * the layer check's resolver would take the literal for this folder (`vitest/`) and see a cycle.
 */
const VITEST_MODULE = 'vitest';

/**
 * Registers vitest `beforeEach`/`afterEach` hooks (in the suite where it is called: the file, or
 * a `describe`) that make each test the parent span of what `cluster` does during it:
 *
 * - before each test: a span `test <full name>` (suites included, ` > ` between them; attributes
 *   `test.case.name`, `code.file.path`) from the cluster's tracer provider (a child of
 *   `options.traceparent`, default `process.env.TRACEPARENT`, else a root), set as the parent of
 *   the spans drover opens from then on (`cluster.telemetry.setParentContext`): `start`, `stop`,
 *   `restart` and `fault` spans, so a node started or restarted during the test gets a
 *   `TRACEPARENT` of the test's trace;
 * - after each test: the parent is cleared and the span ends with `test.case.result.status`
 *   `pass` or `fail` (error status with the first error's message).
 *
 * `cluster` may be a function, read before each test, for a cluster started in `beforeAll`; a
 * test during which it returns `undefined` gets no span. Tests of one file that run concurrently
 * (`test.concurrent`) share one parent slot: the latest test to start is the parent until it ends.
 * Call it at the top level of a test file (or in a `describe`) and await it.
 *
 * @example
 * let cluster: TelemetryCluster;
 * beforeAll(async () => { cluster = await startCluster('drover.yaml', { telemetry: { exporter: 'memory' } }); });
 * afterAll(() => cluster.stop());
 * await traceTests(() => cluster);
 * test('api restarts', async () => { await cluster.node('api').restart(); }); // its restart span is a child of `test api restarts`
 *
 * @throws {DroverError} ERR_INVALID_OPTION (from the `beforeEach` hook, failing that test) when the
 *   cluster has no `telemetry`: it was started without the `telemetry` option.
 */
export async function traceTests(cluster: TracedCluster | (() => TracedCluster | undefined), options: TraceTestsOptions = {}): Promise<void> {
  const [{ beforeEach, afterEach }, { ROOT_CONTEXT, SpanStatusCode, trace }, { W3CTraceContextPropagator }] = await Promise.all([
    import(VITEST_MODULE) as Promise<VitestHooks>,
    import('@opentelemetry/api'),
    import('@opentelemetry/core'),
  ]);
  const traceparent = options.traceparent === undefined ? process.env['TRACEPARENT'] : options.traceparent;
  // The test spans' parent: the given traceparent's remote span (extract leaves the context
  // unchanged, so roots, when the value is not a valid traceparent).
  const parent =
    traceparent == null
      ? ROOT_CONTEXT
      : new W3CTraceContextPropagator().extract(ROOT_CONTEXT, { traceparent }, { get: (carrier, key) => carrier[key as 'traceparent'], keys: (carrier) => Object.keys(carrier) });
  let current: { readonly span: Span; readonly telemetry: TelemetryHandle } | null = null;

  beforeEach((context: TestContextLike) => {
    const target = typeof cluster === 'function' ? cluster() : cluster;
    if (target === undefined) return;
    const telemetry = (target as Partial<TracedCluster>).telemetry;
    if (telemetry === undefined) {
      throw new DroverError('ERR_INVALID_OPTION', 'traceTests needs a cluster started with the telemetry option (startCluster(config, { telemetry: … })); this one has no telemetry', {});
    }
    const { task } = context;
    const name = task.fullTestName ?? task.name;
    const file = task.file?.filepath;
    const span = telemetry.tracerProvider.getTracer(INSTRUMENTATION_SCOPE_NAME).startSpan(
      `${SPAN_NAME_TEST} ${name}`,
      { attributes: { [ATTR_TEST_CASE_NAME]: name, ...(file === undefined ? {} : { [ATTR_CODE_FILE_PATH]: path.relative(process.cwd(), file) || file }) } },
      parent,
    );
    telemetry.setParentContext(trace.setSpan(ROOT_CONTEXT, span));
    current = { span, telemetry };
  });

  afterEach((context: TestContextLike) => {
    if (current === null) return;
    const { span, telemetry } = current;
    current = null;
    telemetry.setParentContext(undefined);
    const result = context.task.result;
    if (result?.state === 'fail') {
      span.setAttribute(ATTR_TEST_CASE_RESULT_STATUS, TEST_CASE_RESULT_STATUS_VALUE_FAIL);
      const message = result.errors?.[0]?.message;
      span.setStatus(message === undefined ? { code: SpanStatusCode.ERROR } : { code: SpanStatusCode.ERROR, message });
    } else {
      span.setAttribute(ATTR_TEST_CASE_RESULT_STATUS, TEST_CASE_RESULT_STATUS_VALUE_PASS);
    }
    span.end();
  });
}
