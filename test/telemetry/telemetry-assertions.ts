/**
 * Manual-collect metric reader and assertion helpers (otel `instrumentation-host-metrics`
 * `test/metric.test.ts`, `instrumentation-undici` `mock-metrics-reader.ts`).
 */

import type { Attributes, HrTime } from '@opentelemetry/api';
import { DataPointType, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import type { DataPoint, Histogram, MetricData, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { expect } from 'vitest';

/** A reader that only collects when the test says so: no export interval. */
export class ManualMetricReader extends MetricReader {
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }

  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

export function createMeterProvider(): { meterProvider: MeterProvider; reader: ManualMetricReader } {
  const reader = new ManualMetricReader();
  return { meterProvider: new MeterProvider({ readers: [reader] }), reader };
}

export function createTracerProvider(): { tracerProvider: BasicTracerProvider; exporter: InMemorySpanExporter } {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  return { tracerProvider, exporter };
}

/** Collects once and fails on collection errors. */
export async function collect(reader: MetricReader): Promise<ResourceMetrics> {
  const { resourceMetrics, errors } = await reader.collect();
  expect(errors).toEqual([]);
  return resourceMetrics;
}

/** Every metric named `name`, across scopes. */
export function findMetrics(resourceMetrics: ResourceMetrics, name: string): MetricData[] {
  return resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics.filter((metric) => metric.descriptor.name === name));
}

/** Every data point of every metric named `name` (none when the metric is absent). */
export function getDataPoints(resourceMetrics: ResourceMetrics, name: string): DataPoint<unknown>[] {
  return findMetrics(resourceMetrics, name).flatMap((metric): DataPoint<unknown>[] => metric.dataPoints);
}

/** The one metric named `name` (fails unless there is exactly one). */
export function getMetric(resourceMetrics: ResourceMetrics, name: string): MetricData {
  const found = findMetrics(resourceMetrics, name);
  expect(found, `metrics named ${name}`).toHaveLength(1);
  return found[0] as MetricData;
}

function describePoints(metric: MetricData): string {
  return JSON.stringify(metric.dataPoints.map((point) => ({ attributes: point.attributes, value: point.value })));
}

/** The one data point of `metric` whose attributes equal `attributes` exactly. */
export function getPoint(metric: MetricData, attributes: Attributes): DataPoint<number | Histogram> {
  const points = (metric.dataPoints as DataPoint<number | Histogram>[]).filter((point) =>
    isDeepEqual(point.attributes, attributes),
  );
  expect(points, `${metric.descriptor.name} points with ${JSON.stringify(attributes)} among ${describePoints(metric)}`).toHaveLength(1);
  return points[0] as DataPoint<number | Histogram>;
}

/** Asserts the point of `metric` with exactly `attributes` has `value`. */
export function expectPoint(metric: MetricData, attributes: Attributes, value: number): void {
  expect(metric.dataPointType, `${metric.descriptor.name} is not a histogram`).not.toBe(DataPointType.HISTOGRAM);
  expect(getPoint(metric, attributes).value, `${metric.descriptor.name} ${JSON.stringify(attributes)}`).toBe(value);
}

/** Asserts the histogram point of `metric` with exactly `attributes` has `count` and `sum`. */
export function expectHistogramPoint(metric: MetricData, attributes: Attributes, count: number, sum: number): Histogram {
  expect(metric.dataPointType).toBe(DataPointType.HISTOGRAM);
  const value = getPoint(metric, attributes).value as Histogram;
  expect(value.count).toBe(count);
  expect(value.sum).toBeCloseTo(sum, 9);
  return value;
}

export function hrTimeToMs(time: HrTime): number {
  return time[0] * 1000 + time[1] / 1e6;
}

/** The one finished span named `name` (fails unless there is exactly one). */
export function getSpan(spans: readonly ReadableSpan[], name: string): ReadableSpan {
  const found = spans.filter((span) => span.name === name);
  expect(found, `spans named ${name} among ${JSON.stringify(spans.map((span) => span.name))}`).toHaveLength(1);
  return found[0] as ReadableSpan;
}

function isDeepEqual(a: Attributes, b: Attributes): boolean {
  const aKeys = Object.keys(a).sort();
  const bKeys = Object.keys(b).sort();
  return aKeys.length === bKeys.length && aKeys.every((key, index) => key === bKeys[index] && a[key] === b[key]);
}
