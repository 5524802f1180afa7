/**
 * Sizes in config files: a non-negative integer number of bytes, or a string with a binary unit.
 */
import { constants as bufferConstants } from 'node:buffer';
import { DroverError } from '../contract/errors.js';
import { describeValue } from './issues.js';

/** Bytes per accepted unit. Only binary units: `KB`/`MB` are refused rather than guessed. */
const BYTES_PER_UNIT = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 } as const;

const SIZE_PATTERN = /^(\d+(?:\.\d+)?|\.\d+)\s*([a-zA-Z]*)$/;

/**
 * The largest output ring buffer, in bytes: `buffer.constants.MAX_LENGTH` (4 GiB on 64-bit Node
 * 20), the largest Buffer Node.js can allocate; a larger ring would fail with ERR_OUT_OF_RANGE
 * once output fills it.
 */
export const MAX_OUTPUT_BYTES: number = bufferConstants.MAX_LENGTH;

/**
 * The largest output ring buffer, in lines. Each line held costs a slot in a few arrays (about
 * 50 bytes) besides its text, so the bound keeps the slot arrays well inside what a JS array can hold.
 */
export const MAX_OUTPUT_LINES = 10_000_000;

/** `4294967296` → `4 GiB`: the largest binary unit that divides `bytes`, for messages. */
export function formatBytes(bytes: number): string {
  for (const unit of ['GiB', 'MiB', 'KiB'] as const) {
    const factor = BYTES_PER_UNIT[unit];
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor} ${unit}`;
  }
  return `${bytes} B`;
}

/** What a size looks like, as the "expected …" half of a config issue. */
export const SIZE_EXPECTED = 'a size: bytes (an integer ≥ 0) or a string with unit B, KiB, MiB or GiB like "64KiB"';

/** The outcome of reading a size: bytes, or a hint saying what was wrong. */
export type SizeResult = { readonly ok: true; readonly bytes: number } | { readonly ok: false; readonly hint?: string };

/**
 * Reads a size without throwing (the zod transform in `schema.ts` turns a failure into an issue).
 * Strings are rounded to whole bytes.
 */
export function getSizeResult(value: unknown): SizeResult {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && value >= 0 ? { ok: true, bytes: value } : { ok: false };
  }
  if (typeof value !== 'string') return { ok: false };
  const match = SIZE_PATTERN.exec(value.trim());
  if (match === null) return { ok: false };
  const [, amount = '', unit = ''] = match;
  if (unit === '') return { ok: false, hint: 'a string needs a unit: B, KiB, MiB or GiB' };
  if (!Object.hasOwn(BYTES_PER_UNIT, unit)) {
    return { ok: false, hint: `unit "${unit}" is not one of B, KiB, MiB, GiB (1 KiB = 1024 bytes)` };
  }
  const bytes = Math.round(Number(amount) * BYTES_PER_UNIT[unit as keyof typeof BYTES_PER_UNIT]);
  return Number.isSafeInteger(bytes) ? { ok: true, bytes } : { ok: false, hint: 'too large' };
}

/**
 * Parses a size into bytes.
 *
 * Accepts a non-negative safe integer (bytes) or a string made of a non-negative decimal and one
 * binary unit: `B`, `KiB`, `MiB` or `GiB` (`"512B"`, `"64KiB"`, `"1.5MiB"`), rounded to whole
 * bytes. Units are case-sensitive; decimal units such as `KB` or `MB` are refused.
 *
 * @example parseSizeBytes('1MiB') // 1048576
 * @throws {DroverError} ERR_INVALID_OPTION when `value` is not a size; the message names the
 *   accepted units and what was received.
 */
export function parseSizeBytes(value: unknown): number {
  const result = getSizeResult(value);
  if (result.ok) return result.bytes;
  const hint = result.hint === undefined ? '' : `; ${result.hint}`;
  throw new DroverError('ERR_INVALID_OPTION', `Invalid size: expected ${SIZE_EXPECTED}, got ${describeValue(value)}${hint}`);
}
