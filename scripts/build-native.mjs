#!/usr/bin/env node
// Builds the addon and the shepherd from source with node-gyp, offline: the headers come from the
// running Node's own prefix (`<prefix>/include/node`), so node-gyp never downloads a tarball.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const nodedir = process.env.DROVER_NODEDIR ?? path.dirname(path.dirname(process.execPath));
if (!existsSync(path.join(nodedir, 'include', 'node', 'node_api.h'))) {
  console.error(`drover: Node headers not found under ${nodedir}/include/node; set DROVER_NODEDIR to a Node prefix that has them`);
  process.exit(1);
}
const require = createRequire(import.meta.url);
const gyp = require.resolve('node-gyp/bin/node-gyp.js');
const debug = process.env.DROVER_DEBUG_BUILD === '1' ? ['--debug'] : [];
const result = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`, ...debug], {
  cwd: path.join(root, 'native'),
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
