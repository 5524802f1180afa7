/**
 * YAML (or JSON) text → plain data, with every problem reported at its line:column and the
 * document's expansion bounded before any of it is built.
 *
 * - Parsed with the YAML 1.2 core schema whatever the document's `%YAML` directive says, merge
 *   keys (`<<: *defaults`) on, and no tags beyond the core ones (`!!binary`, `!!set`,
 *   `!!timestamp`, `!!js/function`, `!foo` … are errors).
 * - One iterative walk over the parsed nodes, before they are turned into data: a duplicate key
 *   (two keys that become the same property, `1` and `"1"` included), a collection used as a key,
 *   an alias to no anchor or to a node that contains it, a merge source that is not a map, nesting deeper than {@link MAX_NESTING}, and more than {@link MAX_VALUES} values once
 *   aliases are expanded (an alias bomb stops the walk where it crosses the bound). Each alias is
 *   replaced by its anchored node on the way, so yaml's own alias resolution (a scan per alias)
 *   never runs.
 * - With `variables`, `${VAR}` in values is interpolated (interpolation.ts) once aliases are
 *   replaced, before the values become data.
 * - `env` values (and `telemetry.resourceAttributes`) that YAML reads as numbers or booleans keep
 *   their source text: `0123` stays "0123", `1.10` stays "1.10", `0x10` stays "0x10".
 */
import {
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  Scalar,
  type Document,
  type Node,
  type Pair,
  type YAMLMap,
  type YAMLSeq,
} from 'yaml';
import { interpolateDocument, type DocumentInterpolation, type VariableLookup } from './interpolation.js';
import type { ConfigIssue } from './issues.js';

/** The deepest nesting of maps and lists accepted (a real config nests about 10 deep). */
export const MAX_NESTING = 64;
/** The most values (map entries, list items, scalars) a document may expand to, aliases expanded. */
export const MAX_VALUES = 250_000;
/** YAML errors listed at most; the rest are counted. */
const MAX_YAML_ERRORS = 20;

const CORE_TAGS = ['!!str', '!!int', '!!float', '!!bool', '!!null', '!!map', '!!seq'];
const CORE_TAGS_TEXT = `${CORE_TAGS.slice(0, -1).join(', ')} and ${CORE_TAGS.at(-1)}`;

/**
 * The outcome of parsing: data (with what interpolation found: issues at value paths, which the
 * caller reports with the validation's, and unset-variable warnings), or issues (each with
 * line:column when it has a place).
 */
export type YamlResult =
  | { readonly ok: true; readonly data: unknown; readonly interpolation: DocumentInterpolation }
  | { readonly ok: false; readonly issues: readonly ConfigIssue[] };

/** Options of {@link parseYaml}. */
export interface ParseYamlOptions {
  /** `${VAR}` interpolation of values (interpolation.ts): where variables come from, and how to name that in warnings. Default: none. */
  readonly variables?: { readonly lookup: VariableLookup; readonly where: string };
}

type Parent = YAMLMap | YAMLSeq | Pair;

interface Frame {
  readonly node: Node;
  readonly depth: number;
  /** Items still to visit (map pairs or list items). */
  readonly items: readonly unknown[];
  next: number;
  /** Values counted when the node was entered, to know an anchored node's expanded size. */
  readonly totalAtEnter: number;
  /** Height of the tallest child visited so far. */
  height: number;
  /** A map's keys so far, as the property names they become. */
  readonly keys: Set<string> | null;
}

/** Parses `text` into plain data with the bounds above; never throws on user input. */
export function parseYaml(text: string, options: ParseYamlOptions = {}): YamlResult {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, {
    lineCounter,
    prettyErrors: false,
    schema: 'core',
    merge: true,
    resolveKnownTags: false,
    // yaml's own check compares each key with every earlier one (50,000 keys took 50 s); the walk
    // below finds duplicates with a set per map.
    uniqueKeys: false,
    logLevel: 'silent',
  });
  const at = (offset: number | undefined): string => {
    const { line, col } = lineCounter.linePos(offset ?? 0);
    return `${line}:${col}`;
  };
  const problems = [
    ...document.errors.map((error) => `YAML syntax error at ${at(error.pos[0])}: ${error.message}`),
    ...document.warnings.map((warning) => `YAML error at ${at(warning.pos[0])}: ${describeWarning(warning.code, warning.message)}`),
  ];
  if (problems.length > 0) return { ok: false, issues: listProblems(problems) };
  const walkProblems = walkDocument(document, at);
  if (walkProblems.length > 0) return { ok: false, issues: listProblems(walkProblems) };
  const interpolation = options.variables === undefined ? { issues: [], warnings: [] } : interpolateDocument(document, options.variables.lookup, options.variables.where);
  keepEnvSourceText(document);
  try {
    // No alias is left (walkDocument replaced each by its node); the count is a second guard.
    return { ok: true, data: document.toJS({ maxAliasCount: 100 }), interpolation };
  } catch (error) {
    return { ok: false, issues: [{ path: '', message: `YAML could not be expanded: ${(error as Error).message}` }] };
  }
}

function listProblems(problems: readonly string[]): ConfigIssue[] {
  const listed = problems.slice(0, MAX_YAML_ERRORS).map((message) => ({ path: '', message }));
  if (problems.length > MAX_YAML_ERRORS) listed.push({ path: '', message: `… and ${problems.length - MAX_YAML_ERRORS} more YAML errors` });
  return listed;
}

function describeWarning(code: string, message: string): string {
  if (code !== 'TAG_RESOLVE_FAILED') return message;
  const tag = message.replace(/^Unresolved tag: /, '').replace(/^tag:yaml\.org,2002:/, '!!');
  return CORE_TAGS.includes(tag)
    ? `tag ${tag} does not fit this value`
    : `unknown tag ${tag} (only the YAML core tags ${CORE_TAGS_TEXT} are allowed)`;
}

function isMergeKey(key: unknown): boolean {
  return isScalar(key) && typeof key.value === 'symbol' && key.value.description === '<<';
}

/**
 * The walk described at the top of this file. Returns problems with their line:column; stops at
 * the first bound crossed (a bomb is not walked to its end).
 */
function walkDocument(document: Document, at: (offset: number | undefined) => string): string[] {
  const root = document.contents;
  if (root === null || !(isMap(root) || isSeq(root))) return [];
  const problems: string[] = [];
  const anchors = new Map<string, Node>();
  /** Expanded size and height of each anchored collection, once left. */
  const closed = new Map<Node, { readonly size: number; readonly height: number }>();
  const open = new Set<Node>();
  let total = 0;
  const stack: Frame[] = [];
  const position = (node: Node): string => at(node.range?.[0]);

  const enter = (node: Node, depth: number): void => {
    if (node.anchor !== undefined) anchors.set(node.anchor, node);
    if (isMap(node) || isSeq(node)) {
      open.add(node);
      stack.push({ node, depth, items: node.items, next: 0, totalAtEnter: total, height: 0, keys: isMap(node) ? new Set() : null });
    }
  };

  /** Counts `child` (met under `parent` at `depth`); an alias is replaced by its node. Returns false to stop. */
  const visit = (child: unknown, parent: Parent, slot: number | 'key' | 'value', depth: number): boolean => {
    if (child === null || child === undefined) return true;
    let node = child as Node;
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      if (target === undefined) {
        problems.push(`YAML error at ${position(node)}: alias *${node.source} names no anchor defined before it`);
        return false;
      }
      if (open.has(target)) {
        problems.push(`YAML error at ${position(node)}: alias *${node.source} refers to a node that contains it`);
        return false;
      }
      const { size, height } = closed.get(target) ?? { size: 1, height: 0 };
      replace(parent, slot, target);
      total += size;
      if (height > 0 && depth + height - 1 > MAX_NESTING) {
        problems.push(`YAML error at ${position(node)}: nested deeper than ${MAX_NESTING} levels (through alias *${node.source})`);
        return false;
      }
      if (total > MAX_VALUES) {
        problems.push(`YAML error at ${position(node)}: the document expands to more than ${MAX_VALUES} values (alias *${node.source} repeats ${size}; an alias bomb?)`);
        return false;
      }
      noteHeight(height);
      return true;
    }
    node = child as Node;
    total += 1;
    if (total > MAX_VALUES) {
      problems.push(`YAML error at ${position(node)}: the document has more than ${MAX_VALUES} values`);
      return false;
    }
    if (isMap(node) || isSeq(node)) {
      if (depth > MAX_NESTING) {
        problems.push(`YAML error at ${position(node)}: nested deeper than ${MAX_NESTING} levels`);
        return false;
      }
      enter(node, depth);
      return true;
    }
    if (node.anchor !== undefined) {
      anchors.set(node.anchor, node);
      closed.set(node, { size: 1, height: 0 });
    }
    return true;
  };

  /** Records a finished child's height in the frame on top. */
  const noteHeight = (height: number): void => {
    const top = stack.at(-1);
    if (top !== undefined) top.height = Math.max(top.height, height);
  };

  total = 1;
  enter(root, 1);
  while (stack.length > 0 && problems.length === 0) {
    const frame = stack.at(-1)!;
    if (frame.next >= frame.items.length) {
      stack.pop();
      open.delete(frame.node);
      const height = frame.height + 1;
      if (frame.node.anchor !== undefined) closed.set(frame.node, { size: total - frame.totalAtEnter + 1, height });
      noteHeight(height);
      continue;
    }
    const index = frame.next++;
    const item = frame.items[index];
    const childDepth = frame.depth + 1;
    if (isPair(item)) {
      const key = isAlias(item.key) ? anchors.get(item.key.source) ?? item.key : item.key;
      if (isMap(key) || isSeq(key)) {
        problems.push(`YAML error at ${position(key as Node)}: a key must be a plain value, not a sequence or map`);
        break;
      }
      if (isMergeKey(key) && !isMergeSource(item.value, anchors)) {
        problems.push(`YAML error at ${position((item.value ?? key) as Node)}: a merge key (<<) takes a map or a list of maps`);
        break;
      }
      if (frame.keys !== null && !isMergeKey(key)) {
        const name = isScalar(key) ? String(key.value ?? '') : '';
        if (frame.keys.has(name)) {
          problems.push(`YAML error at ${position((key ?? item.value ?? frame.node) as Node)}: duplicate key ${JSON.stringify(name)} (map keys must be unique)`);
          break;
        }
        frame.keys.add(name);
      }
      if (!visit(item.key, item, 'key', childDepth)) break;
      if (!visit(item.value, item, 'value', childDepth)) break;
    } else if (!visit(item, frame.node as YAMLSeq, index, childDepth)) {
      break;
    }
  }
  return problems;
}

function replace(parent: Parent, slot: number | 'key' | 'value', node: Node): void {
  if (slot === 'key') (parent as Pair).key = node;
  else if (slot === 'value') (parent as Pair).value = node;
  else (parent as YAMLSeq).items[slot] = node;
}

function resolveNow(node: unknown, anchors: ReadonlyMap<string, Node>): unknown {
  return isAlias(node) ? anchors.get(node.source) : node;
}

function isMergeSource(value: unknown, anchors: ReadonlyMap<string, Node>): boolean {
  const source = resolveNow(value, anchors);
  if (isMap(source)) return true;
  return isSeq(source) && source.items.every((item) => isMap(resolveNow(item, anchors)));
}

/** The value of `map`'s entry `key`, looking through merge sources as YAML merges do. */
function getEntries(map: YAMLMap, key: string, seen: Set<YAMLMap>): Node[] {
  if (seen.has(map)) return [];
  seen.add(map);
  const found: Node[] = [];
  for (const pair of map.items) {
    if (isScalar(pair.key) && pair.key.value === key && pair.value !== null) found.push(pair.value as Node);
    if (isMergeKey(pair.key)) for (const source of getMergeSources(pair.value)) found.push(...getEntries(source, key, seen));
  }
  return found;
}

function getMergeSources(value: unknown): YAMLMap[] {
  if (isMap(value)) return [value];
  if (isSeq(value)) return value.items.filter((item): item is YAMLMap => isMap(item));
  return [];
}

/**
 * Every map that will be read as an environment (`nodes.<node>.env`) or as resource attributes
 * (`telemetry.resourceAttributes`): its number and boolean values are replaced by their source
 * text, so `0123` reaches the child as "0123", not "123".
 */
function keepEnvSourceText(document: Document): void {
  const root = document.contents;
  if (!isMap(root)) return;
  const stringMaps: YAMLMap[] = [];
  for (const nodes of getEntries(root, 'nodes', new Set())) {
    if (!isMap(nodes)) continue;
    for (const pair of nodes.items) {
      if (isMap(pair.value)) for (const env of getEntries(pair.value, 'env', new Set())) if (isMap(env)) stringMaps.push(env);
    }
  }
  for (const telemetry of getEntries(root, 'telemetry', new Set())) {
    if (isMap(telemetry)) for (const attributes of getEntries(telemetry, 'resourceAttributes', new Set())) if (isMap(attributes)) stringMaps.push(attributes);
  }
  const done = new Set<YAMLMap>();
  while (stringMaps.length > 0) {
    const map = stringMaps.pop()!;
    if (done.has(map)) continue;
    done.add(map);
    for (const pair of map.items) {
      if (isMergeKey(pair.key)) {
        stringMaps.push(...getMergeSources(pair.value));
      } else if (isScalar(pair.value) && (typeof pair.value.value === 'number' || typeof pair.value.value === 'boolean') && typeof pair.value.source === 'string') {
        // A new node: an anchored scalar may be used elsewhere as a number.
        pair.value = new Scalar(pair.value.source);
      }
    }
  }
}
