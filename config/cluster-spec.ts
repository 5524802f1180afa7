/**
 * Validated config → `ClusterSpec`. One normalizer per options type, and the only place in
 * `config/` where defaults are applied: each copies its input into a
 * null-prototype object, applies every default of its type in one destructuring block, and returns
 * the fully populated spec. Validation has already run (`validation.ts`), so nothing here throws on
 * user input.
 */
import { resolve } from 'node:path';
import {
  DEFAULT_BACKOFF_INITIAL_MS,
  DEFAULT_BACKOFF_JITTER,
  DEFAULT_BACKOFF_MAX_MS,
  DEFAULT_BACKOFF_MULTIPLIER,
  DEFAULT_LIVENESS_INTERVAL_MS,
  DEFAULT_LIVENESS_TIMEOUT_MS,
  DEFAULT_MIN_UPTIME_MS,
  DEFAULT_OUTPUT_MAX_BYTES,
  DEFAULT_OUTPUT_MAX_LINES,
  DEFAULT_READY_INTERVAL_MS,
  DEFAULT_READY_TIMEOUT_MS,
  DEFAULT_STOP_SIGNAL,
  DEFAULT_STOP_TIMEOUT_MS,
} from '../contract/defaults.js';
import { DEFAULT_OUTPUT_FILE_KEEP, DEFAULT_OUTPUT_FILE_MAX_BYTES, DEFAULT_WATCH_DEBOUNCE_MS, DEFAULT_WATCH_IGNORE } from '../contract/defaults.js';
import type { OutputFileSpec, WatchSpec } from '../contract/types.js';
import type { ValidatedOutputFile, ValidatedWatch } from './schema.js';
import type {
  BackoffSpec,
  ClusterSpec,
  DependencyCondition,
  LivenessSpec,
  ClusterTelemetrySpec,
  NodeTelemetrySpec,
  NodeSpec,
  OutputSpec,
  ReadySpec,
  RestartSpec,
  StopSpec,
} from '../contract/types.js';
import type {
  ValidatedBackoff,
  ValidatedClusterTelemetry,
  ValidatedConfig,
  ValidatedLiveness,
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
  /** Variables read from each node's `envFile`s (by node name), merged under its `env`. */
  readonly envFiles?: ReadonlyMap<string, Readonly<Record<string, string>>>;
}

/** The shell a `shell: true` string command runs through. */
const SHELL_ARGV_PREFIX = ['/bin/sh', '-c'] as const;

/** A null-prototype copy, so destructuring never reads a default through Object.prototype. */
function copyOptions<T extends object>(input: T): T {
  return Object.assign(Object.create(null) as T, input);
}

/** Validated config → ClusterSpec: nodes in declaration order, every default applied. */
export function normalizeClusterSpec(config: ValidatedConfig, source: ConfigSource): ClusterSpec {
  const { name, nodes, onNodeFailure = 'continue' } = copyOptions(config);
  return {
    name,
    configPath: source.configPath,
    onNodeFailure,
    nodes: Object.entries(nodes).map(([nodeName, node]) =>
      withOutputFile(normalizeNodeSpec(nodeName, node, source.baseDir, source.envFiles?.get(nodeName) ?? {}), node.output?.file ?? config.output?.file, source.baseDir),
    ),
    // Present only when written, so specs without telemetry stay as they were.
    ...(config.telemetry === undefined ? {} : { telemetry: normalizeClusterTelemetrySpec(config.telemetry) }),
    // Likewise network: absent means no relay.
    ...(config.network === undefined ? {} : { network: { faults: config.network.faults ?? false } }),
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


function normalizeNodeSpec(name: string, input: ValidatedNode, baseDir: string, fileEnv: Readonly<Record<string, string>>): NodeSpec {
  const {
    command,
    cwd = '.',
    env = {},
    ports = [],
    replicas = 1,
    dependsOn = {},
    ready,
    minUptime: minUptimeMs = DEFAULT_MIN_UPTIME_MS,
    liveness,
    restart,
    stop,
    output,
    pty = false,
    limits = {},
    clock = false,
    telemetry,
  } = copyOptions(input);
  return {
    name,
    // Validation lets a string through only with `shell: true`.
    command: toArgv(command),
    cwd: resolve(baseDir, cwd),
    env: { ...fileEnv, ...env },
    ready: ready === undefined ? null : normalizeReadySpec(ready, READY_DEFAULTS, ports[0]),
    restart: normalizeRestartSpec(restart),
    stop: normalizeStopSpec(stop),
    output: normalizeOutputSpec(output),
    ports: [...ports],
    replicas,
    dependsOn: normalizeDependsOn(dependsOn),
    liveness: liveness === undefined ? null : normalizeLivenessSpec(liveness, ports[0]),
    minUptimeMs,
    // Present only when asked for, so specs without them stay as they were.
    ...(pty === false ? {} : { pty: pty === true ? true : { columns: pty.columns ?? 80, rows: pty.rows ?? 24 } }),
    ...(Object.keys(limits).length === 0 ? {} : { limits: Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined)) }),
    ...(clock ? { clock: true } : {}),
    ...(telemetry === undefined ? {} : { telemetry: normalizeNodeTelemetrySpec(telemetry) }),
    ...(input.watch === undefined ? {} : { watch: normalizeWatchSpec(input.watch, baseDir) }),
  };
}

/**
 * Paths are resolved from the config file's directory (docker compose's `develop.watch.path`
 * rule), not from the node's cwd, so one `watch` reads the same wherever `cwd` points.
 */
function normalizeWatchSpec(input: ValidatedWatch, baseDir: string): WatchSpec {
  const { paths, ignore = [], debounce: debounceMs = DEFAULT_WATCH_DEBOUNCE_MS, restartDependents = false } = copyOptions(input);
  const anchor = (glob: string) => (glob.startsWith('**') ? glob : resolve(baseDir, glob));
  return {
    paths: (typeof paths === 'string' ? [paths] : paths).map((path) => resolve(baseDir, path)),
    ignore: [...DEFAULT_WATCH_IGNORE, ...ignore.map(anchor)],
    debounceMs,
    restartDependents,
  };
}

/** The node's own `output.file`, else the cluster's; `{{node}}` is replaced now, `{{replica}}` per replica at run time. */
function withOutputFile(spec: NodeSpec, input: ValidatedOutputFile | undefined, baseDir: string): NodeSpec {
  if (input === undefined) return spec;
  const { path, maxBytes = DEFAULT_OUTPUT_FILE_MAX_BYTES, keep = DEFAULT_OUTPUT_FILE_KEEP } = copyOptions(input);
  const file: OutputFileSpec = { path: resolve(baseDir, path.replaceAll('{{node}}', spec.name)), maxBytes, keep };
  return { ...spec, output: { ...spec.output, file } };
}

function toArgv(command: string | readonly string[]): string[] {
  return typeof command === 'string' ? [...SHELL_ARGV_PREFIX, command] : [...command];
}

/** A list of names is shorthand for `ready` on each (docker compose's list form means "started"; ready is what tests want). */
function normalizeDependsOn(input: Record<string, DependencyCondition> | readonly string[]): Record<string, DependencyCondition> {
  if (Array.isArray(input)) return Object.fromEntries(input.map((name) => [name, 'ready' as const]));
  return { ...(input as Record<string, DependencyCondition>) };
}

const READY_DEFAULTS = { timeoutMs: DEFAULT_READY_TIMEOUT_MS, intervalMs: DEFAULT_READY_INTERVAL_MS, initialDelayMs: 0 } as const;
const LIVENESS_DEFAULTS = { timeoutMs: DEFAULT_LIVENESS_TIMEOUT_MS, intervalMs: DEFAULT_LIVENESS_INTERVAL_MS, initialDelayMs: 0 } as const;

/** The URL of the `http: /path` shorthand: the path on the node's first port (validation made sure it has one). */
function getShorthandUrl(path: string, firstPort: string | undefined): string {
  if (firstPort === undefined) throw new Error('normalizeReadySpec: validation guarantees a port for an http path');
  return `http://127.0.0.1:{{ports.${firstPort}}}${path}`;
}

/** `firstPort`: the node's first port name, where `http: /path` shorthands go. */
function normalizeReadySpec(
  input: ValidatedReady,
  defaults: { timeoutMs: number; intervalMs: number; initialDelayMs: number },
  firstPort: string | undefined,
): ReadySpec {
  const {
    log,
    tcp,
    http,
    exec,
    exit,
    all,
    any,
    timeout: timeoutMs = defaults.timeoutMs,
    interval: intervalMs = defaults.intervalMs,
    initialDelay: initialDelayMs = defaults.initialDelayMs,
  } = copyOptions(input);
  const timing = { timeoutMs, intervalMs, initialDelayMs };
  if (log !== undefined) {
    const { pattern, stream = 'both', count = 1 } = copyOptions(log);
    return { kind: 'log', pattern, stream, count, ...timing };
  }
  if (tcp !== undefined) {
    const { host = '127.0.0.1', port, owned = false } = copyOptions(tcp);
    return { kind: 'tcp', host, port, ...(owned ? { owned } : {}), ...timing };
  }
  if (http !== undefined) {
    const full = 'path' in http ? { url: getShorthandUrl(http.path, firstPort) } : http;
    const { url, method = 'GET', status, body, headers = {} } = copyOptions(full);
    return {
      kind: 'http',
      url,
      method,
      ...(status === undefined ? {} : { status }),
      ...(body === undefined ? {} : { body }),
      headers: { ...headers },
      ...timing,
    };
  }
  if (exec !== undefined) {
    return { kind: 'exec', command: toArgv(exec.command), ...timing };
  }
  if (exit !== undefined) {
    const { code = 0 } = copyOptions(exit);
    return { kind: 'exit', codes: typeof code === 'number' ? [code] : [...code], ...timing };
  }
  const checks = all ?? any;
  if (checks !== undefined) {
    return { kind: all !== undefined ? 'all' : 'any', checks: checks.map((check) => normalizeReadySpec(check, READY_DEFAULTS, firstPort)), ...timing };
  }
  throw new Error('normalizeReadySpec: validation guarantees exactly one readiness kind');
}

function normalizeLivenessSpec(input: ValidatedLiveness, firstPort: string | undefined): LivenessSpec {
  const { failureThreshold = 3, ...check } = copyOptions(input);
  return { check: normalizeReadySpec(check as ValidatedReady, LIVENESS_DEFAULTS, firstPort), failureThreshold };
}

function normalizeRestartSpec(input: ValidatedRestart | undefined): RestartSpec {
  const {
    policy = 'on-failure',
    backoff: backoffInput,
    maxRestarts = 5,
    window: windowMs = 60_000,
    successExitCodes = [0],
    stableAfter,
  } = copyOptions<ValidatedRestart>(input ?? {});
  const backoff = normalizeBackoffSpec(backoffInput);
  return { policy, backoff, maxRestarts, windowMs, successExitCodes: [...successExitCodes], stableAfterMs: stableAfter ?? backoff.maxMs };
}

function normalizeBackoffSpec(input: ValidatedBackoff | undefined): BackoffSpec {
  const {
    initial: initialMs = DEFAULT_BACKOFF_INITIAL_MS,
    max: maxMs = DEFAULT_BACKOFF_MAX_MS,
    multiplier = DEFAULT_BACKOFF_MULTIPLIER,
    jitter = DEFAULT_BACKOFF_JITTER,
    jitterMode = 'proportional' } = copyOptions<ValidatedBackoff>(input ?? {});
  // jitterMode appears only when it is not the default, so existing specs stay as they were.
  return { initialMs, maxMs, multiplier, jitter, ...(jitterMode === 'full' ? { jitterMode } : {}) };
}

function normalizeStopSpec(input: ValidatedStop | undefined): StopSpec {
  const { signal = DEFAULT_STOP_SIGNAL, timeout: timeoutMs = DEFAULT_STOP_TIMEOUT_MS, command } = copyOptions<ValidatedStop>(input ?? {});
  return { signal, timeoutMs, ...(command === undefined ? {} : { command: toArgv(command) }) };
}

function normalizeOutputSpec(input: ValidatedOutput | undefined): OutputSpec {
  const { maxLines = DEFAULT_OUTPUT_MAX_LINES, maxBytes = DEFAULT_OUTPUT_MAX_BYTES } = copyOptions<ValidatedOutput>(input ?? {});
  return { maxLines, maxBytes };
}
