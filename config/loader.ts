/**
 * Config loading as one visible pipeline (STYLE.md habit 20):
 * read file → parse YAML → validate → normalize → freeze.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parseEnv } from 'node:util';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { DroverError } from '../manager/errors.js';
import type { ClusterSpec } from '../manager/types.js';
import { normalizeClusterSpec } from './cluster-spec.js';
import { createConfigInvalidError, type ConfigIssue } from './issues.js';
import type { ValidatedConfig } from './schema.js';
import { validateConfig } from './validation.js';

/** Options of `loadConfig()`. */
export interface LoadConfigOptions {
  /**
   * Treat warnings (unknown keys) as errors.
   * @default false
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
   * Treat warnings (unknown keys) as errors.
   * @default false
   */
  readonly strict?: boolean;
}

/** A loaded config. Deeply frozen. */
export interface LoadedConfig {
  /** The cluster, fully normalized: every default applied, `cwd`s absolute, durations in ms, sizes in bytes. */
  readonly spec: ClusterSpec;
  /** Problems that do not stop loading (unknown keys with a did-you-mean hint). Empty in strict mode. */
  readonly warnings: readonly ConfigIssue[];
}

/**
 * Loads drover.yaml (or a `.json` file: JSON is YAML 1.2, so one parser reads both).
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
 * @throws {DroverError} ERR_CONFIG_READ when the file is missing or unreadable (`path`, `errno`,
 *   `syscall` and `cause` set).
 * @throws {DroverError} ERR_CONFIG_INVALID on YAML syntax errors (with line:col) or when
 *   validation fails; `issues` lists every problem.
 */
export async function loadConfig(path: string, options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const { strict = false } = options;
  const configPath = resolve(path);
  const text = await readConfigFile(configPath);
  const input = parseConfigText(text, configPath);
  return normalizeConfig(input, { configPath, strict });
}

/**
 * Validates and normalizes a config object passed programmatically (the same shape as
 * drover.yaml; see `ConfigInput`), with the defaults listed on `loadConfig()`.
 *
 * Node names that are canonical integers (`"1"`, `"2"`) come first in any JavaScript object, so
 * they cannot keep their declaration order; all other names do.
 *
 * @example
 * const { spec } = normalizeConfig({ name: 'ring', nodes: { a: { command: ['node', 'a.js'] } } }, { baseDir: here });
 * @throws {DroverError} ERR_CONFIG_INVALID when validation fails; `issues` lists every problem.
 */
export function normalizeConfig(input: unknown, options: NormalizeConfigOptions = {}): LoadedConfig {
  const { configPath = null, baseDir = configPath === null ? process.cwd() : dirname(configPath), strict = false } =
    options;
  const absoluteConfigPath = configPath === null ? null : resolve(configPath);
  const { config, warnings } = validateConfig(input, { configPath: absoluteConfigPath, strict });
  const envFiles = readEnvFiles(config, resolve(baseDir), absoluteConfigPath);
  const spec = normalizeClusterSpec(config, { baseDir: resolve(baseDir), configPath: absoluteConfigPath, envFiles });
  return deepFreeze({ spec, warnings: [...warnings] });
}

/**
 * Reads every node's `env_file`s (dotenv syntax, parsed by `util.parseEnv`), relative to the config
 * directory; later files win. Every unreadable file is reported with its path.
 * @throws {DroverError} ERR_CONFIG_INVALID listing each file that could not be read.
 */
function readEnvFiles(config: ValidatedConfig, baseDir: string, configPath: string | null): Map<string, Record<string, string>> {
  const result = new Map<string, Record<string, string>>();
  const issues: ConfigIssue[] = [];
  for (const [name, node] of Object.entries(config.nodes)) {
    const files = node.env_file === undefined ? [] : typeof node.env_file === 'string' ? [node.env_file] : node.env_file;
    const env: Record<string, string> = {};
    files.forEach((file, index) => {
      const path = resolve(baseDir, file);
      try {
        Object.assign(env, parseEnv(readFileSync(path, 'utf8')));
      } catch (error) {
        const { code, message } = error as NodeJS.ErrnoException;
        const where = typeof node.env_file === 'string' ? `nodes.${name}.env_file` : `nodes.${name}.env_file.${index}`;
        issues.push({ path: where, message: `expected a readable env file, got ${JSON.stringify(file)} (${path}: ${code === 'ENOENT' ? 'no such file' : message})` });
      }
    });
    result.set(name, env);
  }
  if (issues.length > 0) throw createConfigInvalidError(configPath, issues);
  return result;
}

async function readConfigFile(configPath: string): Promise<string> {
  try {
    return await readFile(configPath, 'utf8');
  } catch (error) {
    const { code, syscall, message } = error as NodeJS.ErrnoException;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : message;
    throw new DroverError('ERR_CONFIG_READ', `Cannot read config ${configPath}: ${reason}`, {
      path: configPath,
      ...(code === undefined ? {} : { errno: code }),
      ...(syscall === undefined ? {} : { syscall }),
      cause: error,
    });
  }
}

/** YAML (or JSON) text → plain data. Every syntax error is reported, each with line:col. */
function parseConfigText(text: string, configPath: string): unknown {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false });
  if (document.errors.length > 0) {
    throw createConfigInvalidError(
      configPath,
      document.errors.map((error) => {
        const { line, col } = lineCounter.linePos(error.pos[0]);
        return { path: '', message: `YAML syntax error at ${line}:${col}: ${error.message}` };
      }),
    );
  }
  try {
    return document.toJS();
  } catch (error) {
    // toJS() throws only when aliases expand past maxAliasCount (a "billion laughs" document).
    throw createConfigInvalidError(configPath, [{ path: '', message: `YAML could not be expanded: ${(error as Error).message}` }]);
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
