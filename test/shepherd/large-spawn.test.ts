// SPAWN carries whatever execve(2) accepts: argv and environment up to ARG_MAX (a quarter of the
// stack limit, 2 MiB by default; 128 KiB per string), in several SEQPACKET records reassembled by
// the shepherd. What execve itself refuses still comes back as ERR_SPAWN_FAILED naming E2BIG.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { spawn } from '../../process/managed-process.js';
import { SHEPHERD_MAX_SPAWN } from '../../native/protocol.js';
import { createSpawnTracker, expectAllGone, getParentPid } from '../helpers/processes.js';

const { start, cleanup } = createSpawnTracker();
afterEach(cleanup);

/** Prints its argument count, the total bytes of its arguments and the length of each named variable. */
const REPORT = "const a = process.argv.slice(1); console.log(a.length, a.reduce((n, s) => n + s.length, 0), (process.env.NAMES ?? '').split(',').map((k) => (process.env[k] ?? '').length).join(','))";
const STACK = 8 * 1024 * 1024; // ARG_MAX = 2 MiB, whatever the manager's own stack limit is

describe('large SPAWN', () => {
  it('starts a child while the manager has two 100 KB environment variables', async () => {
    vi.stubEnv('BIG_A', 'a'.repeat(100_000));
    vi.stubEnv('BIG_B', 'b'.repeat(100_000));
    const p = await start([process.execPath, '-e', REPORT], { env: { NAMES: 'BIG_A,BIG_B' }, limits: { stack: STACK } });
    const result = await p.exited;
    expect(result.exitCode).toBe(0);
    expect(p.output.tail().map((l) => l.text)).toEqual(['0 0 100000,100000']);
  });

  it('starts a child whose argv is near 1.5 MiB (12 strings of 125 KiB)', async () => {
    const args = Array.from({ length: 12 }, (_, i) => String.fromCharCode(97 + i).repeat(125 * 1024));
    const p = await start([process.execPath, '-e', REPORT, ...args], { limits: { stack: STACK } });
    const result = await p.exited;
    expect(result.exitCode).toBe(0);
    expect(p.output.tail().map((l) => l.text)).toEqual([`12 ${12 * 125 * 1024} 0`]);
  });

  it('argv above ARG_MAX fails with ERR_SPAWN_FAILED naming E2BIG', async () => {
    const args = Array.from({ length: 20 }, () => 'x'.repeat(125 * 1024)); // 2.5 MiB > 2 MiB
    await expect(spawn([process.execPath, '-e', REPORT, ...args], { limits: { stack: STACK } })).rejects.toMatchObject({
      code: 'ERR_SPAWN_FAILED',
      errno: 'E2BIG',
      message: expect.stringContaining('E2BIG'),
    });
  });

  it('a shepherd that stops reading in the middle of a large SPAWN fails the spawn after 10 s instead of hanging', async () => {
    // A stand-in for a stuck shepherd: holds its control socket (fd 3) and never reads it.
    const dir = mkdtempSync(path.join(tmpdir(), 'drover-stuck-'));
    const stuck = path.join(dir, 'shepherd');
    writeFileSync(stuck, '#!/bin/sh\nexec sleep 30\n', { mode: 0o755 });
    vi.stubEnv('DROVER_SHEPHERD', stuck);
    vi.stubEnv('DROVER_LAUNCHER', '0');
    try {
      const args = Array.from({ length: 12 }, () => 'x'.repeat(125 * 1024));
      const t0 = performance.now();
      const error = (await spawn(['true', ...args]).catch((e: unknown) => e)) as { code: string; errno: string; message: string };
      const ms = performance.now() - t0;
      expect(error).toMatchObject({ code: 'ERR_SPAWN_FAILED', errno: 'ETIMEDOUT', message: expect.stringContaining('did not take the message') });
      expect(ms).toBeGreaterThanOrEqual(9_900);
      expect(ms).toBeLessThan(15_000);
      // The stand-in is this process's own child (direct spawn), named in the message.
      const pid = Number(/shepherd (\d+)/.exec(error.message)![1]);
      expect(getParentPid(pid)).toBe(process.pid);
      process.kill(pid, 'SIGKILL');
      await expectAllGone([pid]);
    } finally {
      // The tracker's cleanup looks for shepherds of the real binary.
      vi.unstubAllEnvs();
      rmSync(dir, { recursive: true });
    }
  }, 20_000);

  it('a SPAWN above the protocol cap fails before any process starts, naming E2BIG and the cap', async () => {
    const args = Array.from({ length: 136 }, () => 'x'.repeat(125 * 1024)); // 17 MiB
    await expect(spawn(['true', ...args])).rejects.toMatchObject({
      code: 'ERR_SPAWN_FAILED',
      errno: 'E2BIG',
      message: expect.stringContaining(String(SHEPHERD_MAX_SPAWN)),
    });
  });
});
