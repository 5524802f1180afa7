/**
 * What `npm pack` ships: everything a consumer's install needs to build the addon and the shepherd
 * from source and to run the CLI and the API, the files README points a consumer to, and nothing
 * of the packer's own build (Makefiles with its absolute paths, objects, binaries) or of the repo's
 * benchmarks and tests. Every relative import of a shipped module or declaration file resolves to
 * a shipped file (a declaration importing an unshipped module breaks every consumer's type check).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { listPackedFiles, PACKAGE_JSON, REPO_ROOT } from './staging.js';

let files: string[] = [];

beforeAll(async () => {
  files = await listPackedFiles();
}, 60_000);

describe('npm pack', () => {
  it('ships the sources the install script builds from, the built JS and declarations, and the bin', () => {
    const needed = [
      'package.json',
      'README.md',
      // scripts.install: node scripts/build-native.mjs → node-gyp over native/binding.gyp
      'scripts/build-native.mjs',
      'native/binding.gyp',
      'native/src/addon.cc',
      'native/src/peer-cred.cc',
      'native/src/memory.cc',
      'native/src/process-limits.cc',
      'shepherd/src/shepherd.c',
      'shepherd/src/launcher.c',
      'shepherd/protocol.h',
      'shepherd/launcher-protocol.h',
      // exports and bin: the bundles (scripts/bundle.mjs), their worker entries, and tsc's declarations
      'dist/bundle/index.js',
      'dist/index.d.ts',
      'dist/bundle/vitest.js',
      'dist/vitest/index.d.ts',
      'dist/bundle/telemetry.js',
      'dist/telemetry/public.d.ts',
      'dist/bundle/relay-worker.js',
      'dist/bin/drover.js',
      'dist/bin/main.js',
      'dist/bin/package.json',
      'dist/bin/relay-worker.js',
      'dist/native/index.d.ts',
    ];
    expect(needed.filter((f) => !files.includes(f))).toEqual([]);
    // Every file package.json "exports" points at.
    const exported = Object.values(PACKAGE_JSON.exports).flatMap((target) => (typeof target === 'string' ? [target] : Object.values(target))).map((f) => path.posix.normalize(f));
    expect(exported.filter((f) => !files.includes(f))).toEqual([]);
    // Every source binding.gyp compiles and every header next to them.
    const gyp = readFileSync(path.join(REPO_ROOT, 'native', 'binding.gyp'), 'utf8');
    const sources = [...gyp.matchAll(/"((?:\.\.\/)?[\w/.-]+\.(?:c|cc))"/g)].map((m) => path.posix.normalize(path.posix.join('native', m[1]!)));
    expect(sources.length).toBeGreaterThan(0);
    expect(sources.filter((f) => !files.includes(f))).toEqual([]);
    // The bin is the bundled CLI, CommonJS by its own package.json.
    expect(path.posix.normalize(PACKAGE_JSON.bin.drover ?? '')).toBe('dist/bin/drover.js');
    expect(JSON.parse(readFileSync(path.join(REPO_ROOT, 'dist', 'bin', 'package.json'), 'utf8'))).toEqual({ type: 'commonjs' });
  });

  it("ships tsc's JavaScript only as the bundles: no module file outside dist/bundle/ and dist/bin/", () => {
    expect(files.filter((f) => f.startsWith('dist/') && f.endsWith('.js') && !f.startsWith('dist/bundle/') && !f.startsWith('dist/bin/'))).toEqual([]);
  });

  it('ships the files README points a consumer to: the JSON Schema, the Grafana dashboard, the telemetry reference', () => {
    for (const file of ['config/schema.json', 'examples/grafana/drover.json', 'docs/telemetry.md']) {
      expect(files, file).toContain(file);
      expect(readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8'), `README names ${file}`).toContain(file);
    }
  });

  it("leaves out the packer's native build, benchmarks, tests, source maps and development scripts", () => {
    const unwanted = files.filter(
      (f) =>
        f.startsWith('native/build/') ||
        f.includes('/node_modules/') ||
        f.startsWith('dist/bench/') ||
        f.startsWith('dist/test/') ||
        f.startsWith('test/') ||
        f.startsWith('etc/') ||
        f.endsWith('.map') ||
        f.startsWith('shepherd/fuzz/') ||
        (f.startsWith('scripts/') && f !== 'scripts/build-native.mjs') ||
        f.startsWith('tsconfig'),
    );
    expect(unwanted).toEqual([]);
  });

  it('every relative import of a shipped .js or .d.ts file resolves to a shipped file', () => {
    const shipped = new Set(files);
    const unresolved: string[] = [];
    for (const file of files.filter((f) => f.startsWith('dist/') && (f.endsWith('.js') || f.endsWith('.d.ts')))) {
      const text = readFileSync(path.join(REPO_ROOT, file), 'utf8');
      // TypeScript's own scanner lists import/export/require specifiers (and `/// <reference path>`).
      const info = ts.preProcessFile(text, true, true);
      for (const ref of [...info.importedFiles, ...info.referencedFiles]) {
        if (!ref.fileName.startsWith('.')) continue;
        const target = path.posix.join(path.posix.dirname(file), ref.fileName);
        // A declaration's './x.js' is satisfied by x.d.ts (TypeScript's NodeNext resolution).
        const candidates = file.endsWith('.d.ts') ? [target.replace(/\.js$/, '.d.ts'), target] : [target];
        if (!candidates.some((c) => shipped.has(c))) unresolved.push(`${file} → ${ref.fileName}`);
      }
    }
    expect(unresolved).toEqual([]);
  });

  it('says where drover runs and where it comes from: os linux, repository, homepage', () => {
    expect(PACKAGE_JSON.os).toEqual(['linux']);
    expect(PACKAGE_JSON.repository).toEqual({ type: 'git', url: expect.stringMatching(/^git\+https:\/\/github\.com\/[\w-]+\/drover\.git$/) });
    expect(PACKAGE_JSON.homepage).toMatch(/^https:\/\/github\.com\/[\w-]+\/drover#readme$/);
  });

  it('builds the native parts at install from the shipped sources, with nothing but npm packages', () => {
    expect(PACKAGE_JSON.scripts.install).toBe('node scripts/build-native.mjs');
    // node-gyp and node-addon-api come with drover (dependencies), not from the consumer's devDependencies.
    expect(Object.keys(PACKAGE_JSON.dependencies)).toEqual(expect.arrayContaining(['node-gyp', 'node-addon-api']));
  });
});
