/**
 * The hostile fault matrix (scripts/hostile-matrix.mjs, `npm run hostile`) in the test suite: a
 * quick subset of its cases, with and without cgroup v2 containment, and its canary, which proves
 * the matrix sees what it counts (a survivor, a zombie, an fd more) instead of passing vacuously.
 * The matrix runs every manager as `nobody` in a session of its own beside a sentinel; it needs
 * root for that (runuser) and for the delegated cgroup.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { getCgroup2Mount } from '../../process/cgroup.js';
import { findByEnv } from '../helpers/processes.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCRIPT = path.join(ROOT, 'scripts', 'hostile-matrix.mjs');
const MARKER = 'DROVER_MATRIX_RUN';
const isRoot = process.getuid?.() === 0;
const hasCgroup2 = getCgroup2Mount(readFileSync('/proc/self/mountinfo', 'utf8')) !== null;
const workDir = mkdtempSync(path.join(tmpdir(), 'drover-matrix-test-'));

interface MatrixResult {
  case: string;
  column: 'off' | 'cgroup';
  ok: boolean;
  reasons: string[];
  marker: string;
  survivors: number;
  zombies: number;
  fds: { before: number; after: number | null; grown: string[] } | null;
  peakRssMiB: number | null;
  sentinel: 'alive' | 'dead' | 'unknown';
  cgroup: { used: boolean; leaves: number };
  leftAfterCleanup: number;
  timedOut: boolean;
}

interface MatrixRun {
  code: number | null;
  stdout: string;
  results: MatrixResult[];
}

/** Runs the matrix with `args` and reads its --json report. */
function runMatrix(name: string, args: string[]): Promise<MatrixRun> {
  const json = path.join(workDir, `${name}.json`);
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [SCRIPT, ...args, '--json', json], { timeout: 120_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
      try {
        const report = JSON.parse(readFileSync(json, 'utf8')) as { results: MatrixResult[] };
        resolve({ code, stdout, results: report.results });
      } catch (readError) {
        reject(new Error(`the matrix wrote no report (exit ${String(error?.code ?? 0)}): ${stdout}\n${stderr}`, { cause: readError }));
      }
    });
  });
}

/** Nothing of any case is left: no live process carries a case's marker. */
function expectNothingLeft(results: MatrixResult[]): void {
  for (const r of results) {
    expect(r.leftAfterCleanup, `${r.case}/${r.column}: processes the matrix could not kill`).toBe(0);
    expect(findByEnv(MARKER, r.marker), `${r.case}/${r.column}: processes left with ${MARKER}=${r.marker}`).toEqual([]);
  }
}

afterAll(() => rmSync(workDir, { recursive: true, force: true }));

describe.skipIf(!isRoot)('hostile matrix (quick subset)', () => {
  it('counts what a case leaves behind: the canary leaves a survivor, a zombie and an fd, and fails the run', async () => {
    const run = await runMatrix('canary', ['--case', 'canary', '--column', 'off']);
    expect(run.code, run.stdout).toBe(1);
    const [canary] = run.results;
    expect(canary).toMatchObject({ case: 'canary', ok: false, survivors: 1, zombies: 1, sentinel: 'alive', timedOut: false });
    expect(canary!.fds?.grown).toEqual(['/dev/null']);
    expectNothingLeft(run.results);
  });

  // The whole quick set runs in CI (`npm run hostile -- --quick`); here one case proves the runner
  // end to end in both columns.
  it('a setsid fork bomb that ignores SIGTERM: no survivor, zombie, fd growth or dead sentinel', async () => {
    const cases = ['fork-bomb'];
    const run = await runMatrix('quick', ['--quick', ...cases.flatMap((c) => ['--case', c]), ...(hasCgroup2 ? [] : ['--column', 'off'])]);
    const columns = hasCgroup2 ? ['off', 'cgroup'] : ['off'];
    expect(run.results.map((r) => `${r.case}/${r.column}`)).toEqual(cases.flatMap((c) => columns.map((column) => `${c}/${column}`)));
    for (const r of run.results) {
      expect({ case: `${r.case}/${r.column}`, survivors: r.survivors, zombies: r.zombies, sentinel: r.sentinel, fdsGrown: r.fds?.grown ?? [], reasons: r.reasons }).toEqual({
        case: `${r.case}/${r.column}`,
        survivors: 0,
        zombies: 0,
        sentinel: 'alive',
        fdsGrown: [],
        reasons: [],
      });
      // The cgroup column really contained the nodes in leaves of the delegated subtree.
      expect(r.cgroup.used, `${r.case}/${r.column}`).toBe(r.column === 'cgroup');
    }
    expect(run.code, run.stdout).toBe(0);
    expectNothingLeft(run.results);
  }, 90_000);
});
