/**
 * The published CLI is a bundle (scripts/bundle.mjs) of tsc's output with yargs inlined, and its
 * help layout's string-width resolved to the one yargs itself uses (8.x, with an ASCII fast path)
 * instead of cliui's 7.x. Its help must be tsc's CLI's, byte for byte, and only one string-width
 * may be in it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { CLI, runCli, TSC_CLI } from '../helpers/cli.js';

describe('the bundled CLI', () => {
  test.each([['--help', ''], ['up', '--help'], ['run', '--help'], ['logs', '--help'], ['fault', '--help']])('drover %s %s prints what tsc\'s CLI prints', async (...words: string[]) => {
    const args = words.filter((word) => word !== '');
    const [bundled, plain] = await Promise.all([runCli(args, { COLUMNS: '100' }), runCli(args, { COLUMNS: '100' }, { cli: TSC_CLI })]);
    expect(bundled.code).toBe(0);
    expect(bundled.stdout.length).toBeGreaterThan(200);
    expect(bundled.stdout).toBe(plain.stdout);
  });

  test('holds one string-width: the one yargs uses (one Intl.Segmenter built at import)', () => {
    const dir = path.dirname(CLI);
    const builds = readdirSync(dir)
      .filter((file) => file.endsWith('.js'))
      .map((file) => readFileSync(path.join(dir, file), 'utf8').split('new Intl.Segmenter(').length - 1)
      .reduce((a, b) => a + b, 0);
    expect(builds).toBe(1);
  });
});
