/**
 * The published declarations type-check in a consumer project with TypeScript's defaults
 * (`skipLibCheck: false`): drover's packed files staged as an installed dependency, a consumer
 * importing `drover` and `drover/vitest` with `await using`, compiled by tsc.
 */
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listPackedFiles, stageConsumerProject, TSC, type StagedProject } from './staging.js';

const run = promisify(execFile);

/** The consumer's tsconfig.json: strict, NodeNext, declarations checked; `await using` needs ESNext.Disposable. */
export const CONSUMER_TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    lib: ['ES2022', 'ESNext.Disposable'],
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    skipLibCheck: false,
    noEmit: true,
    types: ['node'],
  },
  include: ['*.ts'],
};

/** A consumer using the public API the README shows: startCluster with `await using`, a node handle, errors, the vitest entry. */
export const CONSUMER_SOURCE = `import { DroverError, isDroverError, startCluster, type NodeState } from 'drover';
import { getProvidedCluster, setupCluster, type ProvidedCluster } from 'drover/vitest';

export const globalSetup = setupCluster('./drover.yaml', { strict: true });

export async function pingOnce(): Promise<NodeState> {
  await using cluster = await startCluster('./drover.yaml', { signal: AbortSignal.timeout(60_000) });
  const a = cluster.node('a');
  a.kill('SIGKILL');
  await a.waitFor('ready', { run: 'next', timeoutMs: 10_000 });
  const provided: ProvidedCluster = getProvidedCluster(cluster);
  const port: number | undefined = provided.nodes.a?.[0]?.ports.http;
  if (port === undefined) throw new DroverError('ERR_INVALID_OPTION', 'no port');
  return a.state;
}

export function describeError(error: unknown): string {
  return isDroverError(error) ? error.code : String(error);
}
`;

let project: StagedProject;

beforeAll(async () => {
  project = await stageConsumerProject(await listPackedFiles());
}, 60_000);

afterAll(() => {
  if (project) rmSync(project.dir, { recursive: true, force: true });
});

describe('the published types in a consumer project', () => {
  it('compile with skipLibCheck: false', async () => {
    writeFileSync(path.join(project.dir, 'tsconfig.json'), JSON.stringify(CONSUMER_TSCONFIG, null, 2));
    writeFileSync(path.join(project.dir, 'consumer.ts'), CONSUMER_SOURCE);
    const result = await run(process.execPath, [TSC, '-p', project.dir], { cwd: project.dir }).then(
      ({ stdout, stderr }) => ({ code: 0, out: `${stdout}${stderr}` }),
      (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, out: `${error.stdout}${error.stderr}` }),
    );
    expect(result.out).toBe('');
    expect(result.code).toBe(0);
  }, 60_000);
});
