/**
 * `drover fault clock` end to end: a real `drover up` with a `clock: true` node, the clock fault
 * injected through the CLI and its control API, seen in the node's own output, in `drover up`'s
 * printer and in `drover fault ls`, then healed.
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findLibfaketime } from '../../cluster/clock-fault.js';
import type { ClusterEvent } from '../../contract/types.js';
import { Printer } from '../../cli/printer.js';
import { cleanupCliRun, CliProcess, readPsRows, runCli } from '../helpers/cli.js';
import { fixture } from '../helpers/fixtures.js';
import { findShepherds } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';

let dir: string;
let env: NodeJS.ProcessEnv;
const ups: CliProcess[] = [];
const pids = new Set<number>();

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'drover-fault-clock-'));
  env = { DROVER_STATE_DIR: path.join(dir, 'state') };
});
afterEach(() => cleanupCliRun(ups, pids));

describe('the printer', () => {
  it('prints fault events as drover lines: id, kind, target, detail, phase, who', () => {
    const lines: string[] = [];
    const printer = new Printer({ writeLine: (l) => lines.push(l) }, ['a', 'b'], { color: false });
    const fault = { id: 'f2', kind: 'latency', nodes: ['a', 'b'], link: { from: 'a', to: 'b', port: null }, detail: 'latency 200 ms', since: 0, by: 'cli' } as const;
    const events: ClusterEvent[] = [
      { type: 'fault', phase: 'injected', fault, time: 0 },
      { type: 'fault', phase: 'healed', fault, time: 1 },
      { type: 'fault', phase: 'injected', fault: { ...fault, id: 'f3', kind: 'clock', link: null, nodes: ['b[1]'], detail: 'clock +90s ×2', by: 'chaos 7' }, time: 2 },
      { type: 'fault', phase: 'injected', fault: { ...fault, id: 'f4', kind: 'pause', link: null, nodes: ['a'], detail: 'pause', by: 'api' }, time: 3 },
    ];
    for (const event of events) printer.event(event);
    expect(lines).toEqual([
      'drover | fault f2 latency a → b 200 ms injected (cli)',
      'drover | fault f2 latency a → b 200 ms healed (cli)',
      'drover | fault f3 clock b[1] +90s ×2 injected (chaos 7)',
      'drover | fault f4 pause a injected (api)',
    ]);
  });
});

describe.skipIf(findLibfaketime().path === null)('drover fault clock', () => {
  it("skews a running node's clock, shows it in up's output and fault ls, heals it; refuses a node without clock: true", async () => {
    const file = path.join(dir, 'drover.yaml');
    const [exe, script] = fixture('print-time', 100);
    writeFileSync(file, `name: clocks\nnodes:\n  a:\n    command: [${JSON.stringify(exe)}, ${JSON.stringify(script)}, "100"]\n    clock: true\n  b:\n    command: [${JSON.stringify(exe)}, ${JSON.stringify(script)}, "1000"]\n`);
    const up = new CliProcess(['up', '--no-tty', '-f', file], env);
    ups.push(up);
    pids.add(up.child.pid!);
    await up.waitForStdout('2/2 nodes ready', 'drover up to report 2/2 nodes ready');
    const rows = await readPsRows(file, env, pids);
    const aPid = rows.find((row) => row.name === 'a')!.pid!;
    findShepherds().forEach((p) => pids.add(p));

    const clock = await runCli(['fault', 'clock', 'a', '+90s', '-f', file], env);
    expect(clock.stderr).toBe('');
    expect(clock.stdout).toBe('f1 a: clock +90s (heal with: drover fault heal f1)\n');
    await up.waitForStdout('fault f1 clock a +90s injected (cli)', "up's printer to show the fault");
    // The node's own clock: a line it printed after the fault reads ~90 s ahead of real time.
    const ahead = await waitFor(
      () => [...up.stdout.matchAll(/a\s+\| now (\d+)/g)].map((m) => Number(m[1]) - Date.now()),
      (skews) => skews.some((s) => s > 85_000),
      { describe: 'a line of node a printed with its clock ~90 s ahead' },
    );
    expect(Math.max(...ahead)).toBeLessThan(95_000);

    const ls = await runCli(['fault', 'ls', '-f', file], env);
    expect(ls.stdout).toMatch(/^ID\s+KIND\s+NODES\s+WHAT\s+SINCE\s+BY\nf1\s+clock\s+a\s+clock \+90s\s+.+ ago\s+cli\n$/);

    const refused = await runCli(['fault', 'clock', 'b', '+1s', '-f', file], env);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('node b has no clock faults: set "clock: true"');
    const unknown = await runCli(['fault', 'clock', 'zz', '+1s', '-f', file], env);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/zz/);
    expect(unknown.stderr).not.toContain('    at ');
    const bad = await runCli(['fault', 'clock', 'a', 'soon', '-f', file], env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('clock offset "soon" is not an offset');

    const behind = await runCli(['fault', 'clock', 'a', '--rate', '2', '-f', file, '--', '-1h'], env);
    expect(behind.stdout).toBe('f2 a: clock -1h ×2 (heal with: drover fault heal f2)\n');
    await up.waitForStdout('fault f1 clock a +90s healed (cli)', "up's printer to end f1 (replaced by f2)");
    await up.waitForStdout('fault f2 clock a -1h ×2 injected (cli)', "up's printer to show f2");

    const heal = await runCli(['fault', 'heal', '--all', '-f', file], env);
    expect(heal.stdout).toBe('healed f2\n');
    await up.waitForStdout('fault f2 clock a -1h ×2 healed (cli)', "up's printer to show the heal");
    expect((await runCli(['fault', 'ls', '-f', file], env)).stdout).toBe('no active faults\n');

    // A graceful down leaves none of libfaketime's shared memory behind.
    expect(existsSync(`/dev/shm/faketime_shm_${aPid}`)).toBe(true);
    await runCli(['down', '-f', file], env);
    expect(await up.closed).toBe(0);
    expect(existsSync(`/dev/shm/faketime_shm_${aPid}`)).toBe(false);
  }, 60_000);
});

describe('fault command usage errors', () => {
  it('a missing fault id or offset is a usage error naming what to give (no stack trace)', async () => {
    const file = path.join(dir, 'drover.yaml');
    for (const [args, message] of [
      [['fault', 'heal'], 'drover: give a fault id or --all (not both)'],
      [['fault', 'clock', 'a'], 'drover: give an offset (+90s) and/or --rate'],
    ] as const) {
      const result = await runCli([...args, '-f', file], env);
      expect(result.stderr, args.join(' ')).toContain(message);
      expect(result.stderr, args.join(' ')).not.toContain('    at ');
    }
  });
});
