/**
 * The CLI as a consumer project runs it (`node_modules/.bin/drover`, the project's own
 * package.json nearby): `--version` is drover's, and a missing or partial native build (install
 * scripts skipped, a failed build) fails every command that starts processes at once, says what
 * to run in that project, and leaves nothing behind that would refuse `ps` or `down`.
 */
import { spawn } from 'node:child_process';
import { unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cleanUpProject, listPackedFiles, makeStateDir, PACKAGE_JSON, stageConsumerProject, type StagedProject } from './staging.js';

interface Result {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
  /** The guard SIGKILLed it: it was still running after `limitMs`. */
  readonly hung: boolean;
}

/** Runs `node_modules/.bin/drover <args>` in the project, as `npx drover` would, SIGKILLed if it outlives `limitMs`. */
function runBin(project: StagedProject, args: string[], env: NodeJS.ProcessEnv = {}, limitMs = 20_000): Promise<Result> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(project.bin, args, { cwd: project.dir, env: { ...process.env, NO_COLOR: '1', ...env } });
    let stdout = '';
    let stderr = '';
    let hung = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const guard = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, limitMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started, hung });
    });
  });
}

const CONFIG = `name: tiny
nodes:
  a:
    command: [${JSON.stringify(process.execPath)}, -e, "console.log('a up'); setInterval(() => {}, 1 << 30)"]
    ready: { log: { pattern: "a up" } }
`;

let files: string[] = [];
const projects: StagedProject[] = [];

beforeAll(async () => {
  files = await listPackedFiles();
}, 60_000);

afterEach(async () => {
  for (const project of projects.splice(0)) expect(await cleanUpProject(project), `processes of ${project.dir} left behind`).toEqual([]);
});

async function stage(withNativeBuild: boolean): Promise<StagedProject> {
  const project = await stageConsumerProject(files, { withNativeBuild, projectVersion: '3.4.5' });
  projects.push(project);
  writeFileSync(path.join(project.dir, 'drover.yaml'), CONFIG);
  return project;
}

describe('drover --version in a consumer project', () => {
  it("prints drover's own version, not the project's", async () => {
    const project = await stage(false);
    expect(PACKAGE_JSON.version).not.toBe('3.4.5');
    const result = await runBin(project, ['--version']);
    expect(result).toMatchObject({ code: 0, stdout: `${PACKAGE_JSON.version}\n`, stderr: '' });
  });
});

describe('a consumer project whose native build is missing', () => {
  /** What each failure must say: the command to run in this project, never the repo's `npm run build`. */
  function expectBuildHint(project: StagedProject, stderr: string): void {
    expect(stderr).toContain(`run \`npm rebuild drover\` in ${project.dir}`);
    expect(stderr).not.toContain('npm run build');
    expect(stderr).not.toMatch(/\n\s+at /); // no stack trace
  }

  it('up -d fails at once with what to run, exit 1; ps and down then answer that nothing runs', async () => {
    const project = await stage(false);
    const env = { DROVER_STATE_DIR: makeStateDir(project.dir) };
    const up = await runBin(project, ['up', '--wait'], env);
    expect(up.hung).toBe(false);
    expect(up.ms).toBeLessThan(10_000);
    expect(up.code).toBe(1);
    expect(up.stdout).toBe('');
    expect(up.stderr).toMatch(/^drover: drover's native build is missing or incomplete: the addon could not be loaded/);
    expectBuildHint(project, up.stderr);
    for (const command of ['ps', 'down']) {
      const client = await runBin(project, [command], env);
      expect(client.stderr, command).toBe('drover: no running cluster for drover.yaml; start one with `drover up -f drover.yaml`\n');
      expect(client.code, command).toBe(1);
    }
  });

  it('up -d with the addon built but the shepherd missing fails the same way and starts no background up', async () => {
    const project = await stage(true);
    unlinkSync(path.join(project.packageDir, 'native', 'build', 'Release', 'shepherd'));
    const env = { DROVER_STATE_DIR: makeStateDir(project.dir) };
    const up = await runBin(project, ['up', '--wait'], env);
    expect(up.hung).toBe(false);
    expect(up.code).toBe(1);
    expect(up.stdout).toBe('');
    expect(up.stderr).toMatch(/^drover: drover's native build is missing or incomplete: the shepherd binary is not there/);
    expectBuildHint(project, up.stderr);
    const ps = await runBin(project, ['ps'], env);
    expect(ps).toMatchObject({ code: 1, stderr: 'drover: no running cluster for drover.yaml; start one with `drover up -f drover.yaml`\n' });
  });

  it('a foreground up fails at once too', async () => {
    const project = await stage(false);
    const up = await runBin(project, ['up', '--no-tty'], { DROVER_STATE_DIR: makeStateDir(project.dir) });
    expect(up.hung).toBe(false);
    expect(up.code).toBe(1);
    expectBuildHint(project, up.stderr);
  });
});
