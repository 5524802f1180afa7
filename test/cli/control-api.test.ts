import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { callControlApi, cleanupCliRun, CliProcess, type PsRow, readPsRows, runCli, writeRing } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait-for.js';
import { fixture } from '../helpers/fixtures.js';
import { expectAllGone, findShepherds, isAlive } from '../helpers/processes.js';


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

/** One request to the control API of the cluster whose state dir is `<dir>/state`. */
function callApi(method: 'GET' | 'POST', urlPath: string): Promise<{ status: number; body: unknown }> {
  return callControlApi(path.join(dir, 'state', 'control.sock'), method, urlPath);
}

/** One control API request made by a Node process running as nobody: `{ status, body }` or `{ error: errno }`. */
async function requestAsNobody(socketPath: string, method: 'GET' | 'POST', urlPath: string): Promise<unknown> {
  const script = `const req = require('node:http').request({ socketPath: process.argv[1], method: process.argv[2], path: process.argv[3] }, (res) => { let body = ''; res.on('data', (d) => (body += d)); res.on('end', () => console.log(JSON.stringify({ status: res.statusCode, body: JSON.parse(body) }))); }); req.on('error', (e) => console.log(JSON.stringify({ error: e.code }))); req.end();`;
  const child = spawn('setpriv', [`--reuid=${NOBODY.name}`, `--regid=${NOBODY.group}`, '--clear-groups', process.execPath, '-e', script, socketPath, method, urlPath]);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((resolve) => child.on('close', resolve));
  return JSON.parse(out) as unknown;
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

  it('another uid is refused: by the state dir check, by the 0600 socket mode, and by the SO_PEERCRED check when the modes are opened up', async () => {
    const file = await writeRing(dir);
    const up = await startUp(file);
    const state = path.join(dir, 'state');
    const socket = path.join(state, 'control.sock');
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    chmodSync(dir, 0o755);
    chmodSync(state, 0o755);
    const uid = process.getuid!();

    // Layer 0: drover as nobody checks the state dir before it connects: not nobody's, refused.
    const byDir = await runCli(['ps', '-f', file], env, { user: NOBODY });
    expect([byDir.code, byDir.stderr]).toEqual([
      1,
      `drover: refusing the state dir ${state}: it is owned by uid ${uid}, not by you (uid 65534) (mode 0755); someone else created it: remove it (or set DROVER_STATE_DIR to a directory of yours)\n`,
    ]);

    // Layer 1: the socket file's mode. A raw client run as nobody cannot connect at all.
    expect(await requestAsNobody(socket, 'GET', '/v1/cluster')).toEqual({ error: 'EACCES' });

    // Layer 2: with the mode opened up, the server reads the peer's uid and refuses every request.
    chmodSync(socket, 0o666);
    for (const [method, urlPath] of [['GET', '/v1/cluster'], ['POST', '/v1/nodes/a/restart'], ['POST', '/v1/down']] as const) {
      expect(await requestAsNobody(socket, method, urlPath), `${method} ${urlPath}`).toEqual({
        status: 403,
        body: { error: { code: 'ERR_CONTROL_API', message: `this cluster belongs to uid ${uid}; uid 65534 may not control it. Run drover as the user who ran \`drover up\`` } },
      });
    }
    // Nothing was done for nobody: same pids, still running.
    chmodSync(state, 0o700);
    const rows = await ps(file);
    expect(rows.every((r) => r.state === 'ready' && r.restarts === 0)).toBe(true);
    expect(up.isRunning).toBe(true);
    expect((await runCli(['down', '-f', file], env)).code).toBe(0);
    expect(await up.closed).toBe(0);
  });

  it('a malformed %-escape in a request path is a 400 naming the path, not a 500', async () => {
    const file = await writeRing(dir);
    await startUp(file);
    for (const urlPath of ['/v1/nodes/%E0%A4%A/logs', '/v1/nodes/a%/restart', '/v1/nodes/%zz/stop']) {
      const method = urlPath.endsWith('logs') ? 'GET' : 'POST';
      const answer = await callApi(method, urlPath);
      expect(answer, urlPath).toEqual({
        status: 400,
        body: { error: { code: 'ERR_INVALID_OPTION', message: `malformed %-escape in the request path ${JSON.stringify(urlPath)}: escape node names with encodeURIComponent` } },
      });
    }
    expect((await ps(file)).map((r) => [r.name, r.state, r.restarts])).toEqual([
      ['a', 'ready', 0],
      ['b', 'ready', 0],
      ['c', 'ready', 0],
    ]);
  });
});

describe('control API under concurrent mutations', () => {
  it('32 concurrent scale requests, two rounds: every replica index 0..n-1 exactly once, each ready, no process leaked', { timeout: 120_000 }, async () => {
    const file = path.join(dir, 'drover.yaml');
    const node = fixture('forever').map((arg) => JSON.stringify(arg)).join(', ');
    writeFileSync(file, `name: scaling\nnodes:\n  w:\n    command: [${node}]\n    ready: { log: { pattern: ready } }\n    stop: { timeout: 2s }\n`);
    const up = new CliProcess(['up', '--no-tty', '-f', file], env);
    ups.push(up);
    pids.add(up.child.pid!);
    await up.waitForStdout('1/1 nodes ready', 'the scaling cluster to be ready');
    const requested = new Set<number>();
    for (let round = 0; round < 2; round++) {
      const counts = Array.from({ length: 32 }, (_, i) => (i * 7 + round) % 4);
      counts.forEach((n) => requested.add(n));
      const answers = await Promise.all(counts.map((n) => callApi('POST', `/v1/nodes/w/scale?replicas=${n}`)));
      expect(answers.filter((a) => a.status !== 200), `round ${round}: refused requests`).toEqual([]);
      const rows = (await ps(file)).filter((r) => r.name === 'w');
      findShepherds().forEach((p) => pids.add(p));
      const replicas = rows.map((r) => r.replica).filter((r): r is number => r !== null);
      expect(replicas, `round ${round}: replica indices ${JSON.stringify(rows)}`).toEqual(replicas.map((_, i) => i));
      expect(requested.has(replicas.length), `round ${round}: ${replicas.length} replicas, never requested`).toBe(true);
      expect(rows.filter((r) => r.replica !== null && r.state !== 'ready'), `round ${round}: replicas not ready`).toEqual([]);
    }
    // A last, lone request settles the count: exactly replicas 0 and 1, each its own live process.
    expect((await callApi('POST', '/v1/nodes/w/scale?replicas=2')).status).toBe(200);
    const rows = await ps(file);
    expect(rows.map((r) => [r.name, r.replica, r.state])).toEqual([
      ['w', 0, 'ready'],
      ['w', 1, 'ready'],
    ]);
    expect(new Set(rows.map((r) => r.pid)).size).toBe(2);
    expect(rows.every((r) => r.pid !== null && isAlive(r.pid))).toBe(true);
    // Nothing runs besides those two: a replica dropped from the books but still running would show here.
    await waitFor(findShepherds, (found) => found.length === 2, { describe: 'exactly two shepherds (one per replica)' });
    expect((await runCli(['down', '-f', file], env)).code).toBe(0);
    expect(await up.closed).toBe(0);
  });
});
