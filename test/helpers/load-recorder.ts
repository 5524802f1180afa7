/**
 * A module-load recorder for the cold-path tests, preloaded with `--import <register.mjs>`: it
 * appends every URL a process resolves (before it loads) to the file named by `DROVER_LOAD_LOG`.
 * ES modules through a `module.register` resolve hook (it runs on the loader hooks thread and sees
 * every import); CommonJS `require()` (the bundled CLI is CommonJS) through `Module._resolveFilename`
 * on the main thread, builtins as `node:` URLs, files as `file:` URLs, as the ES hook gives them.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * Writes `hooks.mjs` and `register.mjs` into `dir` and returns the path of `register.mjs`.
 * With `withPid`, each line is `<pid> <url>` (for a log several processes share), else `<url>`.
 */
export function writeLoadRecorder(dir: string, { withPid }: { readonly withPid: boolean }): string {
  const line = withPid ? `process.pid + ' ' + result.url + '\\n'` : `result.url + '\\n'`;
  writeFileSync(
    path.join(dir, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';
let log;
export function initialize(data) { log = data.log; }
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(log, ${line});
  return result;
}
`,
  );
  const register = path.join(dir, 'register.mjs');
  writeFileSync(
    register,
    `import { appendFileSync } from 'node:fs';
import Module, { isBuiltin, register } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
const log = process.env.DROVER_LOAD_LOG;
register(${JSON.stringify(pathToFileURL(path.join(dir, 'hooks.mjs')).href)}, { data: { log } });
const record = (url) => appendFileSync(log, ${line.replace('result.url', 'url')});
// Module._load takes \`node:\` builtins without resolving them; files go through _resolveFilename.
const load = Module._load;
Module._load = function (request, ...rest) {
  if (isBuiltin(request)) record(request.startsWith('node:') ? request : \`node:\${request}\`);
  return load.call(this, request, ...rest);
};
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (...args) {
  const resolved = resolveFilename.apply(this, args);
  if (path.isAbsolute(resolved)) record(pathToFileURL(resolved).href);
  return resolved;
};
`,
  );
  return register;
}
