/**
 * Regular expressions supplied by users (readiness and liveness log patterns, http body patterns,
 * telemetry redact patterns) run on RE2 (the `re2js` port), never on V8's backtracking engine: RE2
 * matches in time linear in the text, so no pattern (`^(a+)+$` against `aaaa…!`) can stall the
 * manager's event loop.
 *
 * Syntax is RE2's (https://github.com/google/re2/wiki/Syntax): what JavaScript and RE2 share
 * (classes, `\d \w \s \b`, anchors, groups, named groups `(?<name>…)`, lazy quantifiers, `\p{L}`)
 * plus inline flags such as `(?i)`. RE2 has no backreferences and no lookaround; such patterns
 * are refused with a message saying so.
 */
import { createRequire } from 'node:module';
import type { RE2JS as RE2JSClass } from 're2js';
import { DroverError } from './errors.js';
import { describeValue } from './describe-value.js';

let re2: typeof RE2JSClass | undefined;

/**
 * re2js, loaded on the first pattern compiled: its import and the Unicode tables it sets up take
 * ~12 ms, which a config without patterns (most) and a process that never compiles one should not
 * pay before its first spawn. `require` keeps compiling synchronously (zod's refinements are).
 */
function getRE2(): typeof RE2JSClass {
  re2 ??= (createRequire(import.meta.url)('re2js') as typeof import('re2js')).RE2JS;
  return re2;
}

/** The longest pattern accepted, in characters: keeps compiling (and the program RE2 builds) small. */
export const MAX_PATTERN_LENGTH = 4096;

/** What a pattern looks like, as the "expected …" half of a config issue. */
export const PATTERN_EXPECTED = 'a regular expression in RE2 syntax';

/** A compiled user pattern. Matching takes time linear in the text; nothing here backtracks. */
export interface LinearPattern {
  /** The RE2 source (inline flags such as `(?i)` included). */
  readonly source: string;
  /** Whether the pattern matches anywhere in `text` (unanchored, like `RegExp.test`). */
  test(text: string): boolean;
  /**
   * `text` with every non-overlapping match replaced by `replace(match, groups)`; `groups` are the
   * named groups of the match (an unmatched group is undefined).
   */
  replaceAll(text: string, replace: (match: string, groups: Readonly<Record<string, string | undefined>>) => string): string;
  /** `/source/flags` as written (a RegExp keeps its own rendering), for messages. */
  toString(): string;
}

/** RE2's complaints about what JavaScript has and RE2 lacks, reworded to name the feature. */
const UNSUPPORTED_FEATURES: readonly { readonly test: RegExp; readonly feature: string }[] = [
  { test: /invalid escape sequence: `\\([1-9]|k)/, feature: 'backreferences (\\1, \\k<name>)' },
  { test: /unsupported Perl syntax: `\(\?[=!]/, feature: 'lookahead ((?=…), (?!…))' },
  { test: /invalid named capture: `\(\?<[=!]/, feature: 'lookbehind ((?<=…), (?<!…))' },
];

/** What is wrong with `source` as an RE2 pattern: undefined when it compiles. */
export function getPatternProblem(source: string): { readonly expected: string; readonly hint?: string } | undefined {
  if (source.length > MAX_PATTERN_LENGTH) return { expected: `a regular expression of at most ${MAX_PATTERN_LENGTH} characters` };
  try {
    getRE2().compile(source);
    return undefined;
  } catch (error) {
    return { expected: PATTERN_EXPECTED, hint: describeSyntaxError(error) };
  }
}

function describeSyntaxError(error: unknown): string {
  const message = error instanceof Error ? error.message.replace(/^error parsing regexp: /, '') : String(error);
  const unsupported = UNSUPPORTED_FEATURES.find(({ test }) => test.test(message));
  return unsupported === undefined
    ? message
    : `${unsupported.feature} are not supported: patterns run on RE2, which matches in time linear in the text`;
}

/**
 * Compiles a user pattern for RE2. A string is RE2 source; a RegExp is translated (its source,
 * with the `i`, `m` and `s` flags as inline flags; `g`, `y`, `u` and `d` mean nothing to a test).
 *
 * @param what names the pattern in the error, e.g. `pattern` or `body`.
 * @throws {DroverError} ERR_INVALID_OPTION when the pattern is longer than
 *   {@link MAX_PATTERN_LENGTH} or is not valid RE2 (the message names backreferences or lookaround
 *   when that is why).
 */
export function compileUserPattern(pattern: string | RegExp, what = 'pattern'): LinearPattern {
  const source = typeof pattern === 'string' ? pattern : getRE2().translateRegExp(pattern);
  const problem = getPatternProblem(source);
  if (problem !== undefined) {
    const hint = problem.hint === undefined ? '' : `; ${problem.hint}`;
    throw new DroverError('ERR_INVALID_OPTION', `Invalid ${what}: expected ${problem.expected}, got ${describeValue(typeof pattern === 'string' ? pattern : String(pattern))}${hint}`);
  }
  const compiled = getRE2().compile(source);
  const rendered = typeof pattern === 'string' ? `/${pattern}/` : `/${pattern.source}/${pattern.flags.replace(/[gyud]/g, '')}`;
  return {
    source,
    test: (text) => compiled.test(text),
    replaceAll(text, replace) {
      let result = '';
      let last = 0;
      for (const match of compiled.matchAll(text)) {
        const index = match.index ?? 0;
        result += text.slice(last, index) + replace(match[0], match.groups ?? {});
        last = index + match[0].length;
      }
      return result + text.slice(last);
    },
    toString: () => rendered,
  };
}
