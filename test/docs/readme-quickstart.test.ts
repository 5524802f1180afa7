/**
 * README's library quick start works as written: its drover.yaml and its vitest test, copied into
 * a fresh project that resolves `drover` to this package (the built `dist/`), pass under vitest,
 * and nothing they started is left running afterwards.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { marked, type Token, type Tokens } from 'marked';
import { afterAll, describe, expect, it } from 'vitest';
import { expectAllGone, findByEnv } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SECTION = '30 seconds: a cluster in a vitest test';
/** Every process of the run inherits this variable, so the leak check finds whatever is left. */
const MARKER = 'DROVER_README_QUICKSTART';

/** The code blocks of README's quick-start section, by language. */
function getQuickStartBlocks(): { yaml: string; ts: string } {
  const tokens = marked.lexer(readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8'));
  const start = tokens.findIndex((t) => t.type === 'heading' && (t as Tokens.Heading).text === SECTION);
  expect(start, `README has a section "${SECTION}"`).toBeGreaterThanOrEqual(0);
  const section: Token[] = [];
  for (const token of tokens.slice(start + 1)) {
    if (token.type === 'heading' && (token as Tokens.Heading).depth <= 2) break;
    section.push(token);
  }
  const code = (lang: string) => section.filter((t): t is Tokens.Code => t.type === 'code' && t.lang === lang).map((t) => t.text);
  const [yaml, ...moreYaml] = code('yaml');
  const [ts, ...moreTs] = code('ts');
  expect([moreYaml.length, moreTs.length], 'one yaml and one ts block').toEqual([0, 0]);
  return { yaml: yaml!, ts: ts! };
}

let project: string | null = null;

afterAll(() => {
  if (project === null) return;
  // The links first, so removing the project can never reach this repository.
  unlinkSync(path.join(project, 'node_modules', 'drover'));
  unlinkSync(path.join(project, 'node_modules', 'vitest'));
  rmSync(project, { recursive: true, force: true });
});

describe('README quick start', () => {
  it('the drover.yaml and vitest test of README pass as written and leave no process behind', async () => {
    const { yaml, ts } = getQuickStartBlocks();
    project = mkdtempSync(path.join(tmpdir(), 'drover-readme-'));
    mkdirSync(path.join(project, 'node_modules'));
    symlinkSync(REPO_ROOT, path.join(project, 'node_modules', 'drover'), 'dir');
    symlinkSync(path.join(REPO_ROOT, 'node_modules', 'vitest'), path.join(project, 'node_modules', 'vitest'), 'dir');
    writeFileSync(path.join(project, 'drover.yaml'), yaml);
    writeFileSync(path.join(project, 'web.test.ts'), ts);

    const marker = randomUUID();
    const child = spawn(process.execPath, [path.join(project, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--root', project], {
      cwd: project,
      env: { ...process.env, [MARKER]: marker, NO_COLOR: '1', CI: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    // Sample the run's processes (vitest, its worker, the launcher, shepherds, the node) while it runs.
    const seen = new Set<number>();
    const sampler = setInterval(() => findByEnv(MARKER, marker).forEach((pid) => seen.add(pid)), 50);
    const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
    clearInterval(sampler);
    clearTimeout(guard);

    expect({ code, signal, output }).toMatchObject({ code: 0, signal: null });
    expect(output).toMatch(/Tests\s+1 passed/);
    expect(seen.size, 'the run was observed').toBeGreaterThan(0);
    await expectAllGone(seen);
    const left = await waitFor(() => findByEnv(MARKER, marker), (pids) => pids.length === 0, { timeoutMs: 5000, describe: 'no process of the README run left' });
    expect(left).toEqual([]);
  }, 90_000);
});
