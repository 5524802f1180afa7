/**
 * `drover up` decides from isTelemetryRequested whether to load the OpenTelemetry SDK at all: it
 * must say yes exactly when the SDK's own settings (normalizeOtelEnv) export any signal.
 */
import { describe, expect, test } from 'vitest';
import { isTelemetryRequested } from '../../telemetry/otel-env.js';
import { normalizeOtelEnv } from '../../telemetry/sdk.js';

const CASES: readonly { env: Record<string, string>; prometheusPort?: number; requested: boolean }[] = [
  { env: {}, requested: false },
  { env: { OTEL_LOG_LEVEL: 'debug', OTEL_SERVICE_NAME: 'x' }, requested: false },
  { env: { OTEL_TRACES_EXPORTER: 'otlp' }, requested: true },
  { env: { OTEL_TRACES_EXPORTER: 'none' }, requested: false },
  { env: { OTEL_TRACES_EXPORTER: ' none , ' }, requested: false },
  { env: { OTEL_LOGS_EXPORTER: 'console' }, requested: true },
  { env: { OTEL_METRICS_EXPORTER: 'prometheus' }, requested: true },
  { env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }, requested: true },
  { env: { OTEL_EXPORTER_OTLP_ENDPOINT: '  ' }, requested: false },
  { env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces' }, requested: true },
  { env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none' }, requested: false },
  { env: {}, prometheusPort: 9464, requested: true },
  { env: { OTEL_METRICS_EXPORTER: 'none' }, prometheusPort: 9464, requested: false },
];

describe('isTelemetryRequested', () => {
  test.each(CASES)('$env with prometheusPort $prometheusPort: $requested, as the SDK settings say', ({ env, prometheusPort, requested }) => {
    const config = { prometheusPort: prometheusPort ?? null };
    expect(isTelemetryRequested(env, config)).toBe(requested);
    const normalized = normalizeOtelEnv(env, config);
    expect(normalized.isTracesExported || normalized.isMetricsExported || normalized.isLogsExported).toBe(requested);
  });
});
