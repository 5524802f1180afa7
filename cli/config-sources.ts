/**
 * `drover config --sources`: the config files composed (merged in order, include, extends,
 * profiles), each value followed by the file it came from — what a user of several `-f` files,
 * includes and extends needs to see which file wins.
 */
import { relative } from 'node:path';
import { isMap, isSeq, type Document, type YAMLMap } from 'yaml';
import { EXIT_OK } from './exit-codes.js';

/**
 * Prints the composed config as YAML, every value with a `# file` comment (paths relative to the
 * current directory), or with `json`, `{ files, config, sources }` (`sources`: dotted path → file).
 * Needs no running cluster. @throws {DroverError} ERR_CONFIG_READ, ERR_CONFIG_INVALID (composition errors).
 */
export async function runConfigSources(options: { files: readonly string[]; profiles: readonly string[] | undefined; json: boolean }): Promise<number> {
  const [{ composeConfigFiles }, YAML] = await Promise.all([import('../config/loader.js'), import('yaml')]);
  const composed = await composeConfigFiles(options.files, options.profiles === undefined ? {} : { profiles: options.profiles });
  const show = (file: string) => relative(process.cwd(), file) || file;
  if (options.json) {
    const sources = Object.fromEntries([...composed.sources].map(([path, file]) => [path, show(file)]));
    process.stdout.write(`${JSON.stringify({ files: composed.files.map(show), config: composed.data, sources }, null, 2)}\n`);
    return EXIT_OK;
  }
  const doc: Document = new YAML.Document(composed.data, { aliasDuplicateObjects: false });
  const annotate = (map: YAMLMap, path: string): void => {
    for (const pair of map.items) {
      const key = String((pair.key as { value?: unknown } | null)?.value ?? pair.key);
      const at = path === '' ? key : `${path}.${key}`;
      if (isMap(pair.value) && pair.value.items.length > 0) {
        annotate(pair.value, at);
        continue;
      }
      const file = composed.sources.get(at);
      if (file === undefined || pair.value === null || typeof pair.value !== 'object') continue;
      if (isSeq(pair.value)) pair.value.flow = true; // one line, so the comment names the whole list
      (pair.value as { comment?: string | null }).comment = ` ${show(file)}`;
    }
  };
  if (isMap(doc.contents)) annotate(doc.contents, '');
  process.stdout.write(`# composed from ${composed.files.map(show).join(', ')}\n${doc.toString({ lineWidth: 0 })}`);
  return EXIT_OK;
}
