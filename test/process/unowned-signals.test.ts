/**
 * drover signals only what it started and still owns. Out of file descriptors, a failed
 * child_process.spawn of the launcher used to be SIGKILLed through a ChildProcess without a pid,
 * and libuv signalled whatever pid its handle held: kill(0) (the caller's own group), kill(-1)
 * (as root: every process but init). These run the manager as `nobody` in a session of its own
 * with a sentinel process beside it, so a regression kills only the sentinel and the manager.
 */
import { spawn as nodeSpawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isPermanentSpawnError } from '../../cluster/restart-policy.js';
import { isOwnablePid, signalProcessGroup } from '../../process/owned-signals.js';
import { FIXTURES_DIR } from '../helpers/fixtures.js';
import { expectAllGone } from '../helpers/processes.js';

interface NobodyRun {
  readonly stdout: string;
  readonly stderr: string;
  readonly sentinelAlive: boolean;
}

/** Runs `node <fixture> args` as nobody under `ulimit -n <fds>` in a new session, with a sentinel `sleep` in the same process group. */
function runAsNobody(fixtureName: string, args: string[], fds: number): NobodyRun {
  const script = `ulimit -n ${fds}; sleep 120 & S=$!; node ${path.join(FIXTURES_DIR, fixtureName)} ${args.join(' ')}; if kill -0 $S 2>/dev/null; then echo SENTINEL=alive >&2; kill $S; else echo SENTINEL=dead >&2; fi`;
  const result = spawnSync('runuser', ['-u', 'nobody', '--', 'setsid', '--wait', 'bash', '-c', script], { encoding: 'utf8', timeout: 120_000 });
  return { stdout: result.stdout, stderr: result.stderr, sentinelAlive: result.stderr.includes('SENTINEL=alive') };
}

describe('signals only what drover owns', () => {
  it('out of fds while the launcher restarts: the spawn fails with EMFILE and nothing foreign is signalled', () => {
    // `keep` free slots walk the failure through socketpair, the launcher's fork and the direct
    // fork: each used to end in kill(<no pid>) for some of them.
    for (const keep of [0, 1, 2, 3, 4, 5, 6, 8, 12]) {
      const run = runAsNobody('fd-exhaustion.mjs', [String(keep)], 256);
      expect(run.sentinelAlive, `keep=${keep}: the sentinel in the manager's group was killed; stderr: ${run.stderr}`).toBe(true);
      const line = run.stdout.trim().split('\n').at(-1) ?? '';
      expect(line, `keep=${keep}: the manager printed nothing (killed?); stderr: ${run.stderr}`).toMatch(/^\{/);
      const outcome = JSON.parse(line) as { ok: boolean; code?: string; errno?: string; message?: string };
      if (!outcome.ok) {
        expect(outcome, `keep=${keep}`).toMatchObject({ code: 'ERR_SPAWN_FAILED', errno: 'EMFILE' });
        expect(outcome.message).toMatch(/out of file descriptors \(EMFILE\).*ulimit -n/s);
      }
    }
  });

  it('300 idle nodes under ulimit -n 1024: the nodes that do not fit fail at once with a clear EMFILE error, the rest keep running', async () => {
    const run = runAsNobody('fd-cluster.mjs', ['300'], 1024);
    expect(run.sentinelAlive, `stderr: ${run.stderr}`).toBe(true);
    const report = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { ready: number; failed: number; other: number; errors: string[]; alive: number; restarts: number; pids: number[] };
    expect(report.ready).toBeGreaterThan(150);
    expect(report.failed).toBeGreaterThan(0);
    expect(report.ready + report.failed).toBe(300);
    expect(report.alive).toBe(report.ready);
    expect(report.restarts, 'fd exhaustion is not retried through backoff').toBe(0);
    for (const error of report.errors) {
      expect(error).toMatch(/^ERR_SPAWN_FAILED: cannot start sleep: out of file descriptors \(EMFILE\)\. .*each supervised process needs N more.*ulimit -n/);
    }
    await expectAllGone(report.pids);
  });


  it('refuses group ids that name no group drover made', () => {
    for (const bad of [0, 1, -1, -5, Number.NaN, 2.5, Number.POSITIVE_INFINITY]) {
      expect(() => signalProcessGroup(bad, 'SIGKILL')).toThrow(RangeError);
      expect(isOwnablePid(bad)).toBe(false);
    }
    // A real group that is gone: false, no throw.
    const child = nodeSpawn('true', { detached: true });
    const pgid = child.pid!;
    return new Promise<void>((resolve) => child.on('exit', () => {
      expect(signalProcessGroup(pgid, 'SIGTERM')).toBe(false);
      resolve();
    }));
  });
});

describe('isPermanentSpawnError', () => {
  it('fails at once for what no retry fixes; transient errors go through backoff', () => {
    for (const code of ['ERR_COMMAND_NOT_FOUND', 'ERR_PERMISSION_DENIED', 'ERR_CWD', 'ERR_NATIVE_LOAD', 'ERR_INVALID_OPTION'] as const) {
      expect(isPermanentSpawnError({ code, errno: undefined }), code).toBe(true);
    }
    for (const errno of ['ENOEXEC', 'E2BIG', 'ELOOP', 'ENAMETOOLONG', 'ENOTDIR', 'EMFILE', 'ENFILE']) {
      expect(isPermanentSpawnError({ code: 'ERR_SPAWN_FAILED', errno }), errno).toBe(true);
    }
    for (const errno of [undefined, 'EAGAIN', 'ENOMEM', 'ETXTBSY']) {
      expect(isPermanentSpawnError({ code: 'ERR_SPAWN_FAILED', errno }), String(errno)).toBe(false);
    }
    expect(isPermanentSpawnError({ code: 'ERR_SHEPHERD_LOST', errno: undefined })).toBe(false);
  });
});
