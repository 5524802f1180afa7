// Cut etcd's leader off through drover's relay: the other two members elect a new leader and keep
// taking writes; after heal the old leader catches up. Needs etcd and etcdctl on PATH.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startCluster } from 'drover';
import { expect, test } from 'vitest';

const here = path.dirname(fileURLToPath(import.meta.url));

/** etcdctl, asynchronous: the relay runs on this process's event loop, which must keep turning. */
async function etcdctl(port: number, ...args: string[]): Promise<string> {
  const run = promisify(execFile);
  const { stdout } = await run('etcdctl', [`--endpoints=127.0.0.1:${port}`, '--command-timeout=3s', ...args]);
  return stdout.trim();
}

/** Polls `read` every 200 ms until `done` holds, for at most `ms`. */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read().catch(() => undefined as T);
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`gave up after ${ms} ms; last: ${String(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

test('a partitioned leader is replaced, and catches up after heal', async () => {
  const data = mkdtempSync(path.join(tmpdir(), 'etcd-example-'));
  process.env['ETCD_DATA'] = data;
  try {
    await using cluster = await startCluster(path.join(here, 'drover.yaml'));
    const members = ['e1', 'e2', 'e3'];
    const client = (name: string) => cluster.node(name).ports.client!;
    const leaderAmong = async (names: string[]) => {
      for (const name of names) if ((await etcdctl(client(name), 'endpoint', 'status', '-w', 'simple')).split(', ')[4] === 'true') return name;
      return undefined;
    };
    const leader = (await until(() => leaderAmong(members), Boolean))!;
    const others = members.filter((m) => m !== leader);

    await cluster.partition([[leader], others]); // both ways; open connections stall
    await until(() => leaderAmong(others), Boolean);
    expect(await until(() => etcdctl(client(others[0]!), 'put', 'k', 'written-without-the-old-leader'), (out) => out === 'OK')).toBe('OK');

    await cluster.heal();
    const seen = await until(() => etcdctl(client(leader), 'get', 'k', '--print-value-only', '--consistency=s'), (v) => v === 'written-without-the-old-leader');
    expect(seen).toBe('written-without-the-old-leader');
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
});
