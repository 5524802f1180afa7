import { describe, expect, test } from 'vitest';
import { parseSizeBytes } from '../../config/index.js';
import { isDroverError } from '../../contract/errors.js';

describe('parseSizeBytes', () => {
  test.each([
    [0, 0],
    [1, 1],
    [4096, 4096],
    ['512B', 512],
    ['64KiB', 65_536],
    ['1MiB', 1_048_576],
    ['1.5MiB', 1_572_864],
    ['1GiB', 1_073_741_824],
    [' 2 KiB ', 2048],
  ])('%j → %d bytes', (input, expected) => {
    expect(parseSizeBytes(input)).toBe(expected);
  });

  test.each([-1, 1.5, Number.NaN, '', '1024', '-1KiB', '1kib', 'KiB', 1e300, '99999999999GiB', false, null, {}])(
    'rejects %j',
    (input) => {
      expect(() => parseSizeBytes(input)).toThrow(/^Invalid size: expected a size/);
    },
  );

  test.each(['64KB', '1MB', '1GB', '1TiB', '1b'])('a wrong unit (%j) is refused and the accepted units are named', (input) => {
    let caught: unknown;
    try {
      parseSizeBytes(input);
    } catch (error) {
      caught = error;
    }
    expect(isDroverError(caught, 'ERR_INVALID_OPTION')).toBe(true);
    const { message } = caught as Error;
    expect(message).toContain(`got "${input}" (string)`);
    expect(message).toContain('B, KiB, MiB, GiB');
    expect(message).toContain(`unit "${input.replace(/^\d+/, '')}" is not one of`);
  });
});
