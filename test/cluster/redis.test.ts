/**
 * A real clustered server through drover: a redis primary and two replicas from Debian's
 * redis-server (installed by .ci/run), each on an allocated port, replicas pointed at the primary
 * through a template, readiness through `exec` (redis-cli ping) and the replication log line.
 * Skipped only where redis-server is missing and DROVER_REQUIRE_REDIS is not set (CI sets it).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Cluster } from '../../cluster/cluster.js';
import { startCluster } from '../../start-cluster.js';
import { expectAllGone, expectNoShepherds } from '../helpers/processes.js';
import { hasCommand } from '../helpers/commands.js';
import { waitFor } from '../helpers/wait-for.js';

const available = hasCommand('redis-server') && hasCommand('redis-cli');
const required = process.env['DROVER_REQUIRE_REDIS'] === '1';
let cluster: Cluster | null = null;
let dir: string | null = null;
const pids = new Set<number>();

afterEach(async () => {
  await cluster?.stop();
  cluster = null;
  if (pids.size > 0) await expectAllGone(pids);
  pids.clear();
  await expectNoShepherds();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function redisCli(port: number, ...args: string[]): string {
  return execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).trim();
}

describe('redis primary + replicas through drover', () => {
  it.runIf(available || required)('starts with allocated ports, readiness, and replicates a write', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'drover-redis-'));
    const server = ['redis-server', '--port', '{{ports.redis}}', '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', '.'];
    cluster = await startCluster(
      {
        name: 'redis',
        nodes: {
          primary: {
            command: server,
            ports: ['redis'],
            ready: { exec: { command: ['redis-cli', '-p', '{{ports.redis}}', 'ping'] }, interval: '50ms', timeout: '20s' },
          },
          replica: {
            command: [...server, '--replicaof', '127.0.0.1', '{{nodes.primary.ports.redis}}'],
            ports: ['redis'],
            replicas: 2,
            dependsOn: { primary: 'ready' },
            ready: {
              all: [{ exec: { command: ['redis-cli', '-p', '{{ports.redis}}', 'ping'] }, interval: '50ms' }, { log: { pattern: 'MASTER <-> REPLICA sync: Finished with success' } }],
              timeout: '20s',
            },
          },
        },
      },
      { baseDir: dir, strict: true, onCreate: (c) => c.on('event', (e) => e.type === 'state' && e.pid !== null && pids.add(e.pid)) },
    );
    const primary = cluster.node('primary').ports.redis!;
    const replicaPorts = cluster.nodes('replica').map((n) => n.ports.redis!);
    expect(new Set([primary, ...replicaPorts]).size).toBe(3);
    expect(redisCli(primary, 'set', 'drover', 'shepherded')).toBe('OK');
    for (const port of replicaPorts) {
      await waitFor(() => redisCli(port, 'get', 'drover'), (value) => value === 'shepherded', { timeoutMs: 10_000, describe: `replica on ${port} to have the key` });
    }
    expect(redisCli(replicaPorts[0]!, 'info', 'replication')).toContain(`master_port:${primary}`);
  });
});
