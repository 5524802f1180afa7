/**
 * Durations in config files: a non-negative number of milliseconds, or a string with a unit.
 */
import { DroverError } from '../manager/errors.js';
import { describeValue } from './issues.js';

/** Milliseconds per accepted unit, in the order the units are listed in messages. */
const MS_PER_UNIT = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;

const DURATION_PATTERN = /^(\d+(?:\.\d+)?|\.\d+)\s*([a-zA-Z]*)$/;

/** What a duration looks like, as the "expected …" half of a config issue. */
export const DURATION_EXPECTED = 'a duration: milliseconds (a number ≥ 0) or a string like "250ms", "1.5s", "2m", "1h"';

/** The outcome of reading a duration: milliseconds, or a hint saying what was wrong. */
export type DurationResult = { readonly ok: true; readonly ms: number } | { readonly ok: false; readonly hint?: string };

/**
 * Reads a duration without throwing (the zod transform in `schema.ts` turns a failure into an
 * issue). Numbers are milliseconds as given; strings in `s`, `m` or `h` are rounded to whole
 * milliseconds.
 */
export function getDurationResult(value: unknown): DurationResult {
  if (typeof value === 'number') {
    return Number.isFinite(value) && value >= 0 ? { ok: true, ms: value } : { ok: false };
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
  return Number.isSafeInteger(Math.ceil(ms)) ? { ok: true, ms } : { ok: false, hint: 'too large' };
}

/**
 * Parses a duration into milliseconds.
 *
 * Accepts a non-negative finite number (milliseconds, returned as given) or a string made of a
 * non-negative decimal and one unit: `ms`, `s`, `m` or `h` (`"250ms"`, `"1.5s"`, `"2m"`, `"1h"`).
 * Strings in `s`, `m` and `h` are rounded to whole milliseconds. Units are case-sensitive.
 *
 * @example parseDurationMs('1.5s') // 1500
 * @throws {DroverError} ERR_INVALID_OPTION when `value` is not a duration; the message names the
 *   accepted forms and what was received.
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
