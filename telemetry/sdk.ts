/**
 * OpenTelemetry SDK setup for a cluster: a `NodeSDK` configured from the standard `OTEL_*`
 * variables, exporting nothing unless asked, with drover's metric and span producers on top.
 */

import { diag, DiagLogLevel, metrics, trace } from '@opentelemetry/api';
import { logs } from '@opentelemetry/api-logs';
import type { Context, ContextManager, DiagLogger, ProxyTracerProvider, TracerProvider } from '@opentelemetry/api';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import {
  defaultResource,
  detectResources,
  envDetector,
  hostDetector,
  osDetector,
  processDetector,
  resourceFromAttributes,
  serviceInstanceIdDetector,
} from '@opentelemetry/resources';
import type { Resource, ResourceDetector } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import type { NodeSDKConfiguration } from '@opentelemetry/sdk-node';
import { DroverError } from '../contract/errors.js';
import { EXPORTER_NONE, EXPORTER_PROMETHEUS, getList, getOtelVariables, isOtlpEndpointSet, isSet, isSignalRequested, OTEL_PREFIX } from './otel-env.js';
import type { ClusterController, ClusterSpec } from '../contract/types.js';
import { NODE_STATES } from '../contract/types.js';
import { ClusterTracing } from './cluster-tracing.js';
import { OncePerKindDiagLogger } from './diag-logger.js';
import { startInMemoryTelemetry } from './in-memory.js';
import { LifecycleEvents } from './lifecycle-events.js';
import { OutputLogs } from './output-logs.js';
import { describePortHolder, findPortHolder } from './port-holder.js';
import { DEFAULT_SAMPLE_INTERVAL_MS } from './proc-sampler.js';
import { ProcessMetrics } from './process-metrics.js';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_NAMESPACE, INSTRUMENTATION_SCOPE_NAME } from './semconv.js';

/**
 * Where a cluster's telemetry goes, as `startCluster(config, { telemetry })` and `setupCluster`
 * take it (the `controller` and `spec` are the cluster's own).
 */
export interface TelemetrySettings {
  /**
   * `'env'`: exporters as `drover up` has them, from the standard `OTEL_*` variables of `env` and
   * drover.yaml's `telemetry:` section (nothing is exported unless they ask), plus `otlpEndpoint`
   * and `prometheusPort`; the SDK registers the global providers (one such pipeline per process
   * at a time). `'memory'`: the SDK's in-memory exporters behind providers of their own (nothing
   * global, nothing leaves the process); read them with {@link TelemetryHandle.spans},
   * {@link TelemetryHandle.collectMetrics} and {@link TelemetryHandle.logs}. `OTEL_*` variables
   * are ignored then.
   * @default 'env'
   */
  readonly exporter?: 'env' | 'memory';
  /**
   * OTLP endpoint for traces, metrics and log records (`OTEL_EXPORTER_OTLP_ENDPOINT`, e.g.
   * `http://127.0.0.1:4318`; the protocol is `OTEL_EXPORTER_OTLP_PROTOCOL`'s, http/protobuf by
   * default). Needs `exporter: 'env'`.
   * @default none: what `OTEL_*` says
   */
  readonly otlpEndpoint?: string;
  /**
   * Serve Prometheus metrics on `127.0.0.1:<port>` (as drover.yaml's `telemetry.prometheus.port`;
   * this option wins over `OTEL_EXPORTER_PROMETHEUS_PORT` and the config). 1–65535. Needs
   * `exporter: 'env'`.
   * @default none: what the config and `OTEL_*` say
   */
  readonly prometheusPort?: number;
  /**
   * `service.name` of the resource, unless `OTEL_SERVICE_NAME` (or `service.name` in
   * `OTEL_RESOURCE_ATTRIBUTES`) is set, or the spec's `telemetry.serviceName`.
   * `service.namespace` is the cluster name.
   * @default 'drover'
   */
  readonly serviceName?: string;
  /**
   * Time between `/proc` samples of the nodes' process trees, in ms.
   * @default the metric export interval (`OTEL_METRIC_EXPORT_INTERVAL`, 60000) capped at 15000
   */
  readonly sampleIntervalMs?: number;
  /**
   * Where the `OTEL_*` variables are read from. Only `OTEL_*` keys are used.
   * @default process.env
   */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * Sink for telemetry's own problems: exporter failures (each kind once) and shutdown failures.
   * @default writes the line to process.stderr
   */
  readonly log?: (message: string) => void;
  /**
   * Longest `shutdown()` waits for the final flush before giving up on pending exports, in ms.
   * @default 5000
   */
  readonly shutdownTimeoutMs?: number;
}

/** Options of {@link startTelemetry}. */
export interface StartTelemetryOptions extends TelemetrySettings {
  /** The cluster to observe. */
  readonly controller: ClusterController;
  /**
   * The cluster's spec: its `telemetry` section (service name, resource attributes, Prometheus
   * port), per-node `telemetry` (log records, recorded args) and commands (`process.executable.name`).
   * @default none: only `OTEL_*` and `serviceName` decide
   */
  readonly spec?: ClusterSpec;
}

/** A started telemetry pipeline. */
export interface TelemetryHandle {
  /**
   * Ends open spans, flushes and shuts the SDK down, and removes the global providers it
   * registered. Idempotent (every call returns the same promise); never rejects; bounded by
   * `shutdownTimeoutMs`.
   */
  shutdown(): Promise<void>;
  /** Same as `shutdown()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
  /**
   * Spans that ended so far, oldest first (`exporter: 'memory'`): each drover span as soon as it
   * ends; after `shutdown()` (which ends the open ones) the same list stays readable.
   * @throws {DroverError} ERR_INVALID_OPTION when the exporter is not `'memory'`.
   */
  spans(): readonly ReadableSpan[];
  /**
   * Log records emitted so far, oldest first (`exporter: 'memory'`): lifecycle events, and output
   * lines of nodes with `telemetry: { logs: true }`. Kept after `shutdown()`.
   * @throws {DroverError} ERR_INVALID_OPTION when the exporter is not `'memory'`.
   */
  logs(): readonly ReadableLogRecord[];
  /**
   * Collects every metric now (`exporter: 'memory'`; cumulative temporality). After `shutdown()`:
   * the last collection, made during it.
   * @throws {DroverError} ERR_INVALID_OPTION when the exporter is not `'memory'`.
   */
  collectMetrics(): Promise<ResourceMetrics>;
  /** Forgets the spans and log records kept so far (`exporter: 'memory'`; a no-op otherwise). */
  reset(): void;
  /** The provider drover's spans are made by: a test span from it is in the same pipeline. */
  readonly tracerProvider: TracerProvider;
  /**
   * Makes `context`'s span the parent of the spans drover opens from now on (start, stop,
   * restart, fault), and so of the `TRACEPARENT` of nodes started from now on; `undefined` makes
   * them roots again. drover/vitest's `traceTests` sets each test's span here.
   */
  setParentContext(context: Context | undefined): void;
}

/** Which signals get exporters, and the `OTEL_*` view the SDK is built under. */
export interface NormalizedOtelEnv {
  /** True when the user asked for trace export (`OTEL_TRACES_EXPORTER` or an OTLP endpoint). */
  readonly isTracesExported: boolean;
  /** True when the user asked for metric export (`OTEL_METRICS_EXPORTER` or an OTLP endpoint). */
  readonly isMetricsExported: boolean;
  /** True when the user asked for log export (`OTEL_LOGS_EXPORTER` or an OTLP endpoint). */
  readonly isLogsExported: boolean;
  /** True when `prometheus` is among the metric exporters. */
  readonly isPrometheusExported: boolean;
  /** Diag level from `OTEL_LOG_LEVEL`; `ERROR` by default. */
  readonly logLevel: DiagLogLevel;
  /** The complete set of `OTEL_*` variables the SDK sees while it is built and started. */
  readonly otelEnv: Readonly<Record<string, string>>;
}

/** Host the Prometheus exporter binds to: never all interfaces. */
export const PROMETHEUS_HOST = '127.0.0.1';
/** Default Prometheus port (the exporter's and the OpenTelemetry spec's default). */
export const PROMETHEUS_DEFAULT_PORT = 9464;

const DEFAULT_SHUTDOWN_TIMEOUT_MS = 5000;
const DEFAULT_SERVICE_NAME = 'drover';
/** The SDK's own default cardinality limit per metric stream. */
const SDK_DEFAULT_CARDINALITY_LIMIT = 2000;
/** The OpenTelemetry default of `OTEL_METRIC_EXPORT_INTERVAL`, in ms. */
const DEFAULT_METRIC_EXPORT_INTERVAL_MS = 60_000;

/**
 * Cardinality limit for drover's metric streams: the most series one stream can hold (one per
 * node replica and state of `drover.node.state`), plus the overflow series, never below the SDK's
 * default.
 */
export function getCardinalityLimit(nodeCount: number): number {
  return Math.max(SDK_DEFAULT_CARDINALITY_LIMIT, nodeCount * NODE_STATES.length + 1);
}

function getDefaultSampleIntervalMs(otelEnv: Readonly<Record<string, string>>): number {
  const exportIntervalMs = Number(otelEnv['OTEL_METRIC_EXPORT_INTERVAL'] ?? DEFAULT_METRIC_EXPORT_INTERVAL_MS);
  return Number.isFinite(exportIntervalMs) && exportIntervalMs > 0 ? Math.min(exportIntervalMs, DEFAULT_SAMPLE_INTERVAL_MS) : DEFAULT_SAMPLE_INTERVAL_MS;
}

const LOG_LEVELS: Readonly<Record<string, DiagLogLevel>> = {
  NONE: DiagLogLevel.NONE,
  ERROR: DiagLogLevel.ERROR,
  WARN: DiagLogLevel.WARN,
  INFO: DiagLogLevel.INFO,
  DEBUG: DiagLogLevel.DEBUG,
  VERBOSE: DiagLogLevel.VERBOSE,
  ALL: DiagLogLevel.ALL,
};

/**
 * Decides what the SDK may export from the `OTEL_*` variables in `env`. Nothing is exported
 * unless asked for: a signal is off unless its `OTEL_<SIGNAL>_EXPORTER` names an exporter other
 * than `none`, or an OTLP endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT` or the signal's own) is set.
 * The Prometheus exporter is always bound to 127.0.0.1 (`OTEL_EXPORTER_PROMETHEUS_HOST` is
 * overridden); its port is `OTEL_EXPORTER_PROMETHEUS_PORT`, default 9464.
 */
export function normalizeOtelEnv(
  env: Readonly<Record<string, string | undefined>>,
  config: { readonly prometheusPort?: number | null } = {},
): NormalizedOtelEnv {
  const otelEnv = getOtelVariables(env);
  // drover.yaml `telemetry.prometheus.port` turns the Prometheus exporter on, next to whatever
  // OTEL_METRICS_EXPORTER asks for (an explicit `none` still wins); the variable's port wins.
  const prometheusPort = config.prometheusPort ?? null;
  if (prometheusPort !== null) {
    const exporters = getList(otelEnv['OTEL_METRICS_EXPORTER']);
    if (!exporters.includes(EXPORTER_NONE) && !exporters.includes(EXPORTER_PROMETHEUS)) {
      otelEnv['OTEL_METRICS_EXPORTER'] = [...(exporters.length === 0 && isOtlpEndpointSet(otelEnv) ? ['otlp'] : exporters), EXPORTER_PROMETHEUS].join(',');
    }
    otelEnv['OTEL_EXPORTER_PROMETHEUS_PORT'] ??= String(prometheusPort);
  }

  const isTracesExported = isSignalRequested(otelEnv, 'OTEL_TRACES_EXPORTER', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const isMetricsExported = isSignalRequested(otelEnv, 'OTEL_METRICS_EXPORTER', 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT');
  const isLogsExported = isSignalRequested(otelEnv, 'OTEL_LOGS_EXPORTER', 'OTEL_EXPORTER_OTLP_LOGS_ENDPOINT');
  const isPrometheusExported = isMetricsExported && getList(otelEnv['OTEL_METRICS_EXPORTER']).includes(EXPORTER_PROMETHEUS);

  // Traces and metrics that are off get explicit empty processor/reader lists (see
  // createNodeSdk); logs have no such option that avoids registering a provider, so say `none`.
  if (!isLogsExported) {
    otelEnv['OTEL_LOGS_EXPORTER'] = EXPORTER_NONE;
  }
  otelEnv['OTEL_EXPORTER_PROMETHEUS_HOST'] = PROMETHEUS_HOST;
  otelEnv['OTEL_EXPORTER_PROMETHEUS_PORT'] ??= String(PROMETHEUS_DEFAULT_PORT);

  // NodeSDK would install a console diag logger of its own for OTEL_LOG_LEVEL; ours honours it.
  const logLevel = LOG_LEVELS[(otelEnv['OTEL_LOG_LEVEL'] ?? '').trim().toUpperCase()] ?? DiagLogLevel.ERROR;
  delete otelEnv['OTEL_LOG_LEVEL'];

  return {
    isTracesExported,
    isMetricsExported,
    isLogsExported,
    isPrometheusExported,
    logLevel,
    otelEnv: Object.freeze({ ...otelEnv }),
  };
}

/**
 * Starts OpenTelemetry for a cluster: a `NodeSDK` from `@opentelemetry/sdk-node` configured from
 * the standard `OTEL_*` variables (see {@link normalizeOtelEnv}: nothing is exported unless
 * asked), no auto-instrumentations, no global context manager or propagator, and the resource
 * `service.name` = `serviceName` (unless `OTEL_SERVICE_NAME` is set), `service.namespace` = the
 * cluster name. {@link ProcessMetrics} and {@link ClusterTracing} are registered against the
 * providers the SDK installs.
 *
 * Exporter failures never throw or block: OpenTelemetry's diag logger is set to report each kind
 * of problem once through `log`. When Prometheus is asked for, the promise resolves once its
 * endpoint listens; an endpoint the user asked for that cannot listen (the port is taken, or
 * needs privileges) is an error: everything started is shut down again and the promise rejects.
 *
 * @throws {DroverError} ERR_TELEMETRY_ENDPOINT when the Prometheus endpoint cannot listen: the
 *   message names the address, the errno (`EADDRINUSE`, `EACCES`), who holds the port when
 *   `/proc` shows it, and where the port was set; fields `port`, `errno`, `syscall: 'listen'`,
 *   `pid` (the holder's, when known), `cause` (the listen error).
 *
 * The SDK reads `process.env` itself, so while it is built and started (synchronously) the
 * caller's `OTEL_*` variables are swapped for the normalized view of `env`, and restored right
 * after.
 *
 * @example
 * ```ts
 * const telemetry = await startTelemetry({ controller: cluster, serviceName: 'drover' });
 * // OTEL_METRICS_EXPORTER=prometheus → http://127.0.0.1:9464/metrics
 * await telemetry.shutdown();
 * ```
 */
export async function startTelemetry(options: StartTelemetryOptions): Promise<TelemetryHandle> {
  const {
    controller,
    spec,
    env = process.env,
    log = writeToStderr,
    shutdownTimeoutMs = DEFAULT_SHUTDOWN_TIMEOUT_MS,
  } = options;
  validateTelemetrySettings(options);
  const serviceName = spec?.telemetry?.serviceName ?? options.serviceName ?? DEFAULT_SERVICE_NAME;
  if (options.exporter === 'memory') {
    const memory = startInMemoryTelemetry({
      controller,
      spec,
      serviceName,
      cardinalityLimit: getCardinalityLimit(controller.snapshot().nodes.length),
      sampleIntervalMs: options.sampleIntervalMs,
      shutdownTimeoutMs,
      log,
    });
    return { ...memory, [Symbol.asyncDispose]: memory.shutdown };
  }
  const normalized = normalizeOtelEnv(withSettings(env, options), { prometheusPort: options.prometheusPort ?? spec?.telemetry?.prometheusPort ?? null });
  const clusterSnapshot = controller.snapshot();
  const clusterName = clusterSnapshot.name;
  const sampleIntervalMs = options.sampleIntervalMs ?? getDefaultSampleIntervalMs(normalized.otelEnv);

  // Errors reach the capture whatever OTEL_LOG_LEVEL says (it forwards them only when the level
  // asks): the Prometheus exporter reports a failed listen through diag only.
  const diagLogger = new ListenErrorCapture(new OncePerKindDiagLogger(log), normalized.logLevel);
  diag.setLogger(diagLogger, { logLevel: Math.max(normalized.logLevel, DiagLogLevel.ERROR), suppressOverrideMessage: true });

  const meterProviderBefore = metrics.getMeterProvider();
  const tracerProviderBefore = getTracerProviderDelegate();
  const loggerProviderBefore = logs.getLoggerProvider();
  let sdk: NodeSDK | null = null;
  try {
    const resource = await createResource(normalized, serviceName, clusterName, spec?.telemetry?.resourceAttributes ?? {}, shutdownTimeoutMs);
    sdk = withOtelEnv(normalized.otelEnv, () => {
      const created = createNodeSdk(normalized, resource, getCardinalityLimit(clusterSnapshot.nodes.length));
      created.start();
      return created;
    });
  } catch (error) {
    // Telemetry is an observer: a broken OTEL_* setup must not stop the cluster. The producers
    // below then run against whatever providers are global (no-ops by default).
    log(`drover telemetry: could not start the OpenTelemetry SDK: ${getErrorText(error)}`);
  }
  const isMeterProviderOwned = metrics.getMeterProvider() !== meterProviderBefore;
  const isTracerProviderOwned = getTracerProviderDelegate() !== tracerProviderBefore;
  const isLoggerProviderOwned = logs.getLoggerProvider() !== loggerProviderBefore;

  const processMetrics = new ProcessMetrics({ controller, meterProvider: metrics.getMeterProvider(), sampleIntervalMs });
  const clusterTracing = new ClusterTracing({
    controller,
    tracerProvider: trace.getTracerProvider(),
    isClusterUpTraced: true,
    ...(spec === undefined ? {} : { spec }),
  });
  const getSpanContext = (node: string, replica: number) => clusterTracing.getRunSpanContext(node, replica);
  const lifecycleEvents = new LifecycleEvents({ controller, loggerProvider: logs.getLoggerProvider(), getSpanContext });
  const outputLogs =
    spec === undefined
      ? null
      : new OutputLogs({ controller, spec, loggerProvider: logs.getLoggerProvider(), meterProvider: metrics.getMeterProvider(), getSpanContext });
  // Tracing first: its observer hands TRACEPARENT to the children and run contexts to the logs.
  clusterTracing.register();
  processMetrics.register();
  if (normalized.isLogsExported) {
    lifecycleEvents.register();
    outputLogs?.register();
  }

  if (normalized.isPrometheusExported && sdk !== null) {
    // The exporter binds 127.0.0.1 asynchronously: the IP-literal lookup and the 'listening'
    // callback both run on process.nextTick, so one macrotask later it listens (or has reported
    // its error through diag). This is not a sleep: nothing else has to happen first.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  const listenError = diagLogger.stopCapturing();

  let shutdownPromise: Promise<void> | null = null;
  const shutdown = (): Promise<void> => {
    shutdownPromise ??= (async () => {
      // One line at most, whatever goes wrong: the first problem is the useful one.
      let hasReported = false;
      const reportOnce = (message: string): void => {
        if (!hasReported) {
          hasReported = true;
          log(message);
        }
      };
      try {
        clusterTracing.unregister();
        lifecycleEvents.unregister();
        outputLogs?.unregister();
        if (sdk !== null) {
          // The last metric collection happens during the SDK's shutdown, so the batch callback
          // stays installed until it is done.
          const outcome = await settleWithin(sdk.shutdown(), shutdownTimeoutMs);
          if (outcome === 'timeout') {
            reportOnce(`drover telemetry: shutdown did not finish within ${shutdownTimeoutMs} ms; pending telemetry was dropped`);
          }
        }
      } catch (error) {
        reportOnce(`drover telemetry: shutdown could not flush everything: ${getErrorText(error)}`);
      } finally {
        try {
          processMetrics.unregister();
        } catch (error) {
          reportOnce(`drover telemetry: shutdown could not unregister metrics: ${getErrorText(error)}`);
        }
        if (isMeterProviderOwned) {
          metrics.disable();
        }
        if (isTracerProviderOwned) {
          trace.disable();
        }
        if (isLoggerProviderOwned) {
          logs.disable();
        }
        diag.disable();
      }
    })();
    return shutdownPromise;
  };
  if (listenError !== null) {
    await shutdown();
    throw createEndpointError(listenError, normalized, env, spec, options.prometheusPort);
  }
  const notInMemory = (): never => {
    throw new DroverError('ERR_INVALID_OPTION', "telemetry kept in memory is read with spans(), logs() and collectMetrics() only when it was started with exporter: 'memory'; this one exports through the OTEL_* settings", {});
  };
  return {
    shutdown,
    [Symbol.asyncDispose]: shutdown,
    spans: notInMemory,
    logs: notInMemory,
    collectMetrics: () => Promise.reject(getError(notInMemory)),
    reset: () => {},
    tracerProvider: trace.getTracerProvider(),
    setParentContext: (context) => clusterTracing.setParentContext(context),
  };
}

/** The error `fn` throws. */
function getError(fn: () => never): unknown {
  try {
    return fn();
  } catch (error) {
    return error;
  }
}

/**
 * Checks the settings a caller gave in code (`startCluster`'s `telemetry` option, say).
 * @throws {DroverError} ERR_INVALID_OPTION naming the setting, what it got and what it takes.
 */
function validateTelemetrySettings(settings: TelemetrySettings): void {
  const fail = (message: string): never => {
    throw new DroverError('ERR_INVALID_OPTION', `telemetry option ${message}`, {});
  };
  const { exporter, otlpEndpoint, prometheusPort } = settings;
  if (exporter !== undefined && exporter !== 'env' && exporter !== 'memory') fail(`\`exporter\` must be 'env' or 'memory', got ${JSON.stringify(exporter)}`);
  if (otlpEndpoint !== undefined) {
    let url: URL | null = null;
    try {
      url = typeof otlpEndpoint === 'string' ? new URL(otlpEndpoint) : null;
    } catch {
      url = null;
    }
    if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) fail(`\`otlpEndpoint\` must be an http:// or https:// URL, got ${JSON.stringify(otlpEndpoint)}`);
  }
  if (prometheusPort !== undefined && !(Number.isSafeInteger(prometheusPort) && prometheusPort >= 1 && prometheusPort <= 65_535)) {
    fail(`\`prometheusPort\` must be an integer from 1 to 65535, got ${JSON.stringify(prometheusPort)}`);
  }
  if (exporter === 'memory' && (otlpEndpoint !== undefined || prometheusPort !== undefined)) {
    fail(`exporter: 'memory' keeps everything in memory; \`${otlpEndpoint !== undefined ? 'otlpEndpoint' : 'prometheusPort'}\` needs exporter: 'env' (the default)`);
  }
}

/** `env` with the settings given in code applied: they win over the `OTEL_*` variables. */
function withSettings(env: Readonly<Record<string, string | undefined>>, settings: TelemetrySettings): Readonly<Record<string, string | undefined>> {
  if (settings.otlpEndpoint === undefined && settings.prometheusPort === undefined) return env;
  const applied: Record<string, string | undefined> = { ...env };
  if (settings.otlpEndpoint !== undefined) applied['OTEL_EXPORTER_OTLP_ENDPOINT'] = settings.otlpEndpoint;
  // normalizeOtelEnv lets the variable win over a configured port; the option must win over both.
  if (settings.prometheusPort !== undefined) delete applied['OTEL_EXPORTER_PROMETHEUS_PORT'];
  return applied;
}

/** A `listen` error of a server (the Prometheus exporter's): errno code, address and port. */
type ListenError = Error & { code?: string; syscall?: string; address?: string; port?: number };

function isListenError(value: unknown): value is ListenError {
  return value instanceof Error && (value as ListenError).syscall === 'listen';
}

/**
 * The diag logger `startTelemetry` installs: `inner` (reporting each kind once) at the user's
 * level, except that while capturing, the first `listen` error (the Prometheus endpoint's) is kept
 * for `startTelemetry` to reject with instead of being logged.
 */
class ListenErrorCapture implements DiagLogger {
  private capturing = true;
  private captured: ListenError | null = null;

  constructor(
    private readonly inner: DiagLogger,
    private readonly userLevel: DiagLogLevel,
  ) {}

  /** Ends the capture; later listen errors are logged like any error. The error captured, or null. */
  stopCapturing(): ListenError | null {
    this.capturing = false;
    return this.captured;
  }

  error(message: string, ...args: unknown[]): void {
    const listenError = [message, ...args].find(isListenError);
    if (this.capturing && listenError !== undefined) {
      this.captured ??= listenError;
      return;
    }
    if (this.userLevel >= DiagLogLevel.ERROR) this.inner.error(message, ...args);
  }

  warn(message: string, ...args: unknown[]): void {
    this.inner.warn(message, ...args);
  }

  info(message: string, ...args: unknown[]): void {
    this.inner.info(message, ...args);
  }

  debug(message: string, ...args: unknown[]): void {
    this.inner.debug(message, ...args);
  }

  verbose(message: string, ...args: unknown[]): void {
    this.inner.verbose(message, ...args);
  }
}

/**
 * ERR_TELEMETRY_ENDPOINT for a Prometheus endpoint that could not listen: the address, why, who
 * holds the port (from `/proc`, when visible) and where the port was chosen, so the user can pick
 * another one.
 */
function createEndpointError(
  error: ListenError,
  normalized: NormalizedOtelEnv,
  env: Readonly<Record<string, string | undefined>>,
  spec: ClusterSpec | undefined,
  optionPort: number | undefined,
): DroverError {
  const port = error.port ?? Number(normalized.otelEnv['OTEL_EXPORTER_PROMETHEUS_PORT']);
  const address = `${PROMETHEUS_HOST}:${port}`;
  const holder = error.code === 'EADDRINUSE' ? findPortHolder(port) : null;
  const why =
    error.code === 'EADDRINUSE'
      ? `the port is in use (EADDRINUSE) by ${describePortHolder(holder)}`
      : error.code === 'EACCES'
        ? `permission denied (EACCES): ports below 1024 need privileges`
        : `${error.code ?? 'error'}: ${error.message}`;
  const source = optionPort !== undefined
    ? 'the telemetry option `prometheusPort`'
    : isSet(env['OTEL_EXPORTER_PROMETHEUS_PORT'])
    ? 'OTEL_EXPORTER_PROMETHEUS_PORT'
    : spec?.telemetry?.prometheusPort != null
      ? `telemetry.prometheus.port${spec.configPath ? ` in ${spec.configPath}` : ''}`
      : `OTEL_EXPORTER_PROMETHEUS_PORT (unset: the default ${PROMETHEUS_DEFAULT_PORT})`;
  return new DroverError(
    'ERR_TELEMETRY_ENDPOINT',
    `the Prometheus metrics endpoint cannot listen on ${address}: ${why}; free the port, or choose another one with ${source}`,
    { port, syscall: 'listen', ...(error.code === undefined ? {} : { errno: error.code }), ...(holder?.pid == null ? {} : { pid: holder.pid }), cause: error },
  );
}

/**
 * The resource, detected here rather than by NodeSDK so that its asynchronous attributes (the
 * host id) can settle before anything exports: an early Prometheus scrape would otherwise read
 * the resource too soon and report a diag error. Detection follows NodeSDK's rules
 * (`OTEL_NODE_RESOURCE_DETECTORS`, default env + process + host). Detected attributes
 * (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, …) are merged over drover's, so the user's
 * variables win.
 */
async function createResource(
  normalized: NormalizedOtelEnv,
  serviceName: string,
  clusterName: string,
  resourceAttributes: Readonly<Record<string, string>>,
  timeoutMs: number,
): Promise<Resource> {
  const detected = withOtelEnv(normalized.otelEnv, () =>
    detectResources({ detectors: getResourceDetectors(normalized.otelEnv['OTEL_NODE_RESOURCE_DETECTORS']) }),
  );
  const resource = defaultResource()
    .merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName, [ATTR_SERVICE_NAMESPACE]: clusterName, ...resourceAttributes }))
    .merge(detected);
  if (resource.waitForAsyncAttributes !== undefined) {
    await settleWithin(resource.waitForAsyncAttributes(), timeoutMs);
  }
  return resource;
}

const RESOURCE_DETECTORS: ReadonlyMap<string, ResourceDetector> = new Map([
  ['env', envDetector],
  ['host', hostDetector],
  ['os', osDetector],
  ['process', processDetector],
  ['serviceinstance', serviceInstanceIdDetector],
]);

/** NodeSDK's reading of `OTEL_NODE_RESOURCE_DETECTORS`. */
function getResourceDetectors(value: string | undefined): ResourceDetector[] {
  const names = getList(value);
  if (names.length === 0) {
    return [envDetector, processDetector, hostDetector];
  }
  if (names.includes('all')) {
    return [...RESOURCE_DETECTORS.values()];
  }
  if (names.includes(EXPORTER_NONE)) {
    return [];
  }
  return names.flatMap((name) => {
    const detector = RESOURCE_DETECTORS.get(name);
    if (detector === undefined) {
      diag.warn(`Invalid resource detector "${name}" in OTEL_NODE_RESOURCE_DETECTORS`);
      return [];
    }
    return [detector];
  });
}

function createNodeSdk(normalized: NormalizedOtelEnv, resource: Resource, cardinalityLimit: number): NodeSDK {
  const configuration: Partial<NodeSDKConfiguration> = {
    resource,
    // Every drover stream may hold a series per node replica and state (drover.node.state: 9);
    // the SDK's default limit (2000) would fold a large cluster into an overflow series.
    views: [{ meterName: INSTRUMENTATION_SCOPE_NAME, instrumentName: '*', aggregationCardinalityLimit: cardinalityLimit }],
    autoDetectResources: false,
    instrumentations: [],
    // drover passes span parents explicitly; a global context manager or propagator would be a
    // process-wide side effect that outlives shutdown(). `null` means "do not register" to
    // NodeSDK, though its type does not say so.
    contextManager: null as unknown as ContextManager,
    textMapPropagator: null,
  };
  if (!normalized.isTracesExported) {
    configuration.spanProcessors = [];
  }
  if (!normalized.isMetricsExported) {
    configuration.metricReaders = [];
  }
  return new NodeSDK(configuration);
}

/** Runs `fn` with the `OTEL_*` part of `process.env` replaced by `otelEnv`, then restores it. */
function withOtelEnv<T>(otelEnv: Readonly<Record<string, string>>, fn: () => T): T {
  const saved = new Map<string, string | undefined>();
  for (const key of Object.keys(process.env)) {
    if (key.startsWith(OTEL_PREFIX)) {
      saved.set(key, process.env[key]);
      delete process.env[key];
    }
  }
  Object.assign(process.env, otelEnv);
  try {
    return fn();
  } finally {
    for (const key of Object.keys(process.env)) {
      if (key.startsWith(OTEL_PREFIX)) {
        delete process.env[key];
      }
    }
    for (const [key, value] of saved) {
      if (value !== undefined) {
        process.env[key] = value;
      }
    }
  }
}

/**
 * The provider behind the API's proxy. Duck-typed: the proxy may come from another copy of
 * `@opentelemetry/api` (CJS vs ESM build), so `instanceof ProxyTracerProvider` is unreliable.
 */
function getTracerProviderDelegate(): TracerProvider {
  const provider: TracerProvider & Partial<Pick<ProxyTracerProvider, 'getDelegate'>> = trace.getTracerProvider();
  return typeof provider.getDelegate === 'function' ? provider.getDelegate() : provider;
}

async function settleWithin(promise: Promise<unknown>, timeoutMs: number): Promise<'settled' | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    return await Promise.race([promise.then(() => 'settled' as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function getErrorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function writeToStderr(message: string): void {
  process.stderr.write(`${message}\n`);
}
