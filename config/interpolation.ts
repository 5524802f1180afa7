/**
 * `${VAR}` interpolation in drover.yaml values, with docker compose's rules:
 *
 * - `${VAR}`: the variable's value; unset → an empty string (and a warning).
 * - `${VAR:-default}` / `${VAR-default}`: the default when VAR is unset or empty / unset.
 * - `${VAR:?message}` / `${VAR?message}`: an error when VAR is unset or empty / unset.
 * - `${VAR:+other}` / `${VAR+other}`: `other` when VAR is set and non-empty / set, else empty.
 * - `$$` is a literal `$`. A `$` followed by anything else stays as written (so `$HOME` in a shell
 *   command reaches the shell; compose would interpolate it, drover only takes the braced form).
 * - Defaults, messages and `other` may hold further `${…}` (at most {@link MAX_INTERPOLATION_DEPTH}
 *   deep), evaluated only when used.
 * - Values only: keys are never interpolated. A plain (unquoted, untagged) YAML value that becomes
 *   a number or true/false is read as one (`replicas: ${N:-2}` is 2), by the YAML core schema's own
 *   rules; an empty result stays an empty string.
 *
 * Variables come from the environment, then from the `.env` beside the config (the environment
 * wins), as `loader.ts` arranges.
 */
import { isMap, isPair, isScalar, isSeq, Scalar, Schema, type Document, type Node, type Pair, type YAMLMap, type YAMLSeq } from 'yaml';
import { describeValue, formatPath, type ConfigIssue } from './issues.js';

/** The deepest nesting of `${…}` inside a default, message or alternative. */
export const MAX_INTERPOLATION_DEPTH = 16;
/** The most characters all interpolated values of a config may add up to (1 Mi). */
export const MAX_INTERPOLATED_CHARS = 1024 * 1024;

/** A variable's value, or undefined when it is not set. */
export type VariableLookup = (name: string) => string | undefined;

type Operator = ':-' | '-' | ':?' | '?' | ':+' | '+';
type Part = { readonly text: string } | { readonly name: string; readonly operator: Operator | null; readonly word: readonly Part[]; readonly source: string };

/** The outcome of interpolating one string. */
export type InterpolationResult =
  | {
      readonly ok: true;
      readonly value: string;
      /** Variables used without a value or default (each became an empty string), in order. */
      readonly unset: readonly string[];
    }
  | { readonly ok: false; /** The "expected …, got …" message. */ readonly message: string };

const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;
const OPERATORS: readonly Operator[] = [':-', ':?', ':+', '-', '?', '+'];
const ESCAPE_HINT = 'write $$ for a literal $';

class SyntaxProblem extends Error {}

/**
 * Parses `text` from `start`, up to the end (depth 0) or the `}` that closes the enclosing `${`
 * (depth > 0). Returns the parts and the index after them.
 */
function parseParts(text: string, start: number, depth: number): { parts: Part[]; end: number } {
  const parts: Part[] = [];
  let literal = '';
  let index = start;
  while (index < text.length) {
    const char = text[index]!;
    if (depth > 0 && char === '}') break;
    if (char !== '$') {
      literal += char;
      index += 1;
      continue;
    }
    const next = text[index + 1];
    if (next === '$') {
      literal += '$';
      index += 2;
      continue;
    }
    if (next !== '{') {
      literal += '$';
      index += 1;
      continue;
    }
    if (literal !== '') parts.push({ text: literal });
    literal = '';
    const open = index;
    index += 2;
    let name = '';
    if (index < text.length && NAME_START.test(text[index]!)) {
      while (index < text.length && NAME_CHAR.test(text[index]!)) name += text[index++];
    }
    if (name === '') {
      throw new SyntaxProblem(`a variable name (a letter or "_", then letters, digits or "_") after "\${" at character ${open + 1}`);
    }
    const operator = OPERATORS.find((candidate) => text.startsWith(candidate, index)) ?? null;
    let word: Part[] = [];
    if (operator !== null) {
      if (depth + 1 > MAX_INTERPOLATION_DEPTH) throw new SyntaxProblem(`"\${" nested at most ${MAX_INTERPOLATION_DEPTH} deep`);
      const inner = parseParts(text, index + operator.length, depth + 1);
      word = inner.parts;
      index = inner.end;
    }
    if (text[index] !== '}') {
      throw new SyntaxProblem(
        operator === null && index < text.length
          ? `"}" or one of ${OPERATORS.join(' ')} after "\${${name}" at character ${open + 1}`
          : `a "}" closing the "\${" at character ${open + 1}`,
      );
    }
    index += 1;
    parts.push({ name, operator, word, source: text.slice(open, index) });
  }
  if (literal !== '') parts.push({ text: literal });
  return { parts, end: index };
}

class RequiredProblem extends Error {}
const TOO_LONG_MESSAGE = `expected interpolated values of at most ${MAX_INTERPOLATED_CHARS} characters in the whole config, got more`;
class TooLong extends Error {}

/**
 * Interpolates `text` (see the top of this file). `budget` is the number of characters the result
 * may have; a result longer than that is an error, so the caller can bound the whole config.
 */
export function interpolate(text: string, lookup: VariableLookup, budget = MAX_INTERPOLATED_CHARS): InterpolationResult {
  let parts: Part[];
  try {
    parts = parseParts(text, 0, 0).parts;
  } catch (error) {
    if (!(error instanceof SyntaxProblem)) throw error;
    return { ok: false, message: `expected ${error.message}, got ${describeValue(text)}; ${ESCAPE_HINT}` };
  }
  const unset: string[] = [];
  let length = 0;
  const evaluate = (list: readonly Part[]): string => {
    let out = '';
    for (const part of list) {
      const piece = 'text' in part ? part.text : evaluateVariable(part);
      length += piece.length;
      if (length > budget) throw new TooLong();
      out += piece;
    }
    return out;
  };
  const evaluateVariable = (part: Extract<Part, { name: string }>): string => {
    const value = lookup(part.name);
    const isSet = value !== undefined;
    const isFull = isSet && value !== '';
    switch (part.operator) {
      case null:
        if (!isSet) unset.push(part.name);
        return value ?? '';
      case ':-':
        return isFull ? value : evaluate(part.word);
      case '-':
        return isSet ? value : evaluate(part.word);
      case ':?':
      case '?': {
        if (part.operator === ':?' ? isFull : isSet) return value!;
        const reason = evaluate(part.word);
        const wanted = part.operator === ':?' ? 'set and not empty' : 'set';
        throw new RequiredProblem(`expected the variable ${part.name} to be ${wanted} (${part.source} requires it), got ${isSet ? 'an empty value' : 'it unset'}${reason === '' ? '' : `: ${reason}`}`);
      }
      case ':+':
        return isFull ? evaluate(part.word) : '';
      case '+':
        return isSet ? evaluate(part.word) : '';
    }
  };
  try {
    return { ok: true, value: evaluate(parts), unset };
  } catch (error) {
    if (error instanceof RequiredProblem) return { ok: false, message: error.message };
    if (error instanceof TooLong) return { ok: false, message: TOO_LONG_MESSAGE };
    throw error;
  }
}

/** The core schema's scalar tags that make a plain value a number or a boolean. */
const RETYPING_TAGS = new Schema({ schema: 'core' }).tags.filter(
  (tag): tag is typeof tag & { test: RegExp; resolve: (source: string, onError: (message: string) => void, options: object) => unknown } =>
    'test' in tag && tag.test instanceof RegExp && /:(?:int|float|bool)$/.test(tag.tag),
);

/** What a plain scalar `text` is under the YAML core schema, when a number or a boolean. */
function retype(text: string): number | boolean | undefined {
  for (const tag of RETYPING_TAGS) {
    if (!tag.test.test(text)) continue;
    let failed = false;
    const value = tag.resolve(text, () => (failed = true), { intAsBigInt: false });
    if (!failed && (typeof value === 'number' || typeof value === 'boolean')) return value;
  }
  return undefined;
}

/** What `interpolateDocument` found: errors (each at its value's path) and unset variables. */
export interface DocumentInterpolation {
  readonly issues: ConfigIssue[];
  /** One per unset variable, at the first value that used it. */
  readonly warnings: ConfigIssue[];
}

type Slot = { readonly parent: Pair; readonly key: 'value' } | { readonly parent: YAMLSeq; readonly key: number };

/**
 * Interpolates every string value of a parsed document in place (aliases already replaced by their
 * nodes, so a shared value is interpolated once and every place gets the same result). Keys are
 * left alone. `where` says where variables come from, for the unset-variable warning.
 */
export function interpolateDocument(document: Document, lookup: VariableLookup, where: string): DocumentInterpolation {
  const issues: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const warned = new Set<string>();
  const root = document.contents;
  if (root === null || !(isMap(root) || isSeq(root))) return { issues, warnings };
  /** The replacement of each scalar already interpolated (null: left as it was). */
  const done = new Map<Scalar, Scalar | null>();
  const visited = new Set<Node>([root]);
  /** Depth-first, in document order; iterative (nesting is bounded, but no recursion either way). */
  const stack: { readonly node: YAMLMap | YAMLSeq; readonly path: readonly PropertyKey[]; next: number }[] = [{ node: root, path: [], next: 0 }];
  let budget = MAX_INTERPOLATED_CHARS;

  /** Set once the bound is crossed: reported once, at the value that crossed it; the rest stay as written. */
  let exhausted = false;

  const interpolateScalar = (scalar: Scalar, path: readonly PropertyKey[]): Scalar | null => {
    if (exhausted || typeof scalar.value !== 'string' || !scalar.value.includes('$')) return null;
    const result = interpolate(scalar.value, lookup, budget);
    if (!result.ok) {
      issues.push({ path: formatPath(path), message: result.message });
      exhausted = result.message === TOO_LONG_MESSAGE;
      return null;
    }
    budget -= result.value.length;
    for (const name of result.unset) {
      if (warned.has(name)) continue;
      warned.add(name);
      warnings.push({ path: formatPath(path), message: `the variable ${name} is not set (${where}), so "\${${name}}" is an empty string; set it, or give a default: "\${${name}:-default}"` });
    }
    const typed = scalar.type === Scalar.PLAIN && scalar.tag === undefined ? retype(result.value) : undefined;
    const replacement = new Scalar<unknown>(typed ?? result.value);
    // The interpolated text is the value's source now: env values keep it as written.
    replacement.source = result.value;
    replacement.type = scalar.type;
    if (scalar.range) replacement.range = scalar.range;
    return replacement;
  };

  const visitValue = (value: unknown, slot: Slot, path: readonly PropertyKey[]): void => {
    if (isMap(value) || isSeq(value)) {
      if (!visited.has(value)) {
        visited.add(value);
        stack.push({ node: value, path, next: 0 });
      }
      return;
    }
    if (!isScalar(value)) return;
    let replacement = done.get(value);
    if (replacement === undefined) {
      replacement = interpolateScalar(value, path);
      done.set(value, replacement);
    }
    if (replacement === null) return;
    if (slot.key === 'value') slot.parent.value = replacement;
    else slot.parent.items[slot.key] = replacement;
  };

  while (stack.length > 0) {
    const frame = stack.at(-1)!;
    if (frame.next >= frame.node.items.length) {
      stack.pop();
      continue;
    }
    const index = frame.next++;
    if (isMap(frame.node)) {
      const pair = frame.node.items[index];
      if (!isPair(pair)) continue;
      // A merge source's keys read as the map's own.
      const path = isMergeKey(pair.key) ? frame.path : [...frame.path, isScalar(pair.key) ? String(pair.key.value ?? '') : ''];
      visitValue(pair.value, { parent: pair, key: 'value' }, path);
    } else {
      visitValue(frame.node.items[index], { parent: frame.node, key: index }, [...frame.path, index]);
    }
  }
  return { issues, warnings };
}

function isMergeKey(key: unknown): boolean {
  return isScalar(key) && typeof key.value === 'symbol' && key.value.description === '<<';
}
