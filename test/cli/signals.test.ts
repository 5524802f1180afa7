import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanupCliRun, CliProcess, runCli, writeRing } from '../helpers/cli.js';
import { FIXTURES_DIR } from '../helpers/fixtures.js';
import { expectAllGone, findShepherds } from '../helpers/processes.js';

interface Row {
  name: string;
  state: string;
  pid: number | null;
}

/** A node that ignores SIGTERM and has a stop timeout far longer than any test. */
const STUBBORN_NODE = `  s:
    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(path.join(FIXTURES_DIR, 'ignore-sigterm.mjs'))}]
    ready: { log: { pattern: ready } }
    stop: { timeout: 60s }
`;

let dir: string;
let env: NodeJS.ProcessEnv;
const ups: CliProcess[] = [];
const pids = new Set<number>();

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'drover-sig-'));
  env = { DROVER_STATE_DIR: path.join(dir, 'state') };
});

afterEach(() => cleanupCliRun(ups, pids));

describe('Ctrl-C on drover up', () => {
  it('once: graceful down with progress naming the node still stopping and why; twice: SIGKILL to all, exit 130', async () => {
    const file = await writeRing(dir, { extraNodes: STUBBORN_NODE });
    const up = new CliProcess(['up', '--no-tty', '-f', file], env);
    ups.push(up);
    pids.add(up.child.pid!);
    await up.waitForStdout('4/4 nodes ready', 'the ring and the stubborn node ready');
    const ps = await runCli(['ps', '--json', '-f', file], env);
    const rows = JSON.parse(ps.stdout) as Row[];
    rows.forEach((r) => pids.add(r.pid!));
    findShepherds().forEach((p) => pids.add(p));
    const stubborn = rows.find((r) => r.name === 's')!.pid!;

    up.child.kill('SIGINT');
    await up.waitForStdout('drover | stopping cluster ring (Ctrl-C); Ctrl-C again to kill every node at once', 'the graceful down to begin');
    // The ring nodes stop on SIGTERM; s ignores it and the progress line says so, with its deadline.
    await up.waitForStdout(/^drover \| c: stopped/m, 'c stopped');
    const progress = await up.waitForStdout(
      new RegExp(`^drover \\| still stopping: s pid ${stubborn}: SIGTERM sent \\d+\\.\\d s ago, still running; SIGKILL in 5\\d\\.\\d s$`, 'm'),
      'a progress line naming s and why',
    );
    expect(progress).toMatch(/^drover \| a: stopped \(exited with code 0, \d+\.\d s after SIGTERM\)$/m);
    expect(progress).not.toMatch(/still stopping: [^\n]*\ba pid/);
    expect(up.isRunning).toBe(true);

    const killedAt = Date.now();
    up.child.kill('SIGINT');
    expect(await up.closed).toBe(130);
    expect(Date.now() - killedAt).toBeLessThan(10_000); // not the 60 s stop timeout
    expect(up.stdout).toMatch(new RegExp(`^drover \\| second Ctrl-C: SIGKILL to every node still running: s pid ${stubborn}: SIGTERM sent`, 'm'));
    expect(up.stdout).toMatch(/^drover \| s: stopped \(killed by SIGKILL, \d+\.\d s after SIGTERM\)$/m);
    expect(up.stdout).toMatch(/^drover \| cluster ring stopped \(forced with SIGKILL\)$/m);
    expect(up.stderr).toBe('');
    await expectAllGone(pids, 3000);
  });
});

describe('drover up exit status', () => {
  it('exits 2 when a failed node stops the cluster (onNodeFailure: stop-cluster), after stopping the others', async () => {
    const file = await writeRing(dir, {
      extraNodes: `  flaky:
    command: [${JSON.stringify(process.execPath)}, -e, "console.log('ready'); setTimeout(() => process.exit(3), 300)"]
    ready: { log: { pattern: ready } }
    restart: { policy: on-failure, backoff: { initial: 10ms, max: 10ms }, maxRestarts: 1, window: 60s }
`,
    });
    writeFileSync(file, readFileSync(file, 'utf8').replace('name: ring\n', 'name: ring\nonNodeFailure: stop-cluster\n'));
    const up = new CliProcess(['up', '--no-tty', '-f', file], env);
    ups.push(up);
    pids.add(up.child.pid!);
    await up.waitForStdout(/^drover \| a: ready \(pid (\d+)\)$/m, 'a ready');
    for (const match of up.stdout.matchAll(/: ready \(pid (\d+)\)/g)) pids.add(Number(match[1]));
    findShepherds().forEach((p) => pids.add(p));
    expect(await up.closed).toBe(2);
    expect(up.stdout).toMatch(/^drover \| flaky: FAILED: ERR_RESTART_LIMIT/m);
    expect(up.stdout).toContain('drover | stopping cluster ring (node flaky failed and onNodeFailure is stop-cluster)');
    expect(up.stdout).toMatch(/^drover \| a: stopped \(exited with code 0, \d+\.\d s after SIGTERM\)$/m);
    expect(up.stdout).toMatch(/^drover \| cluster ring stopped$/m);
  });

  it('stops the cluster gracefully and exits 0 when its output reader goes away (`drover up | head`)', async () => {
    const file = await writeRing(dir);
    const up = new CliProcess(['up', '--no-tty', '-f', file], env);
    ups.push(up);
    pids.add(up.child.pid!);
    await up.waitForStdout('3/3 nodes ready', 'ring ready');
    for (const match of up.stdout.matchAll(/: ready \(pid (\d+)\)/g)) pids.add(Number(match[1]));
    findShepherds().forEach((p) => pids.add(p));
    up.child.stdout!.destroy(); // the next line up writes fails with EPIPE (the ring logs every second)
    expect(await up.closed).toBe(0);
    expect(up.stderr).not.toContain('EPIPE');
    await expectAllGone(pids, 5000);
  });
});
