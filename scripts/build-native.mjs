#!/usr/bin/env node
// Builds the addon and the shepherd from source with node-gyp, offline: the headers come from the
// running Node's own prefix (`<prefix>/include/node`), so node-gyp never downloads a tarball.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

/**
 * Whether the C compiler can link a static position-independent executable (gcc 8 or later with a
 * libc.a: Debian's libc6-dev has one, Fedora needs glibc-static). The shepherd and the launcher
 * are then linked with -static-pie (still loaded at a random address, as the default PIE build):
 * one shepherd is exec'd per node, and on our 2-core VMs the dynamic loader's start (mapping and
 * relocating libc) cost ~1.5 ms of CPU per exec, as much again as the rest of the shepherd's
 * start (perf stat of a shepherd that exits at once: 2.5 ms dynamic, 1.5 ms static). Without
 * that they stay dynamic.
 * DROVER_STATIC_NATIVE=0 forces dynamic linking; binding.gyp reads the variable.
 */
function canLinkStatic() {
  const dir = mkdtempSync(path.join(tmpdir(), 'drover-static-probe-'));
  try {
    const probe = spawnSync(process.env.CC || 'cc', ['-fPIE', '-static-pie', '-x', 'c', '-', '-o', path.join(dir, 'probe')], { input: 'int main(void) { return 0; }\n', stdio: ['pipe', 'ignore', 'ignore'] });
    return probe.status === 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const staticNative = process.env.DROVER_STATIC_NATIVE === '0' ? '0' : canLinkStatic() ? '1' : '0';
const result = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`, ...debug], {
  cwd: path.join(root, 'native'),
  stdio: 'inherit',
  env: { ...process.env, DROVER_STATIC_NATIVE: staticNative },
});
process.exit(result.status ?? 1);
