/**
 * `drover fault partition|latency|blackhole|reset|bandwidth` against a detached `drover up` of a
 * 3-node TCP cluster with `network: { faults: true }`, through the control API; and the argument
 * forms of `partition`.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { getPartitionGroups } from '../../cli/fault-commands.js';
import { cleanupDetachedRun, readPsRows, runCli } from '../helpers/cli.js';
import { fixture } from '../helpers/fixtures.js';
import { findShepherds } from '../helpers/processes.js';

let dir: string;
let env: NodeJS.ProcessEnv;
const pids = new Set<number>();

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'drover-netcli-'));
  env = { DROVER_STATE_DIR: path.join(dir, 'state') };
});

afterEach(async () => {
  await cleanupDetachedRun(pids);
});

function writeTrio(faults: boolean): string {
  const names = ['a', 'b', 'c'];
  const nodes = names
    .map((name) => {
      const argv = fixture('tcp-peer', '{{ports.p}}', name, ...names.map((peer) => `${peer}={{nodes.${peer}.ports.p}}`));
      return `  ${name}:\n    command: ${JSON.stringify(argv)}\n    ports: [p]\n    ready: { tcp: { port: "{{ports.p}}" }, interval: 20ms }\n`;
    })
    .join('');
  const file = path.join(dir, 'drover.yaml');
  writeFileSync(file, `name: trio\nnetwork: { faults: ${faults} }\nnodes:\n${nodes}`);
  return file;
}

/** Asks the node listening on `port` to run `line`; one answer line. */
function tell(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setEncoding('utf8');
    let buffer = '';
    socket.on('error', reject);
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      if (buffer.includes('\n')) {
        socket.destroy();
        resolve(buffer.slice(0, buffer.indexOf('\n')));
      }
    });
    socket.write(`${line}\n`);
  });
}

async function up(file: string): Promise<Record<string, number>> {
  const result = await runCli(['up', '--wait', '-f', file], env);
  const pid = Number(/drover up pid (\d+)/.exec(result.stdout)?.[1]);
  if (pid > 0) pids.add(pid);
  findShepherds().forEach((p) => pids.add(p));
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  const rows = await readPsRows(file, env, pids);
  return Object.fromEntries(rows.map((r) => [r.name, r.ports['p']!]));
}

describe('drover fault for links', () => {
  it('partition, latency, ls and heal through the control API', { timeout: 60_000 }, async () => {
    const file = writeTrio(true);
    const ports = await up(file);
    const partition = await runCli(['fault', 'partition', 'a', '--from', 'b', '-f', file], env);
    expect(partition.stderr).toBe('');
    expect(partition.code).toBe(0);
    expect(partition.stdout).toBe('f1  a|b  partition: 2 links cut\n'); // one fault for both directions
    expect(await tell(ports['a']!, 'fetch b 400')).toBe('error timeout');
    expect(await tell(ports['b']!, 'fetch a 400')).toBe('error timeout');
    expect(await tell(ports['a']!, 'fetch c 2000')).toMatch(/^ok pong c /);
    const latency = await runCli(['fault', 'latency', 'a', 'c', '200ms', '-f', file], env);
    expect(latency.stdout).toBe('f2  a → c  latency 200 ms\n');
    expect(Number(/ (\d+)$/.exec(await tell(ports['a']!, 'fetch c 3000'))![1])).toBeGreaterThanOrEqual(200);
    const ls = await runCli(['fault', 'ls', '--json', '-f', file], env);
    expect(ls.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { kind: string; by: string }).kind)).toEqual(['partition', 'latency']);
    expect(ls.stdout).toContain('"by":"cli"');
    // ps names what the faults do to each node, in a FAULTS column while any is active.
    const ps = await runCli(['ps', '-f', file], env);
    expect(ps.stdout).toMatch(/^NAME\s+REPLICA\s+STATE\s+PID\s+RESTARTS\s+UPTIME\s+PORTS\s+FAULTS/m);
    expect(ps.stdout).toMatch(/^a\s.*\spartitioned, slowed\s*$/m);
    expect(ps.stdout).toMatch(/^b\s.*\spartitioned\s*$/m);
    expect(ps.stdout).toMatch(/^c\s.*\sslowed\s*$/m);
    const rows = await readPsRows(file, env, pids);
    expect(rows.map((r) => [r.name, r.faults ?? []])).toEqual([
      ['a', ['partitioned', 'slowed']],
      ['b', ['partitioned']],
      ['c', ['slowed']],
    ]);
    const heal = await runCli(['fault', 'heal', '--all', '-f', file], env);
    expect(heal.stdout).toBe('healed f1, f2\n');
    expect((await runCli(['ps', '-f', file], env)).stdout).not.toContain('FAULTS');
    expect(await tell(ports['a']!, 'fetch b 2000')).toMatch(/^ok pong b /);
    const wrong = await runCli(['fault', 'latency', 'a', 'zz', '200ms', '-f', file], env);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/no node "zz"/);
    const down = await runCli(['down', '-f', file], env);
    expect(down.code).toBe(0);
  });

  it('says how to enable link faults when the cluster has no relay', { timeout: 60_000 }, async () => {
    const file = writeTrio(false);
    await up(file);
    const result = await runCli(['fault', 'partition', 'a', '-f', file], env);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/add `network: \{ faults: true \}` to its config/);
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect((await runCli(['down', '-f', file], env)).code).toBe(0);
  });
});

describe('partition argument forms', () => {
  it('reads a, a --from b,c and a,b / c', () => {
    expect(getPartitionGroups(['a'], undefined)).toEqual({ from: ['a'], to: null });
    expect(getPartitionGroups(['a'], 'b,c')).toEqual({ from: ['a'], to: ['b', 'c'] });
    expect(getPartitionGroups(['a,b', '/', 'c'], undefined)).toEqual({ from: ['a', 'b'], to: ['c'] });
    expect(getPartitionGroups(['a,b/c'], undefined)).toEqual({ from: ['a', 'b'], to: ['c'] });
    expect(() => getPartitionGroups(['a', '/'], undefined)).toThrow(/partition NODES \/ NODES/);
    expect(() => getPartitionGroups(['a', '/', 'b', '/', 'c'], undefined)).toThrow(/partition NODES/);
    expect(() => getPartitionGroups(['a', '/', 'b'], 'c')).toThrow(/not both/);
  });
});
