/**
 * Config composition: several files merged in order, include, extends and profiles, with the file
 * each value came from; errors name the file and the key.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { composeConfigFiles, loadConfig, normalizeConfig } from '../../config/loader.js';
import { isDroverError } from '../../contract/errors.js';

let dir = '';
afterEach(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
  dir = '';
});

/** Writes `files` (relative path → YAML text) into a fresh directory; returns its path. */
function writeFiles(files: Record<string, string>): string {
  dir = mkdtempSync(join(tmpdir(), 'drover-compose-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

const BASE = `name: shop
include: [shared/cache.yaml]
nodes:
  web:
    command: [node, web.js]
    ports: [http]
    env: { LOG_LEVEL: info, REGION: eu }
    dependsOn: [cache]
  worker:
    extends: web
    command: [node, worker.js]
  debugger:
    command: [node, inspect.js]
    profiles: [debug]
  metrics:
    extends: { node: exporter, file: shared/templates.yaml }
    profiles: [ops, debug]
`;
const SHARED = {
  'shared/cache.yaml': `name: ignored
nodes:
  cache:
    command: [redis-server, --port, '0']
    envFile: cache.env
`,
  'shared/cache.env': 'MAXMEMORY=64mb\n',
  'shared/templates.yaml': `name: templates
nodes:
  exporter:
    command: [node, exporter.js]
    env: { SCRAPE: 15s }
    profiles: [never]
`,
};

describe('config composition', () => {
  it('merges files in order (maps merge, lists replace), includes nodes with their paths, extends within and across files, and keeps profiled nodes out until enabled', async () => {
    const root = writeFiles({
      'drover.yaml': BASE,
      'drover.override.yaml': 'nodes:\n  web:\n    env: { LOG_LEVEL: debug }\n    ports: [http, admin]\n',
      'drover.ci.yaml': 'nodes:\n  web:\n    replicas: 2\n  worker:\n    env: { REGION: us }\n',
      ...SHARED,
    });
    const files = ['drover.yaml', 'drover.override.yaml', 'drover.ci.yaml'].map((f) => join(root, f));
    const { spec, warnings, files: read } = await loadConfig(files, { env: {} });
    const node = (name: string) => spec.nodes.find((n) => n.name === name)!;
    expect(spec.nodes.map((n) => n.name)).toEqual(['web', 'worker', 'cache']); // debugger and metrics: profiles not enabled
    expect(node('web')).toMatchObject({ command: ['node', 'web.js'], ports: ['http', 'admin'], replicas: 2, env: { LOG_LEVEL: 'debug', REGION: 'eu' }, cwd: root });
    // worker extends web as composed from all files (lists replaced, maps merged, its own values win).
    expect(node('worker')).toMatchObject({ command: ['node', 'worker.js'], ports: ['http', 'admin'], replicas: 2, env: { LOG_LEVEL: 'debug', REGION: 'us' } });
    // The included node keeps its own directory for cwd and envFile.
    expect(node('cache')).toMatchObject({ cwd: join(root, 'shared'), env: { MAXMEMORY: '64mb' } });
    expect(read).toEqual([...files.slice(0, 1), join(root, 'shared/cache.yaml'), ...files.slice(1), join(root, 'shared/templates.yaml')]); // extends resolve before profiles
    expect(warnings.map((w) => `${w.path}: ${w.message}`)).toEqual([`include.0: only nodes are taken from an included file; name of ${join(root, 'shared/cache.yaml')} is ignored`]);

    const ops = await loadConfig(files, { env: { DROVER_PROFILES: 'ops' } });
    const metrics = ops.spec.nodes.find((n) => n.name === 'metrics')!;
    expect(ops.spec.nodes.map((n) => n.name)).toEqual(['web', 'worker', 'metrics', 'cache']);
    // From another file: its command and env, its directory as cwd; its profiles are not inherited.
    expect(metrics).toMatchObject({ command: ['node', 'exporter.js'], env: { SCRAPE: '15s' }, cwd: join(root, 'shared') });
    expect((await loadConfig(files, { env: {}, profiles: ['debug'] })).spec.nodes.map((n) => n.name)).toEqual(['web', 'worker', 'debugger', 'metrics', 'cache']);
  });

  it('records which file each value came from', async () => {
    const root = writeFiles({ 'drover.yaml': BASE, 'drover.override.yaml': 'nodes:\n  web:\n    env: { LOG_LEVEL: debug }\n', ...SHARED });
    const { sources } = await composeConfigFiles([join(root, 'drover.yaml'), join(root, 'drover.override.yaml')], { env: {}, profiles: ['ops'] });
    const from = (path: string) => sources.get(path)?.slice(root.length + 1);
    expect(from('name')).toBe('drover.yaml');
    expect(from('nodes.web.command')).toBe('drover.yaml');
    expect(from('nodes.web.env.LOG_LEVEL')).toBe('drover.override.yaml');
    expect(from('nodes.web.env.REGION')).toBe('drover.yaml');
    expect(from('nodes.worker.command')).toBe('drover.yaml');
    expect(from('nodes.worker.env.LOG_LEVEL')).toBe('drover.override.yaml'); // inherited from web
    expect(from('nodes.cache.command')).toBe('shared/cache.yaml');
    expect(from('nodes.metrics.command')).toBe('shared/templates.yaml');
    expect(from('nodes.metrics.profiles')).toBeUndefined();
    expect(from('nodes.debugger.command')).toBeUndefined(); // not in the cluster
  });

  it('refuses what it cannot compose with the file and key', async () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ 'drover.yaml': 'name: a\ninclude: [b.yaml]\nnodes: { x: { command: [x] } }\n', 'b.yaml': 'include: [drover.yaml]\nnodes: { y: { command: [y] } }\n' }, /include: include cycle: .*drover\.yaml → .*b\.yaml → .*drover\.yaml/],
      [{ 'drover.yaml': 'name: a\ninclude: [b.yaml]\nnodes: { x: { command: [x] } }\n', 'b.yaml': 'nodes: { x: { command: [y] } }\n' }, /include\.0: node x of included .*b\.yaml is already defined in .*drover\.yaml; rename one of them/],
      [{ 'drover.yaml': 'name: a\nnodes: { x: { extends: y, command: [x] } }\n' }, /nodes\.x\.extends: no node "y" to extend; nodes are x/],
      [{ 'drover.yaml': 'name: a\nnodes: { x: { extends: y }, y: { extends: x } }\n' }, /nodes\.[xy]\.extends: extends cycle: [xy] → [xy] → [xy]/],
      [{ 'drover.yaml': 'name: a\nnodes: { x: { extends: { node: z, file: t.yaml } } }\n', 't.yaml': 'nodes: { w: { command: [w] } }\n' }, /nodes\.x\.extends: .*t\.yaml has no node "z" to extend; its nodes are w/],
      [{ 'drover.yaml': 'name: a\nnodes: { x: { command: [x], dependsOn: [y] }, y: { command: [y], profiles: [debug] } }\n' }, /nodes\.x\.dependsOn\.y: node y is only in profile debug, which is not enabled: add --profile debug/],
      [{ 'drover.yaml': 'name: a\nnodes: { x: { command: [x], profiles: debug } }\n' }, /nodes\.x\.profiles: expected a non-empty list of profile names/],
      [{ 'drover.yaml': 'name: a\ninclude: [missing.yaml]\nnodes: { x: { command: [x] } }\n' }, /Cannot read config .*missing\.yaml/],
    ];
    for (const [files, message] of cases) {
      const root = writeFiles(files);
      const error = await loadConfig(join(root, 'drover.yaml'), { env: {} }).catch((e: unknown) => e);
      expect(isDroverError(error) && /ERR_CONFIG_(INVALID|READ)/.test(error.code), String(error)).toBe(true);
      expect((error as Error).message).toMatch(message);
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('a config object cannot use include, extends or profiles (they would be ignored): an error naming each', () => {
    expect(() => normalizeConfig({ name: 'a', include: ['b.yaml'], nodes: { x: { command: ['x'], profiles: ['debug'] }, y: { extends: 'x' } } })).toThrow(
      /include: include is applied when a config is loaded from files[^\n]*\n {2}- nodes\.x\.profiles: profiles is applied[^\n]*\n {2}- nodes\.y\.extends: extends is applied/,
    );
  });

  it('a later file that is not a mapping is refused naming it', async () => {
    const root = writeFiles({ 'drover.yaml': 'name: a\nnodes: { x: { command: [x] } }\n', 'b.yaml': '- just\n- a list\n' });
    await expect(loadConfig([join(root, 'drover.yaml'), join(root, 'b.yaml')], { env: {} })).rejects.toThrow(/Invalid config .*b\.yaml:\n {2}- expected a mapping with nodes/);
  });
});
