/**
 * Bundles the compiled package (tsc's output in dist/) into what package.json's "exports" and "bin"
 * point to: dist/bundle/ (the package's entries, ES modules) and dist/bin/ (the CLI, CommonJS). Run
 * after `tsc -p tsconfig.build.json` (npm run build:ts does both).
 *
 * Why: Node 20 has no compile cache for ES modules, and every module file costs a resolve, a read
 * and a compile. `import { spawn } from 'drover'` loaded 38 files of drover's own, and the CLI
 * loaded yargs's ~30 more, before doing anything (bench/README.md, "the cold path"). The bundle
 * loads a handful of chunks instead. What each entry loads on demand (the config loader, the
 * OpenTelemetry SDK, the readiness checks, the relay's worker, each CLI command) stays a separate
 * chunk behind its dynamic import, so nothing is loaded earlier than before.
 *
 * - dist/bundle/, ES modules: `index` ("."), `vitest` ("./vitest"), `telemetry` ("./telemetry"),
 *   `relay-worker` (the relay's worker thread, started as ./relay-worker.js). One build, so the
 *   entries share their chunks: one `DroverError` class and one set of module state for `drover`
 *   and `drover/vitest` alike.
 * - dist/bin/, CommonJS (its own package.json says so): `drover` (the bin), `main` (the CLI),
 *   `relay-worker`, `string-width`. A CommonJS CLI starts faster on Node 20: its entry does not
 *   start the ES module loader, each chunk is a plain require(), and its files can go through a
 *   V8 code cache (cli/compile-cache.ts), which Node 20 offers for CommonJS only. Measured:
 *   `drover --help` 88 → 81 ms, `drover ps` 91 → 79 ms before the code cache
 *   (bench/README.md, "the cold path"). The CLI process loads nothing of dist/bundle/.
 * - Every chunk is two levels under the package root, as dist/cli/main.js and
 *   dist/native/index.js are: their `../../package.json` and the native build's path resolve the same.
 * - yargs, zod and yaml, with their own dependencies, are inlined: each is many module files (zod
 *   alone 95; inlining it took ~80 ms off `drover validate`), and only drover's own code calls
 *   them. yargs and yaml are devDependencies; zod stays a dependency for its type declarations
 *   (`ConfigInput` is the input type of drover's zod schema), while the code that runs is the
 *   bundle's. Every other package stays an import of the consumer's installed copy: the
 *   OpenTelemetry packages (the API's global registration must be shared), chokidar, re2js,
 *   get-port, picomatch, vitest as a peer. License comments are kept.
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'rolldown';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
const outDir = path.join(dist, 'bundle');
const binDir = path.join(dist, 'bin');
/** What `import.meta.url` is in the CommonJS build: a variable each chunk sets from its `__filename`. */
const IMPORT_META_URL = '__droverImportMetaUrl';

/** Packages compiled into the bundle: yargs, and (below) whatever it imports from node_modules. */
const INLINED = new Set(['yargs', 'zod', 'yaml']);

function getPackageName(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** True for an import that stays an import: node builtins, and packages other than yargs and its dependencies. */
function isExternal(id, importer) {
  if (id.startsWith('node:')) return true;
  if (id.startsWith('.') || path.isAbsolute(id) || id.startsWith('\0')) return false;
  if (INLINED.has(getPackageName(id))) return false;
  // A bare import from inside node_modules comes from an inlined package (nothing else is followed there).
  return !(importer !== undefined && importer.includes(`${path.sep}node_modules${path.sep}`));
}

/**
 * cliui and wrap-ansi (yargs's help layout) import string-width 7, which measures every character
 * through `Intl.Segmenter` and an emoji RegExp: yargs renders a command's whole help on every run
 * (after calling its handler, in case a later failure prints it), and that measuring was 20–50 ms
 * of every cold command. yargs itself depends on string-width 8, the same function (same author,
 * same options) with a fast path for printable ASCII.
 *
 * string-width 8 still builds its `Intl.Segmenter` and Unicode-property RegExps at import, ~30 ms
 * of every cold command. So every `string-width` import in the bundle (yargs's, cliui's,
 * wrap-ansi's) gets scripts/string-width-on-demand.mjs instead (inlined in yargs's
 * chunk), which answers printable ASCII as string-width 8 does and
 * `require()`s string-width 8 itself, the entry `string-width.js`, for anything else.
 */
const ON_DEMAND_SOURCE = path.join(root, 'scripts', 'string-width-on-demand.mjs');
/** A virtual module, the `string-width` entry: re-exports the string-width yargs depends on (8.x). */
const STRING_WIDTH_ENTRY = '\0string-width-entry';

const stringWidthOnDemand = {
  name: 'string-width-on-demand',
  resolveId(source, importer) {
    if (source === STRING_WIDTH_ENTRY) return source;
    if (source === 'string-width' && importer !== undefined) return ON_DEMAND_SOURCE;
    return null;
  },
  async load(id) {
    if (id !== STRING_WIDTH_ENTRY) return null;
    const yargsEntry = await this.resolve('yargs', path.join(dist, 'cli', 'main.js'));
    const real = yargsEntry === null ? null : await this.resolve('string-width', yargsEntry.id, { skipSelf: true });
    if (real === null) throw new Error('bundle: cannot resolve the string-width that yargs depends on');
    return `export { default } from ${JSON.stringify(real.id)};\n`;
  },
};

const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const header = `// ${pkg.name} ${pkg.version}: bundled by scripts/bundle.mjs from tsc's output; the sources are the .ts files of the repository.`;

/**
 * Each inlined package is a chunk named after it (zod-*.js, yaml-*.js, yargs-*.js), loaded with
 * the first module that needs it: the config loader, or the CLI's command line. string-width 8 (in
 * yargs's own node_modules) and its width table are a chunk of their own that only the
 * `string-width` entry loads. strip-ansi, which string-width shares with yargs's help layout, goes
 * with yargs: a group also takes the modules its own modules import, and the first group to match
 * a module takes it.
 */
const codeSplitting = {
  groups: [
    ...[...INLINED].map((name) => ({
      name,
      test: name === 'yargs'
        ? /[\\/]node_modules[\\/](yargs[\\/](?!node_modules[\\/]string-width[\\/])|strip-ansi[\\/]|ansi-regex[\\/])/
        : new RegExp(`[\\\\/]node_modules[\\\\/]${name}[\\\\/]`),
    })),
    { name: 'string-width', test: /[\\/]node_modules[\\/](yargs[\\/]node_modules[\\/]string-width|get-east-asian-width)[\\/]/ },
  ],
};
const comments = { legal: true, annotation: true, jsdoc: false };

rmSync(outDir, { recursive: true, force: true });
rmSync(binDir, { recursive: true, force: true });

// The package's entries, as ES modules.
await build({
  input: {
    index: path.join(dist, 'index.js'),
    vitest: path.join(dist, 'vitest', 'index.js'),
    telemetry: path.join(dist, 'telemetry', 'public.js'),
    'relay-worker': path.join(dist, 'network', 'relay-worker.js'),
  },
  platform: 'node',
  external: isExternal,
  logLevel: 'warn',
  output: { dir: outDir, format: 'esm', comments, codeSplitting, postBanner: header },
});

// The CLI, as CommonJS in dist/bin/ (its package.json says so, so its files keep the .js names
// the code uses: ./drover.js for the background `up`, ./relay-worker.js, ./string-width.js). `drover`,
// the bin, turns on the code cache for the CLI's files (cli/compile-cache.ts) and requires `main`.
// `import.meta.url` becomes the chunk's own file URL, computed from `__filename`.
await build({
  input: {
    drover: path.join(dist, 'cli', 'drover.js'),
    main: path.join(dist, 'cli', 'main.js'),
    'relay-worker': path.join(dist, 'network', 'relay-worker.js'),
    'string-width': STRING_WIDTH_ENTRY,
  },
  platform: 'node',
  external: isExternal,
  plugins: [stringWidthOnDemand],
  logLevel: 'warn',
  // yargs's `extends` support reads `import.meta.resolve`; drover's command line never uses it.
  onLog: (level, log, handler) => (log.code === 'EMPTY_IMPORT_META' && log.id?.includes(`${path.sep}yargs${path.sep}`) ? undefined : handler(level, log)),
  transform: { define: { 'import.meta.url': IMPORT_META_URL } },
  output: {
    dir: binDir,
    format: 'cjs',
    // Strict, as the ES modules it is built from are.
    strict: true,
    // `exports.default`, as an ES module's default reads through require(): what the string-width shim expects.
    exports: 'named',
    // import() of a package becomes require() (Node ≥ 20.19 requires ES modules too): the code
    // cache compiles these files with vm.Script, where Node 20 has no import().
    dynamicImportInCjs: false,
    comments,
    codeSplitting,
    postBanner: header,
    intro: `var ${IMPORT_META_URL} = require('node:url').pathToFileURL(__filename).href;`,
  },
});
writeFileSync(path.join(binDir, 'package.json'), `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`);
for (const file of readdirSync(binDir)) {
  if (file.endsWith('.js') && /\bimport\(/.test(readFileSync(path.join(binDir, file), 'utf8'))) {
    throw new Error(`bundle: dist/bin/${file} holds an import(), which fails in a file the CLI's code cache compiled`);
  }
}
