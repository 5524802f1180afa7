/**
 * examples/vitest run as a user runs it (`vitest run --root examples/vitest`, in a child process):
 * two test files restart and kill nodes of the globalSetup cluster through useCluster, and the
 * per-worker project gives each of 4 workers a cluster of its own through a worker-scoped
 * fixture, and own-cluster.test.ts one of its own through a file-scoped one. Checked here: every
 * test passed, files of one worker shared its cluster and other workers had other ports, and once
 * vitest exited nothing it started is left.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { execa } from 'execa';
import { afterAll, expect, it } from 'vitest';
import { expectAllGone, expectNoShepherds, findByEnv } from '../helpers/processes.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(path.join(tmpdir(), 'drover-example-'));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Report {
  readonly file: string;
  readonly worker: string;
  readonly pid: number;
  readonly nodes: readonly { name: string; pid: number; ports: Record<string, number> }[];
}

it('examples/vitest passes with 4 workers, each worker with its own cluster, and leaves nothing running', async () => {
  const report = path.join(dir, 'report.ndjson');
  const marker = randomUUID();
  // The child is a vitest of its own: none of this worker's VITEST_* variables may leak into it.
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('VITEST')));
  const run = await execa(process.execPath, [path.join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--root', 'examples/vitest', '--color=false'], {
    cwd: ROOT,
    env: { ...env, DROVER_EXAMPLE_REPORT: report, DROVER_EXAMPLE_RUN: marker },
    extendEnv: false,
    reject: false,
    all: true,
    timeout: 150_000,
  });
  const out = stripVTControlCharacters(run.all);
  expect(run.exitCode, out).toBe(0);
  expect(out).toMatch(/Test Files\s+8 passed \(8\)/);
  expect(out).toMatch(/Tests\s+13 passed \(13\)/);
  expect(out).toMatch(/shared\s+kill\.test\.ts \(2 tests\)/);
  expect(out).toMatch(/shared\s+restart\.test\.ts \(2 tests\)/);

  const all = readFileSync(report, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Report);
  expect(all.map((r) => r.file).sort()).toEqual(['a', 'b', 'c', 'd', 'own']);
  const reports = all.filter((r) => r.file !== 'own');
  const clusterOf = (r: Report) => JSON.stringify(r.nodes.map((n) => [n.name, n.pid, n.ports]));
  const byWorker = new Map<string, Report[]>();
  for (const r of reports) byWorker.set(r.worker, [...(byWorker.get(r.worker) ?? []), r]);
  expect(byWorker.size, 'workers that ran per-worker files').toBe(4);
  for (const [worker, files] of byWorker) expect(new Set(files.map(clusterOf)).size, `worker ${worker}: one cluster for all its files`).toBe(1);
  const ports = [...byWorker.values()].flatMap((files) => files[0]!.nodes.flatMap((n) => Object.values(n.ports)));
  expect(new Set(ports).size, `ports of the workers' clusters: ${ports.join(', ')}`).toBe(ports.length);

  // The per-worker clusters, the file-scoped one (own-cluster.test.ts) and the workers are gone.
  await expectAllGone(all.flatMap((r) => [r.pid, ...r.nodes.map((n) => n.pid)]));
  expect(findByEnv('DROVER_EXAMPLE_RUN', marker), 'processes of the example run left behind').toEqual([]);
  await expectNoShepherds();
}, 180_000);
