/**
 * The published declarations type-check in a consumer project with TypeScript's defaults
 * (`skipLibCheck: false`): drover's packed files staged as an installed dependency, a consumer
 * importing `drover`, `drover/vitest` and `drover/telemetry` with `await using`, compiled by tsc;
 * the cluster-only members left out of the published types stay out.
 */
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_SURFACE_SOURCE, CONSUMER_SOURCE, getConsumerTsconfig } from './consumer-files.js';
import { listPackedFiles, stageConsumerProject, TSC, type StagedProject } from './staging.js';

const run = promisify(execFile);

let project: StagedProject;

beforeAll(async () => {
  project = await stageConsumerProject(await listPackedFiles());
}, 60_000);

afterAll(() => {
  if (project) rmSync(project.dir, { recursive: true, force: true });
});

describe('the published types in a consumer project', () => {
  it('compile with skipLibCheck: false', async () => {
    writeFileSync(path.join(project.dir, 'tsconfig.json'), JSON.stringify(getConsumerTsconfig(), null, 2));
    writeFileSync(path.join(project.dir, 'consumer.ts'), CONSUMER_SOURCE);
    writeFileSync(path.join(project.dir, 'api-surface.ts'), API_SURFACE_SOURCE);
    const result = await run(process.execPath, [TSC, '-p', project.dir], { cwd: project.dir }).then(
      ({ stdout, stderr }) => ({ code: 0, out: `${stdout}${stderr}` }),
      (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, out: `${error.stdout}${error.stderr}` }),
    );
    expect(result.out).toBe('');
    expect(result.code).toBe(0);
  }, 60_000);
});
