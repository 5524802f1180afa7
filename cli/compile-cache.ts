/**
 * A V8 code cache for the CLI's own files: each CommonJS file of the directory this module is in
 * (dist/bin/, the published CLI) is compiled with the bytecode V8 produced for it in an earlier
 * run, instead of being parsed and compiled again. Node 22 has this built in
 * (`module.enableCompileCache`, which TypeScript's `tsc` turns on for itself); Node 20 does not.
 * The place follows the XDG base directory convention for caches, not Node's (a shared tmpdir).
 * Measured on the CLI's cold commands: `drover validate` ~19 ms and `drover --help` ~7 ms faster
 * of ~110 and ~80 (bench/README.md, "the cold path").
 *
 * - What is cached: only files of this directory that Node loads as CommonJS. tsc's output (ES
 *   modules), node_modules and anything else compile as always.
 * - Where: `$DROVER_COMPILE_CACHE`, else `$XDG_CACHE_HOME/drover/compile-cache` (default
 *   `~/.cache/drover/compile-cache`), in a directory per Node version and architecture. A
 *   directory that is not this user's, or that others can write to, is not used: its contents
 *   become code this process runs. `DROVER_COMPILE_CACHE=0` turns the cache off.
 * - Keys: a file's name, size and modification time. V8 itself checks only the source's length
 *   (and its own version and flags), so a file rebuilt with the same length never meets the
 *   bytecode of its former contents.
 * - When: a file without an accepted cache entry gets one when the process exits (so the entry
 *   holds the functions this run compiled, not only the top level), written to a temporary file
 *   and renamed into place (runs racing each other leave one whole entry).
 * - Size: a directory over 200 entries (a build of the CLI is ~60 files) is pruned to its newest
 *   100 after a run that wrote entries.
 * - V8 rejects an entry made under other V8 flags (`node --max-semi-space-size …`); the entry is
 *   then written again under the flags of this run.
 * - Any failure (no home directory, a read-only disk, a rejected entry) leaves the CLI compiling
 *   as it would without a cache; nothing is reported.
 */
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import Module from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

interface CompilingModule {
  exports: unknown;
  require(id: string): unknown;
  _compile(content: string, filename: string): unknown;
}

interface ModuleInternals {
  prototype: CompilingModule;
  wrap(script: string): string;
  _resolveFilename(request: string, parent: CompilingModule, isMain: boolean, options?: { paths?: string[] }): string;
  _cache: Record<string, unknown>;
  _extensions: Record<string, unknown>;
}

/** The cache directory for this Node, or null when the cache is off or there is no safe place. */
export function getCompileCacheDir(env: NodeJS.ProcessEnv = process.env): string | null {
  const setting = env.DROVER_COMPILE_CACHE;
  if (setting === '0') return null;
  let root = setting;
  if (root === undefined || root === '') {
    const cacheHome = env.XDG_CACHE_HOME !== undefined && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : path.join(os.homedir(), '.cache');
    root = path.join(cacheHome, 'drover', 'compile-cache');
  }
  const dir = path.resolve(root, `${process.version}-${process.arch}`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const stat = statSync(dir);
    // Only this user may have written what is in it.
    if (stat.uid !== process.getuid?.() || (stat.mode & 0o022) !== 0) return null;
  } catch {
    return null;
  }
  return dir;
}

/**
 * Compiles the CommonJS files of this module's directory through the code cache in `dir` (see
 * the module's comment). Call it before the first of those files is required.
 */
export function enableCompileCache(dir: string | null = getCompileCacheDir()): void {
  if (dir === null) return;
  const here = path.dirname(fileURLToPath(import.meta.url));
  const internals = Module as unknown as ModuleInternals;
  const compile = internals.prototype._compile;
  const pending: { script: vm.Script; file: string }[] = [];

  internals.prototype._compile = function (this: CompilingModule, content: string, filename: string): unknown {
    if (path.dirname(filename) !== here) return compile.call(this, content, filename);
    let file: string;
    let cachedData: Buffer | undefined;
    let script: vm.Script;
    try {
      const stat = statSync(filename);
      file = path.join(dir, `${path.basename(filename)}-${stat.size}-${Math.trunc(stat.mtimeMs * 1000)}.cache`);
      try {
        cachedData = readFileSync(file);
      } catch {
        cachedData = undefined;
      }
      // A shebang line is a comment to keep the line numbers: inside the wrapper it is no longer the first line.
      const source = content.startsWith('#!') ? `//${content.slice(2)}` : content;
      // No import() in these files: vm.Script has none on Node 20 (scripts/bundle.mjs turns each into require()).
      script = new vm.Script(internals.wrap(source), { filename, cachedData });
    } catch {
      return compile.call(this, content, filename);
    }
    if (cachedData === undefined || script.cachedDataRejected === true) pending.push({ script, file });
    const wrapper = script.runInThisContext({ displayErrors: true }) as (...args: unknown[]) => unknown;
    const require = Object.assign((id: string) => this.require(id), {
      resolve: Object.assign((request: string, options?: { paths?: string[] }) => internals._resolveFilename(request, this, false, options), {
        paths: (request: string) => (Module as unknown as { _resolveLookupPaths(request: string, parent: CompilingModule): string[] | null })._resolveLookupPaths(request, this),
      }),
      main: process.mainModule,
      cache: internals._cache,
      extensions: internals._extensions,
    });
    return wrapper.call(this.exports, this.exports, require, this, filename, path.dirname(filename));
  };

  process.once('exit', () => {
    if (pending.length === 0) return;
    for (const { script, file } of pending) {
      const temporary = `${file}.${process.pid}.tmp`;
      try {
        const fd = openSync(temporary, 'wx', 0o600);
        try {
          writeSync(fd, script.createCachedData());
        } finally {
          closeSync(fd);
        }
        renameSync(temporary, file);
      } catch {
        try {
          unlinkSync(temporary);
        } catch {
          // nothing was written
        }
      }
    }
    pruneEntries(dir);
  });
}

/** Entries a cache directory keeps at most: a whole build of the CLI is ~60 files. */
const MAX_ENTRIES = 200;
/** What a directory over {@link MAX_ENTRIES} is pruned down to, oldest entries (by mtime) first. */
const PRUNED_ENTRIES = 100;

/**
 * Keeps the cache directory bounded: each new build of drover (new chunk names, sizes, mtimes)
 * adds its own entries, and nothing else removes the old ones. Runs after a process wrote entries.
 */
function pruneEntries(dir: string): void {
  try {
    const names = readdirSync(dir).filter((name) => name.endsWith('.cache'));
    if (names.length <= MAX_ENTRIES) return;
    const entries = names.flatMap((name) => {
      try {
        return [{ name, mtimeMs: statSync(path.join(dir, name)).mtimeMs }];
      } catch {
        return [];
      }
    });
    entries.sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const { name } of entries.slice(0, entries.length - PRUNED_ENTRIES)) {
      try {
        unlinkSync(path.join(dir, name));
      } catch {
        // removed by another process pruning at the same time
      }
    }
  } catch {
    // an unreadable directory: left as it is
  }
}
