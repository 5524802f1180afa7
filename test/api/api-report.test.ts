/**
 * The committed API reports (etc/*.api.md) match what the built entry points declare: a change of
 * the public surface fails here until it is recorded on purpose with `npm run api:update`. The
 * second test proves the check fails when an export is added. Reads dist/ (npm run build:ts).
 */
import { execFile } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, expect, test } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCRIPT = path.join(ROOT, 'etc', 'api-report.mjs');
const temporary: string[] = [];

afterAll(() => {
  for (const dir of temporary) rmSync(dir, { recursive: true, force: true });
});

async function checkReports(args: readonly string[] = []): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [SCRIPT, ...args], { cwd: ROOT, timeout: 150_000, env: { ...process.env, FORCE_COLOR: '0' } });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const { code, stdout = '', stderr = '' } = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof code === 'number' ? code : -1, output: stdout + stderr };
  }
}

test('etc/*.api.md record the declarations of drover, drover/vitest and drover/telemetry', async () => {
  const { code, output } = await checkReports();
  expect(output, 'the public API changed: run `npm run api:update` if that is deliberate, and commit etc/*.api.md').toContain('the API reports are up to date');
  expect(code).toBe(0);
}, 180_000);

test('an export added to the entry fails the check, with the diff and how to record it', async () => {
  // A copy of dist/'s declarations with one more export; node_modules as the package sees it.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'drover-api-added-'));
  temporary.push(dir);
  const dts = path.join(dir, 'dist');
  cpSync(path.join(ROOT, 'dist'), dts, { recursive: true, filter: (source) => !source.endsWith('.js') && !source.endsWith('.map') && !source.includes(`${path.sep}bench`) });
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  appendFileSync(path.join(dts, 'index.d.ts'), '\n/** Added by the test. */\nexport declare function addedByTest(): void;\n');
  const { code, output } = await checkReports(['--dts-root', dts, '--entry', 'drover']);
  expect(output).toContain('+export function addedByTest(): void;');
  expect(output).toContain('the public API of drover changed');
  expect(output).toContain('npm run api:update');
  expect(code).toBe(1);
}, 180_000);
