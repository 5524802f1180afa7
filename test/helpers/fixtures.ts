import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

/** argv running fixture `name` (without .mjs) with `args` under the current Node. */
export function fixture(name: string, ...args: (string | number)[]): string[] {
  return [process.execPath, path.join(FIXTURES_DIR, `${name}.mjs`), ...args.map(String)];
}
