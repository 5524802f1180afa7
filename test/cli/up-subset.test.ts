/**
 * `drover up NODE…` starts those nodes and their dependencies (`--no-deps`: exactly those), the
 * others stay `pending`; `drover start NODE` starts a dependency that is down first. Real CLI,
 * real processes, background `up`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLI, CliProcess, runCli } from '../helpers/cli.js';
import { FIXTURES_DIR } from '../helpers/fixtures.js';
import { expectAllGone } from '../helpers/processes.js';

/** Runs the built CLI in `cwd` to completion (NO_COLOR=1). */
const runIn = (cwd: string, args: string[], env: NodeJS.ProcessEnv = {}) => runCli(args, env, { cwd });

/** a; b depends on a (ready); c depends on b (started). */
function writeConfig(dir: string): string {
  const file = path.join(dir, 'drover.yaml');
  const forever = `[${JSON.stringify(process.execPath)}, ${JSON.stringify(path.join(FIXTURES_DIR, 'forever.mjs'))}]`;
  writeFileSync(
    file,
    `name: subset
nodes:
  a:
    command: ${forever}
    stop: { timeout: 3s }
  b:
    command: ${forever}
    dependsOn: { a: ready }
    stop: { timeout: 3s }
  c:
    command: ${forever}
    dependsOn: { b: started }
    stop: { timeout: 3s }
`,
  );
  return file;
}

type Row = { name: string; state: string; pid: number | null };

let dir: string;
let env: NodeJS.ProcessEnv;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'drover-up-subset-'));
  env = { DROVER_STATE_DIR: path.join(dir, 'state') };
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function ps(file: string): Promise<Row[]> {
  const out = await runIn(dir, ['ps', '--json', '-f', file], env);
  expect(out.code, out.stderr).toBe(0);
  return JSON.parse(out.stdout) as Row[];
}

describe('drover up NODE…', () => {
  it('up -d b starts a and b, not c; drover start c later starts it', async () => {
    const file = writeConfig(dir);
    const up = await runIn(dir, ['up', '--wait', '-f', file, 'b'], env);
    const manager = Number(/drover up pid (\d+)/.exec(up.stdout)?.[1]);
    const pids = new Set<number>();
    try {
      expect(up.code, up.stdout + up.stderr).toBe(0);
      expect(up.stdout).toMatch(/is up in the background \(drover up pid \d+\): 2\/2 nodes ready$/m);
      const rows = await ps(file);
      expect(rows.map((r) => [r.name, r.state])).toEqual([['a', 'ready'], ['b', 'ready'], ['c', 'pending']]);
      const start = await runIn(dir, ['start', '-f', file, 'c'], env);
      expect(start.code, start.stdout + start.stderr).toBe(0);
      const after = await ps(file);
      expect(after.map((r) => [r.name, r.state])).toEqual([['a', 'ready'], ['b', 'ready'], ['c', 'ready']]);
      for (const row of after) if (row.pid !== null) pids.add(row.pid);
    } finally {
      const down = await runIn(dir, ['down', '-f', file], env);
      expect(down.code, down.stderr).toBe(0);
    }
    expect(pids.size).toBe(3);
    await expectAllGone([manager, ...pids]);
  });

  it('up -d --no-deps c starts only c (its dependency is not waited for); drover start b starts a first', async () => {
    const file = writeConfig(dir);
    const up = await runIn(dir, ['up', '--wait', '--no-deps', '-f', file, 'c'], env);
    const manager = Number(/drover up pid (\d+)/.exec(up.stdout)?.[1]);
    const pids = new Set<number>();
    try {
      expect(up.code, up.stdout + up.stderr).toBe(0);
      expect(up.stdout).toMatch(/1\/1 nodes ready$/m);
      expect((await ps(file)).map((r) => [r.name, r.state])).toEqual([['a', 'pending'], ['b', 'pending'], ['c', 'ready']]);
      const start = await runIn(dir, ['start', '-f', file, 'b'], env);
      expect(start.code, start.stdout + start.stderr).toBe(0);
      const after = await ps(file);
      expect(after.map((r) => [r.name, r.state])).toEqual([['a', 'ready'], ['b', 'ready'], ['c', 'ready']]);
      for (const row of after) if (row.pid !== null) pids.add(row.pid);
      // a stopped again: starting b after a stop of both starts a first too.
      expect((await runIn(dir, ['stop', '-f', file, 'b', 'a'], env)).code).toBe(0);
      expect((await ps(file)).map((r) => [r.name, r.state])).toEqual([['a', 'stopped'], ['b', 'stopped'], ['c', 'ready']]);
      expect((await runIn(dir, ['start', '-f', file, 'b'], env)).code).toBe(0);
      const again = await ps(file);
      expect(again.map((r) => [r.name, r.state])).toEqual([['a', 'ready'], ['b', 'ready'], ['c', 'ready']]);
      for (const row of again) if (row.pid !== null) pids.add(row.pid);
    } finally {
      const down = await runIn(dir, ['down', '-f', file], env);
      expect(down.code, down.stderr).toBe(0);
    }
    await expectAllGone([manager, ...pids]);
  });

  it('foreground up b: says what it starts, starts a and b, c stays pending; Ctrl-C stops them', async () => {
    const file = writeConfig(dir);
    const up = new CliProcess(['up', '--no-tty', '-f', file, 'b'], env);
    const pids = new Set<number>();
    try {
      await up.waitForStdout('starting cluster subset: b and their dependencies', 'the start line naming the subset');
      await up.waitForStdout('cluster subset: 2/2 nodes ready', 'the start summary');
      const rows = await ps(file);
      expect(rows.map((r) => [r.name, r.state])).toEqual([['a', 'ready'], ['b', 'ready'], ['c', 'pending']]);
      for (const row of rows) if (row.pid !== null) pids.add(row.pid);
    } finally {
      up.child.kill('SIGINT');
      expect(await up.closed, up.stdout + up.stderr).toBe(0);
    }
    await expectAllGone([up.child.pid!, ...pids]);
  });

  it('an unknown node name is refused before anything starts, naming it and the known nodes', async () => {
    const file = writeConfig(dir);
    const up = await runIn(dir, ['up', '--wait', '-f', file, 'b', 'nope'], env);
    expect(up.code).toBe(1);
    expect(up.stderr).toContain('unknown node nope; the nodes are a, b, c');
  });
});
