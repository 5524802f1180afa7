/**
 * Readiness and liveness shorthands beside their full forms: `log: <pattern>`, `tcp: <port name |
 * number | template>`, `http: </path on the first port> | <URL>`. Pure normalization, plus one
 * cluster that starts on the shorthands.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { normalizeConfig, type ConfigInvalidError } from '../../config/index.js';
import { isDroverError } from '../../contract/errors.js';
import type { Cluster } from '../../cluster/cluster.js';
import { startCluster } from '../../start-cluster.js';
import { fixture, FIXTURES_DIR } from '../helpers/fixtures.js';
import { expectAllGone, expectNoShepherds } from '../helpers/processes.js';

const TIMING = { timeoutMs: 30_000, intervalMs: 250, initialDelayMs: 0 };

function normalizeNode(fields: Record<string, unknown>) {
  return normalizeConfig({ name: 'x', nodes: { a: { command: ['x'], ...fields } } }, { baseDir: '/srv' }).spec.nodes[0]!;
}

function issuesOf(fields: Record<string, unknown>): { path: string; message: string }[] {
  try {
    normalizeNode(fields);
  } catch (error) {
    if (isDroverError(error, 'ERR_CONFIG_INVALID')) return [...(error as ConfigInvalidError).issues];
    throw error;
  }
  throw new Error('expected the config to be invalid');
}

describe('log shorthand', () => {
  it('a pattern is short for { pattern }', () => {
    expect(normalizeNode({ ready: { log: '^listening' } }).ready).toEqual({ kind: 'log', pattern: '^listening', stream: 'both', count: 1, ...TIMING });
  });

  it('a bad pattern, a bad field of the full form and a misspelled key are each reported at their path', () => {
    expect(issuesOf({ ready: { log: '(?=x)' } })).toEqual([{ path: 'nodes.a.ready.log', message: expect.stringMatching(/^expected a regular expression in RE2 syntax, got "\(\?=x\)" \(string\); lookahead/) }]);
    expect(issuesOf({ ready: { log: { pattern: 'x', stream: 'bogus' } } })).toEqual([
      { path: 'nodes.a.ready.log.stream', message: 'expected one of stdout, stderr, both, got "bogus" (string)' },
    ]);
    expect(issuesOf({ ready: { log: { patern: 'x' } } })).toEqual([
      { path: 'nodes.a.ready.log.patern', message: '"patern" is not a key; did you mean "pattern"? (nodes.a.ready.log.pattern is required: a regular expression (string))' },
    ]);
    expect(issuesOf({ ready: { log: 42 } })).toEqual([
      { path: 'nodes.a.ready.log', message: 'expected a regular expression (string) or an object with pattern, stream, count, got 42 (number)' },
    ]);
  });
});

describe('tcp shorthand', () => {
  it('a port name of the node, a port number or a port template', () => {
    const tcp = (port: unknown) => ({ kind: 'tcp', host: '127.0.0.1', port, ...TIMING });
    expect(normalizeNode({ ports: ['redis'], ready: { tcp: 'redis' } }).ready).toEqual(tcp('{{ports.redis}}'));
    expect(normalizeNode({ ready: { tcp: 6379 } }).ready).toEqual(tcp(6379));
    expect(normalizeNode({ ports: ['redis'], ready: { tcp: '{{ports.redis}}' } }).ready).toEqual(tcp('{{ports.redis}}'));
  });

  it('an undeclared port name, a bad string and a bad number are errors', () => {
    expect(issuesOf({ ports: ['redis'], ready: { tcp: 'rediss' } })).toEqual([
      { path: 'nodes.a.ready.tcp.port', message: 'expected a port of node a in {{ports.<port>}}, got "{{ports.rediss}}" (string); did you mean "redis"?' },
    ]);
    expect(issuesOf({ ready: { tcp: 'no such' } })).toEqual([
      { path: 'nodes.a.ready.tcp', message: 'expected a port name of this node, a port number, or a port template such as "{{ports.http}}", got "no such" (string)' },
    ]);
    expect(issuesOf({ ready: { tcp: 70_000 } })).toEqual([{ path: 'nodes.a.ready.tcp', message: 'expected an integer from 1 to 65535, got 70000 (number)' }]);
  });
});

describe('http shorthand', () => {
  it('a path is a GET on the node\'s first port; a URL is short for { url }', () => {
    expect(normalizeNode({ ports: ['web', 'admin'], ready: { http: '/health' } }).ready).toEqual({
      kind: 'http',
      url: 'http://127.0.0.1:{{ports.web}}/health',
      method: 'GET',
      headers: {},
      ...TIMING,
    });
    expect(normalizeNode({ ready: { http: 'http://127.0.0.1:8080/up' } }).ready).toMatchObject({ kind: 'http', url: 'http://127.0.0.1:8080/up' });
    const nested = normalizeNode({ ports: ['web'], ready: { all: [{ http: '/a' }, { log: 'b' }] } }).ready;
    expect(nested).toMatchObject({ kind: 'all', checks: [{ kind: 'http', url: 'http://127.0.0.1:{{ports.web}}/a' }, { kind: 'log', pattern: 'b' }] });
  });

  it('a path on a node without ports, or neither a path nor a URL, is an error', () => {
    expect(issuesOf({ ready: { any: [{ http: '/health' }] } })).toEqual([
      {
        path: 'nodes.a.ready.any.0.http',
        message: 'expected a node with ports for an http path (it is requested on the node\'s first port), got "/health" (string); declare the port (ports: [http]) or give a full URL',
      },
    ]);
    expect(issuesOf({ ports: ['web'], ready: { http: 'health' } })).toEqual([
      { path: 'nodes.a.ready.http', message: 'expected a path such as "/health" (requested on the node\'s first port) or an http:// or https:// URL, got "health" (string)' },
    ]);
  });
});

describe('liveness shares the shorthands', () => {
  it('tcp: <port name> and http: </path>', () => {
    expect(normalizeNode({ ports: ['web'], liveness: { tcp: 'web' } }).liveness).toMatchObject({ check: { kind: 'tcp', port: '{{ports.web}}', timeoutMs: 1000, intervalMs: 10_000 } });
    expect(normalizeNode({ ports: ['web'], liveness: { http: '/health', failureThreshold: 2 } }).liveness).toMatchObject({
      check: { kind: 'http', url: 'http://127.0.0.1:{{ports.web}}/health' },
      failureThreshold: 2,
    });
  });
});

describe('a cluster on shorthands', () => {
  let cluster: Cluster | undefined;
  afterEach(async () => {
    const pids = cluster?.nodes().map((node) => node.pid).filter((pid): pid is number => pid !== null) ?? [];
    await cluster?.stop();
    cluster = undefined;
    if (pids.length > 0) await expectAllGone(pids);
    await expectNoShepherds();
  });

  it('http: /health and tcp: <port name> wait for the real server', async () => {
    cluster = await startCluster(
      {
        name: 'short',
        nodes: {
          // Answers /health only after 300 ms: ready must wait for it.
          web: { command: [...fixture('http-server'), '{{ports.http}}', '300'], ports: ['http'], ready: { http: '/health', interval: '20ms' } },
          probe: { command: fixture('forever'), ports: ['p'], ready: { tcp: { port: '{{nodes.web.ports.http}}' }, interval: '20ms' }, dependsOn: ['web'] },
          tcp: { command: [...fixture('http-server'), '{{ports.http}}'], ports: ['http'], ready: { tcp: 'http', interval: '20ms' } },
        },
      },
      { baseDir: FIXTURES_DIR },
    );
    const web = cluster.node('web');
    expect((await fetch(`http://127.0.0.1:${web.ports['http']}/health`)).status).toBe(200);
    expect(cluster.nodes().map((node) => node.state)).toEqual(['ready', 'ready', 'ready']);
    expect(cluster.resolvedConfig().nodes[0]!.ready).toMatchObject({ url: `http://127.0.0.1:${web.ports['http']}/health` });
  });
});
