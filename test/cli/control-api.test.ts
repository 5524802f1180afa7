import { chmodSync, existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanupCliRun, CliProcess, type PsRow, readPsRows, runCli, writeRing } from '../helpers/cli.js';
import { expectAllGone, findShepherds } from '../helpers/processes.js';


const NOBODY = { name: 'nobody', group: 'nogroup' };

let dir: string;
let env: NodeJS.ProcessEnv;
const ups: CliProcess[] = [];
const pids = new Set<number>();

function ps(file: string): Promise<PsRow[]> {
  return readPsRows(file, env, pids);
}

async function startUp(file: string): Promise<CliProcess> {
  const up = new CliProcess(['up', '--no-tty', '-f', file], env);
  ups.push(up);
  pids.add(up.child.pid!);
  await up.waitForStdout('3/3 nodes ready', 'drover up to report 3/3 nodes ready');
  await ps(file);
  findShepherds().forEach((p) => pids.add(p));
  return up;
}

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'drover-api-'));
  env = { DROVER_STATE_DIR: path.join(dir, 'state') };
});

afterEach(() => cleanupCliRun(ups, pids));

describe('control API socket', () => {
  it('a stale socket left by kill -9 of `up` is named by clients and replaced by the next `up`', async () => {
    const file = await writeRing(dir);
    const first = await startUp(file);
    const socket = path.join(dir, 'state', 'control.sock');
    first.child.kill('SIGKILL');
    await first.closed;
    await expectAllGone(pids, 5000);
    expect(existsSync(socket)).toBe(true); // nobody unlinked it: this is the stale case

    const stale = await runCli(['ps', '-f', file], env);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toBe(
      `drover: no running cluster for ${file} (a stale control socket is left in ${path.join(dir, 'state')}: the last \`drover up\` died; \`up\` replaces it); start one with \`drover up -f ${file}\`\n`,
    );

    const second = await startUp(file);
    expect((await ps(file)).map((r) => r.state)).toEqual(['ready', 'ready', 'ready']);
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    const down = await runCli(['down', '-f', file], env);
    expect(down.code).toBe(0);
    expect(await second.closed).toBe(0);
    expect(existsSync(socket)).toBe(false); // a clean down removes it
  });

  it('another uid is refused: by the 0600 socket mode, and by the SO_PEERCRED check when the mode is opened up', async () => {
    const file = await writeRing(dir);
    const up = await startUp(file);
    const socket = path.join(dir, 'state', 'control.sock');
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    chmodSync(dir, 0o755);
    chmodSync(path.join(dir, 'state'), 0o755);

    // Layer 1: the socket file's mode. nobody cannot connect at all.
    const byMode = await runCli(['ps', '-f', file], env, { user: NOBODY });
    expect(byMode.code).toBe(1);
    expect(byMode.stderr).toBe(`drover: permission denied on the control socket ${socket}: the cluster belongs to another user; run drover as the user who ran \`drover up\`\n`);

    // Layer 2: with the mode opened up, the server reads the peer's uid and refuses every request.
    chmodSync(socket, 0o666);
    const uid = process.getuid!();
    for (const args of [['ps'], ['restart', 'a'], ['down']]) {
      const refused = await runCli([...args, '-f', file], env, { user: NOBODY });
      expect(refused.code, args.join(' ')).toBe(1);
      expect(refused.stderr, args.join(' ')).toBe(`drover: this cluster belongs to uid ${uid}; uid 65534 may not control it. Run drover as the user who ran \`drover up\`\n`);
    }
    // Nothing was done for nobody: same pids, still running.
    const rows = await ps(file);
    expect(rows.every((r) => r.state === 'ready')).toBe(true);
    expect(up.isRunning).toBe(true);
    expect((await runCli(['down', '-f', file], env)).code).toBe(0);
    expect(await up.closed).toBe(0);
  });
});
