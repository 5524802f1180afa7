/**
 * The folder import graph (.dependency-cruiser.cjs): no module cycle, and every import points down
 * the layers contract ← native ← process ← network ← cluster ← config, telemetry ← cli, vitest, entry.
 * The second test proves the rules can fail: a fixture whose floor imports upward is refused.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DEPCRUISE = path.join(ROOT, 'node_modules', '.bin', 'depcruise');
const CONFIG = path.join(ROOT, '.dependency-cruiser.cjs');
const SOURCES = ['index.ts', 'start-cluster.ts', 'cli', 'vitest', 'contract', 'native', 'process', 'network', 'cluster', 'config', 'telemetry'];

async function cruise(cwd: string, sources: readonly string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(DEPCRUISE, ['--config', CONFIG, '--output-type', 'err-long', ...sources], { cwd });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const { code, stdout = '', stderr = '' } = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof code === 'number' ? code : -1, output: stdout + stderr };
  }
}

test('every import of drover points down the layers and no module cycle exists', async () => {
  const { code, output } = await cruise(ROOT, SOURCES);
  expect(output).toContain('no dependency violations found');
  expect(code).toBe(0);
}, 60_000);

test('an upward import is reported (the rules can fail)', async () => {
  const { code, output } = await cruise(path.join(ROOT, 'test', 'fixtures', 'layering'), ['contract', 'process']);
  expect(output).toContain('contract-imports-down-only');
  expect(output).toContain('contract/floor.ts');
  expect(code).not.toBe(0);
}, 60_000);
