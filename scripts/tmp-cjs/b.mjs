import { build } from 'rolldown';
import path from 'node:path';
import { rmSync } from 'node:fs';
const dist='/work/main/dist';
const INLINED = new Set(['yargs', 'zod', 'yaml']);
function getPackageName(s){const p=s.split('/');return s.startsWith('@')?p.slice(0,2).join('/'):p[0];}
function isExternal(id, importer) {
  if (id.startsWith('node:')) return true;
  if (id.startsWith('.') || path.isAbsolute(id) || id.startsWith('\0')) return false;
  if (INLINED.has(getPackageName(id))) return false;
  return !(importer !== undefined && importer.includes(`${path.sep}node_modules${path.sep}`));
}
const ON_DEMAND_SOURCE='/tmp/sw-on-demand.mjs';
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
    const real = await this.resolve('string-width', yargsEntry.id, { skipSelf: true });
    return `export { default } from ${JSON.stringify(real.id)};\n`;
  },
};
rmSync(dist+'/bundle-cjs',{recursive:true,force:true});
await build({
  input: { main: path.join(dist,'cli','main-cjs.js'), 'string-width': STRING_WIDTH_ENTRY },
  plugins: [stringWidthOnDemand],
  platform: 'node',
  external: isExternal,
  logLevel: 'warn',
  transform: { define: { 'import.meta.url': '__drover_meta_url' } },
  output: { dir: dist+'/bundle-cjs', format: 'cjs', entryFileNames: '[name].cjs', chunkFileNames: '[name]-[hash].cjs',
    banner: 'var __drover_meta_url = require("node:url").pathToFileURL(__filename).href;',
    codeSplitting: { groups: [
        ...[...INLINED].map((name) => ({
          name,
          test: name === 'yargs'
            ? /[\\/]node_modules[\\/](yargs[\\/](?!node_modules[\\/]string-width[\\/])|strip-ansi[\\/]|ansi-regex[\\/])/
            : new RegExp(`[\\\\/]node_modules[\\\\/]${name}[\\\\/]`),
        })),
        { name: 'string-width', test: /[\\/]node_modules[\\/](yargs[\\/]node_modules[\\/]string-width|get-east-asian-width)[\\/]/ },
      ] } },
});
