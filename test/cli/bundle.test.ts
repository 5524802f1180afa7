/**
 * The published CLI is a bundle (scripts/bundle.mjs) of tsc's output with yargs inlined, and its
 * help layout's string-width resolved to the one yargs itself uses (8.x, with an ASCII fast path)
 * instead of cliui's 7.x. Its help must be tsc's CLI's, byte for byte, and only one string-width
 * may be in it.
 *
 * Help text is printable ASCII: yargs lays out a command's whole help on every run (after calling
 * its handler, in case a later failure prints it), measuring each word; string-width answers ASCII
 * with one RegExp test, and anything else by grapheme segmentation and an emoji-property RegExp
 * whose first use compiles for ~40 ms. One `…` in `up`'s help cost every `drover up` that much.
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

  const COMMANDS = [[], ['up'], ['run'], ['ps'], ['logs'], ['start'], ['stop'], ['restart'], ['kill'], ['scale'], ['config'], ['down'], ['validate'], ['graph'], ['analyze'], ['fault'], ['fault', 'latency'], ['fault', 'partition'], ['fault', 'ls']];
  test('every command\'s help is printable ASCII (the width of anything else is costly to measure)', async () => {
    const offending: string[] = [];
    for (const words of COMMANDS) {
      const result = await runCli([...words, '--help'], { COLUMNS: '100' });
      expect(result.code, result.stderr).toBe(0);
      for (const line of result.stdout.split('\n')) if (!/^[\x20-\x7e]*$/.test(line)) offending.push(`drover ${words.join(' ')} --help: ${line.trim()}`);
    }
    expect(offending).toEqual([]);
  }, 60_000);
});
