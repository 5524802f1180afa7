/**
 * Config loading as one visible pipeline (STYLE.md habit 20):
 * read file → parse YAML → validate → normalize → freeze.
 */
import { parseEnv } from 'node:util';
import { dirname, resolve } from 'node:path';
import { DroverError } from '../manager/errors.js';
import type { ClusterSpec } from '../manager/types.js';
import { normalizeClusterSpec } from './cluster-spec.js';
import { checkInputShape } from './input-shape.js';
import { createConfigInvalidError, describeValue, type ConfigIssue } from './issues.js';
import { MAX_CONFIG_BYTES, MAX_ENV_FILE_BYTES, readRegularFile, readRegularFileSync, type ReadFailure } from './read-file.js';
import type { ValidatedNode } from './schema.js';
import { formatBytes } from './size.js';
import { validateConfig } from './validation.js';
import { parseYaml } from './yaml.js';

/** Options of `loadConfig()`. */
export interface LoadConfigOptions {
  /**
   * Unknown keys are errors (with a did-you-mean hint); `false` makes them warnings, returned in
   * `LoadedConfig.warnings`. Other warnings (an unset `${VAR}`) stay warnings either way.
   * @default true
   */
  readonly strict?: boolean;
}

/** Options of `normalizeConfig()`. */
export interface NormalizeConfigOptions {
  /**
   * Path of the file the config came from; made absolute and reported as `spec.configPath` and
   * in error messages.
   * @default null
   */
  readonly configPath?: string | null;
  /**
   * Directory that relative node `cwd`s resolve against; made absolute.
   * @default the directory of `configPath`, or `process.cwd()` when there is none
   */
  readonly baseDir?: string;
  /**
   * Unknown keys are errors (with a did-you-mean hint); `false` makes them warnings, returned in
   * `LoadedConfig.warnings`. Other warnings (an unset `${VAR}`) stay warnings either way.
   * @default true
   */
  readonly strict?: boolean;
}

/** A loaded config. Deeply frozen. */
export interface LoadedConfig {
  /** The cluster, fully normalized: every default applied, `cwd`s absolute, durations in ms, sizes in bytes. */
  readonly spec: ClusterSpec;
  /** Problems that do not stop loading: unknown keys with a did-you-mean hint (only with `strict: false`). */
  readonly warnings: readonly ConfigIssue[];
}

/**
 * Loads drover.yaml (or a `.json` file: JSON is YAML 1.2, so one parser reads both).
 *
 * Input limits: the file must be a regular file of at most 1 MiB (`MAX_CONFIG_BYTES`; a FIFO or
 * device is refused without being read), each `envFile` one of at most 1 MiB
 * (`MAX_ENV_FILE_BYTES`). The YAML 1.2 core schema applies whatever the `%YAML` directive says;
 * merge keys (`<<: *defaults`) are applied; tags other than the core ones are errors; the
 * document may nest at most 64 deep and expand (aliases included) to at most 250,000 values.
 * `env` values keep their source text (`0123` stays "0123").
 *
 * Defaults applied to every node: `cwd` = the config file's directory, `shell: false`,
 * `ready: null` (ready once running; when set: `timeout` 30 s, `interval` 250 ms, log `stream`
 * `both` and `count` 1, tcp `host` `127.0.0.1`), `restart` `{ policy: 'on-failure',
 * backoff: { initial: 100 ms, max: 30 s, multiplier: 2, jitter: 0.2 }, maxRestarts: 5,
 * window: 60 s }`, `stop` `{ signal: 'SIGTERM', timeout: 10 s }`,
 * `output` `{ maxLines: 1000, maxBytes: 1 MiB }`.
 *
 * @example
 * const { spec, warnings } = await loadConfig('drover.yaml');
 * for (const warning of warnings) console.warn(`${warning.path}: ${warning.message}`);
 * @throws {DroverError} ERR_CONFIG_READ when the file is missing or unreadable, not a regular
 *   file, or larger than 1 MiB (`path` and, for system errors, `errno`, `syscall` and `cause` set;
 *   `errno` is `EISDIR` for a directory).
 * @throws {DroverError} ERR_CONFIG_INVALID on YAML errors (each with line:col) or when
 *   validation fails; `issues` lists every problem.
 */
export async function loadConfig(path: string, options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const { strict = true } = options;
  const configPath = resolve(path);
  const text = await readConfigFile(configPath);
  const parsed = parseYaml(text);
  if (!parsed.ok) throw createConfigInvalidError(configPath, parsed.issues);
  return normalizeConfig(parsed.data, { configPath, strict });
}

/**
 * Validates and normalizes a config object passed programmatically (the same shape as
 * drover.yaml; see `ConfigInput`), with the defaults listed on `loadConfig()`.
 *
 * Node names that are canonical integers (`"1"`, `"2"`) come first in any JavaScript object, so
 * they cannot keep their declaration order; all other names do.
 *
 * The object must be plain data: a `__proto__` key, a cycle, nesting deeper than 64 or more than
 * 250,000 values is an error at its path.
 *
 * @example
 * const { spec } = normalizeConfig({ name: 'ring', nodes: { a: { command: ['node', 'a.js'] } } }, { baseDir: here });
 * @throws {DroverError} ERR_CONFIG_INVALID when validation fails; `issues` lists every problem.
 */
export function normalizeConfig(input: unknown, options: NormalizeConfigOptions = {}): LoadedConfig {
  const { configPath = null, baseDir = configPath === null ? process.cwd() : dirname(configPath), strict = true } =
    options;
  const absoluteConfigPath = configPath === null ? null : resolve(configPath);
  const shapeIssues = checkInputShape(input);
  if (shapeIssues.length > 0) throw createConfigInvalidError(absoluteConfigPath, shapeIssues);
  const validated = validateConfig(input, { strict });
  const envFiles = readEnvFiles(validated.nodes, resolve(baseDir));
  const errors = [...validated.errors, ...envFiles.issues];
  if (validated.config === null || errors.length > 0) throw createConfigInvalidError(absoluteConfigPath, errors, validated.warnings);
  const spec = normalizeClusterSpec(validated.config, { baseDir: resolve(baseDir), configPath: absoluteConfigPath, envFiles: envFiles.env });
  return deepFreeze({ spec, warnings: [...validated.warnings] });
}

/**
 * Reads every node's `envFile`s (or `env_file`s; dotenv syntax, parsed by `util.parseEnv`), relative to the config
 * directory; later files win. Each must be a regular file of at most `MAX_ENV_FILE_BYTES`; a file
 * named by several nodes is read once. Every file that cannot be read is an issue with its path.
 */
function readEnvFiles(
  nodes: Readonly<Record<string, Partial<ValidatedNode>>>,
  baseDir: string,
): { env: Map<string, Record<string, string>>; issues: ConfigIssue[] } {
  const result = new Map<string, Record<string, string>>();
  const issues: ConfigIssue[] = [];
  const read = new Map<string, { readonly ok: true; readonly env: Record<string, string>; readonly protoLine: boolean } | ({ readonly ok: false } & ReadFailure)>();
  for (const [name, node] of Object.entries(nodes)) {
    // envFile, or its alias env_file (validation refuses both at once).
    const key = node.envFile === undefined && node.env_file !== undefined ? 'env_file' : 'envFile';
    const given = node[key];
    const files = given === undefined ? [] : typeof given === 'string' ? [given] : given;
    const env: Record<string, string> = {};
    files.forEach((file, index) => {
      const path = resolve(baseDir, file);
      if (!read.has(path)) {
        const outcome = readRegularFileSync(path, MAX_ENV_FILE_BYTES);
        // parseEnv drops a `__proto__` variable silently; say so instead.
        read.set(path, outcome.ok ? { ok: true, env: parseEnv(outcome.text) as Record<string, string>, protoLine: PROTO_LINE.test(outcome.text) } : outcome);
      }
      const outcome = read.get(path)!;
      const where = typeof given === 'string' ? `nodes.${name}.${key}` : `nodes.${name}.${key}.${index}`;
      if (outcome.ok && outcome.protoLine) {
        issues.push({ path: where, message: `expected an env file without a __proto__ variable, got ${describeValue(file)}; ${path} sets __proto__, which cannot be passed on` });
        return;
      }
      if (outcome.ok) {
        Object.assign(env, outcome.env);
        return;
      }
      issues.push({
        path: where,
        message: `expected a regular file of at most ${formatBytes(MAX_ENV_FILE_BYTES)}, got ${describeValue(file)}; ${describeEnvFileFailure(path, outcome)}`,
      });
    });
    result.set(name, env);
  }
  return { env: result, issues };
}

/** A dotenv line setting `__proto__` (optionally `export`ed). */
const PROTO_LINE = /^[ \t]*(?:export[ \t]+)?__proto__[ \t]*=/m;

function describeEnvFileFailure(path: string, failure: ReadFailure): string {
  switch (failure.kind) {
    case 'not-regular':
      return `${path} is ${failure.type}`;
    case 'too-large':
      return failure.size === null ? `${path} grew past that while it was read` : `${path} has ${failure.size} bytes`;
    case 'error':
      return `${path}: ${failure.reason}`;
  }
}

async function readConfigFile(configPath: string): Promise<string> {
  const outcome = await readRegularFile(configPath, MAX_CONFIG_BYTES);
  if (outcome.ok) return outcome.text;
  switch (outcome.kind) {
    case 'not-regular':
      throw new DroverError('ERR_CONFIG_READ', `Cannot read config ${configPath}: it is ${outcome.type}, not a regular file`, {
        path: configPath,
        ...(outcome.type === 'a directory' ? { errno: 'EISDIR' } : {}),
      });
    case 'too-large': {
      const has = outcome.size === null ? 'more than' : `${outcome.size} bytes, more than`;
      throw new DroverError('ERR_CONFIG_READ', `Cannot read config ${configPath}: it has ${has} the ${formatBytes(MAX_CONFIG_BYTES)} a config may have`, { path: configPath });
    }
    case 'error':
      throw new DroverError('ERR_CONFIG_READ', `Cannot read config ${configPath}: ${outcome.reason}`, {
        path: configPath,
        ...(outcome.errno === undefined ? {} : { errno: outcome.errno }),
        ...(outcome.syscall === undefined ? {} : { syscall: outcome.syscall }),
        cause: outcome.cause,
      });
  }
}

/** Object.freeze, all the way down. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
