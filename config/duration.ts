/**
 * Durations in config files: a non-negative number of milliseconds, or a string with a unit.
 */
import { DroverError } from '../contract/errors.js';
import { MAX_TIMER_MS } from '../contract/long-timer.js';
import { describeValue } from './issues.js';

/** Milliseconds per accepted unit, in the order the units are listed in messages. */
const MS_PER_UNIT = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;

const DURATION_PATTERN = /^(\d+(?:\.\d+)?|\.\d+)\s*([a-zA-Z]*)$/;

/**
 * The longest duration drover accepts, in ms: 2^31 - 1, the largest delay `setTimeout` honours
 * (a longer one fires after 1 ms). Every duration field and flag is bounded by it, so no timer
 * drover arms from user input can overflow. About 24.8 days.
 */
export { MAX_TIMER_MS };

/** The bound as users read it in messages. */
export const MAX_TIMER_TEXT = `at most ${MAX_TIMER_MS} ms (24d 20h 31m 23.647s, the longest a timer can wait)`;

/** What a duration looks like, as the "expected …" half of a config issue. */
export const DURATION_EXPECTED = 'a duration: milliseconds (a number ≥ 0) or a string like "250ms", "1.5s", "2m", "1h"';

/** The outcome of reading a duration: milliseconds, or a hint saying what was wrong. */
export type DurationResult = { readonly ok: true; readonly ms: number } | { readonly ok: false; readonly hint?: string };

/**
 * Reads a duration without throwing (the zod transform in `schema.ts` turns a failure into an
 * issue). Numbers are milliseconds as given; strings in `s`, `m` or `h` are rounded to whole
 * milliseconds. Anything above {@link MAX_TIMER_MS} fails with a hint naming the bound.
 */
export function getDurationResult(value: unknown): DurationResult {
  if (typeof value === 'number') {
    if (!(value >= 0)) return { ok: false };
    return value <= MAX_TIMER_MS ? { ok: true, ms: value } : { ok: false, hint: MAX_TIMER_TEXT };
  }
  if (typeof value !== 'string') return { ok: false };
  const match = DURATION_PATTERN.exec(value.trim());
  if (match === null) return { ok: false };
  const [, amount = '', unit = ''] = match;
  if (unit === '') return { ok: false, hint: 'a string needs a unit: ms, s, m or h' };
  if (!Object.hasOwn(MS_PER_UNIT, unit)) {
    return { ok: false, hint: `unit "${unit}" is not one of ms, s, m, h` };
  }
  const factor = MS_PER_UNIT[unit as keyof typeof MS_PER_UNIT];
  const ms = factor === 1 ? Number(amount) : Math.round(Number(amount) * factor);
  return ms <= MAX_TIMER_MS ? { ok: true, ms } : { ok: false, hint: MAX_TIMER_TEXT };
}

/**
 * Parses a duration into milliseconds.
 *
 * Accepts a non-negative number of milliseconds (returned as given) or a string made of a
 * non-negative decimal and one unit: `ms`, `s`, `m` or `h` (`"250ms"`, `"1.5s"`, `"2m"`, `"1h"`).
 * Strings in `s`, `m` and `h` are rounded to whole milliseconds. Units are case-sensitive. The
 * result is at most {@link MAX_TIMER_MS} (2147483647 ms, about 24.8 days): the longest delay a
 * timer can wait.
 *
 * @example parseDurationMs('1.5s') // 1500
 * @throws {DroverError} ERR_INVALID_OPTION when `value` is not a duration or is above
 *   `MAX_TIMER_MS`; the message names the accepted forms, what was received and the bound.
 */
export function parseDurationMs(value: unknown): number {
  const result = getDurationResult(value);
  if (result.ok) return result.ms;
  const hint = result.hint === undefined ? '' : `; ${result.hint}`;
  throw new DroverError(
    'ERR_INVALID_OPTION',
    `Invalid duration: expected ${DURATION_EXPECTED}, got ${describeValue(value)}${hint}`,
  );
}

/**
 * Parses a duration given as a named option (a CLI flag such as `--timeout`, an API option such as
 * `timeoutMs`): the same forms and bound as {@link parseDurationMs}, and a string of digits
 * (`"5000"`, as flags arrive) is milliseconds.
 *
 * @example parseDurationOption('--timeout', '30s') // 30000
 * @throws {DroverError} ERR_INVALID_OPTION naming the option, what was received and why (an
 *   unknown unit, above `MAX_TIMER_MS`).
 */
export function parseDurationOption(name: string, value: unknown): number {
  const result = getDurationResult(typeof value === 'string' && /^\d+(\.\d+)?$/.test(value) ? Number(value) : value);
  if (result.ok) return result.ms;
  const hint = result.hint === undefined ? '' : `; ${result.hint}`;
  throw new DroverError(
    'ERR_INVALID_OPTION',
    `Expected \`${name}\` to be a duration such as 30s, 1.5m, 250ms or a number of milliseconds, got ${describeValue(value)}${hint}`,
  );
}

/** A default in ms as the config writes it, for descriptions: `250ms`, `10s`, `2m`. */
export function formatDurationMs(ms: number): string {
  if (ms !== 0 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms !== 0 && ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
