/**
 * Which telemetry the `OTEL_*` variables ask for, decided without loading OpenTelemetry: the SDK
 * module (sdk.ts) reads its settings through these helpers, and `drover up` asks
 * {@link isTelemetryRequested} first so that a cluster nobody exports telemetry from never loads
 * the SDK.
 */

export const OTEL_PREFIX = 'OTEL_';
export const EXPORTER_NONE = 'none';
export const EXPORTER_PROMETHEUS = 'prometheus';

/**
 * Whether the variables of `env` and drover.yaml's Prometheus port ask for anything to be
 * exported: a signal is requested when its `OTEL_<SIGNAL>_EXPORTER` names an exporter other than
 * `none`, or, with that variable unset, when an OTLP endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT` or
 * the signal's own) is set; `prometheusPort` (not null) requests metrics unless
 * `OTEL_METRICS_EXPORTER` says `none`. The same rules as the SDK's own settings
 * (`normalizeOtelEnv` in sdk.ts).
 */
export function isTelemetryRequested(env: Readonly<Record<string, string | undefined>>, config: { readonly prometheusPort?: number | null } = {}): boolean {
  const otelEnv = getOtelVariables(env);
  if ((config.prometheusPort ?? null) !== null && !getList(otelEnv['OTEL_METRICS_EXPORTER']).includes(EXPORTER_NONE)) return true;
  return (
    isSignalRequested(otelEnv, 'OTEL_TRACES_EXPORTER', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') ||
    isSignalRequested(otelEnv, 'OTEL_METRICS_EXPORTER', 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT') ||
    isSignalRequested(otelEnv, 'OTEL_LOGS_EXPORTER', 'OTEL_EXPORTER_OTLP_LOGS_ENDPOINT')
  );
}

/** The `OTEL_*` entries of `env` that have a value, in a prototype-less record. */
export function getOtelVariables(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const otelEnv: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [key, value] of Object.entries(env)) {
    if (key.startsWith(OTEL_PREFIX) && value !== undefined) otelEnv[key] = value;
  }
  return otelEnv;
}

/** A signal is exported when its exporter list names one other than `none`, or (list unset) an OTLP endpoint is set. */
export function isSignalRequested(otelEnv: Readonly<Record<string, string>>, exporterKey: string, signalEndpointKey: string): boolean {
  const exporters = getList(otelEnv[exporterKey]);
  if (exporters.length > 0) {
    return !exporters.includes(EXPORTER_NONE);
  }
  return isSet(otelEnv['OTEL_EXPORTER_OTLP_ENDPOINT']) || isSet(otelEnv[signalEndpointKey]);
}

/** The items of a comma-separated list, trimmed, empty ones left out. */
export function getList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

export function isOtlpEndpointSet(otelEnv: Readonly<Record<string, string>>): boolean {
  return isSet(otelEnv['OTEL_EXPORTER_OTLP_ENDPOINT']) || isSet(otelEnv['OTEL_EXPORTER_OTLP_METRICS_ENDPOINT']);
}

export function isSet(value: string | undefined): boolean {
  return value !== undefined && value.trim() !== '';
}
