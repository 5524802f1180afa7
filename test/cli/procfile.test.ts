/**
 * `drover up -f Procfile` with real processes: three services from one Procfile, each serving on
 * its own $PORT (checked through the ports), the .env beside it in their environment, and
 * `drover config --from Procfile` printing the equivalent drover.yaml.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanupDetachedRun, readPsRows, runCli } from '../helpers/cli.js';
import { findShepherds } from '../helpers/processes.js';

const SERVICE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'procfile-service.mjs');

let dir: string;
let env: NodeJS.ProcessEnv;
const pids = new Set<number>();

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'drover-procfile-cli-'));
  env = { DROVER_STATE_DIR: path.join(dir, 'state') };
});

afterEach(async () => {
  await cleanupDetachedRun(pids);
});

function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/' }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

const line = (name: string) => `${name}: exec ${process.execPath} ${SERVICE} ${name} $PORT`;

describe('drover up -f Procfile', () => {
  it('runs three services on distinct ports with the .env applied', { timeout: 60_000 }, async () => {
    const procfile = path.join(dir, 'Procfile');
    writeFileSync(procfile, `# three services\n${line('web')}\n\n${line('api')}\n${line('worker')}\n`);
    writeFileSync(path.join(dir, '.env'), 'GREETING=hello\nPORT=1\n');

    const up = await runCli(['up', '--wait', '-f', procfile], env);
    expect([up.code, up.stderr]).toEqual([0, '']);
    pids.add(Number(/drover up pid (\d+)/.exec(up.stdout)![1]));
    findShepherds().forEach((p) => pids.add(p));
    const rows = await readPsRows(procfile, env, pids);
    expect(rows.map((r) => [r.name, r.state])).toEqual([
      ['web', 'ready'],
      ['api', 'ready'],
      ['worker', 'ready'],
    ]);
    const ports = rows.map((r) => r.ports.port!);
    expect(new Set(ports).size).toBe(3);
    // Each answers on its own port with its name, the .env's GREETING and PORT (drover's, not the .env's 1).
    expect(await Promise.all(ports.map(get))).toEqual(rows.map((r, i) => `${r.name} hello ${ports[i]}`));
    expect((await runCli(['down', '-f', procfile], env)).code).toBe(0);
  });

  it('config --from Procfile prints the equivalent drover.yaml, which loads as it is', { timeout: 30_000 }, async () => {
    writeFileSync(path.join(dir, 'Procfile'), 'web: serve --port $PORT\nworker: ./work  # stays in the command\n');
    writeFileSync(path.join(dir, '.env'), 'A=1\n');
    const result = await runCli(['config', '--from', 'Procfile'], env, { cwd: dir });
    expect([result.code, result.stderr]).toEqual([0, '']);
    const yaml = [
      '# drover.yaml equivalent of Procfile (drover config --from Procfile).',
      '# Save it beside the Procfile: cwd and envFile are relative to the config file.',
      '# Each node runs its command through /bin/sh -c and gets a free port `port`, exposed as PORT.',
      '',
      `name: ${path.basename(dir)}`,
      'nodes:',
      '  web:',
      '    command: serve --port $PORT',
      '    shell: true',
      '    ports:',
      '      - port',
      '    envFile: .env',
      '    env:',
      '      PORT: "{{ports.port}}"',
      '  worker:',
      '    command: "./work  # stays in the command"',
      '    shell: true',
      '    ports:',
      '      - port',
      '    envFile: .env',
      '    env:',
      '      PORT: "{{ports.port}}"',
      '',
    ].join('\n');
    expect(result.stdout).toBe(yaml);
    writeFileSync(path.join(dir, 'drover.yaml'), result.stdout);
    const same = await runCli(['config', '--from', 'Procfile', '--json'], env, { cwd: dir });
    const validate = await runCli(['validate', '--json'], env, { cwd: dir });
    expect(JSON.parse(validate.stdout)).toMatchObject({ valid: true, nodes: ['web', 'worker'] });
    expect(JSON.parse(same.stdout)).toMatchObject({ nodes: { worker: { command: './work  # stays in the command' } } });
  });

  it('a bad Procfile line is an error naming the file and the line, exit 1', { timeout: 30_000 }, async () => {
    writeFileSync(path.join(dir, 'Procfile'), 'web: serve\nweb serve\n');
    for (const args of [['config', '--from', 'Procfile'], ['validate', '-f', 'Procfile']]) {
      const result = await runCli(args, env, { cwd: dir });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`Invalid config ${path.join(dir, 'Procfile')}:\n  - line 2: expected "name: command"`);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
  });
});
