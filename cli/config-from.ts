/**
 * `drover config --from Procfile`: the drover.yaml a Procfile stands for, to start from when the
 * Procfile outgrows itself (readiness checks, dependencies, restart policies).
 */
import { relative } from 'node:path';
import { EXIT_OK } from './exit-codes.js';

/**
 * Prints the drover.yaml equivalent of the Procfile `path` (YAML, or JSON with `json`), validated
 * first so what is printed loads as it is. Needs no running cluster.
 * @throws {DroverError} ERR_CONFIG_READ when the file cannot be read; ERR_CONFIG_INVALID naming
 *   the lines (or node names) that are wrong.
 */
export async function runConfigFrom(options: { path: string; json: boolean }): Promise<number> {
  const [{ readProcfileInput, normalizeConfig }, YAML] = await Promise.all([import('../config/loader.js'), import('yaml')]);
  const input = await readProcfileInput(options.path);
  // A name foreman accepts but drover does not (`_worker`) is reported now, with the Procfile's path.
  normalizeConfig(input, { configPath: options.path });
  if (options.json) {
    process.stdout.write(`${JSON.stringify(input, null, 2)}\n`);
    return EXIT_OK;
  }
  const shown = relative(process.cwd(), options.path) || options.path;
  const doc = new YAML.Document(input);
  doc.commentBefore =
    ` drover.yaml equivalent of ${shown} (drover config --from ${shown}).\n` +
    ' Save it beside the Procfile: cwd and envFile are relative to the config file.\n' +
    ' Each node runs its command through /bin/sh -c and gets a free port `port`, exposed as PORT.';
  process.stdout.write(doc.toString({ lineWidth: 0 }));
  return EXIT_OK;
}
