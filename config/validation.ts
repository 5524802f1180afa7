/**
 * Validation of a config against `configSchema`, collecting every problem with its path in one
 * run: schema issues, unknown keys and the cross-field rules together (the rules run on what is
 * valid even when something else is not).
 */
import * as z from 'zod';
import { getClosestMatch } from './closest-match.js';
import { createConfigIssueFromZod, flattenUnionIssues, formatPath, getExpectedPhrase, type ConfigIssue } from './issues.js';
import { validateClusterRules, type RulesInput } from './cluster-rules.js';
import { configSchema, nodeSchema, type ValidatedConfig, type ValidatedNode } from './schema.js';

export interface ValidateConfigOptions {
  /** Unknown keys are errors (else warnings). */
  readonly strict: boolean;
}

export interface ValidatedConfigResult {
  /** The validated config, or null when `errors` is not empty. */
  readonly config: ValidatedConfig | null;
  /**
   * The nodes as far as they are valid: the validated nodes, or (when the config is invalid)
   * each node's fields that are valid on their own. Read for checks that need files (`envFile`).
   */
  readonly nodes: Readonly<Record<string, Partial<ValidatedNode>>>;
  /** Every problem found; empty when `config` is set. */
  readonly errors: readonly ConfigIssue[];
  /** Unknown keys, each with a did-you-mean hint, when they are not errors (`strict: false`). */
  readonly warnings: readonly ConfigIssue[];
}

/** An unknown key found next to the schema's known keys. */
interface UnknownKey {
  readonly path: readonly PropertyKey[];
  readonly key: string;
  readonly suggestion: string | undefined;
  readonly knownKeys: readonly string[];
}

/**
 * Validates a parsed config: schema problems, unknown keys and the cross-field rules
 * (`cluster-rules.ts`: ports, dependencies, templates), all at once. A required key that is
 * missing next to an unknown key one edit away (`comand:`) is one issue at the unknown key.
 * Never throws on user input.
 */
export function validateConfig(input: unknown, options: ValidateConfigOptions): ValidatedConfigResult {
  const { strict } = options;
  const unknownKeys = findUnknownKeys(configSchema, input, []);
  const result = configSchema.safeParse(input, { reportInput: true, error: getExpectedPhrase });
  const { issues: schemaIssues, unpaired } = pairMissingKeys(result.success ? [] : flattenUnionIssues(result.error.issues), unknownKeys);
  const unknownKeyIssues = unpaired.map(formatUnknownKey);
  const rulesInput = result.success ? validRulesInput(result.data) : salvageRulesInput(input);
  const errors = [...schemaIssues, ...(strict ? unknownKeyIssues : []), ...validateClusterRules(rulesInput)];
  return {
    config: result.success && errors.length === 0 ? result.data : null,
    nodes: rulesInput.nodes,
    errors,
    warnings: strict ? [] : unknownKeyIssues,
  };
}

/**
 * Zod issues as config issues, where a missing required key whose name is the did-you-mean of an
 * unknown key beside it becomes one issue at the unknown key (in place of the missing key's).
 * Returns the unknown keys left unpaired.
 */
function pairMissingKeys(
  zodIssues: readonly z.core.$ZodIssue[],
  unknownKeys: readonly UnknownKey[],
): { issues: ConfigIssue[]; unpaired: UnknownKey[] } {
  const bySuggestedPath = new Map<string, UnknownKey>();
  for (const unknown of unknownKeys) {
    if (unknown.suggestion === undefined) continue;
    const path = formatPath([...unknown.path.slice(0, -1), unknown.suggestion]);
    if (!bySuggestedPath.has(path)) bySuggestedPath.set(path, unknown);
  }
  const paired = new Set<UnknownKey>();
  const issues = zodIssues.map((issue): ConfigIssue => {
    const path = formatPath(issue.path);
    const unknown = issue.input === undefined ? bySuggestedPath.get(path) : undefined;
    if (unknown === undefined || paired.has(unknown)) return createConfigIssueFromZod(issue);
    paired.add(unknown);
    return {
      path: formatPath(unknown.path),
      message: `"${unknown.key}" is not a key; did you mean "${unknown.suggestion}"? (${path} is required: ${issue.message})`,
    };
  });
  return { issues, unpaired: unknownKeys.filter((unknown) => !paired.has(unknown)) };
}

function validRulesInput(config: ValidatedConfig): RulesInput {
  return { nodes: config.nodes, isValid: () => true };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The nodes of an invalid config as far as they are valid: every node name (a node that is no
 * object still exists for `dependsOn`), and each field that passes its own schema. Rules that
 * need a field that did not pass are skipped: that field's own issue says what is wrong.
 */
function salvageRulesInput(input: unknown): RulesInput {
  const rawNodes = isPlainObject(input) && isPlainObject(input['nodes']) ? input['nodes'] : {};
  const shape = nodeSchema.shape as Record<string, z.ZodType>;
  const nodes: Record<string, Partial<ValidatedNode>> = {};
  const invalid = new Set<string>();
  for (const [name, raw] of Object.entries(rawNodes)) {
    const node: Record<string, unknown> = {};
    nodes[name] = node as Partial<ValidatedNode>;
    if (!isPlainObject(raw)) {
      invalid.add(`${name}\0*`);
      continue;
    }
    for (const [key, schema] of Object.entries(shape)) {
      if (!Object.hasOwn(raw, key)) continue;
      const field = schema.safeParse(raw[key]);
      if (!field.success) invalid.add(`${name}\0${key}`);
      else if (field.data !== undefined) node[key] = field.data;
    }
  }
  return { nodes, isValid: (name, key) => !invalid.has(`${name}\0*`) && !invalid.has(`${name}\0${key}`) };
}

/**
 * Keys the schema does not know, found by walking the input alongside the schema's object shapes
 * (so the known keys come from the one schema). zod itself strips them silently.
 */
function findUnknownKeys(schema: z.ZodType, input: unknown, path: readonly PropertyKey[]): UnknownKey[] {
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
  if (inner instanceof z.ZodUnion) {
    // A shorthand beside its full form (`log: '^ready'` or `log: { pattern }`): the object option.
    const objectOption = (inner.options as z.ZodType[]).find((option) => unwrapSchema(option) instanceof z.ZodObject);
    return objectOption === undefined ? [] : findUnknownKeys(objectOption, input, path);
  }
  if (!(inner instanceof z.ZodObject)) return [];
  // A .strict() object: zod reports its unknown keys itself.
  if (inner._zod.def.catchall instanceof z.ZodNever) return [];
  const shape = inner.shape as Record<string, z.ZodType>;
  const knownKeys = Object.keys(shape);
  return entries.flatMap(([key, value]) => {
    const keySchema = Object.hasOwn(shape, key) ? shape[key] : undefined;
    return keySchema === undefined
      ? [{ path: [...path, key], key, suggestion: getClosestMatch(key, knownKeys), knownKeys }]
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

function formatUnknownKey(unknown: UnknownKey): ConfigIssue {
  const hint = unknown.suggestion === undefined ? `known keys: ${unknown.knownKeys.join(', ')}` : `did you mean "${unknown.suggestion}"?`;
  return { path: formatPath(unknown.path), message: `unknown key; ${hint}` };
}
