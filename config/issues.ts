/**
 * Config issues: one wording for every problem found in a config, and the error that carries them.
 *
 * Every message follows one template: what was expected, then what was
 * received with its type, e.g. `expected an array of strings, got 42 (number)`. The path lives in
 * `ConfigIssue.path` and is printed in front of the message.
 */
import type * as z from 'zod';
import { DroverError } from '../contract/errors.js';
import { describeValue } from '../contract/describe-value.js';

export { describeValue };

/** One problem (or, in `LoadedConfig.warnings`, one warning) found in a config. */
export interface ConfigIssue {
  /** Dotted path of the offending value, e.g. `nodes.a.ready.http.url` or `nodes.a.command.0`; `''` for the whole document. */
  readonly path: string;
  /** What was expected and what was received, e.g. `expected an integer from 1 to 65535, got 0 (number)`. */
  readonly message: string;
}

/** The error `loadConfig()` and `normalizeConfig()` throw for an invalid config. */
export type ConfigInvalidError = DroverError & {
  readonly code: 'ERR_CONFIG_INVALID';
  /** Every problem found, not just the first. */
  readonly issues: readonly ConfigIssue[];
  /** The warnings found alongside (unknown keys with `strict: false`, unset variables); often the cause. */
  readonly warnings: readonly ConfigIssue[];
};

/** Issues listed in an error's message; `issues` keeps them all (`drover validate --json` prints them). */
const MAX_LISTED_ISSUES = 100;

/**
 * `['nodes', 'a', 'command', 0]` → `nodes.a.command.0`. An empty key is shown as `""` (so a
 * top-level `"": 1` is `""`, not the whole document's `''`).
 */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.map((segment) => (segment === '' ? '""' : String(segment))).join('.');
}

/** `path: message`, or just the message for the whole document. */
export function formatIssue(issue: ConfigIssue): string {
  return issue.path === '' ? issue.message : `${issue.path}: ${issue.message}`;
}

/**
 * Builds the ERR_CONFIG_INVALID error: `Invalid config <file>:` and one `  - path: message` line
 * per issue (the first 100, then how many more), then the same for warnings under `Warnings:`,
 * with every issue in `issues` and every warning in `warnings`.
 */
export function createConfigInvalidError(
  configPath: string | null,
  issues: readonly ConfigIssue[],
  warnings: readonly ConfigIssue[] = [],
): ConfigInvalidError {
  const list = (items: readonly ConfigIssue[]): string[] => {
    const lines = items.slice(0, MAX_LISTED_ISSUES).map((issue) => `  - ${formatIssue(issue)}`);
    if (items.length > MAX_LISTED_ISSUES) lines.push(`  … and ${items.length - MAX_LISTED_ISSUES} more (drover validate --json lists them all)`);
    return lines;
  };
  const warningLines = warnings.length === 0 ? [] : ['Warnings:', ...list(warnings)];
  const message = [`Invalid config ${configPath ?? 'object'}:`, ...list(issues), ...warningLines].join('\n');
  const error = new DroverError('ERR_CONFIG_INVALID', message, configPath === null ? {} : { path: configPath });
  return Object.assign(error, { issues: Object.freeze([...issues]), warnings: Object.freeze([...warnings]) }) as ConfigInvalidError;
}

const TYPE_PHRASES: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'a boolean (true or false)',
  array: 'an array',
  object: 'an object',
  record: 'an object',
  null: 'null',
};

type ZodRawIssue = z.core.$ZodRawIssue;

function describeBound(issue: Extract<ZodRawIssue, { code: 'too_small' | 'too_big' }>): string {
  const isMin = issue.code === 'too_small';
  const bound = String(isMin ? issue.minimum : issue.maximum);
  const relation = issue.exact
    ? 'exactly'
    : issue.inclusive
      ? (isMin ? 'at least' : 'at most')
      : (isMin ? 'more than' : 'less than');
  switch (issue.origin) {
    case 'string':
      return isMin && bound === '1' && !issue.exact ? 'a non-empty string' : `a string of ${relation} ${bound} characters`;
    case 'array':
      return `an array with ${relation} ${bound} ${bound === '1' ? 'item' : 'items'}`;
    default:
      return `a number ${relation === 'exactly' ? 'equal to' : relation} ${bound}`;
  }
}

/**
 * The "expected …" phrase for a zod issue, used as zod's error map for every schema that does not
 * word its own (zod's default messages read "Invalid input: expected string, received number").
 * The received half is added by `createConfigIssueFromZod()`.
 */
export function getExpectedPhrase(issue: ZodRawIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return TYPE_PHRASES[issue.expected] ?? `a value of type ${issue.expected}`;
    case 'too_small':
    case 'too_big':
      return describeBound(issue);
    case 'invalid_value':
      return issue.values.length === 1
        ? JSON.stringify(issue.values[0]) ?? String(issue.values[0])
        : `one of ${issue.values.map(String).join(', ')}`;
    case 'invalid_format':
      return issue.format === 'regex' && issue.pattern !== undefined
        ? `a string matching ${issue.pattern}`
        : `a valid ${issue.format}`;
    case 'not_multiple_of':
      return `a multiple of ${issue.divisor}`;
    case 'invalid_key':
      return issue.issues[0]?.message ?? 'a valid key';
    case 'unrecognized_keys':
      return 'no unknown keys';
    default:
      return 'a valid value';
  }
}

/**
 * Replaces each union issue whose input has the type of exactly one option by that option's own
 * issues (at their full path): `log: { pattern: x, stream: bogus }` reports
 * `log.stream: expected one of stdout, stderr, both`, not that `log` is neither a string nor a
 * valid object. zod reports a union as one issue once every option failed; a value no option
 * takes keeps that issue (and the union's wording).
 */
export function flattenUnionIssues(issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue[] {
  return issues.flatMap((issue) => {
    if (issue.code !== 'invalid_union' || issue.errors.length === 0) return [issue];
    const matching = issue.errors.filter(isTypeMatch);
    if (matching.length !== 1) return [issue];
    return flattenUnionIssues(matching[0]!.map((inner) => ({ ...inner, path: [...issue.path, ...inner.path] }) as z.core.$ZodIssue));
  });
}

/** Whether an option's issues are about the value's content, not its type. */
function isTypeMatch(optionIssues: readonly z.core.$ZodIssue[]): boolean {
  return !optionIssues.some(
    (issue) =>
      issue.path.length === 0 &&
      (issue.code === 'invalid_type' || issue.code === 'invalid_value' || (issue.code === 'invalid_union' && !issue.errors.some(isTypeMatch))),
  );
}

/**
 * Maps one zod issue to the config template. The zod message is the "expected …" phrase (from
 * `getExpectedPhrase()` or a schema's own wording); custom issues may add `params.received` (to
 * replace the rendered input) and `params.hint` (appended after `; `).
 */
export function createConfigIssueFromZod(issue: z.core.$ZodIssue): ConfigIssue {
  const params: Record<string, unknown> | undefined = issue.code === 'custom' ? issue.params : undefined;
  const received = typeof params?.['received'] === 'string' ? params['received'] : describeValue(issue.input);
  const hint = typeof params?.['hint'] === 'string' ? `; ${params['hint']}` : '';
  return { path: formatPath(issue.path), message: `expected ${issue.message}, got ${received}${hint}` };
}
