/**
 * Config loading as one visible pipeline:
 * read file → parse YAML → validate → normalize → freeze.
 */
import { parseEnv } from 'node:util';
import { dirname, join, resolve } from 'node:path';
import { DroverError } from '../contract/errors.js';
import type { ClusterSpec } from '../contract/types.js';
import { normalizeClusterSpec } from './cluster-spec.js';
import { isProcfilePath, parseProcfile } from './procfile.js';
import { composeConfig, type ComposedConfig, type ConfigLayer } from './compose.js';
import { checkInputShape } from './input-shape.js';
import type { DocumentInterpolation } from './interpolation.js';
import { createConfigInvalidError, describeValue, type ConfigIssue } from './issues.js';
import { MAX_CONFIG_BYTES, MAX_ENV_FILE_BYTES, readRegularFile, readRegularFileSync, type ReadFailure } from './read-file.js';
import type { ValidatedNode } from './schema.js';
import { formatBytes } from './size.js';
import { validateConfig } from './validation.js';
import { parseYaml } from './yaml.js';

/** Options of `loadConfig()`. */
export interface LoadConfigOptions {
  /**
   * Variables for `${VAR}` interpolation; they win over the project `.env` beside the config.
   * @default process.env
   */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * Unknown keys are errors (with a did-you-mean hint); `false` makes them warnings, returned in
   * `LoadedConfig.warnings`. Other warnings (an unset `${VAR}`) stay warnings either way.
   * @default true
   */
  readonly strict?: boolean;
  /**
   * Profiles to enable: a node with `profiles` is part of the cluster only when one of them is
   * enabled (docker compose's profiles).
   * @default the comma-separated names in `DROVER_PROFILES` of `env`, else none
   */
  readonly profiles?: readonly string[];
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
  /**
   * Problems that do not stop loading: a `${VAR}` whose variable is not set (it became an empty
   * string), unknown keys with a did-you-mean hint (only with `strict: false`).
   */
  readonly warnings: readonly ConfigIssue[];
  /** Every file read, in order: the given files, then included and extended ones (empty for `normalizeConfig`). */
  readonly files: readonly string[];
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
 * Values (never keys) are interpolated as docker compose does: `${VAR}`, `${VAR:-default}`,
 * `${VAR-default}`, `${VAR:?message}`, `${VAR?message}`, `${VAR:+other}`, `${VAR+other}`, with `$$`
 * for a literal `$` (a `$` before anything but `{` or `$` stays as written). Variables come from
 * `env` (default `process.env`), then from the `.env` file beside the config (dotenv syntax; read
 * only when the config holds `${`, as a regular file of at most 1 MiB). An unset variable without
 * default is an empty string and a warning; a plain value that becomes a number or true/false is
 * read as one (`replicas: ${N:-2}`). Interpolated values add up to at most 1 Mi characters.
 *
 * Defaults applied to every node: `cwd` = the config file's directory, `shell: false`,
 * `ready: null` (ready once running; when set: `timeout` 30 s, `interval` 250 ms, log `stream`
 * `both` and `count` 1, tcp `host` `127.0.0.1`), `restart` `{ policy: 'on-failure',
 * backoff: { initial: 100 ms, max: 30 s, multiplier: 2, jitter: 0.2 }, maxRestarts: 5,
 * window: 60 s }`, `stop` `{ signal: 'SIGTERM', timeout: 10 s }`,
 * `output` `{ maxLines: 1000, maxBytes: 1 MiB }`.
 *
 * Several files (`loadConfig(['drover.yaml', 'drover.ci.yaml'])`) merge in order, as docker
 * compose's `-f` does: maps merge key by key, anything else (lists included) is replaced; relative
 * paths of every file resolve against the first file's directory. A file may `include` other
 * files' nodes (paths relative to the including file, and so are the included nodes' `cwd` and
 * `envFile`); a node may `extends: base` or `extends: { node: base, file: other.yaml }` (it
 * inherits the base node's keys but its `profiles`, merged the same way); a node with
 * `profiles: [debug]` is part of the cluster only when `debug` is enabled (`profiles` option,
 * `DROVER_PROFILES`).
 *
 * A file named `Procfile` or `Procfile.*` is read as a foreman Procfile (see config/procfile.ts):
 * one node per `name: command` line, run through `/bin/sh -c`, with a free port `port` exposed as
 * `PORT` and the `.env` beside it as `envFile`.
 *
 * @example
 * const { spec, warnings } = await loadConfig('drover.yaml');
 * for (const warning of warnings) console.warn(`${warning.path}: ${warning.message}`);
 * @throws {DroverError} ERR_CONFIG_READ when the file is missing or unreadable, not a regular
 *   file, or larger than 1 MiB (`path` and, for system errors, `errno`, `syscall` and `cause` set;
 *   `errno` is `EISDIR` for a directory); also when the `.env` beside it cannot be read (then
 *   `path` is the `.env`'s).
 * @throws {DroverError} ERR_CONFIG_INVALID on YAML errors (each with line:col) or when
 *   validation or interpolation fails (`${VAR:?message}` with VAR unset, a malformed `${`);
 *   `issues` lists every problem, `warnings` the warnings found alongside.
 */
export async function loadConfig(path: string | readonly string[], options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const { strict = true } = options;
  const composed = await composeConfigFiles(path, options);
  const loaded = normalizeInput(composed.data, { configPath: composed.files[0]!, strict }, composed.interpolation, composed.warnings);
  return deepFreeze({ ...loaded, files: [...composed.files] });
}

/**
 * The files of a config composed (merged, `include`, `extends` and `profiles` applied) but not
 * validated: what `loadConfig` validates, with the file each value came from
 * (`drover config --sources`). Options and errors as `loadConfig`'s, without validation errors.
 */
export async function composeConfigFiles(path: string | readonly string[], options: LoadConfigOptions = {}): Promise<ComposedConfig> {
  const { env = process.env } = options;
  const paths = (typeof path === 'string' ? [path] : [...path]).map((p) => resolve(p));
  if (paths.length === 0) throw new DroverError('ERR_INVALID_OPTION', 'loadConfig needs at least one config file');
  const profiles = options.profiles ?? (env.DROVER_PROFILES ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '');
  return composeConfig(paths, (file) => readConfigLayer(file, env), { profiles });
}

/**
 * The drover.yaml input object equivalent to the Procfile at `path` (whatever its name), not yet
 * validated: what `drover config --from Procfile` prints.
 * @throws {DroverError} ERR_CONFIG_READ when the file cannot be read (as for a config).
 * @throws {DroverError} ERR_CONFIG_INVALID naming each line that is not `name: command`, blank or a comment.
 */
export async function readProcfileInput(path: string): Promise<unknown> {
  const absolute = resolve(path);
  const procfile = parseProcfile(await readConfigFile(absolute), absolute);
  if (!procfile.ok) throw createConfigInvalidError(absolute, procfile.issues);
  return procfile.data;
}

/** Reads, parses and interpolates one config file (`${VAR}` from `env`, then the `.env` beside it). */
async function readConfigLayer(configPath: string, env: Readonly<Record<string, string | undefined>>): Promise<ConfigLayer> {
  const text = await readConfigFile(configPath);
  // A Procfile becomes the drover.yaml object it stands for; it has no `${…}` to interpolate.
  if (isProcfilePath(configPath)) {
    const procfile = parseProcfile(text, configPath);
    if (!procfile.ok) throw createConfigInvalidError(configPath, procfile.issues);
    return { path: configPath, data: procfile.data, interpolation: { issues: [], warnings: [] } };
  }
  const dotEnvPath = join(dirname(configPath), '.env');
  // Variables matter only to `${…}`; a config without any never depends on the .env.
  const dotEnv = text.includes('${') ? await readDotEnv(dotEnvPath, configPath) : null;
  const lookup = (name: string): string | undefined => {
    const value = Object.hasOwn(env, name) ? env[name] : undefined;
    if (typeof value === 'string') return value;
    return dotEnv !== null && Object.hasOwn(dotEnv, name) ? dotEnv[name] : undefined;
  };
  const where = dotEnv === null ? `not in the environment, and there is no ${dotEnvPath}` : `neither in the environment nor in ${dotEnvPath}`;
  const parsed = parseYaml(text, { variables: { lookup, where } });
  if (!parsed.ok) throw createConfigInvalidError(configPath, parsed.issues);
  return { path: configPath, data: parsed.data, interpolation: parsed.interpolation };
}

/**
 * The project `.env` beside the config (docker compose reads it for interpolation only: its
 * variables do not reach the nodes), or null when there is none.
 * @throws {DroverError} ERR_CONFIG_READ when it exists but cannot be read, or sets `__proto__`.
 */
async function readDotEnv(dotEnvPath: string, configPath: string): Promise<Record<string, string> | null> {
  const outcome = await readRegularFile(dotEnvPath, MAX_ENV_FILE_BYTES);
  const fail = (why: string, extra: object = {}): never => {
    throw new DroverError('ERR_CONFIG_READ', `Cannot read ${dotEnvPath}, the .env for the \${…} variables of config ${configPath}: ${why}`, { path: dotEnvPath, ...extra });
  };
  if (outcome.ok) {
    if (PROTO_LINE.test(outcome.text)) fail('it sets __proto__, which cannot be a variable');
    return parseEnv(outcome.text) as Record<string, string>;
  }
  if (outcome.kind === 'error' && outcome.errno === 'ENOENT') return null;
  switch (outcome.kind) {
    case 'not-regular':
      return fail(`it is ${outcome.type}, not a regular file`);
    case 'too-large':
      return fail(`it has ${outcome.size === null ? 'more than' : `${outcome.size} bytes, more than`} the ${formatBytes(MAX_ENV_FILE_BYTES)} an env file may have`);
    case 'error':
      return fail(outcome.reason, { ...(outcome.errno === undefined ? {} : { errno: outcome.errno }), cause: outcome.cause });
  }
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
  return deepFreeze({ ...normalizeInput(input, options, { issues: [], warnings: [] }), files: [] });
}

/**
 * `normalizeConfig()`, with what interpolation found: its issues come first, and hide issues of
 * the same values (a value whose `${…}` failed was left as written, and would be a second,
 * misleading issue); its warnings come with the validation's.
 */
function normalizeInput(input: unknown, options: NormalizeConfigOptions, interpolation: DocumentInterpolation, composeWarnings: readonly ConfigIssue[] = []): Omit<LoadedConfig, 'files'> {
  const { configPath = null, baseDir = configPath === null ? process.cwd() : dirname(configPath), strict = true } =
    options;
  const absoluteConfigPath = configPath === null ? null : resolve(configPath);
  const shapeIssues = checkInputShape(input);
  if (shapeIssues.length > 0) throw createConfigInvalidError(absoluteConfigPath, shapeIssues);
  const compositionIssues = findCompositionKeys(input);
  if (compositionIssues.length > 0) throw createConfigInvalidError(absoluteConfigPath, compositionIssues);
  const validated = validateConfig(input, { strict });
  const envFiles = readEnvFiles(validated.nodes, resolve(baseDir));
  const failed = new Set(interpolation.issues.map((issue) => issue.path));
  /** Whether `path` is a failed value or inside one: it or one of its dotted prefixes failed. */
  const isFailedValue = (path: string): boolean => {
    if (failed.size === 0) return false;
    for (let end = path.indexOf('.'); end !== -1; end = path.indexOf('.', end + 1)) if (failed.has(path.slice(0, end))) return true;
    return failed.has(path);
  };
  const errors = [...interpolation.issues, ...[...validated.errors, ...envFiles.issues].filter((issue) => !isFailedValue(issue.path))];
  const warnings = [...interpolation.warnings, ...composeWarnings, ...validated.warnings];
  if (validated.config === null || errors.length > 0) throw createConfigInvalidError(absoluteConfigPath, errors, warnings);
  const spec = normalizeClusterSpec(validated.config, { baseDir: resolve(baseDir), configPath: absoluteConfigPath, envFiles: envFiles.env });
  return { spec, warnings };
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

/**
 * `include`, `extends` and `profiles` left in a config: composition applies (and removes) them when
 * files are loaded, so here they come from a config object, where they would be silently ignored.
 */
function findCompositionKeys(input: unknown): ConfigIssue[] {
  if (typeof input !== 'object' || input === null) return [];
  const issues: ConfigIssue[] = [];
  const why = 'is applied when a config is loaded from files (loadConfig, startCluster(path), drover up -f), not in a config object';
  if (Object.hasOwn(input, 'include')) issues.push({ path: 'include', message: `include ${why}` });
  const nodes = (input as { nodes?: unknown }).nodes;
  if (typeof nodes === 'object' && nodes !== null) {
    for (const [name, node] of Object.entries(nodes)) {
      if (typeof node !== 'object' || node === null) continue;
      for (const key of ['extends', 'profiles']) if (Object.hasOwn(node, key)) issues.push({ path: `nodes.${name}.${key}`, message: `${key} ${why}` });
    }
  }
  return issues;
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
