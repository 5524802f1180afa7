/**
 * `watch` and `output.file` through the CLI: a background `drover up -d` restarts the watched node
 * and its dependent once on a file change (`drover ps` counts the restarts), writes every node's
 * output to its file from the cluster-wide `output.file`, and `drover logs` still reads the ring
 * buffer; a missing watched path fails `up` with a message naming node and path.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanupDetachedRun, readPsRows, runCli } from '../helpers/cli.js';
import { findShepherds } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';

const FOREVER = `[${JSON.stringify(process.execPath)}, -e, "console.log('hello from', process.env.DROVER_NODE_NAME ?? 'node'); setInterval(() => {}, 1 << 30)"]`;

let dir: string;
let env: NodeJS.ProcessEnv;
const pids = new Set<number>();

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'drover-watch-cli-'));
  env = { DROVER_STATE_DIR: path.join(dir, 'state') };
});

afterEach(async () => {
  await cleanupDetachedRun(pids);
});

describe('watch and output.file from the CLI', () => {
  it('up -d: a change restarts the watched node and its dependent once; output goes to files and logs still reads the ring buffer', { timeout: 60_000 }, async () => {
    mkdirSync(path.join(dir, 'src'));
    const file = path.join(dir, 'drover.yaml');
    writeFileSync(
      file,
      `name: dev
output: { file: { path: 'logs/{{node}}.log' } }
nodes:
  db: { command: ${FOREVER}, ready: { log: hello } }
  api: { command: ${FOREVER}, ready: { log: hello }, dependsOn: [db], watch: { paths: src, debounce: 100ms, restartDependents: true } }
  web: { command: ${FOREVER}, ready: { log: hello }, dependsOn: [api] }
`,
    );
    const up = await runCli(['up', '--wait', '-f', file], env);
    expect([up.code, up.stderr]).toEqual([0, '']);
    pids.add(Number(/drover up pid (\d+)/.exec(up.stdout)![1]));
    findShepherds().forEach((p) => pids.add(p));

    writeFileSync(path.join(dir, 'src', 'main.js'), 'changed');
    const rows = await waitFor(
      () => readPsRows(file, env, pids),
      (r) => r.every((row) => row.state === 'ready') && r.find((row) => row.name === 'web')!.restarts === 1,
      { describe: 'api and web restarted once, all ready' },
    );
    expect(rows.map((r) => [r.name, r.restarts])).toEqual([['db', 0], ['api', 1], ['web', 1]]);

    // api ran twice: two lines in its file; db once.
    const apiLog = path.join(dir, 'logs', 'api.log');
    await waitFor(() => (existsSync(apiLog) ? readFileSync(apiLog, 'utf8') : ''), (t) => t.split('\n').filter((l) => l.includes('hello from')).length === 2, {
      describe: 'two runs of api in logs/api.log',
    });
    expect(readFileSync(path.join(dir, 'logs', 'db.log'), 'utf8')).toMatch(/^\d\d:\d\d:\d\d\.\d{3} stdout hello from \S+\n$/);
    const logs = await runCli(['logs', 'api', '-f', file], env);
    expect(logs.stdout.split('\n').filter((l) => l.includes('hello from'))).toHaveLength(2);
    expect((await runCli(['down', '-f', file], env)).code).toBe(0);
  });

  it('up with a watched path that does not exist fails naming node and path, nothing left running', { timeout: 30_000 }, async () => {
    const file = path.join(dir, 'drover.yaml');
    writeFileSync(file, `name: dev\nnodes:\n  api: { command: ${FOREVER}, watch: { paths: nowhere } }\n`);
    const up = await runCli(['up', '-f', file], env, { killAfterMs: 20_000 });
    expect(up.killed).toBe(false);
    expect(up.code).toBe(2); // EXIT_NODE_FAILED
    const output = up.stdout + up.stderr;
    expect(output).toContain(`node api: watch.paths: ${path.join(dir, 'nowhere')}: no such file or directory`);
    expect(output).not.toMatch(/\n\s+at /);
    expect(findShepherds().filter((p) => !pids.has(p))).toEqual([]);
  });
});
