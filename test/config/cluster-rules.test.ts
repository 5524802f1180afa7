/**
 * Cross-field config rules (ports, dependencies, templates), the template resolver, env_file and
 * the new sections' defaults. Pure: no processes.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { normalizeConfig, type ConfigInvalidError } from '../../config/index.js';
import { getTemplateReferences, renderTemplate } from '../../contract/template.js';
import { getStartOrder, getDependents } from '../../contract/dependency-graph.js';
import { shouldRestart } from '../../cluster/restart-policy.js';
import type { NodeSpec } from '../../contract/types.js';

const FIXTURES = resolve(fileURLToPath(new URL('.', import.meta.url)), 'fixtures');

function issuesOf(nodes: Record<string, unknown>): { path: string; message: string }[] {
  try {
    normalizeConfig({ name: 'rules', nodes }, { baseDir: FIXTURES });
  } catch (error) {
    return [...(error as ConfigInvalidError).issues];
  }
  throw new Error('expected the config to be invalid');
}

describe('cross-field rules', () => {
  test('an unknown dependency, a cycle and a duplicate port name are each an issue with its path', () => {
    expect(
      issuesOf({
        a: { command: ['x'], ports: ['http', 'grpc', 'http'], dependsOn: { b: 'ready', dbb: 'started' } },
        b: { command: ['x'], dependsOn: ['c'] },
        c: { command: ['x'], dependsOn: { a: 'completed' } },
        db: { command: ['x'] },
      }),
    ).toEqual([
      { path: 'nodes.a.ports.2', message: 'expected a unique port name, got "http" (string); already declared at nodes.a.ports.0' },
      { path: 'nodes.a.dependsOn.dbb', message: 'expected the name of another node, got "dbb" (string); did you mean "db"?' },
      { path: 'nodes.c.dependsOn.a', message: 'expected no dependency cycle, got a → b → c → a' },
    ]);
    expect(issuesOf({ a: { command: ['x'], dependsOn: ['a'] } })).toEqual([{ path: 'nodes.a.dependsOn.0', message: 'expected no dependency cycle, got a → a' }]);
  });

  test('a dependency on a node with replicas: 0 is an issue at the dependency, unless the dependent has replicas: 0 too', () => {
    expect(
      issuesOf({
        a: { command: ['x'], dependsOn: { b: 'ready' } },
        b: { command: ['x'], replicas: 0 },
        c: { command: ['x'], dependsOn: ['b'] },
        job: { command: ['x'], replicas: 0, dependsOn: { b: 'completed-successfully' } },
      }),
    ).toEqual([
      {
        path: 'nodes.a.dependsOn.b',
        message: 'expected a node with at least one replica, got "b" (string); node b has replicas: 0, so the dependency could never be met; give b replicas: 1 or more, remove it from nodes.a.dependsOn, or give a replicas: 0 too',
      },
      { path: 'nodes.c.dependsOn.0', message: expect.stringMatching(/^expected a node with at least one replica, got "b" \(string\); node b has replicas: 0/) },
    ]);
    // Both at 0 (to be scaled up later, dependency first) and a dependency with replicas are fine.
    expect(() => normalizeConfig({ name: 'ok', nodes: { a: { command: ['x'], replicas: 0, dependsOn: ['b'] }, b: { command: ['x'], replicas: 0 }, c: { command: ['x'], dependsOn: ['d'] }, d: { command: ['x'], replicas: 2 } } }, { baseDir: FIXTURES })).not.toThrow();
  });

  test('a dependency condition outside the set is refused at its path; a dependsOn of neither form names both', () => {
    expect(issuesOf({ a: { command: ['x'] }, b: { command: ['x'], dependsOn: { a: 'healthy' } } })).toEqual([
      { path: 'nodes.b.dependsOn.a', message: 'expected one of started, ready, completed, completed-successfully, got "healthy" (string)' },
    ]);
    expect(issuesOf({ a: { command: ['x'] }, b: { command: ['x'], dependsOn: 'a' } })).toEqual([
      { path: 'nodes.b.dependsOn', message: expect.stringContaining('expected an object mapping node names to started | ready | completed | completed-successfully') },
    ]);
  });

  test('templates must name something that exists, wherever they are', () => {
    expect(
      issuesOf({
        a: {
          command: ['srv', '--port={{ports.htp}}', '{{nmae}}'],
          ports: ['http'],
          env: { PEER: '{{nodes.bb.ports.http}}', OTHER: '{{nodes.b.ports.grpc}}' },
          ready: { any: [{ http: { url: 'http://127.0.0.1:{{ports.http}}/' } }, { tcp: { port: '{{ports.admin}}' } }] },
          liveness: { exec: { command: ['check', '{{replica}}', '{{nodes.b.ports.http}}'] } },
        },
        b: { command: ['x', '{{ports.http}}'], ports: ['http'] },
        c: { command: ['x', '{{ports.http}}'] },
      }),
    ).toEqual([
      { path: 'nodes.a.command.1', message: 'expected a port of node a in {{ports.<port>}}, got "{{ports.htp}}" (string); did you mean "http"?' },
      { path: 'nodes.a.command.2', message: 'expected a known template: {{name}}, {{replica}}, {{ports.<port>}} or {{nodes.<node>.ports.<port>}}, got "{{nmae}}" (string)' },
      { path: 'nodes.a.env.PEER', message: 'expected a node name in {{nodes.<node>.ports.<port>}}, got "{{nodes.bb.ports.http}}" (string); did you mean "b"?' },
      { path: 'nodes.a.env.OTHER', message: 'expected a port of node b, got "{{nodes.b.ports.grpc}}" (string); known: http' },
      { path: 'nodes.a.ready.any.1.tcp.port', message: 'expected a port of node a in {{ports.<port>}}, got "{{ports.admin}}" (string); known: http' },
      { path: 'nodes.c.command.1', message: 'expected a port of node c in {{ports.<port>}}, got "{{ports.http}}" (string); node c declares no ports (add ports: [http])' },
    ]);
  });

  test('a tcp port must be a number, a port name or exactly one port template', () => {
    expect(issuesOf({ a: { command: ['x'], ports: ['p'], ready: { tcp: { port: 'port {{ports.p}}' } } } })).toEqual([
      { path: 'nodes.a.ready.tcp.port', message: 'expected a port name of this node, a port number, or a port template such as "{{ports.http}}", got "port {{ports.p}}" (string)' },
    ]);
  });

  test('exit only as the whole ready check', () => {
    expect(issuesOf({ a: { command: ['x'], ready: { all: [{ exit: {} }, { log: { pattern: 'x' } }] } } })).toEqual([
      { path: 'nodes.a.ready.all.0.exit', message: 'expected exit only as the whole ready check (for jobs), not inside all/any' },
    ]);
  });

  test('unknown keys inside nested all/any blocks and liveness are found, with a did-you-mean', () => {
    const { warnings } = normalizeConfig(
      { name: 'n', nodes: { a: { command: ['x'], ready: { all: [{ log: { pattern: 'x' }, timout: '1s' }] }, liveness: { tcp: { port: 1 }, failureTreshold: 2 } } } },
      { baseDir: FIXTURES, strict: false },
    );
    expect(warnings).toEqual([
      { path: 'nodes.a.ready.all.0.timout', message: 'unknown key; did you mean "timeout"?' },
      { path: 'nodes.a.liveness.failureTreshold', message: 'unknown key; did you mean "failureThreshold"?' },
    ]);
  });

  test('a missing env_file is an issue naming the file', () => {
    expect(issuesOf({ a: { command: ['x'], env_file: ['node.env', 'missing.env'] } })).toEqual([
      { path: 'nodes.a.env_file.1', message: `expected a regular file of at most 1 MiB, got "missing.env" (string); ${FIXTURES}/missing.env: no such file` },
    ]);
  });
});

describe('normalized new sections', () => {
  test('ports, replicas, dependsOn, liveness, env_file, restart additions and onNodeFailure get their defaults', () => {
    const { spec } = normalizeConfig(
      {
        name: 'n',
        onNodeFailure: 'stop-cluster',
        nodes: {
          a: { command: ['x'] },
          b: {
            command: ['x'],
            env_file: 'node.env',
            env: { SHARED: 'env' },
            ports: ['http'],
            replicas: 3,
            dependsOn: ['a'],
            liveness: { http: { url: 'http://127.0.0.1:{{ports.http}}/' }, failureThreshold: 5 },
            restart: { successExitCodes: [0, 143], stableAfter: '2s' },
            ready: { exec: { command: 'curl -f localhost' }, initialDelay: '1s' },
          },
        },
      },
      { baseDir: FIXTURES },
    );
    expect(spec.onNodeFailure).toBe('stop-cluster');
    expect(spec.nodes[0]).toMatchObject({ ports: [], replicas: 1, dependsOn: {}, liveness: null });
    expect(spec.nodes[1]).toMatchObject({
      env: { FROM_FILE: 'one', SHARED: 'env', QUOTED: 'a b' },
      ports: ['http'],
      replicas: 3,
      dependsOn: { a: 'ready' },
      liveness: { failureThreshold: 5, check: { kind: 'http', url: 'http://127.0.0.1:{{ports.http}}/', timeoutMs: 1000, intervalMs: 10_000, initialDelayMs: 0 } },
      restart: { successExitCodes: [0, 143], stableAfterMs: 2000 },
      ready: { kind: 'exec', command: ['/bin/sh', '-c', 'curl -f localhost'], initialDelayMs: 1000, timeoutMs: 30_000 },
    });
  });
});

describe('templates', () => {
  const context = { name: 'web', replica: 2, ports: { http: 4100 }, peerPorts: (node: string) => (node === 'db' ? { pg: 5500 } : undefined) };

  test('fills name, replica, own and peer ports; leaves what it cannot fill as written', () => {
    expect(renderTemplate('{{name}}-{{ replica }}:{{ports.http}} db={{nodes.db.ports.pg}}', context)).toBe('web-2:4100 db=5500');
    expect(renderTemplate('{{ports.grpc}} {{nodes.cache.ports.x}} {{what}}', context)).toBe('{{ports.grpc}} {{nodes.cache.ports.x}} {{what}}');
  });

  test('parses references, including node names with dots', () => {
    expect(getTemplateReferences('{{nodes.db.v2.ports.pg}} {{ports.a-b}} {{x}}')).toEqual([
      { kind: 'peer-port', node: 'db.v2', port: 'pg' },
      { kind: 'port', port: 'a-b' },
      { kind: 'unknown', text: 'x' },
    ]);
    // The split is at the first `.ports.` that leaves two valid names; a character no name may hold makes it unknown.
    expect(getTemplateReferences('{{nodes.a.ports.b.ports.c}} {{nodes.a!.ports.b}} {{nodes.a.ports.b!}} {{nodes.a.ports.}} {{nodes..ports.b}} {{ports._x}}')).toEqual([
      { kind: 'peer-port', node: 'a', port: 'b.ports.c' },
      { kind: 'unknown', text: 'nodes.a!.ports.b' },
      { kind: 'unknown', text: 'nodes.a.ports.b!' },
      { kind: 'unknown', text: 'nodes.a.ports.' },
      { kind: 'unknown', text: 'nodes..ports.b' },
      { kind: 'unknown', text: 'ports._x' },
    ]);
  });
});

describe('dependency graph and restart policy', () => {
  test('start order puts dependencies first and keeps declaration order otherwise; dependents for the stop', () => {
    const nodes: Pick<NodeSpec, 'name' | 'dependsOn'>[] = [
      { name: 'web', dependsOn: { api: 'ready' as const } },
      { name: 'api', dependsOn: { db: 'ready' as const, cache: 'started' as const } },
      { name: 'db', dependsOn: {} },
      { name: 'cache', dependsOn: {} },
    ];
    expect(getStartOrder(nodes)).toEqual(['db', 'cache', 'api', 'web']);
    expect(Object.fromEntries(getDependents(nodes))).toEqual({ web: [], api: ['web'], db: ['api'], cache: ['api'] });
    expect(() => getStartOrder([{ name: 'a', dependsOn: { b: 'ready' } }, { name: 'b', dependsOn: { a: 'ready' } }])).toThrow(/dependency cycle: a → b → a/);
  });

  test('on-failure honours successExitCodes; a signal is always a failure', () => {
    expect(shouldRestart('on-failure', { exitCode: 3 }, [0, 3])).toBe(false);
    expect(shouldRestart('on-failure', { exitCode: 0 }, [3])).toBe(true);
    expect(shouldRestart('on-failure', { exitCode: null }, [0])).toBe(true);
  });
});
