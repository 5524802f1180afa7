// The launcher: shepherds are posix_spawned by one long-lived C process per manager; it
// keeps no copy of their control sockets, is replaced when it dies, and dies with the manager.
import { spawn as nodeSpawn } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_LAUNCHER_SPARES, getLauncherPid, ShepherdSupply, type LaunchedShepherd } from '../../process/launcher-client.js';
import { closeFd, getShepherdPath } from '../../native/index.js';
import { SHEPHERD_IDLE_NAME } from '../../native/protocol.js';
import * as launcherProtocol from '../../native/launcher-protocol.js';
import { FIXTURES_DIR, fixture } from '../helpers/fixtures.js';
import { createSpawnTracker, expectAllGone, findSpareShepherds, getParentPid, isAlive } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const { start, extraPids, nestedManagers, cleanup } = createSpawnTracker();

/** fd number → link target of every open fd of `pid`. */
function getOpenFds(pid: number): Map<number, string> {
  const fds = new Map<number, string>();
  for (const entry of readdirSync(`/proc/${pid}/fd`)) {
    try {
      fds.set(Number(entry), readlinkSync(`/proc/${pid}/fd/${entry}`));
    } catch {
      // closed between readdir and readlink
    }
  }
  return fds;
}

afterEach(cleanup);

/** Waits until `launcher` has its full set of spare shepherds waiting for SPAWN; returns their pids. */
async function waitForSpares(launcher: number, count = DEFAULT_LAUNCHER_SPARES): Promise<number[]> {
  return waitFor(() => findSpareShepherds(launcher), (pids) => pids.length === count, { describe: `${count} spare shepherds of launcher ${launcher}` });
}

describe('launcher protocol', () => {
  it('the TS mirror matches every #define and enum value of launcher-protocol.h', () => {
    const header = readFileSync(path.join(root, 'shepherd', 'launcher-protocol.h'), 'utf8');
    const defined = new Map<string, number>();
    for (const [, name, value] of header.matchAll(/#define (\w+) (\d+)/g)) defined.set(name!, Number(value));
    for (const [, name, value] of header.matchAll(/\b(LMSG_\w+) = (\d+)/g)) defined.set(name!, Number(value));
    defined.delete('DROVER_LAUNCHER_PROTOCOL_H');
    expect(defined.size).toBeGreaterThan(8);
    for (const [name, value] of defined) expect((launcherProtocol as Record<string, unknown>)[name], name).toBe(value);
  });

  it('decodes LAUNCHED and refuses other versions and lengths', () => {
    const record = Buffer.alloc(16);
    record.writeUInt16LE(1, 0);
    record.writeUInt16LE(launcherProtocol.LMSG_LAUNCHED, 2);
    record.writeUInt32LE(8, 4);
    record.writeUInt32LE(7, 8);
    record.writeInt32LE(4242, 12);
    expect(launcherProtocol.decodeLauncherMessage(record)).toEqual({ type: 'launched', id: 7, pid: 4242 });
    record.writeUInt16LE(2, 0);
    expect(() => launcherProtocol.decodeLauncherMessage(record)).toThrow(/version 2/);
    record.writeUInt16LE(1, 0);
    expect(() => launcherProtocol.decodeLauncherMessage(record.subarray(0, 12))).toThrow(/payload/);
  });
});

describe('launcher', () => {
  it('starts shepherds without forking the manager and keeps no copy of their control sockets', async () => {
    const processes = await Promise.all([1, 2, 3].map(() => start(fixture('forever'))));
    const launcher = getLauncherPid();
    expect(launcher).not.toBeNull();
    for (const p of processes) expect(getParentPid(p.shepherdPid!)).toBe(launcher);
    // fd 2 (its stderr) and fd 3 (its control socket) are the launcher's only sockets, with three
    // shepherds running: their control sockets live in the manager and the shepherds only.
    // Nor of its spares' (they are the manager's to hand out). While it starts one it holds the
    // new socketpair for a moment, so the check waits for it to be idle with its spares started.
    await waitForSpares(launcher!);
    const sockets = await waitFor(
      () => [...getOpenFds(launcher!)].filter(([, target]) => target.startsWith('socket:')).map(([fd]) => fd).sort(),
      (fds) => fds.length === 2,
      { describe: 'the launcher to hold its own sockets only' },
    );
    expect(sockets).toEqual([2, 3]);
    for (const p of processes) {
      const result = await p.stop();
      expect(result.signal).toBe('SIGTERM');
    }
  });

  it('a launcher killed with SIGKILL is replaced: spawning keeps working and running processes are unaffected', async () => {
    const before = await start(fixture('forever'));
    const first = getLauncherPid()!;
    const spares = await waitForSpares(first);
    process.kill(first, 'SIGKILL');
    // Its spares go with it: the manager closes their control sockets once it sees the loss.
    await expectAllGone([first, ...spares]);
    expect(isAlive(before.pid)).toBe(true);
    const after = await start(['sh', '-c', 'echo still here; read x; exit 0'], { stdin: 'pipe' });
    const second = getLauncherPid();
    expect(second).not.toBeNull();
    expect(second).not.toBe(first);
    expect(getParentPid(after.shepherdPid!)).toBe(second);
    after.closeStdin();
    expect((await after.exited).exitCode).toBe(0);
    expect(after.output.tail().map((l) => l.text)).toEqual(['still here']);
    // The process started by the dead launcher is still supervised.
    expect((await before.stop()).signal).toBe('SIGTERM');
  });

  it('DROVER_LAUNCHER=0 starts the shepherd directly (child_process)', async () => {
    vi.stubEnv('DROVER_LAUNCHER', '0');
    const p = await start(fixture('forever'));
    expect(getParentPid(p.shepherdPid!)).toBe(process.pid);
  });

  it('when the manager is SIGKILLed, its launcher, the shepherd and the child are all gone', async () => {
    const manager = nodeSpawn(process.execPath, [path.join(FIXTURES_DIR, 'nested-manager.mjs'), ...fixture('forever')], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    nestedManagers.push(manager);
    let out = '';
    manager.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const text = await waitFor(() => out, (o) => /manager \d+ \d+/.test(o), { describe: 'nested manager pids' });
    const [, child, shepherd] = /manager (\d+) (\d+)/.exec(text)!.map(Number);
    const launcher = getParentPid(shepherd!);
    expect(launcher).not.toBe(manager.pid);
    expect(getParentPid(launcher)).toBe(manager.pid);
    // The launcher keeps spare shepherds waiting for this manager's next spawn.
    const spares = await waitForSpares(launcher);
    extraPids.push(child!, shepherd!, launcher, ...spares);
    manager.kill('SIGKILL');
    await new Promise((resolve) => manager.once('close', resolve));
    await expectAllGone([child!, shepherd!, launcher, ...spares], 3000);
  });
});

describe('spare shepherds', () => {
  it('a spawn takes a waiting spare (named shepherd-idle until SPAWN) and the launcher replaces it', async () => {
    await start(fixture('forever'));
    const launcher = getLauncherPid()!;
    const spares = await waitForSpares(launcher);
    for (const pid of spares) expect(readFileSync(`/proc/${pid}/comm`, 'utf8').trim()).toBe(SHEPHERD_IDLE_NAME);
    const p = await start(fixture('forever'));
    // The oldest spare ran the child: no shepherd was started for this spawn.
    expect(spares).toContain(p.shepherdPid);
    expect(readFileSync(`/proc/${p.shepherdPid}/comm`, 'utf8').trim()).toBe('shepherd');
    const after = await waitForSpares(launcher);
    expect(after.filter((pid) => !spares.includes(pid))).toHaveLength(1);
  });

  it('spares killed while they wait are skipped: the spawn takes the next or starts a shepherd', async () => {
    await start(fixture('forever'));
    const launcher = getLauncherPid()!;
    const spares = await waitForSpares(launcher);
    for (const pid of spares) process.kill(pid, 'SIGKILL');
    await expectAllGone(spares);
    const p = await start(['sh', '-c', 'echo fine; read x; exit 0'], { stdin: 'pipe' });
    expect(spares).not.toContain(p.shepherdPid);
    expect(getParentPid(p.shepherdPid!)).toBe(launcher);
    p.closeStdin();
    expect((await p.exited).exitCode).toBe(0);
    expect(p.output.tail().map((l) => l.text)).toEqual(['fine']);
  });

  it('DROVER_LAUNCHER_SPARES=0 keeps none; an invalid value is an error naming the variable', async () => {
    await start(fixture('forever'));
    const first = getLauncherPid()!;
    // The count is read when a launcher starts.
    process.kill(first, 'SIGKILL');
    await waitFor(getLauncherPid, (pid) => pid === null, { describe: 'the manager to notice its launcher is gone' });
    vi.stubEnv('DROVER_LAUNCHER_SPARES', 'many');
    await expect(start(fixture('forever'))).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', message: expect.stringContaining('DROVER_LAUNCHER_SPARES=many') });
    vi.stubEnv('DROVER_LAUNCHER_SPARES', '0');
    const p = await start(fixture('forever'));
    const launcher = getLauncherPid()!;
    expect(getParentPid(p.shepherdPid!)).toBe(launcher);
    await start(fixture('forever'));
    expect(findSpareShepherds(launcher)).toEqual([]);
  });
});

describe('shepherd supply', () => {
  /** Hangs up on a shepherd that never got SPAWN: it exits. */
  function discard(shepherd: LaunchedShepherd): void {
    closeFd(shepherd.fd);
    shepherd.stderr?.destroy();
  }

  const noDirectError = () => {
    throw new Error('no asynchronous direct-spawn error expected');
  };

  it('dispose() closes its spares and its launcher connection: launcher and spares exit; later requests start shepherds directly', async () => {
    const supply = new ShepherdSupply();
    const first = await supply.acquire(getShepherdPath(), noDirectError);
    expect(first.via).toBe('launcher');
    discard(first);
    const launcher = supply.launcherPid!;
    expect(launcher).not.toBeNull();
    expect(launcher).not.toBe(getLauncherPid()); // its own launcher, not the process supply's
    // The spawn path asks for replacements once a spawn settled; here by hand.
    supply.refillSpares();
    const spares = await waitForSpares(launcher);
    await waitFor(() => supply.spareCount, (count) => count === DEFAULT_LAUNCHER_SPARES, { describe: 'the spares in the supply’s hands' });
    supply.dispose();
    expect(supply.launcherPid).toBeNull();
    expect(supply.spareCount).toBe(0);
    await expectAllGone([launcher, ...spares, first.pid!]);
    const direct = await supply.acquire(getShepherdPath(), noDirectError);
    expect(direct.via).toBe('direct');
    expect(getParentPid(direct.pid!)).toBe(process.pid);
    discard(direct);
    await expectAllGone([direct.pid!]);
    supply.dispose(); // idempotent
  });
});
