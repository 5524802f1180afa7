/**
 * `drover fault ls` and `drover fault heal` against a running cluster with no fault: an empty
 * list (table and --json), `heal --all` with nothing to heal, an unknown id refused with a
 * message naming the active faults, and a usage error for `heal` without an id or --all.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanupDetachedRun, runCli, writeRing } from '../helpers/cli.js';
import { findShepherds } from '../helpers/processes.js';

let dir: string;
let env: NodeJS.ProcessEnv;
const pids = new Set<number>();

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'drover-fault-cli-'));
  env = { DROVER_STATE_DIR: path.join(dir, 'state') };
});

afterEach(async () => {
  await cleanupDetachedRun(pids);
});

describe('drover fault', () => {
  it('ls lists no fault, heal --all heals nothing, an unknown id is refused', { timeout: 120_000 }, async () => {
    const file = await writeRing(dir);
    const detached = await runCli(['up', '--wait', '-f', file], env);
    expect([detached.code, detached.stderr]).toEqual([0, '']);
    pids.add(Number(/drover up pid (\d+)/.exec(detached.stdout)![1]));
    findShepherds().forEach((p) => pids.add(p));

    expect(await runCli(['fault', 'ls', '-f', file], env)).toMatchObject({ code: 0, stdout: 'no active faults\n', stderr: '' });
    expect(await runCli(['fault', 'ls', '--json', '-f', file], env)).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(await runCli(['fault', 'heal', '--all', '-f', file], env)).toMatchObject({ code: 0, stdout: 'nothing to heal\n', stderr: '' });

    const unknown = await runCli(['fault', 'heal', 'f7', '-f', file], env);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('no fault "f7": active faults are none');

    const usage = await runCli(['fault', 'heal', '-f', file], env);
    expect(usage.code).not.toBe(0);
    expect(usage.stderr).toContain('give a fault id or --all');

    expect((await runCli(['down', '-f', file], env)).code).toBe(0);
  });
});
