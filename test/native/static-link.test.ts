/**
 * The shepherd (exec'd once per node) and the launcher are linked with -static-pie wherever the
 * compiler can link one (scripts/build-native.mjs probes it): no dynamic loader runs at their
 * start. Where it cannot (no libc.a), they stay dynamic and this test says so instead. The
 * sanitizer build (npm run sanitize, DROVER_SANITIZE=1) links them dynamically on purpose: ASan
 * needs its runtime loaded, so the test does not apply there.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { getExecutableLinking } from '../../cluster/clock-fault.js';
import { getLauncherPath, getShepherdPath } from '../../native/index.js';

function canLinkStaticPie(): boolean {
  const dir = mkdtempSync(path.join(tmpdir(), 'static-probe-'));
  try {
    const probe = spawnSync(process.env.CC || 'cc', ['-fPIE', '-static-pie', '-x', 'c', '-', '-o', path.join(dir, 'probe')], { input: 'int main(void) { return 0; }\n' });
    return probe.status === 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('the native executables', () => {
  it.runIf(canLinkStaticPie() && process.env.DROVER_STATIC_NATIVE !== '0' && process.env.DROVER_SANITIZE !== '1')('are statically linked (no PT_INTERP) when the compiler can link a static PIE', async () => {
    for (const file of [getShepherdPath(), getLauncherPath()!]) {
      expect((await getExecutableLinking(file, undefined, '/')).kind, file).toBe('static');
    }
  });
});
