import { createServer } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DiagLogLevel, metrics, trace } from '@opentelemetry/api';
import { normalizeOtelEnv, PROMETHEUS_DEFAULT_PORT, PROMETHEUS_HOST, startTelemetry } from '../../telemetry/index.js';
import type { TelemetryHandle } from '../../telemetry/index.js';
import { createNode, createStats, FakeClusterController } from './fake-cluster-controller.js';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);

/** A port that was free a moment ago (listen on 0, read it, close). */
async function getFreePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') {
    throw new Error(`unexpected server address ${String(address)}`);
  }
  return address.port;
}

function createController(): FakeClusterController {
  return new FakeClusterController('ring', [
    createNode({
      name: 'a',
      state: 'ready',
      pid: 4242,
      startedAt: T0,
      stats: createStats({ stdout: { bytes: 42, ops: 3 } }),
    }),
  ]);
}

function isMeterProviderGlobal(): boolean {
  return metrics.getMeterProvider().constructor.name !== 'NoopMeterProvider';
}

function isTracerProviderGlobal(): boolean {
  return trace.getTracer('probe').startSpan('probe').isRecording();
}

let handle: TelemetryHandle | null = null;
afterEach(async () => {
  await handle?.shutdown();
  handle = null;
});

describe('normalizeOtelEnv', () => {
  it('exports nothing when no OTEL_* variable asks for it', () => {
    const normalized = normalizeOtelEnv({ PATH: '/bin', OTEL_SERVICE_NAME: 'x' });
    expect(normalized).toMatchObject({
      isTracesExported: false,
      isMetricsExported: false,
      isLogsExported: false,
      isPrometheusExported: false,
      logLevel: DiagLogLevel.ERROR,
    });
    expect(normalized.otelEnv).toEqual({
      OTEL_SERVICE_NAME: 'x',
      OTEL_LOGS_EXPORTER: 'none',
      OTEL_EXPORTER_PROMETHEUS_HOST: PROMETHEUS_HOST,
      OTEL_EXPORTER_PROMETHEUS_PORT: String(PROMETHEUS_DEFAULT_PORT),
    });
  });

  it('turns a signal on by its exporter variable or an OTLP endpoint', () => {
    expect(normalizeOtelEnv({ OTEL_TRACES_EXPORTER: 'console' })).toMatchObject({
      isTracesExported: true,
      isMetricsExported: false,
      isLogsExported: false,
    });
    expect(normalizeOtelEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toMatchObject({
      isTracesExported: true,
      isMetricsExported: true,
      isLogsExported: true,
    });
    expect(normalizeOtelEnv({ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://collector:4318/v1/metrics' })).toMatchObject({
      isTracesExported: false,
      isMetricsExported: true,
      isLogsExported: false,
    });
    expect(
      normalizeOtelEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_TRACES_EXPORTER: 'none' }),
    ).toMatchObject({ isTracesExported: false, isMetricsExported: true });
  });

  it('binds Prometheus to 127.0.0.1 whatever the host variable says, keeping the port', () => {
    const normalized = normalizeOtelEnv({
      OTEL_METRICS_EXPORTER: 'otlp, prometheus',
      OTEL_EXPORTER_PROMETHEUS_HOST: '0.0.0.0',
      OTEL_EXPORTER_PROMETHEUS_PORT: '9999',
    });
    expect(normalized.isPrometheusExported).toBe(true);
    expect(normalized.otelEnv['OTEL_EXPORTER_PROMETHEUS_HOST']).toBe('127.0.0.1');
    expect(normalized.otelEnv['OTEL_EXPORTER_PROMETHEUS_PORT']).toBe('9999');
  });

  it('takes OTEL_LOG_LEVEL for its own diag logger and hides it from the SDK', () => {
    const normalized = normalizeOtelEnv({ OTEL_LOG_LEVEL: 'debug' });
    expect(normalized.logLevel).toBe(DiagLogLevel.DEBUG);
    expect(normalized.otelEnv['OTEL_LOG_LEVEL']).toBeUndefined();
  });
});

describe('startTelemetry', () => {
  it('starts and shuts down without exporting anything when no OTEL_* variable is set', async () => {
    // The caller's process.env asks for OTLP; the explicit env (empty) wins and is not leaked.
    vi.stubEnv('OTEL_METRICS_EXPORTER', 'otlp');
    vi.stubEnv('OTEL_TRACES_EXPORTER', 'otlp');
    const envBefore = { ...process.env };
    const controller = createController();
    const log = vi.fn();

    handle = await startTelemetry({ controller, serviceName: 'drover-test', env: {}, log });
    expect(process.env).toEqual(envBefore);
    // No SDK meter or tracer provider was installed, so no exporter exists to reach the network.
    expect(isMeterProviderGlobal()).toBe(false);
    expect(isTracerProviderGlobal()).toBe(false);
    // The producers still subscribed (against the no-op providers).
    expect(controller.observerCount).toBe(2);

    const first = handle.shutdown();
    expect(handle.shutdown()).toBe(first);
    await first;
    expect(controller.observerCount).toBe(0);
    expect(log).not.toHaveBeenCalled();
    expect(process.env).toEqual(envBefore);
  });

  it('serves drover metrics on 127.0.0.1 with OTEL_METRICS_EXPORTER=prometheus', async () => {
    const port = await getFreePort();
    const controller = createController();
    const log = vi.fn();
    const envBefore = { ...process.env };

    handle = await startTelemetry({
      controller,
      serviceName: 'drover-test',
      env: { OTEL_METRICS_EXPORTER: 'prometheus', OTEL_EXPORTER_PROMETHEUS_PORT: String(port) },
      log,
    });
    expect(process.env).toEqual(envBefore);
    expect(isMeterProviderGlobal()).toBe(true);
    expect(isTracerProviderGlobal()).toBe(false);

    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(response.status).toBe(200);
    const text = await response.text();
    const stdoutLine = text
      .split('\n')
      .find((line) => line.startsWith('drover_stdio_io') && line.includes('drover_stdio_stream="stdout"'));
    expect(stdoutLine, text).toBeDefined();
    expect(stdoutLine).toContain('drover_node_name="a"');
    expect(stdoutLine).toContain('drover_node_replica="0"');
    expect(stdoutLine).not.toContain('pid');
    expect(stdoutLine?.split(' ').at(-1)).toBe('42');
    // Resource: service.name from the option, service.namespace from the cluster name.
    expect(text).toMatch(/target_info\{[^}]*service_name="drover-test"/);
    expect(text).toMatch(/target_info\{[^}]*service_namespace="ring"/);

    await handle.shutdown();
    expect(isMeterProviderGlobal()).toBe(false);
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
    expect(log).not.toHaveBeenCalled();
  });

  it('rejects when the Prometheus endpoint cannot listen: names the address, the holder and where the port was set; nothing stays', async () => {
    const holder = createServer();
    await new Promise<void>((resolve, reject) => {
      holder.once('error', reject);
      holder.listen(0, '127.0.0.1', resolve);
    });
    const port = (holder.address() as { port: number }).port;
    try {
      const controller = createController();
      const log = vi.fn();
      const spec = { name: 'ring', configPath: '/srv/drover.yaml', nodes: [], telemetry: { serviceName: null, resourceAttributes: {}, prometheusPort: port } };
      const started = startTelemetry({ controller, spec: spec as never, env: {}, log });
      const error = await started.then(
        (h) => {
          handle = h;
          return null;
        },
        (e: unknown) => e,
      );
      expect(error).toMatchObject({ code: 'ERR_TELEMETRY_ENDPOINT', port, errno: 'EADDRINUSE', syscall: 'listen', pid: process.pid });
      const message = (error as Error).message;
      expect(message).toContain(`127.0.0.1:${port}`);
      expect(message).toContain(`in use (EADDRINUSE) by pid ${process.pid} (`);
      expect(message).toContain('telemetry.prometheus.port in /srv/drover.yaml');
      // Everything it started is gone again: no observers, no global providers, nothing logged.
      expect(controller.observerCount).toBe(0);
      expect(isMeterProviderGlobal()).toBe(false);
      expect(log).not.toHaveBeenCalled();
    } finally {
      await new Promise<void>((resolve) => holder.close(() => resolve()));
    }
  });

  it('keeps OTEL_SERVICE_NAME over the serviceName option', async () => {
    const port = await getFreePort();
    handle = await startTelemetry({
      controller: createController(),
      serviceName: 'drover-test',
      env: {
        OTEL_SERVICE_NAME: 'from-env',
        OTEL_METRICS_EXPORTER: 'prometheus',
        OTEL_EXPORTER_PROMETHEUS_PORT: String(port),
      },
      log: vi.fn(),
    });
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(text).toMatch(/target_info\{[^}]*service_name="from-env"/);
  });

  it('survives an unreachable OTLP collector: reports once, shutdown stays bounded', async () => {
    const closedPort = await getFreePort();
    const controller = createController();
    const log = vi.fn();
    handle = await startTelemetry({
      controller,
      serviceName: 'drover-test',
      env: {
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${closedPort}`,
        OTEL_EXPORTER_OTLP_TIMEOUT: '500',
      },
      log,
      shutdownTimeoutMs: 3000,
    });
    expect(isTracerProviderGlobal()).toBe(true);
    // Two spans to export, both doomed.
    controller.transition('a', 'stopping', Date.now(), { run: 1 });
    controller.transition('a', 'stopped', Date.now(), { run: 1 });
    controller.transition('a', 'starting', Date.now(), { run: 2 });

    const startedMs = performance.now();
    await handle.shutdown();
    expect(performance.now() - startedMs).toBeLessThan(3500);
    const lines = log.mock.calls.map(([line]) => String(line));
    expect(lines, lines.join('\n')).toHaveLength(1);
    expect(lines.every((line) => line.startsWith('drover telemetry'))).toBe(true);
    expect(isTracerProviderGlobal()).toBe(false);
    expect(controller.observerCount).toBe(0);
  });
});

describe('normalizeOtelEnv with drover.yaml telemetry', () => {
  it('turns the Prometheus exporter on for telemetry.prometheus.port, next to what OTEL_* asks', () => {
    expect(normalizeOtelEnv({}, { prometheusPort: 9555 })).toMatchObject({
      isMetricsExported: true,
      isPrometheusExported: true,
      otelEnv: expect.objectContaining({ OTEL_METRICS_EXPORTER: 'prometheus', OTEL_EXPORTER_PROMETHEUS_PORT: '9555', OTEL_EXPORTER_PROMETHEUS_HOST: PROMETHEUS_HOST }),
    });
    expect(normalizeOtelEnv({ OTEL_METRICS_EXPORTER: 'otlp' }, { prometheusPort: 9555 }).otelEnv['OTEL_METRICS_EXPORTER']).toBe('otlp,prometheus');
    expect(normalizeOtelEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }, { prometheusPort: 9555 }).otelEnv['OTEL_METRICS_EXPORTER']).toBe('otlp,prometheus');
  });

  it('lets OTEL_* win: an explicit none, and the port variable', () => {
    expect(normalizeOtelEnv({ OTEL_METRICS_EXPORTER: 'none' }, { prometheusPort: 9555 }).isPrometheusExported).toBe(false);
    expect(normalizeOtelEnv({ OTEL_EXPORTER_PROMETHEUS_PORT: '9777' }, { prometheusPort: 9555 }).otelEnv['OTEL_EXPORTER_PROMETHEUS_PORT']).toBe('9777');
  });
});
