import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanupDetachedRun, readPsRows, runCli, writeRing } from '../helpers/cli.js';
import { findShepherds } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';

const NOBODY = { name: 'nobody', group: 'nogroup' };
const NOBODY_UID = 65534;

let dir: string;
/** A sticky, world-writable temp dir like /tmp, used as $TMPDIR: another user can create in it. */
let tmp: string;
/** No $DROVER_STATE_DIR, no $XDG_RUNTIME_DIR: the state dir is the default one under $TMPDIR. */
let env: NodeJS.ProcessEnv;
const pids = new Set<number>();
const attackers: ChildProcess[] = [];

/** The documented default: `$TMPDIR/drover-<uid>/<config dir name>-<12 hex of sha256(config path)>`. */
function getDefaultStateDir(base: string, file: string): { perUser: string; state: string } {
  const absolute = path.resolve(file);
  const hash = createHash('sha256').update(absolute).digest('hex').slice(0, 12);
  const perUser = path.join(base, `drover-${process.getuid!()}`);
  return { perUser, state: path.join(perUser, `${path.basename(path.dirname(absolute))}-${hash}`) };
}

/** Runs a command as nobody and waits for it (mkdir, ln -s …). */
async function asNobody(command: string[]): Promise<void> {
  const child = spawn('setpriv', [`--reuid=${NOBODY.name}`, `--regid=${NOBODY.group}`, '--clear-groups', ...command], { stdio: 'inherit' });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  expect(code, command.join(' ')).toBe(0);
}

/** `up --detach`; records the background `up`'s pid (when one started) for the cleanup. */
async function upDetached(file: string, upEnv: NodeJS.ProcessEnv): Promise<Awaited<ReturnType<typeof runCli>>> {
  const result = await runCli(['up', '--wait', '-f', file], upEnv);
  const pid = Number(/drover up pid (\d+)/.exec(result.stdout)?.[1]);
  if (pid > 0) pids.add(pid);
  findShepherds().forEach((p) => pids.add(p));
  return result;
}

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'drover-sd-'));
  chmodSync(dir, 0o755); // nobody may enter it to reach `tmp`
  tmp = path.join(dir, 'tmp');
  mkdirSync(tmp);
  chmodSync(tmp, 0o1777);
  env = { TMPDIR: tmp, DROVER_STATE_DIR: undefined, XDG_RUNTIME_DIR: undefined };
});

afterEach(async () => {
  for (const attacker of attackers.splice(0)) {
    if (attacker.exitCode === null && attacker.signalCode === null) {
      const closed = new Promise((resolve) => attacker.once('close', resolve));
      attacker.kill('SIGKILL');
      await closed;
    }
  }
  await cleanupDetachedRun(pids);
});

describe('the state dir belongs to the user running drover, or drover refuses it', () => {
  it('another user pre-creates the state dir with up.log → a file of ours: up -d refuses and the file is untouched', async () => {
    const file = await writeRing(dir);
    const { perUser, state } = getDefaultStateDir(tmp, file);
    const victim = path.join(dir, 'victim.txt');
    writeFileSync(victim, 'precious\n', { mode: 0o644 });
    await asNobody(['mkdir', '-m', '0700', perUser]);
    await asNobody(['mkdir', '-m', '0700', state]);
    await asNobody(['ln', '-s', victim, path.join(state, 'up.log')]);

    const result = await upDetached(file, env);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(result.stderr).toBe(
      `drover: refusing the state dir ${perUser}: it is owned by uid ${NOBODY_UID}, not by you (uid ${process.getuid!()}) (mode 0700); someone else created it: remove it (or set DROVER_STATE_DIR to a directory of yours)\n`,
    );
    expect(result.code).toBe(1);
    expect(lstatSync(path.join(state, 'up.log')).isSymbolicLink()).toBe(true);
  });

  it("another user's control socket in a state dir it created is never talked to: ps and down refuse", async () => {
    const file = await writeRing(dir);
    const { perUser, state } = getDefaultStateDir(tmp, file);
    await asNobody(['mkdir', '-m', '0700', perUser]);
    await asNobody(['mkdir', '-m', '0700', state]);
    chmodSync(perUser, 0o755); // root could enter anyway; this keeps the test honest for any uid
    const socket = path.join(state, 'control.sock');
    // nobody answers every request as if it were the cluster.
    const fake = `require('node:http').createServer((req, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify({ name: 'evil', configPath: null, status: 'running', pid: process.pid, stateDir: ${JSON.stringify(state)}, nodes: [] })); }).listen(${JSON.stringify(socket)}, () => require('node:fs').chmodSync(${JSON.stringify(socket)}, 0o666));`;
    const attacker = spawn('setpriv', [`--reuid=${NOBODY.name}`, `--regid=${NOBODY.group}`, '--clear-groups', process.execPath, '-e', fake], { stdio: 'inherit' });
    attackers.push(attacker);
    await waitFor(() => existsSync(socket) && (statSync(socket).mode & 0o777) === 0o666, Boolean, { describe: "the attacker's socket" });

    for (const args of [['ps'], ['down']]) {
      const result = await runCli([...args, '-f', file], env);
      expect(result.stdout, args.join(' ')).toBe('');
      expect(result.stderr, args.join(' ')).toBe(
        `drover: refusing the state dir ${perUser}: it is owned by uid ${NOBODY_UID}, not by you (uid ${process.getuid!()}) (mode 0755); someone else created it: remove it (or set DROVER_STATE_DIR to a directory of yours)\n`,
      );
      expect(result.code, args.join(' ')).toBe(1);
    }
  });

  it('a state dir of ours with mode 0755 is refused, for up -d and for clients', async () => {
    const file = await writeRing(dir);
    const state = path.join(dir, 'state');
    mkdirSync(state, { mode: 0o755 });
    chmodSync(state, 0o755);
    const stateEnv = { ...env, DROVER_STATE_DIR: state };
    const expected = `drover: refusing the state dir ${state}: its mode is 0755; it must be 0700 (no access for group or others): \`chmod 700 ${state}\`, or remove it\n`;
    const up = await upDetached(file, stateEnv);
    expect([up.code, up.stderr]).toEqual([1, expected]);
    expect(existsSync(path.join(state, 'up.log'))).toBe(false);
    const ps = await runCli(['ps', '-f', file], stateEnv);
    expect([ps.code, ps.stderr]).toEqual([1, expected]);
  });

  it('$DROVER_STATE_DIR is checked the same way: owned by another user, or a symlink, is refused', async () => {
    const file = await writeRing(dir);
    const theirs = path.join(dir, 'theirs');
    mkdirSync(theirs, { mode: 0o700 });
    chownSync(theirs, NOBODY_UID, NOBODY_UID);
    const up = await upDetached(file, { ...env, DROVER_STATE_DIR: theirs });
    expect(up.code).toBe(1);
    expect(up.stderr).toBe(
      `drover: refusing the state dir ${theirs}: it is owned by uid ${NOBODY_UID}, not by you (uid ${process.getuid!()}) (mode 0700); someone else created it: remove it (or set DROVER_STATE_DIR to a directory of yours)\n`,
    );
    expect(readdirSync(theirs)).toEqual([]);

    const real = path.join(dir, 'real');
    mkdirSync(real, { mode: 0o700 });
    const link = path.join(dir, 'link');
    symlinkSync(real, link);
    const viaLink = await upDetached(file, { ...env, DROVER_STATE_DIR: link });
    expect(viaLink.code).toBe(1);
    expect(viaLink.stderr).toBe(`drover: refusing the state dir ${link}: it is a symbolic link (to ${real}), not a directory; set DROVER_STATE_DIR to the directory itself\n`);
    expect(readdirSync(real)).toEqual([]);
  });

  it('the default state dir is created 0700 level by level; up.log is a 0600 regular file; $XDG_RUNTIME_DIR is used when set', { timeout: 60_000 }, async () => {
    const file = await writeRing(dir);
    const { perUser, state } = getDefaultStateDir(tmp, file);
    const up = await upDetached(file, env);
    expect([up.code, up.stderr]).toEqual([0, '']);
    expect(up.stdout).toContain(`state: ${state} (control socket control.sock, output log up.log)`);
    for (const level of [perUser, state]) expect(lstatSync(level).mode & 0o7777, level).toBe(0o700);
    const log = lstatSync(path.join(state, 'up.log'));
    expect([log.isFile(), log.mode & 0o777]).toEqual([true, 0o600]);
    await readPsRows(file, env, pids);
    expect((await runCli(['down', '-f', file], env)).code).toBe(0);

    const runtime = path.join(dir, 'runtime');
    mkdirSync(runtime, { mode: 0o700 });
    const xdgEnv = { ...env, XDG_RUNTIME_DIR: runtime };
    const xdg = await upDetached(file, xdgEnv);
    expect([xdg.code, xdg.stderr]).toEqual([0, '']);
    const xdgState = path.join(runtime, 'drover', path.basename(state));
    expect(xdg.stdout).toContain(`state: ${xdgState} (control socket control.sock, output log up.log)`);
    expect(lstatSync(path.join(runtime, 'drover')).mode & 0o7777).toBe(0o700);
    await readPsRows(file, xdgEnv, pids);
    expect((await runCli(['down', '-f', file], xdgEnv)).code).toBe(0);
  });
});

