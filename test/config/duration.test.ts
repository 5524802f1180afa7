import { describe, expect, test } from 'vitest';
import { parseDurationMs } from '../../config/index.js';
import { isDroverError } from '../../contract/errors.js';

describe('parseDurationMs', () => {
  test.each([
    [0, 0],
    [250, 250],
    [1.5, 1.5],
    ['0ms', 0],
    ['250ms', 250],
    ['1.5s', 1500],
    ['1.1s', 1100],
    ['.5s', 500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    [' 10 s ', 10_000],
  ])('%j → %d ms', (input, expected) => {
    expect(parseDurationMs(input)).toBe(expected);
  });

  test.each([-1, Number.NaN, Number.POSITIVE_INFINITY, '', '5', '-1s', '1S', '5d', '1e3ms', '1m30s', true, null, undefined, {}, []])(
    'rejects %j',
    (input) => {
      expect(() => parseDurationMs(input)).toThrow(/^Invalid duration: expected a duration/);
    },
  );

  test('the error names the accepted units, what was received with its type, and the unit at fault', () => {
    let caught: unknown;
    try {
      parseDurationMs('5d');
    } catch (error) {
      caught = error;
    }
    expect(isDroverError(caught, 'ERR_INVALID_OPTION')).toBe(true);
    expect((caught as Error).message).toBe(
      'Invalid duration: expected a duration: milliseconds (a number ≥ 0) or a string like "250ms", "1.5s", "2m", "1h", ' +
        'got "5d" (string); unit "d" is not one of ms, s, m, h',
    );
  });

  test('a negative number is reported with its type', () => {
    expect(() => parseDurationMs(-5)).toThrow(/got -5 \(number\)$/);
  });
});
