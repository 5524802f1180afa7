/**
 * useCluster against the control socket of a `drover up` (the CLI's own server, as `drover run`
 * hands its command through DROVER_CONTROL_SOCKET): the per-replica routes work there too, and a
 * down `up` is named as such.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { useCluster } from '../../vitest/index.js';
import { cleanupCliRun, CliProcess, writeRing } from '../helpers/cli.js';
import { findShepherds } from '../helpers/processes.js';

const ups: CliProcess[] = [];
const pids = new Set<number>();
const dirs: string[] = [];

afterEach(async () => {
  await cleanupCliRun(ups, pids);
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

it("drives a `drover up` cluster through its socket: kill, next run, output; gone once `up` stopped", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'drover-use-up-'));
  dirs.push(dir);
  const env = { DROVER_STATE_DIR: path.join(dir, 'state') };
  const file = await writeRing(dir);
  const up = new CliProcess(['up', '--no-tty', '-f', file], env);
  ups.push(up);
  pids.add(up.child.pid!);
  await up.waitForStdout('3/3 nodes ready', 'drover up to report 3/3 nodes ready');
  findShepherds().forEach((p) => pids.add(p));
  const socket = path.join(dir, 'state', 'control.sock');

  const cluster = await useCluster({ socket });
  expect(cluster.name).toBe('ring');
  expect(cluster.nodes().map((n) => [n.name, n.state])).toEqual([['a', 'ready'], ['b', 'ready'], ['c', 'ready']]);
  const b = cluster.node('b');
  const { pid, run } = b;
  pids.add(pid!);
  await b.kill();
  await b.waitFor('ready', { run: 'next', timeoutMs: 15_000 });
  expect(b.run).toBe(run + 1);
  expect(b.pid).not.toBe(pid);
  pids.add(b.pid!);
  expect(await b.output.tail(Infinity)).not.toEqual([]);

  up.child.kill('SIGTERM');
  expect(await up.closed).toBe(0);
  await expect(b.snapshot()).rejects.toMatchObject({ code: 'ERR_CONTROL_API', message: expect.stringContaining(`no cluster answers on the control socket ${socket}`) });
});
