/**
 * drover as a consumer gets it: the files `npm pack` would ship, laid out as an installed
 * dependency of a fresh project. The fast tests stage that install without npm (the packed files
 * copied to `node_modules/drover`, drover's dependencies linked from this repository's
 * node_modules, the bin linked as npm links it); the slow consumer test installs the real tarball.
 */
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { waitFor } from '../helpers/wait-for.js';

const run = promisify(execFile);

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** This repository's package.json (what `npm pack` publishes). */
export const PACKAGE_JSON = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  files: string[];
  os?: string[];
  repository?: { type: string; url: string };
  homepage?: string;
  bin: Record<string, string>;
  exports: Record<string, string | Record<string, string>>;
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/** The native build of this checkout (`npm install` made it): addon, shepherd, launcher. */
export const REPO_BUILD_DIR = path.join(REPO_ROOT, 'native', 'build', 'Release');
export const NATIVE_BUILD_FILES = ['drover_native.node', 'shepherd', 'launcher'] as const;

/** `tsc` of this repository (the consumer type checks use the same TypeScript the repo builds with). */
export const TSC = path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

/**
 * Paths `npm pack` would put in the tarball, relative to the package root, sorted. Lifecycle
 * scripts are skipped (`prepare` would rebuild dist/, which the test run has built already).
 */
export async function listPackedFiles(): Promise<string[]> {
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 });
  const [report] = JSON.parse(stdout) as [{ files: { path: string }[] }];
  return report.files.map((f) => f.path).sort();
}

/**
 * Dependencies copied into the staged project instead of linked: Node runs a linked package from
 * its real path, and yargs looks for "the program's" package.json above its own real location,
 * which in a consumer's install is the consumer project.
 */
const COPIED_DEPENDENCIES = new Set(['yargs']);

export interface StageOptions {
  /** Copy this checkout's native build into the staged package, as the install script would have built it. @default false */
  readonly withNativeBuild?: boolean;
  /** `version` of the consumer project's own package.json. @default '3.4.5' */
  readonly projectVersion?: string;
  /** Extra `scripts` of the consumer project. */
  readonly scripts?: Record<string, string>;
}

export interface StagedProject {
  /** The consumer project's directory (its package.json, node_modules). */
  readonly dir: string;
  /** `<dir>/node_modules/drover`. */
  readonly packageDir: string;
  /** `<dir>/node_modules/.bin/drover`, linked as npm links a bin. */
  readonly bin: string;
}

/**
 * A fresh project in a new temporary directory with drover "installed": the packed files copied
 * to node_modules/drover, every top-level entry of this repository's node_modules linked beside it
 * (drover's dependencies and the consumer's vitest, typescript, @types/node), the bin linked.
 */
export async function stageConsumerProject(files: readonly string[], options: StageOptions = {}): Promise<StagedProject> {
  const dir = mkdtempSync(path.join(tmpdir(), 'drover-consumer-'));
  const modules = path.join(dir, 'node_modules');
  const packageDir = path.join(modules, 'drover');
  writeFileSync(
    path.join(dir, 'package.json'),
    `${JSON.stringify({ name: 'consumer-app', version: options.projectVersion ?? '3.4.5', private: true, type: 'module', scripts: { drover: 'drover', ...options.scripts } }, null, 2)}\n`,
  );
  for (const file of files) {
    mkdirSync(path.dirname(path.join(packageDir, file)), { recursive: true });
    copyFileSync(path.join(REPO_ROOT, file), path.join(packageDir, file));
  }
  if (options.withNativeBuild === true) {
    const release = path.join(packageDir, 'native', 'build', 'Release');
    mkdirSync(release, { recursive: true });
    for (const name of NATIVE_BUILD_FILES) {
      copyFileSync(path.join(REPO_BUILD_DIR, name), path.join(release, name));
      chmodSync(path.join(release, name), 0o755);
    }
  }
  const repoModules = path.join(REPO_ROOT, 'node_modules');
  for (const entry of readdirSync(repoModules)) {
    if (entry === 'drover' || entry.startsWith('.')) continue;
    if (COPIED_DEPENDENCIES.has(entry)) cpSync(path.join(repoModules, entry), path.join(modules, entry), { recursive: true });
    else symlinkSync(path.join(repoModules, entry), path.join(modules, entry));
  }
  // npm links each bin relative to node_modules/.bin and makes its target executable.
  const binTarget = path.join(packageDir, PACKAGE_JSON.bin.drover!);
  chmodSync(binTarget, 0o755);
  mkdirSync(path.join(modules, '.bin'));
  const bin = path.join(modules, '.bin', 'drover');
  symlinkSync(path.relative(path.dirname(bin), binTarget), bin);
  return { dir, packageDir, bin };
}

/**
 * Live processes that belong to a consumer project under `dir`: its executable, working
 * directory or command line is in it (drover's CLI, the shepherds and launcher of an installed
 * build, the nodes a config there starts, npm and npx run there). This test process is left out.
 */
export function findProcessesUnder(dir: string): { pid: number; state: string; cmdline: string }[] {
  const root = realpathSync(dir);
  const found: { pid: number; state: string; cmdline: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      const links = ['exe', 'cwd'].map((link) => {
        try {
          return readlinkSync(`/proc/${entry}/${link}`);
        } catch {
          return '';
        }
      });
      const inside = (p: string) => p === root || p.startsWith(`${root}/`);
      if (links.some(inside) || cmdline.includes(root) || cmdline.includes(dir)) found.push({ pid: Number(entry), state, cmdline });
    } catch {
      // Ended between readdir and read, or a kernel thread.
    }
  }
  return found;
}

/**
 * The environment of a command run in a consumer project: npm's own variables of an outer
 * `npm test` (npm_config_local_prefix, npm_lifecycle_event …) removed, so an inner npm or npx
 * finds the consumer project, not this repository.
 */
export function getConsumerEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key) && key !== 'INIT_CWD'));
  return { ...env, NO_COLOR: '1', ...extra };
}

/**
 * A private state dir (mode 0700) for the CLI runs of one project, inside the project's directory
 * (so the project's cleanup removes it), so they never meet another test's cluster.
 */
export function makeStateDir(projectDir: string): string {
  const dir = path.join(projectDir, '.drover-state');
  mkdirSync(dir, { mode: 0o700 });
  return dir;
}

/**
 * The cleanup of a consumer-project test: waits (bounded) until no process of the project is
 * left; if some are, SIGKILLs them (they run from this test's own temporary directory, so the test
 * started them) and returns their list for the test to fail on. The directory is removed.
 */
export async function cleanUpProject(project: { readonly dir: string }, timeoutMs = 10_000): Promise<{ pid: number; state: string; cmdline: string }[]> {
  let left: ReturnType<typeof findProcessesUnder> = [];
  try {
    await waitFor(() => findProcessesUnder(project.dir), (list) => list.length === 0, { timeoutMs, describe: `no process of ${project.dir} left` });
  } catch {
    left = findProcessesUnder(project.dir);
  }
  for (const p of left) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  }
  rmSync(project.dir, { recursive: true, force: true });
  return left;
}
