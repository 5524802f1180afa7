/**
 * A real clustered server with leader election through drover's relay: three etcd members (Debian
 * etcd-server, installed by scripts/install-test-deps.sh) advertise their peer URLs as
 * `{{nodes.<self>.ports.peer}}`, so every peer connection goes through the relay and is attributed
 * to the member that opened it. Isolating the leader makes the other two elect a new one and
 * accept writes; after heal the old leader sees those writes. Skipped where etcd is missing and
 * DROVER_REQUIRE_ETCD is not set.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Cluster } from '../../cluster/cluster.js';
import { startCluster } from '../../start-cluster.js';
import { expectAllGone, expectNoShepherds } from '../helpers/processes.js';
import { hasCommand } from '../helpers/commands.js';
import { waitFor } from '../helpers/wait-for.js';

const available = hasCommand('etcd') && hasCommand('etcdctl');
const required = process.env['DROVER_REQUIRE_ETCD'] === '1';
const MEMBERS = ['e1', 'e2', 'e3'] as const;
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

/**
 * etcdctl against the member on `port`. Asynchronous on purpose: the relay runs on this process's
 * event loop, so a synchronous child (execFileSync) would stall every link while it waits.
 */
async function etcdctl(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)('etcdctl', ['--endpoints', `127.0.0.1:${port}`, '--command-timeout=3s', '--dial-timeout=1s', ...args], {
    encoding: 'utf8',
    env: { ...process.env, ETCDCTL_API: '3' },
  });
  return stdout.trim();
}

/** Whether the member on `port` says it is the leader (`endpoint status -w simple`: the 5th column). */
async function isLeader(port: number): Promise<boolean> {
  return (await etcdctl(port, 'endpoint', 'status', '-w', 'simple')).split(', ')[4] === 'true';
}

/** The first of `names` whose member says it leads, or undefined. */
async function findLeader(names: readonly string[], port: (name: string) => number): Promise<string | undefined> {
  for (const name of names) if (await isLeader(port(name)).catch(() => false)) return name;
  return undefined;
}

describe('etcd through the relay', () => {
  it.runIf(available || required)('isolating the leader: the others elect a new one and take writes; healed, the old leader sees them', { timeout: 90_000 }, async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'drover-etcd-'));
    const initialCluster = MEMBERS.map((m) => `${m}=http://127.0.0.1:{{nodes.${m}.ports.peer}}`).join(',');
    const member = (name: string) => ({
      command: [
        'etcd',
        '--name', name,
        '--data-dir', path.join(dir!, name),
        '--listen-client-urls', 'http://127.0.0.1:{{ports.client}}',
        '--advertise-client-urls', 'http://127.0.0.1:{{ports.client}}',
        '--listen-peer-urls', 'http://127.0.0.1:{{ports.peer}}',
        '--initial-advertise-peer-urls', `http://127.0.0.1:{{nodes.${name}.ports.peer}}`,
        '--initial-cluster', initialCluster,
        '--initial-cluster-state', 'new',
        '--initial-cluster-token', 'drover-etcd',
        '--heartbeat-interval', '50',
        '--election-timeout', '500',
      ],
      ports: ['client', 'peer'],
      ready: { exec: { command: ['etcdctl', '--endpoints', '127.0.0.1:{{ports.client}}', 'endpoint', 'health'] }, interval: '200ms', timeout: '30s' },
    });
    cluster = await startCluster(
      { name: 'etcd', network: { faults: true }, nodes: Object.fromEntries(MEMBERS.map((m) => [m, member(m)])) },
      { strict: true, onCreate: (c) => c.on('event', (e) => e.type === 'state' && e.pid !== null && pids.add(e.pid)) },
    );
    const c = cluster;
    const client = (name: string) => c.node(name).ports.client!;
    // Peer connections are attributed to the member that opened them.
    await waitFor(async () => (await c.link('e2', 'e1').openConnections()) + (await c.link('e3', 'e1').openConnections()), (n) => n > 0, { describe: 'peer connections to e1 through the relay' });
    const leader = await waitFor(() => findLeader(MEMBERS, client), (m) => m !== undefined, { timeoutMs: 20_000, describe: 'a leader' });
    const others = MEMBERS.filter((m) => m !== leader);
    await waitFor(() => etcdctl(client(others[0]!), 'put', 'before', '1'), (out) => out === 'OK', { timeoutMs: 10_000, describe: 'a write through a follower' });

    await c.partition([[leader!], others]);
    const newLeader = await waitFor(() => findLeader(others, client), (m) => m !== undefined, { timeoutMs: 20_000, describe: `a new leader among ${others.join(', ')}` });
    expect(others).toContain(newLeader);
    await waitFor(() => etcdctl(client(others[1]!), 'put', 'during', 'partition'), (out) => out === 'OK', { timeoutMs: 10_000, describe: 'a write to the majority' });
    await expect(etcdctl(client(leader!), 'get', 'during')).rejects.toThrow(); // linearizable read on the cut-off member: no quorum

    await c.heal();
    await waitFor(() => etcdctl(client(leader!), 'get', 'during', '--consistency=s', '--print-value-only'), (out) => out === 'partition', { timeoutMs: 20_000, describe: `the old leader ${leader} to see the write made during the partition` });
    expect(await etcdctl(client(leader!), 'get', 'during', '--print-value-only')).toBe('partition');
  });
});
