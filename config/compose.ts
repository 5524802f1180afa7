/**
 * Config composition with docker compose's semantics, before validation: several files merged in
 * order (`-f a.yaml -f b.yaml`), `include` (other files' nodes), `extends` (a node inherits
 * another node, of the same or another file) and `profiles` (nodes started only when one of their
 * profiles is enabled). It also records which file each value came from (`drover config --sources`).
 *
 * Merge rule, everywhere (files, extends): maps merge key by key, recursively; anything else — a
 * list, a string, a number — is replaced by the later value.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import type { DocumentInterpolation } from './interpolation.js';
import { createConfigInvalidError, describeValue, type ConfigIssue } from './issues.js';

/** One parsed file: its data (interpolated) and what interpolation found. */
export interface ConfigLayer {
  readonly path: string;
  readonly data: unknown;
  readonly interpolation: DocumentInterpolation;
}

/** Reads and parses one config file. @throws {DroverError} ERR_CONFIG_READ, ERR_CONFIG_INVALID (naming the file). */
export type ReadConfigLayer = (path: string) => Promise<ConfigLayer>;

/** Options of {@link composeConfig}. */
export interface ComposeOptions {
  /** Profiles enabled: nodes with `profiles` start only when one of theirs is here. */
  readonly profiles: readonly string[];
}

/** The composed document, before validation. */
export interface ComposedConfig {
  /** The merged document (plain data; `include`, `extends` and `profiles` applied and removed). */
  readonly data: unknown;
  /** Interpolation issues and warnings of every file, each naming its file when it is not the first. */
  readonly interpolation: DocumentInterpolation;
  /** Problems that do not stop loading (an included file's keys other than `nodes`). */
  readonly warnings: readonly ConfigIssue[];
  /** Which file each value came from: dotted path of every leaf (a scalar or a list) → absolute file path. */
  readonly sources: ReadonlyMap<string, string>;
  /** Every file read, in order: the `-f` files, then included and extended ones. */
  readonly files: readonly string[];
}

/** How deep `include` and file `extends` may nest. */
export const MAX_INCLUDE_DEPTH = 16;

type Data = Record<string, unknown>;

interface Layer {
  readonly path: string;
  data: Data;
  readonly sources: Map<string, string>;
}

function isPlainObject(value: unknown): value is Data {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function recordSources(value: unknown, path: string, file: string, sources: Map<string, string>): void {
  if (isPlainObject(value) && Object.keys(value).length > 0) {
    for (const [key, child] of Object.entries(value)) recordSources(child, path === '' ? key : `${path}.${key}`, file, sources);
  } else if (path !== '') sources.set(path, file);
}

function forgetSources(path: string, sources: Map<string, string>): void {
  for (const key of [...sources.keys()]) if (key === path || key.startsWith(`${path}.`)) sources.delete(key);
}

/**
 * `override` merged onto `base` (neither is changed): maps merge recursively, anything else is
 * replaced. `sources` follows: every leaf `override` sets comes from `file`.
 */
function merge(base: unknown, override: unknown, path: string, overrideSources: ReadonlyMap<string, string>, sources: Map<string, string>): unknown {
  if (isPlainObject(base) && isPlainObject(override)) {
    const result: Data = { ...base };
    for (const [key, value] of Object.entries(override)) {
      const childPath = path === '' ? key : `${path}.${key}`;
      result[key] = Object.hasOwn(base, key) ? merge(base[key], value, childPath, overrideSources, sources) : value;
      if (!Object.hasOwn(base, key) || !(isPlainObject(base[key]) && isPlainObject(value))) {
        forgetSources(childPath, sources);
        for (const [source, file] of overrideSources) if (source === childPath || source.startsWith(`${childPath}.`)) sources.set(source, file);
      }
    }
    return result;
  }
  forgetSources(path, sources);
  for (const [source, file] of overrideSources) if (source === path || source.startsWith(`${path}.`)) sources.set(source, file);
  return override;
}

/** A node's paths made absolute against `dir`, so the node can move to another file's document. */
function anchorPaths(node: unknown, dir: string): unknown {
  if (!isPlainObject(node)) return node;
  const anchored: Data = { ...node, cwd: typeof node.cwd === 'string' ? resolve(dir, node.cwd) : dir };
  for (const key of ['envFile', 'env_file'] as const) {
    const files = node[key];
    if (typeof files === 'string') anchored[key] = resolve(dir, files);
    else if (Array.isArray(files)) anchored[key] = files.map((file) => (typeof file === 'string' ? resolve(dir, file) : file));
  }
  // A file extends from another file is relative to the file that names it.
  const extended = node.extends;
  if (isPlainObject(extended) && typeof extended.file === 'string') anchored.extends = { ...extended, file: resolve(dir, extended.file) };
  return anchored;
}

/** Issue messages of a file other than the first name it. */
function inFile(issues: readonly ConfigIssue[], file: string, first: string): ConfigIssue[] {
  return file === first ? [...issues] : issues.map((issue) => ({ ...issue, message: `${issue.message} (in ${file})` }));
}

/**
 * Reads `paths` (the first is the main file: relative paths of the others resolve against its
 * directory, as with docker compose's `-f`), applies `include`, merges them in order, then
 * resolves `extends` and `profiles`.
 * @throws {DroverError} ERR_CONFIG_READ for a file that cannot be read; ERR_CONFIG_INVALID, naming
 *   the file and the key, for a bad `include`, `extends` or `profiles`, an include cycle, a node two
 *   files include, or a node that depends on a node of a profile not enabled.
 */
export async function composeConfig(paths: readonly string[], read: ReadConfigLayer, options: ComposeOptions): Promise<ComposedConfig> {
  const first = paths[0]!;
  const files: string[] = [];
  const interpolation: DocumentInterpolation = { issues: [], warnings: [] };
  const warnings: ConfigIssue[] = [];
  const cache = new Map<string, Layer>();

  const fail = (file: string, path: string, message: string): never => {
    throw createConfigInvalidError(file, [{ path, message }]);
  };

  /** One file with its includes applied. */
  const loadLayer = async (path: string, stack: readonly string[]): Promise<Layer> => {
    if (stack.includes(path)) fail(stack.at(-1)!, 'include', `include cycle: ${[...stack, path].join(' → ')}`);
    if (stack.length > MAX_INCLUDE_DEPTH) fail(stack.at(-1)!, 'include', `includes and file extends nest more than ${MAX_INCLUDE_DEPTH} deep: ${[...stack, path].join(' → ')}`);
    const cached = cache.get(path);
    if (cached !== undefined) return cached;
    const parsed = await read(path);
    files.push(path);
    interpolation.issues.push(...inFile(parsed.interpolation.issues, path, first));
    interpolation.warnings.push(...inFile(parsed.interpolation.warnings, path, first));
    if (!isPlainObject(parsed.data)) {
      // Not a mapping: validation says so, for the main file; an included one is refused here.
      if (path !== first || stack.length > 0) fail(path, '', `expected a mapping with nodes, got ${describeValue(parsed.data)}`);
      const layer: Layer = { path, data: parsed.data as Data, sources: new Map() };
      cache.set(path, layer);
      return layer;
    }
    const { include, ...data } = parsed.data;
    const sources = new Map<string, string>();
    recordSources(data, '', path, sources);
    const layer: Layer = { path, data, sources };
    if (include !== undefined) {
      const list = typeof include === 'string' ? [include] : include;
      if (!Array.isArray(list) || list.some((item) => typeof item !== 'string' || item === '')) {
        fail(path, 'include', `expected a file path or a list of file paths (relative to ${dirname(path)}), got ${describeValue(include)}`);
      }
      for (const [index, item] of (list as string[]).entries()) {
        const includedPath = resolve(dirname(path), item);
        const included = await loadLayer(includedPath, [...stack, path]);
        const where = typeof include === 'string' ? 'include' : `include.${index}`;
        const nodes = included.data.nodes;
        if (!isPlainObject(nodes)) fail(path, where, `${includedPath} has no nodes to include`);
        for (const key of Object.keys(included.data)) {
          if (key !== 'nodes') warnings.push({ path: where, message: `only nodes are taken from an included file; ${key} of ${includedPath} is ignored` });
        }
        const own = isPlainObject(layer.data.nodes) ? { ...layer.data.nodes } : {};
        for (const [name, node] of Object.entries(nodes as Data)) {
          if (Object.hasOwn(own, name)) fail(path, where, `node ${name} of included ${includedPath} is already defined in ${sources.get(`nodes.${name}.command`) ?? path}; rename one of them`);
          own[name] = anchorPaths(node, dirname(includedPath));
          for (const [source, file] of included.sources) if (source === `nodes.${name}` || source.startsWith(`nodes.${name}.`)) sources.set(source, file);
          sources.set(`nodes.${name}.cwd`, included.sources.get(`nodes.${name}.cwd`) ?? includedPath);
        }
        layer.data = { ...layer.data, nodes: own };
      }
    }
    cache.set(path, layer);
    return layer;
  };

  // The -f files, each with its includes, merged in order.
  const main = await loadLayer(first, []);
  let merged: unknown = main.data;
  const sources = new Map(main.sources);
  for (const path of paths.slice(1)) {
    const layer = await loadLayer(path, []);
    merged = merge(merged, layer.data, '', layer.sources, sources);
  }
  if (!isPlainObject(merged) || !isPlainObject(merged.nodes)) return { data: merged, interpolation, warnings, sources, files };

  // extends: each node inherits its base (resolved first), then its own values win.
  const nodes: Data = { ...merged.nodes };
  const resolving: string[] = [];
  const resolved = new Map<string, { node: Data; sources: Map<string, string> }>();
  const nodeSources = (prefix: string, from: ReadonlyMap<string, string>) => new Map([...from].filter(([key]) => key.startsWith(`${prefix}.`)).map(([key, file]) => [key.slice(prefix.length + 1), file]));

  const resolveNode = async (name: string, pool: Data, poolSources: ReadonlyMap<string, string>, poolFile: string): Promise<{ node: Data; sources: Map<string, string> }> => {
    const key = `${poolFile}#${name}`;
    const done = resolved.get(key);
    if (done !== undefined) return done;
    if (resolving.includes(key)) fail(poolFile, `nodes.${name}.extends`, `extends cycle: ${[...resolving, key].map((k) => k.split('#')[1]).join(' → ')}`);
    const node = pool[name];
    if (!isPlainObject(node) || node.extends === undefined) {
      const result = { node: isPlainObject(node) ? node : {}, sources: nodeSources(`nodes.${name}`, poolSources) };
      resolved.set(key, result);
      return result;
    }
    resolving.push(key);
    const { extends: base, ...own } = node;
    const declaredIn = poolSources.get(`nodes.${name}.extends`) ?? poolSources.get(`nodes.${name}.extends.node`) ?? poolFile;
    const spec = typeof base === 'string' ? { node: base } : base;
    if (!isPlainObject(spec) || typeof spec.node !== 'string' || (spec.file !== undefined && typeof spec.file !== 'string') || Object.keys(spec).some((k) => k !== 'node' && k !== 'file')) {
      fail(declaredIn, `nodes.${name}.extends`, `expected a node name or { node, file? }, got ${describeValue(base)}`);
    }
    const { node: baseName, file } = spec as { node: string; file?: string };
    let baseResult: { node: Data; sources: Map<string, string> };
    if (file === undefined) {
      if (!Object.hasOwn(pool, baseName)) fail(declaredIn, `nodes.${name}.extends`, `no node ${JSON.stringify(baseName)} to extend; nodes are ${Object.keys(pool).join(', ')}`);
      baseResult = await resolveNode(baseName, pool, poolSources, poolFile);
    } else {
      const basePath = isAbsolute(file) ? file : resolve(dirname(declaredIn), file);
      const layer = await loadLayer(basePath, [declaredIn]);
      const basePool = isPlainObject(layer.data.nodes) ? layer.data.nodes : {};
      if (!Object.hasOwn(basePool, baseName)) fail(declaredIn, `nodes.${name}.extends`, `${basePath} has no node ${JSON.stringify(baseName)} to extend; its nodes are ${Object.keys(basePool).join(', ') || 'none'}`);
      const fromFile = await resolveNode(baseName, basePool, layer.sources, basePath);
      baseResult = { node: anchorPaths(fromFile.node, dirname(basePath)) as Data, sources: new Map(fromFile.sources) };
      if (!Object.hasOwn(fromFile.node, 'cwd')) baseResult.sources.set('cwd', basePath);
    }
    // What a node inherits: everything but its base's profiles (a node's profiles are its own).
    const { profiles: _profiles, ...inherited } = baseResult.node;
    const mergedSources = new Map([...baseResult.sources].filter(([k]) => k !== 'profiles' && !k.startsWith('profiles.')));
    const result = { node: merge(inherited, own, '', nodeSources(`nodes.${name}`, poolSources), mergedSources) as Data, sources: mergedSources };
    resolving.pop();
    resolved.set(key, result);
    return result;
  };

  for (const name of Object.keys(nodes)) {
    if (!isPlainObject(nodes[name]) || nodes[name].extends === undefined) continue;
    const { node, sources: own } = await resolveNode(name, merged.nodes, sources, first);
    nodes[name] = node;
    forgetSources(`nodes.${name}`, sources);
    for (const [key, file] of own) sources.set(`nodes.${name}.${key}`, file);
  }

  // profiles: a node with profiles starts only when one of them is enabled.
  const enabled = new Set(options.profiles);
  const disabled = new Map<string, readonly string[]>();
  for (const [name, node] of Object.entries(nodes)) {
    if (!isPlainObject(node) || node.profiles === undefined) continue;
    const { profiles, ...rest } = node;
    const where = sources.get(`nodes.${name}.profiles`) ?? first;
    if (!Array.isArray(profiles) || profiles.length === 0 || profiles.some((p) => typeof p !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(p))) {
      fail(where, `nodes.${name}.profiles`, `expected a non-empty list of profile names (letters, digits, "_", "." and "-"), got ${describeValue(profiles)}`);
    }
    forgetSources(`nodes.${name}.profiles`, sources);
    if ((profiles as string[]).some((p) => enabled.has(p))) nodes[name] = rest;
    else {
      disabled.set(name, profiles as string[]);
      delete nodes[name];
      forgetSources(`nodes.${name}`, sources);
    }
  }
  if (disabled.size > 0) {
    const issues: ConfigIssue[] = [];
    for (const [name, node] of Object.entries(nodes)) {
      const dependsOn = isPlainObject(node) ? node.dependsOn : undefined;
      const needed = Array.isArray(dependsOn) ? dependsOn : isPlainObject(dependsOn) ? Object.keys(dependsOn) : [];
      for (const dependency of needed) {
        const profiles = typeof dependency === 'string' ? disabled.get(dependency) : undefined;
        if (profiles === undefined) continue;
        issues.push({ path: `nodes.${name}.dependsOn.${dependency}`, message: `node ${dependency} is only in profile ${profiles.join(', ')}, which is not enabled: add --profile ${profiles[0]} (or DROVER_PROFILES=${profiles[0]})` });
      }
    }
    if (issues.length > 0) throw createConfigInvalidError(first, issues);
  }
  return { data: { ...merged, nodes }, interpolation, warnings, sources, files };
}
