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
 *
 * string-width 8 itself builds an `Intl.Segmenter` and Unicode-property RegExps at import (~30 ms
 * of every cold command), so the bundle gives yargs a string-width that answers printable ASCII
 * itself and loads string-width 8 on the first string that is not (scripts/string-width-on-demand.mjs).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CLI, runCli, TSC_CLI } from '../helpers/cli.js';
import { writeLoadRecorder } from '../helpers/load-recorder.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
let dir: string;
let register: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'drover-bundle-'));
  register = writeLoadRecorder(dir, { withPid: false });
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The files of the bundle a bundled CLI run loaded, recorded by a module resolve hook. */
async function getLoadedBundleFiles(name: string, args: string[]): Promise<string[]> {
  const log = path.join(dir, `${name}.log`);
  writeFileSync(log, '');
  const result = await runCli(args, { DROVER_LOAD_LOG: log, DROVER_STATE_DIR: path.join(dir, 'state'), NODE_OPTIONS: `--import ${pathToFileURL(register).href}` });
  expect(result.code, result.stderr).not.toBe(null);
  const bundle = pathToFileURL(path.dirname(CLI)).href;
  return [...new Set(readFileSync(log, 'utf8').split('\n').filter((url) => url.startsWith(`${bundle}/`)))].map((url) => fileURLToPath(url));
}

describe('the bundled CLI', () => {
  test.each([['--help', ''], ['up', '--help'], ['run', '--help'], ['logs', '--help'], ['fault', '--help']])('drover %s %s prints what tsc\'s CLI prints', async (...words: string[]) => {
    const args = words.filter((word) => word !== '');
    const [bundled, plain] = await Promise.all([runCli(args, { COLUMNS: '100', LC_ALL: 'de_DE.UTF-8' }), runCli(args, { COLUMNS: '100', LC_ALL: 'de_DE.UTF-8' }, { cli: TSC_CLI })]);
    expect(bundled.code).toBe(0);
    expect(bundled.stdout.length).toBeGreaterThan(200);
    expect(bundled.stdout).toBe(plain.stdout);
  });

  test('holds one string-width: the one yargs uses (one Intl.Segmenter, in a chunk of its own)', () => {
    const dir = path.dirname(CLI);
    const builds = readdirSync(dir)
      .filter((file) => file.endsWith('.js'))
      .map((file) => readFileSync(path.join(dir, file), 'utf8').split('new Intl.Segmenter(').length - 1)
      .reduce((a, b) => a + b, 0);
    expect(builds).toBe(1);
  });

  test.each([['help', ['--help']], ['logs', ['logs', '-f', 'none.yaml']], ['up-help', ['up', '--help']]])('drover %s lays out its help without loading string-width 8 (no Intl.Segmenter, no Unicode-property RegExp)', async (name, args) => {
    const loaded = await getLoadedBundleFiles(name, args);
    expect(loaded.some((file) => path.basename(file).startsWith('yargs-'))).toBe(true); // the hook saw the command line load
    const costly = loaded.filter((file) => /new Intl\.Segmenter\(|\\p\{RGI_Emoji\}/.test(readFileSync(file, 'utf8')));
    expect(costly.map((file) => path.basename(file))).toEqual([]);
  });

  test('text that is not printable ASCII is laid out by string-width 8, loaded on first use', async () => {
    // yargs as the bundle holds it, against yargs from node_modules (whose cliui measures with
    // string-width 7: the same widths for these characters). Counting characters instead of
    // columns would wrap these lines elsewhere.
    const yargsChunks = readdirSync(path.dirname(CLI)).filter((file) => file.startsWith('yargs-'));
    const script = `
      import { createRequire } from 'node:module';
      const texts = ['日本語の説明です、幅は二倍'.repeat(3), 'café naïve – e\\u0301 combining', '\\u001b[1mbold\\u001b[22m plain'];
      const layout = (yargs) => {
        let y = yargs([]).scriptName('x').wrap(40);
        texts.forEach((text, i) => { y = y.option('o' + i, { type: 'string', describe: text }); });
        return y.getHelp();
      };
      let bundled;
      for (const file of ${JSON.stringify(yargsChunks)}) {
        const chunk = createRequire(import.meta.url)(${JSON.stringify(path.dirname(CLI))} + '/' + file); // CommonJS
        // yargs's function: an export of the chunk, or the default of a namespace it exports.
        for (const value of Object.values(chunk).flatMap((value) => [value, value?.default])) {
          if (typeof value !== 'function') continue;
          let made;
          try { made = value([]); } catch { continue; }
          if (typeof made?.getHelp === 'function') bundled = await layout(value);
        }
      }
      const { default: yargs } = await import('yargs');
      console.log(JSON.stringify({ bundled, real: await layout(yargs) }));
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, timeout: 20_000 });
    const { bundled, real } = JSON.parse(stdout) as { bundled?: string; real: string };
    expect(real).toContain('日本語');
    expect(bundled).toBe(real);
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
