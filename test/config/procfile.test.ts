/**
 * Procfiles as configs: the line format (foreman's regex; comments and blank lines skipped, any
 * other line an error with its number), what each line becomes (sh -c, a port exposed as PORT,
 * the .env beside it as envFile), and validation errors naming the Procfile.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/index.js';
import { isProcfilePath, parseProcfile } from '../../config/procfile.js';

function project(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'drover-procfile-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

describe('Procfile', () => {
  it('is recognised by its basename: Procfile or Procfile.<suffix>', () => {
    expect(['/a/Procfile', 'Procfile.dev', '/x/Procfile.test'].map(isProcfilePath)).toEqual([true, true, true]);
    expect(['/a/drover.yaml', 'Procfile.', 'MyProcfile', '/Procfile/drover.yaml'].map(isProcfilePath)).toEqual([false, false, false, false]);
  });

  it('one node per line; comments and blank lines skipped; the command keeps everything after the first colon', () => {
    const result = parseProcfile('# a comment\n\nweb: bundle exec rails s -p $PORT\n  \nworker:   sidekiq -c 5 -e x:y\r\n', '/srv/shop/Procfile', false);
    expect(result).toEqual({
      ok: true,
      data: {
        name: 'shop',
        nodes: {
          web: { command: 'bundle exec rails s -p $PORT', shell: true, ports: ['port'], env: { PORT: '{{ports.port}}' } },
          worker: { command: 'sidekiq -c 5 -e x:y', shell: true, ports: ['port'], env: { PORT: '{{ports.port}}' } },
        },
      },
    });
  });

  it('names every line that is not "name: command", and a name given twice', () => {
    const result = parseProcfile('web: run\nweb.2: other\nno colon here\nweb: again\n', '/p/Procfile', false);
    expect(result.ok).toBe(false);
    expect(result.ok ? [] : result.issues).toEqual([
      { path: 'line 2', message: 'expected "name: command" (name of letters, digits, "_" and "-"), a blank line or a # comment, got "web.2: other"' },
      { path: 'line 3', message: 'expected "name: command" (name of letters, digits, "_" and "-"), a blank line or a # comment, got "no colon here"' },
      { path: 'line 4', message: 'process web is already defined on line 1; each name may appear once' },
    ]);
    const empty = parseProcfile('# nothing\n', '/p/Procfile', false);
    expect(empty.ok ? [] : empty.issues).toEqual([{ path: 'line 1', message: 'expected at least one "name: command" line, got none' }]);
  });

  it('loads as a cluster: sh -c, a free port exposed as PORT (over the .env\'s), the .env in every node\'s env', async () => {
    const dir = project({ Procfile: 'web: serve --port $PORT\nclock: ./clock\n', '.env': 'GREETING=hello\nPORT=1\n' });
    const { spec } = await loadConfig(path.join(dir, 'Procfile'));
    expect(spec.name).toBe(path.basename(dir));
    expect(spec.configPath).toBe(path.join(dir, 'Procfile'));
    expect(spec.nodes.map((n) => [n.name, n.command, n.cwd, n.ports, n.env])).toEqual([
      ['web', ['/bin/sh', '-c', 'serve --port $PORT'], dir, ['port'], { GREETING: 'hello', PORT: '{{ports.port}}' }],
      ['clock', ['/bin/sh', '-c', './clock'], dir, ['port'], { GREETING: 'hello', PORT: '{{ports.port}}' }],
    ]);
  });

  it('without a .env, nodes get only PORT', async () => {
    const dir = project({ 'Procfile.dev': 'web: serve\n' });
    const { spec } = await loadConfig(path.join(dir, 'Procfile.dev'));
    expect(spec.nodes[0]!.env).toEqual({ PORT: '{{ports.port}}' });
  });

  it('errors name the Procfile and the line, or the node', async () => {
    const dir = project({ Procfile: 'web: serve\nweb serve\n', 'Procfile.names': '_web: serve\n' });
    await expect(loadConfig(path.join(dir, 'Procfile'))).rejects.toMatchObject({
      code: 'ERR_CONFIG_INVALID',
      message: expect.stringContaining(`Invalid config ${path.join(dir, 'Procfile')}:\n  - line 2: expected "name: command"`),
    });
    // foreman accepts a name starting with "_"; a drover node name may not.
    await expect(loadConfig(path.join(dir, 'Procfile.names'))).rejects.toMatchObject({
      code: 'ERR_CONFIG_INVALID',
      message: expect.stringMatching(new RegExp(`Invalid config ${path.join(dir, 'Procfile.names').replace(/[.]/g, '\\.')}:\\n  - nodes\\._web`)),
    });
  });

  it('merges with a drover.yaml given after it (-f Procfile -f drover.yaml): readiness added to a Procfile node', async () => {
    const dir = project({ Procfile: 'web: serve\n', 'drover.yaml': 'nodes:\n  web:\n    ready: { tcp: port }\n' });
    const { spec } = await loadConfig([path.join(dir, 'Procfile'), path.join(dir, 'drover.yaml')]);
    expect(spec.nodes[0]!.ready).toMatchObject({ kind: 'tcp', port: '{{ports.port}}' });
  });
});
