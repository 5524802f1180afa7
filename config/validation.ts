/**
 * Validation of a config against `configSchema`, collecting every problem with its path.
 */
import * as z from 'zod';
import { getClosestMatch } from './closest-match.js';
import {
  createConfigInvalidError,
  createConfigIssueFromZod,
  formatPath,
  getExpectedPhrase,
  type ConfigIssue,
} from './issues.js';
import { validateClusterRules } from './cluster-rules.js';
import { configSchema, type ValidatedConfig } from './schema.js';

export interface ValidateConfigOptions {
  /** Absolute path of the config file, for the error message; null for a config object. */
  readonly configPath: string | null;
  /** Turn warnings (unknown keys) into errors. */
  readonly strict: boolean;
}

export interface ValidatedConfigResult {
  readonly config: ValidatedConfig;
  /** Unknown keys, each with a did-you-mean hint (empty in strict mode, where they are errors). */
  readonly warnings: readonly ConfigIssue[];
}

/**
 * Validates a parsed config: schema problems and unknown keys, all of them at once; once the shape
 * is valid, the cross-field rules (`cluster-rules.ts`: ports, dependencies, templates).
 *
 * @throws {DroverError} ERR_CONFIG_INVALID with `issues` listing every problem (in strict mode,
 *   unknown keys too).
 */
export function validateConfig(input: unknown, options: ValidateConfigOptions): ValidatedConfigResult {
  const { configPath, strict } = options;
  const unknownKeys = findUnknownKeys(configSchema, input, []);
  const result = configSchema.safeParse(input, { reportInput: true, error: getExpectedPhrase });
  const errors = result.success ? validateClusterRules(result.data) : result.error.issues.map(createConfigIssueFromZod);
  if (strict) errors.push(...unknownKeys);
  if (!result.success || errors.length > 0) throw createConfigInvalidError(configPath, errors);
  return { config: result.data, warnings: strict ? [] : unknownKeys };
}

/**
 * Keys the schema does not know, found by walking the input alongside the schema's object shapes
 * (so the known keys come from the one schema). zod itself strips them silently.
 */
function findUnknownKeys(schema: z.ZodType, input: unknown, path: readonly PropertyKey[]): ConfigIssue[] {
  const inner = unwrapSchema(schema);
  if (Array.isArray(input)) {
    return inner instanceof z.ZodArray
      ? input.flatMap((item, index) => findUnknownKeys(inner.element as z.ZodType, item, [...path, index]))
      : [];
  }
  if (typeof input !== 'object' || input === null) return [];
  const entries = Object.entries(input);
  if (inner instanceof z.ZodRecord) {
    return entries.flatMap(([key, value]) => findUnknownKeys(inner.valueType as z.ZodType, value, [...path, key]));
  }
  if (!(inner instanceof z.ZodObject)) return [];
  const shape = inner.shape as Record<string, z.ZodType>;
  const knownKeys = Object.keys(shape);
  return entries.flatMap(([key, value]) => {
    const keySchema = Object.hasOwn(shape, key) ? shape[key] : undefined;
    return keySchema === undefined
      ? [createUnknownKeyIssue([...path, key], key, knownKeys)]
      : findUnknownKeys(keySchema, value, [...path, key]);
  });
}

function unwrapSchema(schema: z.ZodType): z.ZodType {
  let current = schema;
  for (;;) {
    if (current instanceof z.ZodOptional || current instanceof z.ZodNullable || current instanceof z.ZodDefault || current instanceof z.ZodLazy) {
      current = current.unwrap() as z.ZodType;
    } else if (current instanceof z.ZodPipe) {
      current = current.in as z.ZodType;
    } else {
      return current;
    }
  }
}

function createUnknownKeyIssue(path: readonly PropertyKey[], key: string, knownKeys: readonly string[]): ConfigIssue {
  const suggestion = getClosestMatch(key, knownKeys);
  const hint = suggestion === undefined ? `known keys: ${knownKeys.join(', ')}` : `did you mean "${suggestion}"?`;
  return { path: formatPath(path), message: `unknown key; ${hint}` };
}
