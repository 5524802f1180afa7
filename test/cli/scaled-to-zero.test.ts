/**
 * Nodes with 0 replicas through the CLI: `replicas: 0` in the config and `drover scale NODE 0`
 * both leave a node that ps lists (state `scaled-to-0`), that stop/kill accept as a no-op and that
 * start/restart refuse with a `drover scale` hint; a dependency cannot be scaled to 0 under a
 * running dependent. A misspelled name is still unknown, with a did-you-mean.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanupDetachedRun, type PsRow, readPsRows, runCli, writeRing } from '../helpers/cli.js';
import { findShepherds } from '../helpers/processes.js';


const FOREVER = `[${JSON.stringify(process.execPath)}, -e, "console.log('up'); setInterval(() => {}, 1 << 30)"]`;
/** idle: replicas 0 in the config; web: depends on b. */
const EXTRA_NODES = `  idle:
    command: ${FOREVER}
    replicas: 0
  web:
    command: ${FOREVER}
    dependsOn: { b: ready }
    ready: { log: { pattern: up } }
`;

let dir: string;
let env: NodeJS.ProcessEnv;
const pids = new Set<number>();

function ps(file: string): Promise<PsRow[]> {
  return readPsRows(file, env, pids);
}

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'drover-zero-'));
  env = { DROVER_STATE_DIR: path.join(dir, 'state') };
});

afterEach(async () => {
  await cleanupDetachedRun(pids);
});

describe('nodes with 0 replicas', () => {
  it('are listed by ps, stopped/killed as a no-op, refused by start/restart with a scale hint; a dependency is not scaled to 0 under a running dependent', { timeout: 120_000 }, async () => {
    const file = await writeRing(dir, { extraNodes: EXTRA_NODES });
    const detached = await runCli(['up', '--wait', '-f', file], env);
    expect([detached.code, detached.stderr]).toEqual([0, '']);
    expect(detached.stdout).toMatch(/: 4\/4 nodes ready$/m); // idle is no failed node
    pids.add(Number(/drover up pid (\d+)/.exec(detached.stdout)![1]));
    findShepherds().forEach((p) => pids.add(p));

    // ps: one row for idle, in config order, the same in the table and in --json.
    const rows = await ps(file);
    expect(rows.map((r) => [r.name, r.replica, r.state])).toEqual([
      ['a', 0, 'ready'],
      ['b', 0, 'ready'],
      ['c', 0, 'ready'],
      ['idle', null, 'scaled-to-0'],
      ['web', 0, 'ready'],
    ]);
    expect(rows[3]).toEqual({ name: 'idle', replica: null, state: 'scaled-to-0', pid: null, restarts: 0, ports: {}, uptimeMs: null, exitCode: null, signal: null, error: null });
    const table = await runCli(['ps', '-f', file], env);
    expect(table.stdout).toMatch(/^idle +- +scaled-to-0 +- +0 +- +-$/m);

    // stop / kill: nothing runs, nothing to do, exit 0.
    for (const action of ['stop', 'kill']) {
      const result = await runCli([action, 'idle', '-f', file], env);
      expect([result.code, result.stdout, result.stderr]).toEqual([0, `idle: nothing to ${action}: it has 0 replicas (scaled to 0); nothing is running\n`, '']);
    }
    // start / restart: a usage error (exit 1) pointing to drover scale; nothing else is touched.
    const aPid = rows[0]!.pid;
    for (const action of ['start', 'restart']) {
      const result = await runCli([action, 'a', 'idle', '-f', file], env);
      expect([result.code, result.stdout]).toEqual([1, '']);
      expect(result.stderr).toBe(`drover: cannot ${action} idle: it has 0 replicas (scaled to 0); start it with \`drover scale idle 1 -f ${file}\` (or N replicas)\n`);
    }
    expect((await ps(file))[0]!.pid).toBe(aPid);
    const logs = await runCli(['logs', 'idle', '-f', file], env);
    expect([logs.code, logs.stdout, logs.stderr]).toEqual([0, '', '']);
    // A misspelled name is still unknown, with a did-you-mean.
    const typo = await runCli(['stop', 'idel', '-f', file], env);
    expect([typo.code, typo.stderr]).toEqual([1, `drover: no node "idel" in cluster ring; did you mean "idle"?; its nodes are a, b, c, idle, web (see \`drover ps -f ${file}\`)\n`]);

    // drover scale c 0: the same as replicas: 0 in the config.
    const scaled = await runCli(['scale', 'c', '0', '-f', file], env);
    expect([scaled.code, scaled.stdout, scaled.stderr]).toEqual([0, 'c: scaled 1 → 0\n', '']);
    expect((await ps(file)).find((r) => r.name === 'c')).toMatchObject({ replica: null, state: 'scaled-to-0', pid: null });
    const restartC = await runCli(['restart', 'c', '-f', file], env);
    expect([restartC.code, restartC.stderr]).toEqual([1, `drover: cannot restart c: it has 0 replicas (scaled to 0); start it with \`drover scale c 1 -f ${file}\` (or N replicas)\n`]);
    const stopC = await runCli(['stop', 'c', '-f', file], env);
    expect([stopC.code, stopC.stdout]).toEqual([0, 'c: nothing to stop: it has 0 replicas (scaled to 0); nothing is running\n']);
    const backC = await runCli(['scale', 'c', '1', '-f', file], env);
    expect(backC.code).toBe(0);
    expect(backC.stdout).toMatch(/^c: scaled 0 → 1 \(c\[0\] ready pid \d+\)\n$/);
    await ps(file);

    // b cannot go to 0 while web (which depends on it) runs; once web is stopped it can, and web
    // then cannot start until b has a replica again.
    const refused = await runCli(['scale', 'b', '0', '-f', file], env);
    expect([refused.code, refused.stderr]).toEqual([1, 'drover: cannot scale b to 0: web depends on it and is running; stop or scale it to 0 first\n']);
    expect((await ps(file)).find((r) => r.name === 'b')!.state).toBe('ready');
    expect((await runCli(['stop', 'web', '-f', file], env)).code).toBe(0);
    expect((await runCli(['scale', 'b', '0', '-f', file], env)).code).toBe(0);
    const startWeb = await runCli(['start', 'web', '-f', file], env);
    expect([startWeb.code, startWeb.stdout]).toEqual([1, '']);
    expect(startWeb.stderr).toBe('drover: web: start failed: node web depends on b, which has 0 replicas: the dependency cannot be met; scale b up first (`drover scale b N`)\n');
    expect((await ps(file)).find((r) => r.name === 'web')!.state).toBe('stopped');

    const down = await runCli(['down', '-f', file], env);
    expect([down.code, down.stdout, down.stderr]).toEqual([0, 'cluster ring stopped (3 nodes)\n', '']);
  });
});
