import { describe, expect, test } from 'vitest';
import { normalizeConfig } from '../../config/index.js';
import { isDroverError } from '../../contract/errors.js';

const FROM = { baseDir: '/srv/app' };
const config = (extra: Record<string, unknown>, node: Record<string, unknown> = {}) => ({ name: 'c', ...extra, nodes: { api: { command: ['x'], ...node }, db: { command: ['y'] } } });

describe('watch and output.file in the config', () => {
  test('watch: paths from the config dir, default ignores plus the given ones, debounce in ms', () => {
    const { spec } = normalizeConfig(config({}, { cwd: 'sub', watch: { paths: 'src', ignore: ['tmp/**', '**/*.log'], debounce: '1s', restartDependents: true } }), FROM);
    expect(spec.nodes[0]!.watch).toEqual({
      paths: ['/srv/app/src'],
      ignore: ['**/node_modules/**', '**/.git/**', '**/dist/**', '/srv/app/tmp/**', '**/*.log'],
      debounceMs: 1000,
      restartDependents: true,
    });
    expect(normalizeConfig(config({}, { watch: { paths: ['a', 'b'] } }), FROM).spec.nodes[0]!.watch).toMatchObject({ paths: ['/srv/app/a', '/srv/app/b'], debounceMs: 200, restartDependents: false });
    expect(spec.nodes[1]!.watch).toBeUndefined();
  });

  test('output.file: the cluster default with {{node}}, a node of its own wins, defaults 10 MiB and 3', () => {
    const { spec } = normalizeConfig(config({ output: { file: { path: 'logs/{{node}}.log' } } }, { output: { file: { path: '/var/log/api.log', maxBytes: '1MiB', keep: 0 } } }), FROM);
    expect(spec.nodes.map((n) => n.output.file)).toEqual([
      { path: '/var/log/api.log', maxBytes: 1024 * 1024, keep: 0 },
      { path: '/srv/app/logs/db.log', maxBytes: 10 * 1024 * 1024, keep: 3 },
    ]);
  });

  test('bad values are errors naming the key', () => {
    const issues = (input: unknown) => {
      try {
        normalizeConfig(input, FROM);
        return [];
      } catch (error) {
        if (!isDroverError(error, 'ERR_CONFIG_INVALID')) throw error;
        return (error as unknown as { issues: { path: string }[] }).issues.map((i) => i.path);
      }
    };
    expect(issues(config({}, { watch: { paths: [] } }))).toEqual(['nodes.api.watch.paths']);
    expect(issues(config({}, { watch: { paths: 'src', debounce: 'soon' } }))).toEqual(['nodes.api.watch.debounce']);
    expect(issues(config({ output: { file: { path: 'x', keep: 101 } } }))).toEqual(['output.file.keep']);
    expect(issues(config({}, { output: { file: { maxBytes: 10 } } }))).toEqual(['nodes.api.output.file.path', 'nodes.api.output.file.maxBytes']);
  });
});
