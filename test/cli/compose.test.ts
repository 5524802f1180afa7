/**
 * Config composition through the CLI: three `-f` files merged in order with a profile, as
 * `drover config --sources` shows them and as `drover up -d` runs them (the background `up` gets
 * every file and the profile); an unknown profile leaves its nodes out.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanupDetachedRun, readPsRows, runCli } from '../helpers/cli.js';
import { findShepherds } from '../helpers/processes.js';

const FOREVER = `[${JSON.stringify(process.execPath)}, -e, "console.log(process.env.ROLE); setInterval(() => {}, 1 << 30)"]`;

let dir: string;
let env: NodeJS.ProcessEnv;
const pids = new Set<number>();

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'drover-compose-cli-'));
  env = { DROVER_STATE_DIR: path.join(dir, 'state') };
});

afterEach(async () => {
  await cleanupDetachedRun(pids);
});

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe('several -f files and profiles', () => {
  it('config --sources shows the merge of three files with a profile, and up -d runs exactly that', { timeout: 60_000 }, async () => {
    const base = write('drover.yaml', `name: shop\nnodes:\n  api:\n    command: ${FOREVER}\n    env: { ROLE: api, LEVEL: info }\n  tracer:\n    command: ${FOREVER}\n    env: { ROLE: tracer }\n    profiles: [debug]\n`);
    const dev = write('drover.dev.yaml', 'nodes:\n  api:\n    env: { LEVEL: debug }\n    ports: [http]\n');
    const ci = write('drover.ci.yaml', `nodes:\n  api:\n    replicas: 2\n  worker:\n    extends: api\n    env: { ROLE: worker }\n`);
    const files = ['-f', base, '-f', dev, '-f', ci];
    const sources = await runCli(['config', ...files, '--profile', 'debug', '--sources'], env, { cwd: dir });
    expect([sources.code, sources.stderr]).toEqual([0, '']);
    expect(sources.stdout).toBe(
      [
        '# composed from drover.yaml, drover.dev.yaml, drover.ci.yaml',
        'name: shop # drover.yaml',
        'nodes:',
        '  api:',
        `    command: [ ${process.execPath}, -e, "console.log(process.env.ROLE); setInterval(() => {}, 1 << 30)" ] # drover.yaml`,
        '    env:',
        '      ROLE: api # drover.yaml',
        '      LEVEL: debug # drover.dev.yaml',
        '    ports: [ http ] # drover.dev.yaml',
        '    replicas: 2 # drover.ci.yaml',
        '  tracer:',
        `    command: [ ${process.execPath}, -e, "console.log(process.env.ROLE); setInterval(() => {}, 1 << 30)" ] # drover.yaml`,
        '    env:',
        '      ROLE: tracer # drover.yaml',
        '  worker:',
        `    command: [ ${process.execPath}, -e, "console.log(process.env.ROLE); setInterval(() => {}, 1 << 30)" ] # drover.yaml`,
        '    env:',
        '      ROLE: worker # drover.ci.yaml',
        '      LEVEL: debug # drover.dev.yaml',
        '    ports: [ http ] # drover.dev.yaml',
        '    replicas: 2 # drover.ci.yaml',
        '',
      ].join('\n'),
    );
    const json = JSON.parse((await runCli(['config', ...files, '--sources', '--json'], env, { cwd: dir })).stdout) as { config: { nodes: Record<string, unknown> }; sources: Record<string, string> };
    expect(Object.keys(json.config.nodes)).toEqual(['api', 'worker']); // no profile: tracer left out
    expect(json.sources['nodes.api.env.LEVEL']).toBe('drover.dev.yaml');

    const up = await runCli(['up', '--wait', ...files, '--profile', 'debug'], env);
    expect([up.code, up.stderr]).toEqual([0, '']);
    pids.add(Number(/drover up pid (\d+)/.exec(up.stdout)![1]));
    findShepherds().forEach((p) => pids.add(p));
    const rows = await readPsRows(base, env, pids); // the first file names the cluster
    expect(rows.map((r) => [r.name, r.replica, r.state, Object.keys(r.ports ?? {})])).toEqual([
      ['api', 0, 'ready', ['http']],
      ['api', 1, 'ready', ['http']],
      ['tracer', 0, 'ready', []],
      ['worker', 0, 'ready', ['http']],
      ['worker', 1, 'ready', ['http']],
    ]);
    const logs = await runCli(['logs', 'worker', '-f', base], env);
    expect(logs.stdout).toMatch(/^worker +\| worker$/m); // replica 0 is shown as `worker`
    expect(logs.stdout).toMatch(/^worker\[1\] \| worker$/m);
    expect((await runCli(['down', '-f', base], env)).code).toBe(0);
  });

  it('an error in a later file names that file', { timeout: 30_000 }, async () => {
    const base = write('drover.yaml', `name: shop\nnodes:\n  api:\n    command: ${FOREVER}\n`);
    const bad = write('drover.bad.yaml', 'nodes:\n  api:\n    extends: nope\n');
    const result = await runCli(['validate', '-f', base, '-f', bad], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/drover\.yaml: *\n? *- nodes\.api\.extends: no node "nope" to extend|nodes\.api\.extends: no node "nope" to extend/);
    expect(result.stderr).toContain(bad);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
