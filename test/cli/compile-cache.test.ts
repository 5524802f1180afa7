/**
 * The published CLI compiles its own files through a V8 code cache (cli/compile-cache.ts): the
 * first run writes an entry per file it loaded, later runs use them, a bad entry is replaced, and
 * the cache is off with DROVER_COMPILE_CACHE=0 or in a directory others can write to, and a
 * crowded directory is pruned.
 *
 * Which entries a run used is read from what it leaves behind: an entry is written only for a
 * file that had none, or whose entry V8 rejected. So a second run that writes nothing used every
 * entry it found.
 */
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCli } from '../helpers/cli.js';

let dir: string;
let config: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'drover-compile-cache-'));
  config = path.join(dir, 'drover.yaml');
  writeFileSync(config, 'name: cached\nnodes:\n  a:\n    command: [sleep, "600"]\n');
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const VERSION_DIR = `${process.version}-${process.arch}`;

/** Each entry of a cache directory: name → [mtimeMs, bytes]. */
function listEntries(cacheDir: string): Map<string, [number, Buffer]> {
  let names: string[];
  try {
    names = readdirSync(cacheDir);
  } catch {
    return new Map();
  }
  return new Map(names.map((name) => [name, [statSync(path.join(cacheDir, name)).mtimeMs, readFileSync(path.join(cacheDir, name))]]));
}

function validate(env: NodeJS.ProcessEnv) {
  return runCli(['validate', '-f', config], env);
}

describe('the CLI code cache', () => {
  test('the first run writes an entry per file it compiled; the next run uses them and writes nothing', async () => {
    const root = path.join(dir, 'fresh');
    const cacheDir = path.join(root, VERSION_DIR);
    const first = await validate({ DROVER_COMPILE_CACHE: root });
    expect([first.code, first.stderr]).toEqual([0, '']);
    const written = listEntries(cacheDir);
    const names = [...written.keys()];
    // The CLI's main chunk, the config's validator and parser: keyed by file name, size and mtime.
    for (const prefix of ['main.js-', 'zod-', 'yaml-']) expect(names.some((name) => name.startsWith(prefix)), `${prefix} in ${names.join(', ')}`).toBe(true);
    expect(names.every((name) => /^[\w.-]+\.js-\d+-\d+\.cache$/.test(name)), names.join(', ')).toBe(true);
    expect((statSync(cacheDir).mode & 0o777).toString(8)).toBe('700');

    const second = await validate({ DROVER_COMPILE_CACHE: root });
    expect(second).toEqual(first);
    expect(listEntries(cacheDir)).toEqual(written);
  });

  test('an entry V8 rejects is compiled as usual and replaced', async () => {
    const root = path.join(dir, 'corrupt');
    const cacheDir = path.join(root, VERSION_DIR);
    const first = await validate({ DROVER_COMPILE_CACHE: root });
    const main = [...listEntries(cacheDir).keys()].find((name) => name.startsWith('main.js-'));
    expect(main).toBeDefined();
    const garbage = Buffer.alloc(4096, 0x5a);
    writeFileSync(path.join(cacheDir, main!), garbage);

    const second = await validate({ DROVER_COMPILE_CACHE: root });
    expect(second).toEqual(first);
    const replaced = readFileSync(path.join(cacheDir, main!));
    expect(replaced.length).toBeGreaterThan(0);
    expect(replaced.equals(garbage)).toBe(false);
  });

  test('the default place is $XDG_CACHE_HOME/drover/compile-cache; DROVER_COMPILE_CACHE=0 turns it off', async () => {
    const on = path.join(dir, 'xdg-on');
    const off = path.join(dir, 'xdg-off');
    mkdirSync(on);
    mkdirSync(off);
    const [withCache, without] = await Promise.all([validate({ XDG_CACHE_HOME: on, DROVER_COMPILE_CACHE: '' }), validate({ XDG_CACHE_HOME: off, DROVER_COMPILE_CACHE: '0' })]);
    expect(without).toEqual(withCache);
    expect(listEntries(path.join(on, 'drover', 'compile-cache', VERSION_DIR)).size).toBeGreaterThan(3);
    expect(readdirSync(off)).toEqual([]);
  });

  test('a directory over 200 entries is pruned to its newest 100 by a run that wrote entries', async () => {
    const root = path.join(dir, 'crowded');
    const cacheDir = path.join(root, VERSION_DIR);
    mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
    // Entries of earlier builds, a day old and older.
    const old = Date.now() / 1000 - 86_400;
    for (let i = 0; i < 250; i++) {
      const file = path.join(cacheDir, `chunk-old${i}.js-100-${i}.cache`);
      writeFileSync(file, 'x');
      utimesSync(file, old - i, old - i);
    }
    const result = await validate({ DROVER_COMPILE_CACHE: root });
    expect([result.code, result.stderr]).toEqual([0, '']);
    const names = readdirSync(cacheDir);
    expect(names).toHaveLength(100);
    // This run's entries are the newest: all kept; of the old ones, the newest.
    expect(names.filter((name) => name.startsWith('main.js-'))).toHaveLength(1);
    expect(names).toContain('chunk-old0.js-100-0.cache');
    expect(names).not.toContain('chunk-old249.js-100-249.cache');
  });

  test('a cache directory others can write to is not used', async () => {
    const root = path.join(dir, 'shared');
    const cacheDir = path.join(root, VERSION_DIR);
    mkdirSync(cacheDir, { recursive: true });
    chmodSync(cacheDir, 0o777);
    const result = await validate({ DROVER_COMPILE_CACHE: root });
    expect([result.code, result.stderr]).toEqual([0, '']);
    expect(readdirSync(cacheDir)).toEqual([]);
  });
});
