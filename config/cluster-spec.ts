/**
 * Validated config → `ClusterSpec`. One normalizer per options type, and the only place in
 * `config/` where defaults are applied (STYLE.md habit 19): each copies its input into a
 * null-prototype object, applies every default of its type in one destructuring block, and returns
 * the fully populated spec. Validation has already run (`validation.ts`), so nothing here throws on
 * user input.
 */
import { resolve } from 'node:path';
import type {
  BackoffSpec,
  ClusterSpec,
  ClusterTelemetrySpec,
  NodeTelemetrySpec,
  NodeSpec,
  OutputSpec,
  ReadySpec,
  RestartSpec,
  StopSpec,
} from '../manager/types.js';
import type {
  ValidatedBackoff,
  ValidatedClusterTelemetry,
  ValidatedConfig,
  ValidatedNodeTelemetry,
  ValidatedNode,
  ValidatedOutput,
  ValidatedReady,
  ValidatedRestart,
  ValidatedStop,
} from './schema.js';

/** Where a config came from: relative `cwd`s resolve against `baseDir`. */
export interface ConfigSource {
  /** Absolute directory relative paths resolve against. */
  readonly baseDir: string;
  /** Absolute path of the config file, or null for a config object. */
  readonly configPath: string | null;
}

/** The shell a `shell: true` string command runs through. */
const SHELL_ARGV_PREFIX = ['/bin/sh', '-c'] as const;

/** A null-prototype copy, so destructuring never reads a default through Object.prototype. */
function copyOptions<T extends object>(input: T): T {
  return Object.assign(Object.create(null) as T, input);
}

/** Validated config → ClusterSpec: nodes in declaration order, every default applied. */
export function normalizeClusterSpec(config: ValidatedConfig, source: ConfigSource): ClusterSpec {
  return {
    name: config.name,
    configPath: source.configPath,
    nodes: Object.entries(config.nodes).map(([name, node]) => normalizeNodeSpec(name, node, source.baseDir)),
    // Present only when written, so specs without telemetry stay as they were.
    ...(config.telemetry === undefined ? {} : { telemetry: normalizeClusterTelemetrySpec(config.telemetry) }),
  };
}

function normalizeClusterTelemetrySpec(input: ValidatedClusterTelemetry): ClusterTelemetrySpec {
  const { serviceName = null, resourceAttributes = {}, prometheus } = copyOptions(input);
  return { serviceName, resourceAttributes: { ...resourceAttributes }, prometheusPort: prometheus?.port ?? null };
}

function normalizeNodeTelemetrySpec(input: ValidatedNodeTelemetry): NodeTelemetrySpec {
  const { logs = false, recordArgs = false, redact = [] } = copyOptions(input);
  return { logs, recordArgs, redact: [...redact] };
}

function normalizeNodeSpec(name: string, input: ValidatedNode, baseDir: string): NodeSpec {
  const { command, cwd = '.', env = {}, ready, restart, stop, output, telemetry } = copyOptions(input);
  return {
    name,
    // Validation lets a string through only with `shell: true`.
    command: typeof command === 'string' ? [...SHELL_ARGV_PREFIX, command] : [...command],
    cwd: resolve(baseDir, cwd),
    env: { ...env },
    ready: ready === undefined ? null : normalizeReadySpec(ready),
    restart: normalizeRestartSpec(restart),
    stop: normalizeStopSpec(stop),
    output: normalizeOutputSpec(output),
    ...(telemetry === undefined ? {} : { telemetry: normalizeNodeTelemetrySpec(telemetry) }),
  };
}

function normalizeReadySpec(input: ValidatedReady): ReadySpec {
  const { log, tcp, http, timeout: timeoutMs = 30_000, interval: intervalMs = 250 } = copyOptions(input);
  if (log !== undefined) {
    const { pattern, stream = 'both', count = 1 } = copyOptions(log);
    return { kind: 'log', pattern, stream, count, timeoutMs };
  }
  if (tcp !== undefined) {
    const { host = '127.0.0.1', port } = copyOptions(tcp);
    return { kind: 'tcp', host, port, timeoutMs, intervalMs };
  }
  if (http !== undefined) {
    const { url, status } = copyOptions(http);
    return { kind: 'http', url, ...(status === undefined ? {} : { status }), timeoutMs, intervalMs };
  }
  throw new Error('normalizeReadySpec: validation guarantees exactly one of log, tcp, http');
}

function normalizeRestartSpec(input: ValidatedRestart | undefined): RestartSpec {
  const { policy = 'on-failure', backoff, maxRestarts = 5, window: windowMs = 60_000 } = copyOptions<ValidatedRestart>(input ?? {});
  return { policy, backoff: normalizeBackoffSpec(backoff), maxRestarts, windowMs };
}

function normalizeBackoffSpec(input: ValidatedBackoff | undefined): BackoffSpec {
  const { initial: initialMs = 100, max: maxMs = 30_000, multiplier = 2, jitter = 0.2 } = copyOptions<ValidatedBackoff>(input ?? {});
  return { initialMs, maxMs, multiplier, jitter };
}

function normalizeStopSpec(input: ValidatedStop | undefined): StopSpec {
  const { signal = 'SIGTERM', timeout: timeoutMs = 10_000 } = copyOptions<ValidatedStop>(input ?? {});
  return { signal, timeoutMs };
}

function normalizeOutputSpec(input: ValidatedOutput | undefined): OutputSpec {
  const { maxLines = 1000, maxBytes = 1024 * 1024 } = copyOptions<ValidatedOutput>(input ?? {});
  return { maxLines, maxBytes };
}
