/**
 * The one schema for drover.yaml.
 *
 * Everything about the config's shape derives from `configSchema`: the TS types (`ConfigInput`,
 * `ValidatedConfig`), runtime validation (`validation.ts`), the unknown-key check (which reads the
 * object shapes below), and the committed `config/schema.json` for editors
 * (`createConfigJsonSchema()`; test/config/schema-json.test.ts fails when it is stale).
 *
 * The schema validates and converts units (durations → ms, sizes → bytes, signal names →
 * `SIGTERM`, env values → strings). It applies no defaults: those live in the normalizers in
 * `cluster-spec.ts`, one per options type. The defaults quoted in the descriptions below are for
 * editors and must match those normalizers.
 *
 * Each schema words its own "expected …" phrase through zod's `error` parameter; anything not
 * worded here falls back to `getExpectedPhrase()` (issues.ts).
 */
import * as z from 'zod';
import { getClosestSignalName, parseSignalName } from './signal.js';
import {
  DEFAULT_BACKOFF_INITIAL_MS,
  DEFAULT_BACKOFF_JITTER,
  DEFAULT_BACKOFF_MAX_MS,
  DEFAULT_BACKOFF_MULTIPLIER,
  DEFAULT_LIVENESS_INTERVAL_MS,
  DEFAULT_LIVENESS_TIMEOUT_MS,
  DEFAULT_MIN_UPTIME_MS,
  DEFAULT_OUTPUT_MAX_BYTES,
  DEFAULT_OUTPUT_MAX_LINES,
  DEFAULT_READY_INTERVAL_MS,
  DEFAULT_READY_TIMEOUT_MS,
  DEFAULT_STOP_SIGNAL,
  DEFAULT_STOP_TIMEOUT_MS,
  MAX_REPLICAS,
  RESOURCE_LIMIT_NAMES,
} from '../contract/defaults.js';
import { DEFAULT_OUTPUT_FILE_KEEP, DEFAULT_OUTPUT_FILE_MAX_BYTES, DEFAULT_WATCH_DEBOUNCE_MS, MAX_OUTPUT_FILE_KEEP } from '../contract/defaults.js';
import { DURATION_EXPECTED, formatDurationMs, getDurationResult, MAX_TIMER_MS } from './duration.js';
import { compileUserPattern, getPatternProblem, type LinearPattern, MAX_PATTERN_LENGTH } from '../contract/pattern.js';
import { formatBytes, getSizeResult, MAX_OUTPUT_BYTES, MAX_OUTPUT_LINES, SIZE_EXPECTED } from './size.js';

/** Cluster and node names. Spelled out rather than with the `i` flag, which JSON Schema's `pattern` cannot carry. */
const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
/** NUL cannot cross execve(2): argv, env and paths are C strings. */
const NO_NUL_PATTERN = /^[^\0]*$/;
const ENV_NAME_PATTERN = /^[^=\0]+$/;

/** Readiness check kinds; a `ready` block holds exactly one of them. */
export const READY_KINDS = ['log', 'tcp', 'http', 'exec', 'exit', 'all', 'any'] as const;
/** Probe kinds a `liveness` block may hold (exactly one). */
export const LIVENESS_KINDS = ['tcp', 'http', 'exec'] as const;
export const DEPENDENCY_CONDITIONS = ['started', 'ready', 'completed', 'completed-successfully'] as const;
export const NODE_FAILURE_POLICIES = ['continue', 'stop-cluster'] as const;
export const RESTART_POLICIES = ['no', 'on-failure', 'always'] as const;
export const OUTPUT_STREAM_CHOICES = ['stdout', 'stderr', 'both'] as const;

/**
 * Runs an object-level check even when a child value failed, so every problem is reported at once
 * (zod skips checks after such failures by default). Not when the value is no object at all: that
 * already has its own issue.
 */
const WHEN_OBJECT = {
  when: (payload: z.core.ParsePayload): boolean =>
    typeof payload.value === 'object' && payload.value !== null && !Array.isArray(payload.value),
};

function nonEmptyString(phrase = 'a non-empty string') {
  return z.string({ error: phrase }).min(1).regex(NO_NUL_PATTERN, { error: 'a string without NUL characters' });
}

function integer(phrase: string, min: number, max?: number) {
  const schema = z.number({ error: phrase }).int().min(min);
  return max === undefined ? schema : schema.max(max);
}

/**
 * A duration (number of ms or `"1.5s"`), converted to milliseconds; at most `MAX_TIMER_MS`.
 * `positive` refuses 0 with its own wording (for values where 0 would switch something off).
 */
function duration(description: string, positive?: { readonly why: string }) {
  return z
    .union([z.number(), z.string()], { error: DURATION_EXPECTED })
    .transform((value, ctx) => {
      const result = getDurationResult(value);
      if (result.ok && (positive === undefined || result.ms > 0)) return result.ms;
      ctx.issues.push({
        code: 'custom',
        input: value,
        message: result.ok ? `a duration greater than 0 (${positive!.why})` : DURATION_EXPECTED,
        ...(result.ok || result.hint === undefined ? {} : { params: { hint: result.hint } }),
      });
      return z.NEVER;
    })
    .optional()
    .meta({ description: `${description} At most ${MAX_TIMER_MS} ms (about 24.8 days).` });
}

/** A size (number of bytes or `"64KiB"`), converted to bytes, from `minBytes` to `maxBytes`. */
function size(minBytes: number, maxBytes: number, maxReason: string, description: string) {
  return z
    .union([z.number(), z.string()], { error: SIZE_EXPECTED })
    .transform((value, ctx) => {
      const result = getSizeResult(value);
      if (result.ok && result.bytes >= minBytes && result.bytes <= maxBytes) return result.bytes;
      const bound =
        result.ok && result.bytes < minBytes
          ? `a size of at least ${minBytes} B`
          : `a size of at most ${formatBytes(maxBytes)} (${maxBytes} bytes, ${maxReason})`;
      ctx.issues.push({
        code: 'custom',
        input: value,
        message: result.ok || result.hint === 'too large' ? bound : SIZE_EXPECTED,
        ...(result.ok || result.hint === undefined || result.hint === 'too large' ? {} : { params: { hint: result.hint } }),
      });
      return z.NEVER;
    })
    .optional()
    .meta({ description });
}

/** An object section; `null` (an empty YAML key) reads as absent. */
function optionalSection<T extends z.ZodType>(schema: T, description: string) {
  return schema
    .nullish()
    .transform((value) => value ?? undefined)
    .optional()
    .meta({ description });
}

function joinWithAnd(words: readonly string[]): string {
  return words.length <= 1 ? words.join('') : `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`;
}

function joinWithOr(words: readonly string[]): string {
  return words.length <= 1 ? words.join('') : `${words.slice(0, -1).join(', ')} or ${words.at(-1)}`;
}

/**
 * A tcp port given as a template: exactly one `{{ports.x}}` or `{{nodes.b.ports.x}}`. Checked on
 * RE2 (a backtracking engine tries every `.ports.` in the text: quadratic); the source also goes
 * to schema.json for editors.
 */
const PORT_TEMPLATE_SOURCE = '^\\{\\{\\s*(ports\\.[^{}\\s]+|nodes\\.[^{}\\s]+\\.ports\\.[^{}\\s]+)\\s*\\}\\}$';
let portTemplatePattern: LinearPattern | undefined;
/** Whether `text` is one port template, on RE2, compiled on first use (re2js loads then). */
const isPortTemplate = (text: string): boolean => (portTemplatePattern ??= compileUserPattern(PORT_TEMPLATE_SOURCE)).test(text);
const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

/** A user regular expression: RE2 syntax (see pattern.ts), checked to compile. */
function userPattern() {
  return nonEmptyString('a regular expression (string)').superRefine((pattern, ctx) => {
    const problem = getPatternProblem(pattern);
    if (problem === undefined) return;
    ctx.addIssue({ code: 'custom', input: pattern, message: problem.expected, ...(problem.hint === undefined ? {} : { params: { hint: problem.hint } }) });
  });
}

const RE2_NOTE = `RE2 syntax (no backreferences or lookaround), at most ${MAX_PATTERN_LENGTH} characters`;

function regexSource(description: string) {
  return userPattern().meta({ description: `${description} ${RE2_NOTE}.` });
}

/** The input shape of a ready block (recursive through all/any), spelled out for z.lazy. */
interface ReadyInput {
  log?: unknown;
  tcp?: unknown;
  http?: unknown;
  exec?: unknown;
  exit?: unknown;
  all?: ReadyInput[];
  any?: ReadyInput[];
  timeout?: unknown;
  interval?: unknown;
  initialDelay?: unknown;
}

/** argv: the program must be named; later arguments may be empty (`redis-server --save ""`). */
const commandArgvSchema = z
  .array(z.string({ error: 'a string' }).regex(NO_NUL_PATTERN, { error: 'a string without NUL characters' }), { error: 'an array of strings' })
  .min(1, { error: 'a non-empty array of strings' })
  .superRefine((argv, ctx) => {
    if (argv[0] === '') ctx.addIssue({ code: 'custom', path: [0], input: '', message: 'a non-empty string' });
  });

const logReadySchema = z.object(
  {
    pattern: regexSource('Regular expression matched against each output line.'),
    stream: z
      .enum(OUTPUT_STREAM_CHOICES)
      .optional()
      .meta({ description: 'Which output to match: stdout, stderr or both. Default both.' }),
    count: integer('an integer of at least 1', 1)
      .optional()
      .meta({ description: 'Number of matching lines required. Default 1.' }),
  },
  { error: 'an object with pattern, stream, count' },
);

/** `log: '^ready'` is short for `log: { pattern: '^ready' }`. */
const logCheckSchema = z.union(
  [regexSource('Short for { pattern: <this> }: ready once an output line matches.').transform((pattern) => ({ pattern })), logReadySchema],
  { error: 'a regular expression (string) or an object with pattern, stream, count' },
);

const TCP_SHORTHAND_EXPECTED = 'a port name of this node, a port number, or a port template such as "{{ports.http}}"';

/** What a tcp port given as text may be, for editors (schema.json): a port template or a port name. */
const TCP_PORT_TEXT_SOURCE = `^(?:${PORT_TEMPLATE_SOURCE.slice(1, -1)}|${NAME_PATTERN.source.slice(1, -1)})$`;

/** A tcp port as text: a port template, or a port name of the node (short for `{{ports.<name>}}`). */
const tcpPortTextSchema = z.string().meta({ pattern: TCP_PORT_TEXT_SOURCE }).transform((text, ctx) => {
  if (isPortTemplate(text)) return text;
  if (NAME_PATTERN.test(text)) return `{{ports.${text}}}`;
  ctx.issues.push({ code: 'custom', input: text, message: TCP_SHORTHAND_EXPECTED });
  return z.NEVER;
});

const tcpReadySchema = z.object(
  {
    host: nonEmptyString().optional().meta({ description: 'Host to connect to. Default "127.0.0.1".' }),
    port: z
      .union([integer('an integer from 1 to 65535', 1, 65_535), tcpPortTextSchema], { error: TCP_SHORTHAND_EXPECTED })
      .meta({ description: 'TCP port that must accept a connection: a number, a port name of this node, or "{{ports.<name>}}".' }),
    owned: z
      .boolean({ error: 'true or false' })
      .optional()
      .meta({
        description:
          "Also require that the listening socket belongs to a process of this node's own tree (found through /proc), so a stray server holding the port is reported instead of a false ready. Default false.",
      }),
  },
  { error: 'an object with host, port, owned' },
);

/**
 * `tcp: http` (a port name of the node) is short for `tcp: { port: '{{ports.http}}' }`; a port
 * number or a port template works too.
 */
const tcpCheckSchema = z.union(
  [
    integer('an integer from 1 to 65535', 1, 65_535)
      .transform((port) => ({ port }))
      .meta({ description: 'Short for { port: <this> }.' }),
    tcpPortTextSchema
      .transform((port) => ({ port }))
      .meta({ description: 'A port name of this node (short for { port: "{{ports.<name>}}" }) or a port template.' }),
    tcpReadySchema,
  ],
  { error: `${TCP_SHORTHAND_EXPECTED}, or an object with host, port, owned` },
);

const httpReadySchema = z.object(
  {
    url: z
      .string({ error: 'an http:// or https:// URL' })
      .refine(isHttpUrl)
      .meta({ description: 'URL to request; templates such as {{ports.http}} allowed.' }),
    method: z
      .enum(HTTP_METHODS)
      .optional()
      .meta({ description: 'HTTP method. Default GET.' }),
    status: integer('an integer from 100 to 599', 100, 599)
      .optional()
      .meta({ description: 'Expected status. Default: any 2xx.' }),
    body: regexSource('Regular expression the response body must match. Default: body not checked.').optional(),
    headers: optionalSection(
      z.record(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { error: 'an HTTP header name' }), z.string({ error: 'a string' })),
      'Request headers.',
    ),
  },
  { error: 'an object with url, method, status, body, headers' },
);

const HTTP_SHORTHAND_EXPECTED = 'a path such as "/health" (requested on the node\'s first port) or an http:// or https:// URL';

/**
 * `http: /health` is short for a GET of that path on the node's first port (validated as
 * `{ path }`; the normalizer makes it `http://127.0.0.1:{{ports.<first port>}}/health`);
 * `http: 'http://…'` is short for `http: { url: 'http://…' }`.
 */
const httpCheckSchema = z.union(
  [
    z
      .string()
      .transform((text, ctx): { path: string } | { url: string } => {
        if (text.startsWith('/') && isHttpUrl(`http://127.0.0.1:1${text}`)) return { path: text };
        if (isHttpUrl(text)) return { url: text };
        ctx.issues.push({ code: 'custom', input: text, message: HTTP_SHORTHAND_EXPECTED });
        return z.NEVER;
      })
      .meta({ description: 'A path such as "/health", requested with GET on the node\'s first port (any 2xx), or a URL (short for { url: <this> }).' }),
    httpReadySchema,
  ],
  { error: `${HTTP_SHORTHAND_EXPECTED}, or an object with url, method, status, body, headers` },
);

const execReadySchema = z.object(
  {
    command: z
      .union([commandArgvSchema, nonEmptyString()], { error: 'an array of strings or a shell command string' })
      .meta({ description: 'argv (or a string run through /bin/sh -c) that must exit 0; runs in the node\'s cwd and env.' }),
  },
  { error: 'an object with command' },
);

const exitReadySchema = z.object(
  {
    code: z
      .union([integer('an integer from 0 to 255', 0, 255), z.array(integer('an integer from 0 to 255', 0, 255)).min(1)], {
        error: 'an exit code from 0 to 255 or a non-empty array of them',
      })
      .optional()
      .meta({ description: 'Exit code(s) that mean success. Default 0.' }),
  },
  { error: 'an object with code' },
);

function isHttpUrl(value: string): boolean {
  // Templates ({{ports.http}}) are filled in later; check the URL with a stand-in port.
  value = value.replace(/\{\{[^{}]*\}\}/g, '1');
  if (!URL.canParse(value)) return false;
  const { protocol } = new URL(value);
  return protocol === 'http:' || protocol === 'https:';
}

const checkTimingShape = {
  timeout: duration(
    `How long to wait for readiness (liveness: for one probe). Default ${formatDurationMs(DEFAULT_READY_TIMEOUT_MS)} (liveness ${formatDurationMs(DEFAULT_LIVENESS_TIMEOUT_MS)}).`,
  ),
  interval: duration(
    `Delay between attempts of tcp/http/exec (liveness: probe period). Default ${formatDurationMs(DEFAULT_READY_INTERVAL_MS)} (liveness ${formatDurationMs(DEFAULT_LIVENESS_INTERVAL_MS)}).`,
  ),
  initialDelay: duration('Delay before the first attempt. Default 0.'),
};

function exactlyOneKind(kinds: readonly string[]) {
  return (value: Record<string, unknown>, ctx: z.RefinementCtx) => {
    const present = kinds.filter((kind) => value[kind] !== undefined);
    if (present.length === 1) return;
    ctx.addIssue({
      code: 'custom',
      input: value,
      message: `exactly one of ${joinWithOr(kinds)}`,
      params: { received: present.length === 0 ? 'none of them' : joinWithAnd(present) },
    });
  };
}

/** A readiness block: one kind plus timing; `all`/`any` nest further blocks. */
const readySchema: z.ZodType<ValidatedReady, ReadyInput> = z.lazy(() =>
  z
    .object(
      {
        log: logCheckSchema.optional().meta({ description: 'Ready once an output line matches a pattern: a pattern, or { pattern, stream, count }.' }),
        tcp: tcpCheckSchema.optional().meta({ description: 'Ready once a TCP connection succeeds: a port name of this node, a port number, or { host, port }.' }),
        http: httpCheckSchema
          .optional()
          .meta({ description: 'Ready once an HTTP request answers with the expected status (and body): a path on the node\'s first port, a URL, or { url, method, status, body, headers }.' }),
        exec: execReadySchema.optional().meta({ description: 'Ready once a command exits 0.' }),
        exit: exitReadySchema.optional().meta({ description: 'For one-shot jobs: done once the process exits with an expected code.' }),
        all: z.array(readySchema).min(1).optional().meta({ description: 'Ready once every check passes.' }),
        any: z.array(readySchema).min(1).optional().meta({ description: 'Ready once one check passes.' }),
        ...checkTimingShape,
      },
      { error: `an object with one of ${READY_KINDS.join(', ')}` },
    )
    .superRefine(exactlyOneKind(READY_KINDS), WHEN_OBJECT),
) as never;

const livenessSchema = z
  .object(
    {
      tcp: tcpCheckSchema.optional().meta({ description: 'Probe: a TCP connection (a port name of this node, a port number, or { host, port }).' }),
      http: httpCheckSchema.optional().meta({ description: 'Probe: an HTTP request (a path on the node\'s first port, a URL, or { url, method, status, body, headers }).' }),
      exec: execReadySchema.optional().meta({ description: 'Probe: a command that exits 0.' }),
      ...checkTimingShape,
      failureThreshold: integer('an integer of at least 1', 1)
        .optional()
        .meta({ description: 'Failed probes in a row that restart the node. Default 3.' }),
    },
    { error: `an object with one of ${LIVENESS_KINDS.join(', ')}` },
  )
  .superRefine(exactlyOneKind(LIVENESS_KINDS), WHEN_OBJECT);

const backoffSchema = z.object(
  {
    initial: duration(`First restart delay. Default ${formatDurationMs(DEFAULT_BACKOFF_INITIAL_MS)}.`),
    max: duration(`Cap on any restart delay. Default ${formatDurationMs(DEFAULT_BACKOFF_MAX_MS)}.`),
    multiplier: z
      .number({ error: 'a number of at least 1' })
      .min(1)
      .optional()
      .meta({ description: `Growth factor per attempt (≥ 1). Default ${DEFAULT_BACKOFF_MULTIPLIER}.` }),
    jitter: z
      .number({ error: 'a number from 0 to 1' })
      .min(0)
      .max(1)
      .optional()
      .meta({ description: `Proportional jitter in [0, 1]. Default ${DEFAULT_BACKOFF_JITTER}.` }),
    jitterMode: z
      .enum(['proportional', 'full'], { error: 'proportional or full' })
      .optional()
      .meta({ description: 'proportional: the delay varies by ±jitter; full: drawn from [0, delay] (spreads replicas that crashed together). Default proportional.' }),
  },
  { error: 'an object with initial, max, multiplier, jitter, jitterMode' },
);

const restartSchema = z.object(
  {
    policy: z
      .enum(RESTART_POLICIES)
      .optional()
      .meta({ description: 'When to restart: no, on-failure or always. Default on-failure.' }),
    backoff: optionalSection(backoffSchema, 'Exponential backoff between restarts.'),
    maxRestarts: integer('an integer of at least 0', 0)
      .optional()
      .meta({ description: 'More restarts than this inside `window` → the node fails. Default 5.' }),
    window: duration('Window for maxRestarts (> 0). Default 60s.', { why: 'the window in which maxRestarts is counted' }),
    successExitCodes: z
      .array(integer('an integer from 0 to 255', 0, 255), { error: 'an array of exit codes' })
      .min(1)
      .optional()
      .meta({ description: 'Exit codes that count as success (on-failure does not restart them). Default [0].' }),
    stableAfter: duration('Uptime after which a run counts as stable and the backoff starts over. Default backoff.max.'),
  },
  { error: 'an object with policy, backoff, maxRestarts, window, successExitCodes, stableAfter' },
);

const SIGNAL_EXPECTED = 'a signal name from os.constants.signals such as SIGTERM, SIGINT or SIGKILL';

const stopSchema = z.object(
  {
    signal: z
      .string({ error: SIGNAL_EXPECTED })
      .transform((value, ctx) => {
        const name = parseSignalName(value);
        if (name !== undefined) return name;
        const suggestion = getClosestSignalName(value);
        ctx.issues.push({
          code: 'custom',
          input: value,
          message: SIGNAL_EXPECTED,
          ...(suggestion === undefined ? {} : { params: { hint: `did you mean "${suggestion}"?` } }),
        });
        return z.NEVER;
      })
      .optional()
      .meta({ description: `First signal sent to the process group; "TERM" means "SIGTERM". Default ${DEFAULT_STOP_SIGNAL}.` }),
    timeout: duration(`Grace before SIGKILL. Default ${formatDurationMs(DEFAULT_STOP_TIMEOUT_MS)}.`),
    command: z
      .union([commandArgvSchema, nonEmptyString()], { error: 'an array of strings or a shell command string' })
      .optional()
      .meta({ description: "Run first on stop (argv, or a string run through /bin/sh -c), in the node's cwd and env, templates allowed; bounded by timeout. Then the node has the rest of timeout to exit, then signal and SIGKILL." }),
  },
  { error: 'an object with signal, timeout, command' },
);

const outputFileSchema = z.object(
  {
    path: nonEmptyString().meta({
      description:
        "File every output line is appended to (both streams, `HH:MM:SS.mmm stream text`), relative to the config file's directory; may hold {{node}} and {{replica}}. Without {{replica}}, replica N >= 1 writes name-N.ext.",
    }),
    maxBytes: size(
      1024,
      Number.MAX_SAFE_INTEGER,
      'the largest safe integer',
      `Size at which the file is rotated (app.log -> app.log.1 ...): bytes or "10MiB". Default ${formatBytes(DEFAULT_OUTPUT_FILE_MAX_BYTES).replace(' ', '')}.`,
    ),
    keep: integer(`an integer from 0 to ${MAX_OUTPUT_FILE_KEEP}`, 0, MAX_OUTPUT_FILE_KEEP)
      .optional()
      .meta({ description: `Rotated files kept besides the current one. Default ${DEFAULT_OUTPUT_FILE_KEEP}.` }),
  },
  { error: 'an object with path and optional maxBytes, keep' },
);

const outputSchema = z.object(
  {
    file: optionalSection(outputFileSchema, 'Also append every output line to a file, rotated by size.'),
    maxLines: integer(`an integer from 1 to ${MAX_OUTPUT_LINES}`, 1, MAX_OUTPUT_LINES)
      .optional()
      .meta({ description: `Ring buffer bound in lines (both streams), at most ${MAX_OUTPUT_LINES}. Default ${DEFAULT_OUTPUT_MAX_LINES}.` }),
    maxBytes: size(
      1,
      MAX_OUTPUT_BYTES,
      'the largest Buffer',
      `Ring buffer bound in bytes (both streams): bytes or "64KiB", "1MiB"; at most ${formatBytes(MAX_OUTPUT_BYTES)}. Default ${formatBytes(DEFAULT_OUTPUT_MAX_BYTES).replace(' ', '')}.`,
    ),
  },
  { error: 'an object with maxLines, maxBytes, file' },
);

/** One limit: a count, a size string ("2GiB", for byte limits), or "unlimited". */
const limitValueSchema = z
  .union([z.literal('unlimited'), z.number(), z.string()], { error: 'a non-negative integer, a size such as "2GiB", or "unlimited"' })
  .transform((value, ctx) => {
    if (value === 'unlimited') return value;
    const result = getSizeResult(value);
    if (result.ok && Number.isSafeInteger(result.bytes)) return result.bytes;
    ctx.issues.push({ code: 'custom', input: value, message: 'a non-negative integer, a size such as "2GiB", or "unlimited"' });
    return z.NEVER;
  });

const limitSchema = z.union(
  [limitValueSchema, z.object({ soft: limitValueSchema, hard: limitValueSchema }, { error: 'an object with soft and hard' }).strict()],
  { error: 'a limit (number, size or "unlimited") or { soft, hard }' },
);

/** setrlimit(2) resources by their prlimit(1) names. */
export const RESOURCE_LIMIT_KEYS = RESOURCE_LIMIT_NAMES;

const limitsSchema = z
  .object(Object.fromEntries(RESOURCE_LIMIT_KEYS.map((key) => [key, limitSchema.optional()])) as Record<(typeof RESOURCE_LIMIT_KEYS)[number], z.ZodOptional<typeof limitSchema>>, {
    error: `an object with ${RESOURCE_LIMIT_KEYS.join(', ')}`,
  })
  .meta({ description: 'Resource limits set with setrlimit(2) in the child before exec (prlimit names): a number, a size string, "unlimited", or { soft, hard }.' });

const ptySchema = z.union(
  [
    z.boolean(),
    z.object(
      {
        columns: integer('an integer from 1 to 65535', 1, 65535).optional().meta({ description: 'Terminal width. Default 80.' }),
        rows: integer('an integer from 1 to 65535', 1, 65535).optional().meta({ description: 'Terminal height. Default 24.' }),
      },
      { error: 'an object with columns, rows' },
    ),
  ],
  { error: 'true, false, or { columns, rows }' },
);

const envSchema = z.record(
  z.string().regex(ENV_NAME_PATTERN, { error: 'an environment variable name (non-empty, without "=")' }),
  z.union([z.string(), z.number(), z.boolean()], { error: 'a string, number or boolean' }).transform((value, ctx) => {
    const text = String(value);
    if (NO_NUL_PATTERN.test(text)) return text;
    ctx.issues.push({ code: 'custom', input: value, message: 'a value without NUL characters' });
    return z.NEVER;
  }),
  { error: (issue) => (issue.code === 'invalid_type' ? 'an object of environment variables' : undefined) },
);

/** `envFile` and its alias `env_file`: one path or a list. */
function envFileSchema() {
  return z.union([nonEmptyString(), z.array(nonEmptyString()).min(1)], { error: 'a path or an array of paths' }).optional();
}

/** User regular expressions, each checked to compile. */
const regexListSchema = z.array(userPattern(), { error: 'an array of regular expressions (strings)' });

const nodeTelemetrySchema = z.object(
  {
    logs: z
      .boolean({ error: 'a boolean (true or false)' })
      .optional()
      .meta({ description: 'Export each output line as an OpenTelemetry log record. Default false.' }),
    recordArgs: z
      .boolean({ error: 'a boolean (true or false)' })
      .optional()
      .meta({ description: 'Record the command arguments on spans (process.command_args), redacted. Default false.' }),
    redact: regexListSchema
      .optional()
      .meta({
        description: `Regular expressions in ${RE2_NOTE}; matches in recorded arguments become [REDACTED], except the text of groups named before and after (on top of built-in password/token/URL-credential patterns). Default [].`,
      }),
  },
  { error: 'an object with logs, recordArgs, redact' },
);

const clusterTelemetrySchema = z.object(
  {
    serviceName: nonEmptyString()
      .optional()
      .meta({ description: 'service.name of the telemetry resource; OTEL_SERVICE_NAME wins. Default "drover".' }),
    resourceAttributes: z
      .record(nonEmptyString(), z.union([z.string(), z.number(), z.boolean()], { error: 'a string, number or boolean' }).transform(String), {
        error: (issue) => (issue.code === 'invalid_type' ? 'an object of resource attributes' : undefined),
      })
      .optional()
      .meta({ description: 'Extra resource attributes; OTEL_RESOURCE_ATTRIBUTES wins per key.' }),
    prometheus: optionalSection(
      z.object(
        {
          port: integer('an integer from 1 to 65535', 1, 65_535).meta({
            description: 'Port of the Prometheus exporter on 127.0.0.1; OTEL_EXPORTER_PROMETHEUS_PORT wins.',
          }),
        },
        { error: 'an object with port' },
      ),
      'Serve Prometheus metrics on 127.0.0.1 (in addition to any OTEL_METRICS_EXPORTER; "none" there turns it off).',
    ),
  },
  { error: 'an object with serviceName, resourceAttributes, prometheus' },
);

const watchSchema = z.object(
  {
    paths: z
      .union([nonEmptyString(), z.array(nonEmptyString(), { error: 'an array of paths' }).min(1)], { error: 'a path or an array of paths' })
      .meta({ description: "Files, directories or globs watched, relative to the config file's directory (as docker compose's develop.watch.path)." }),
    ignore: z
      .array(nonEmptyString(), { error: 'an array of globs' })
      .optional()
      .meta({ description: 'Globs never watched (relative to the config file\'s directory, or anywhere when they start with **). Default **/node_modules/**, **/.git/**, **/dist/**; given, they are added to the default.' }),
    debounce: duration(`Quiet time after the last change before the restart. Default ${formatDurationMs(DEFAULT_WATCH_DEBOUNCE_MS)}.`),
    restartDependents: z
      .boolean({ error: 'true or false' })
      .optional()
      .meta({ description: 'Also restart the nodes depending on this one, after it, in dependency order. Default false.' }),
  },
  { error: 'an object with paths and optional ignore, debounce, restartDependents' },
);

/** One node; its shape's fields are also validated one by one for the cross-field rules of an invalid config. */
export const nodeSchema = z
  .object(
    {
      command: z
        .union([commandArgvSchema, nonEmptyString()], { error: 'an array of strings' })
        .meta({ description: 'argv, run without a shell; a string when shell: true.' }),
      shell: z
        .boolean({ error: 'a boolean (true or false)' })
        .optional()
        .meta({ description: 'Run the string command through /bin/sh -c. Default false.' }),
      cwd: nonEmptyString()
        .optional()
        .meta({ description: "Working directory, relative to the config file's directory. Default that directory." }),
      env: optionalSection(envSchema, "Extra environment on top of the manager's; numbers and booleans become strings (in YAML, as written: 0123 stays \"0123\")."),
      envFile: envFileSchema().meta({ description: 'dotenv file(s), relative to the config file, read at load; `env` wins over them.' }),
      env_file: envFileSchema().meta({ description: "Alias of envFile (docker compose's name); give one of them." }),
      ports: z
        .array(z.string().regex(NAME_PATTERN, { error: `a port name ${'of letters, digits, "_", "." and "-"'}` }), { error: 'an array of port names' })
        .optional()
        .meta({ description: 'Names of free ports allocated per replica: {{ports.<name>}}, DROVER_PORT_<NAME>. Default [].' }),
      replicas: integer(`an integer from 0 to ${MAX_REPLICAS}`, 0, MAX_REPLICAS)
        .optional()
        .meta({ description: 'Number of replicas, each with its own ports. Default 1.' }),
      dependsOn: z
        .union(
          [
            z.record(z.string(), z.enum(DEPENDENCY_CONDITIONS)),
            z.array(z.string({ error: 'a node name' })),
          ],
          { error: `an object mapping node names to ${DEPENDENCY_CONDITIONS.join(' | ')}, or an array of node names` },
        )
        .optional()
        .meta({ description: 'Nodes that must be started/ready/completed/completed-successfully first; a list means ready.' }),
      ready: optionalSection(
        readySchema,
        'Readiness check: exactly one of log, tcp, http, exec, exit, all, any. Default none (ready once it has stayed up minUptime).',
      ),
      minUptime: duration(
        `Without a ready check: how long the node must stay up before it counts as ready (until then it is running; a node that crashes sooner never is). Not allowed beside ready. Default ${formatDurationMs(DEFAULT_MIN_UPTIME_MS)}.`,
      ),
      liveness: optionalSection(livenessSchema, 'Health probe after ready (tcp, http or exec); failureThreshold failures in a row restart the node.'),
      restart: optionalSection(restartSchema, 'Restart policy and backoff.'),
      stop: optionalSection(stopSchema, 'How to stop the node.'),
      output: optionalSection(outputSchema, 'Output ring buffer bounds.'),
      pty: ptySchema.optional().meta({ description: 'Run the command on a pseudo-terminal (its output is one stream, stdout). Default false.' }),
      limits: optionalSection(limitsSchema, 'Resource limits (setrlimit) for the command.'),
      clock: z
        .boolean({ error: 'true or false' })
        .optional()
        .meta({ description: 'Allow clock faults (node.clock.offset/rate, `drover fault clock`): every process of the node runs with libfaketime preloaded (LD_PRELOAD). Default false.' }),
      telemetry: optionalSection(nodeTelemetrySchema, 'Telemetry of this node: output as log records, recorded arguments.'),
      watch: optionalSection(watchSchema, 'Restart the node (at once, no backoff) when watched files change.'),
      // Composition keys: applied (and removed) before validation, by config/compose.ts.
      extends: z
        .union([z.string(), z.object({ node: z.string(), file: z.string().optional() })])
        .optional()
        .meta({ description: 'Inherit another node\'s keys (this node\'s own win; maps merge, lists are replaced): its name, or { node, file } for a node of another file (relative to this one). Its profiles are not inherited.' }),
      profiles: z
        .array(z.string().regex(NAME_PATTERN))
        .optional()
        .meta({ description: 'The node is part of the cluster only when one of these profiles is enabled (--profile, DROVER_PROFILES). Default: always.' }),
    },
    { error: 'an object with command and optional shell, cwd, env, envFile, ports, replicas, dependsOn, ready, minUptime, liveness, restart, stop, output, pty, limits, clock, telemetry, watch, extends, profiles' },
  )
  .superRefine((node, ctx) => {
    if (node.envFile !== undefined && node.env_file !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['env_file'],
        input: node.env_file,
        message: 'envFile or its alias env_file, not both',
        params: { received: 'both', hint: 'list every file under one of them' },
      });
    }
  }, WHEN_OBJECT)
  .superRefine((node, ctx) => {
    const { command, shell } = node;
    if (typeof command === 'string' && command !== '' && shell !== true) {
      ctx.addIssue({
        code: 'custom',
        path: ['command'],
        input: command,
        message: 'an array of strings',
        params: { hint: 'use an array such as [node, server.js], or set shell: true to run a string through /bin/sh -c' },
      });
    } else if (Array.isArray(command) && shell === true) {
      ctx.addIssue({
        code: 'custom',
        path: ['command'],
        input: command,
        message: 'a string (shell: true runs it through /bin/sh -c)',
        params: { hint: 'or remove shell: true to run the array as argv' },
      });
    }
  }, WHEN_OBJECT);

const NAME_RULE = 'of letters, digits, "_", "." and "-" that starts with a letter or digit';

/** drover.yaml, v1. */
export const configSchema = z
  .object(
    {
      $schema: z.string().optional().meta({ description: 'JSON Schema reference for editors; ignored by drover.' }),
      include: z
        .union([z.string(), z.array(z.string())])
        .optional()
        .meta({ description: "Other config files whose nodes join this cluster (paths relative to this file; so are their nodes' cwd and envFile). Only their nodes are taken." }),
      name: z
        .string({ error: `a cluster name ${NAME_RULE}` })
        .regex(NAME_PATTERN)
        .meta({ description: 'Cluster name (service.namespace in telemetry).' }),
      nodes: z
        .record(z.string().regex(NAME_PATTERN, { error: `a node name ${NAME_RULE}` }), nodeSchema, {
          error: (issue) => (issue.code === 'invalid_type' ? 'an object mapping node names to nodes' : undefined),
        })
        .refine((nodes) => Object.keys(nodes).length > 0, { error: 'at least one node' })
        .meta({ description: 'Nodes by name, in start order.' }),
      onNodeFailure: z
        .enum(NODE_FAILURE_POLICIES)
        .optional()
        .meta({ description: 'When a node fails after the start: continue (keep the others) or stop-cluster. Default continue.' }),
      telemetry: optionalSection(clusterTelemetrySchema, 'OpenTelemetry settings on top of the standard OTEL_* variables.'),
      output: optionalSection(
        z.object({ file: optionalSection(outputFileSchema, 'Output file of every node without its own output.file; use {{node}} in the path.') }, { error: 'an object with file' }),
        'Cluster-wide output defaults.',
      ),
      network: optionalSection(
        z.object(
          {
            faults: z
              .boolean({ error: 'true or false' })
              .optional()
              .meta({ description: 'Route every {{nodes.<node>.ports.<port>}} through drover\'s TCP relay so links can be partitioned, slowed or reset. Default false.' }),
          },
          { error: 'an object with faults' },
        ),
        'Network settings: link faults through drover\'s TCP relay.',
      ),
    },
    { error: 'an object with name and nodes' },
  )
  .meta({ title: 'drover.yaml', description: 'drover cluster config (v1).' });

/** drover.yaml as written: the type of a config object passed to `normalizeConfig()`. */
export type ConfigInput = z.input<typeof configSchema>;

/**
 * A config after validation: durations in ms, sizes in bytes, signals canonical, env values as
 * strings, empty sections as undefined. No defaults applied yet.
 */
export type ValidatedConfig = z.output<typeof configSchema>;
export type ValidatedNode = ValidatedConfig['nodes'][string];
/** A ready block after validation (the recursive schema's output, spelled out). */
export interface ValidatedReady {
  log?: { pattern: string; stream?: 'stdout' | 'stderr' | 'both'; count?: number };
  tcp?: { host?: string; port: number | string; owned?: boolean };
  /** `{ path }`: the `http: /health` shorthand, made a URL on the node's first port by the normalizer. */
  http?: { url: string; method?: string; status?: number; body?: string; headers?: Record<string, string> } | { path: string };
  exec?: { command: string[] | string };
  exit?: { code?: number | number[] };
  all?: ValidatedReady[];
  any?: ValidatedReady[];
  timeout?: number;
  interval?: number;
  initialDelay?: number;
}
export type ValidatedLiveness = NonNullable<ValidatedNode['liveness']>;
export type ValidatedRestart = NonNullable<ValidatedNode['restart']>;
export type ValidatedBackoff = NonNullable<ValidatedRestart['backoff']>;
export type ValidatedStop = NonNullable<ValidatedNode['stop']>;
export type ValidatedOutput = NonNullable<ValidatedNode['output']>;
export type ValidatedOutputFile = NonNullable<ValidatedOutput['file']>;
export type ValidatedWatch = NonNullable<ValidatedNode['watch']>;
export type ValidatedNodeTelemetry = NonNullable<ValidatedNode['telemetry']>;
export type ValidatedClusterTelemetry = NonNullable<ValidatedConfig['telemetry']>;
export type ValidatedClusterNetwork = NonNullable<ValidatedConfig['network']>;

/**
 * The JSON Schema of drover.yaml's input shape (draft 2020-12) for editors, committed as
 * `config/schema.json`. Unknown keys are marked `additionalProperties: false` so editors flag
 * them the way `strict` mode (the default in code) does; shorthands appear as `anyOf` their forms.
 */
export function createConfigJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(configSchema, {
    io: 'input',
    target: 'draft-2020-12',
    unrepresentable: 'any',
    override: ({ zodSchema, jsonSchema }) => {
      if (zodSchema instanceof z.ZodObject) jsonSchema.additionalProperties = false;
      // envFile or its alias env_file, not both (the node's refinement, which JSON Schema cannot see).
      if (zodSchema === nodeSchema) jsonSchema.not = { required: ['envFile', 'env_file'] };
    },
  }) as Record<string, unknown>;
}
