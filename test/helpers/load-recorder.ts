/**
 * A module-load recorder for the cold-path tests: a `module.register` resolve hook, preloaded
 * with `--import <register.mjs>`, that appends every URL a process resolves (before it loads) to
 * the file named by `DROVER_LOAD_LOG`. It runs on the loader hooks thread, so it sees every ES
 * module load; modules required from CommonJS the hook may not see must be checked apart.
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
    `import { register } from 'node:module';
register(${JSON.stringify(pathToFileURL(path.join(dir, 'hooks.mjs')).href)}, { data: { log: process.env.DROVER_LOAD_LOG } });
`,
  );
  return register;
}
