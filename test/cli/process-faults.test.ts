// `drover fault pause|resume|crash` through a real `drover up --detach`, and `ps` showing `paused`.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanupDetachedRun, readPsRows, runCli, writeRing } from '../helpers/cli.js';
import { findShepherds, getProcessState } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';

let dir: string;
let env: NodeJS.ProcessEnv;
const pids = new Set<number>();

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'drover-fault-'));
  // Without cgroups, so the frozen tree shows as state T in /proc (the shepherd's SIGSTOP walk).
  env = { DROVER_STATE_DIR: path.join(dir, 'state'), DROVER_CGROUP: 'off' };
});

afterEach(() => cleanupDetachedRun(pids));

describe('drover fault pause / resume / crash', () => {
  it('pauses a node (ps shows paused, its process is stopped), lists the fault, resumes it, crashes another with --no-restart', { timeout: 60_000 }, async () => {
    const file = await writeRing(dir);
    const up = await runCli(['up', '--wait', '-f', file], env);
    expect(up.code).toBe(0);
    pids.add(Number(/drover up pid (\d+)/.exec(up.stdout)?.[1]));
    findShepherds().forEach((p) => pids.add(p));
    const rows = await readPsRows(file, env, pids);
    const pidA = rows.find((r) => r.name === 'a')!.pid!;

    const pause = await runCli(['fault', 'pause', 'a', '-f', file], env);
    expect(pause.stderr).toBe('');
    expect(pause.code).toBe(0);
    expect(pause.stdout).toBe('paused a (1 replica); `drover fault resume a` thaws it\n');
    expect(getProcessState(pidA)).toBe('T');
    const ps = await runCli(['ps', '-f', file], env);
    expect(ps.stdout).toMatch(/^a\s+0\s+paused\s/m);
    const ls = await runCli(['fault', 'ls', '--json', '-f', file], env);
    expect(JSON.parse(ls.stdout)).toMatchObject({ id: 'f1', kind: 'pause', nodes: ['a'], by: 'cli' });

    const resume = await runCli(['fault', 'resume', 'a', '-f', file], env);
    expect(resume.stdout).toBe('resumed a\n');
    expect(getProcessState(pidA)).not.toBe('T');
    expect((await readPsRows(file, env, pids)).find((r) => r.name === 'a')).toMatchObject({ state: 'ready', pid: pidA, restarts: 0 });
    expect((await runCli(['fault', 'ls', '-f', file], env)).stdout).toBe('no active faults\n');

    const crash = await runCli(['fault', 'crash', 'b', '--no-restart', '-f', file], env);
    expect(crash.stderr).toBe('');
    expect(crash.stdout).toBe('crashed b (1 replica killed)\n');
    expect((await readPsRows(file, env, pids)).find((r) => r.name === 'b')).toMatchObject({ state: 'exited', pid: null, signal: 'SIGKILL' });
    // A node that is not ready cannot be paused: a clear error naming it, not a stack trace.
    const refused = await runCli(['fault', 'pause', 'b', '-f', file], env);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('cannot pause node b: b is exited; only ready replicas can be paused');
    expect(refused.stderr).not.toMatch(/\n\s+at /);
    const missing = await runCli(['fault', 'crash', 'zz', '-f', file], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('zz');

    const start = await runCli(['start', 'b', '-f', file], env);
    expect(start.code).toBe(0);
    await waitFor(() => readPsRows(file, env, pids), (r) => r.find((x) => x.name === 'b')?.state === 'ready', { describe: 'b ready again after start' });
    const down = await runCli(['down', '-f', file], env);
    expect(down.code).toBe(0);
  });
});
