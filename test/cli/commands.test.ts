import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanupDetachedRun, CliProcess, type PsRow, readPsRows, runCli, writeRing } from '../helpers/cli.js';
import { expectAllGone, findShepherds, isAlive } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';


interface LogEntry {
  node: string;
  stream: string;
  text: string;
  seq: number;
  time: number;
}

/** A node that writes one line to each stream, then idles. */
const ECHO_NODE = `  e:
    command: [${JSON.stringify(process.execPath)}, -e, "console.log('out-line'); console.error('err-line'); setInterval(() => {}, 1 << 30)"]
    ready: { log: { pattern: out-line } }
    stop: { timeout: 3s }
`;

let dir: string;
let env: NodeJS.ProcessEnv;
const pids = new Set<number>();
const followers: CliProcess[] = [];

function ps(file: string): Promise<PsRow[]> {
  return readPsRows(file, env, pids);
}

function rowOf(rows: PsRow[], name: string): PsRow {
  const row = rows.find((r) => r.name === name);
  if (!row) throw new Error(`no row ${name} in ${JSON.stringify(rows)}`);
  return row;
}

/** `up --detach`; returns the pid of the background `up` (recorded for the leak check). */
async function upDetached(file: string): Promise<number> {
  const result = await runCli(['up', '--wait', '-f', file], env);
  const pid = Number(/drover up pid (\d+)/.exec(result.stdout)?.[1]);
  if (pid > 0) pids.add(pid);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  findShepherds().forEach((p) => pids.add(p));
  return pid;
}

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'drover-cmd-'));
  env = { DROVER_STATE_DIR: path.join(dir, 'state') };
});

afterEach(async () => {
  for (const f of followers) if (f.isRunning) f.child.kill('SIGKILL');
  await Promise.all(followers.map((f) => f.closed));
  followers.length = 0;
  await cleanupDetachedRun(pids);
});

describe('drover commands against a running ring', () => {
  it('up --detach, ps, logs, restart, stop, start, kill, second up, down — every answer and exit code', { timeout: 120_000 }, async () => {
    const file = await writeRing(dir, { extraNodes: ECHO_NODE });
    const detached = await runCli(['up', '--wait', '-f', file], env);
    expect(detached.stderr).toBe('');
    expect(detached.code).toBe(0);
    expect(detached.stdout).toMatch(/^cluster ring is up in the background \(drover up pid \d+\): 4\/4 nodes ready$/m);
    expect(detached.stdout).toContain(`state: ${path.join(dir, 'state')} (control socket control.sock, output log up.log)`);
    expect(detached.stdout).toContain(`stop it with \`drover down -f ${file}\``);
    const upPid = Number(/pid (\d+)/.exec(detached.stdout)![1]);
    pids.add(upPid);
    findShepherds().forEach((p) => pids.add(p));
    expect(isAlive(upPid)).toBe(true);
    expect(statSync(path.join(dir, 'state', 'control.sock')).mode & 0o777).toBe(0o600);

    // ps: a table with a header and one row per node; --json rows with every field.
    const table = await runCli(['ps', '-f', file], env);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+REPLICA\s+STATE\s+PID\s+RESTARTS\s+UPTIME\s+PORTS\s+ERROR$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 3))).toEqual([
      ['a', '0', 'ready'],
      ['b', '0', 'ready'],
      ['c', '0', 'ready'],
      ['e', '0', 'ready'],
    ]);
    const rows = await ps(file);
    expect(Object.keys(rows[0]!).sort()).toEqual(['error', 'exitCode', 'name', 'pid', 'ports', 'replica', 'restarts', 'signal', 'state', 'uptimeMs']);
    expect(rows.every((r) => typeof r.pid === 'number' && isAlive(r.pid) && typeof r.uptimeMs === 'number')).toBe(true);

    // logs: one node unprefixed, stderr to stderr; several nodes prefixed; --stream; --json; --since.
    const e = await runCli(['logs', 'e', '-f', file], env);
    expect([e.code, e.stdout, e.stderr]).toEqual([0, 'out-line\n', 'err-line\n']);
    const onlyErr = await runCli(['logs', 'e', '--stream', 'stderr', '-f', file], env);
    expect([onlyErr.stdout, onlyErr.stderr]).toEqual(['', 'err-line\n']);
    const both = await runCli(['logs', 'a', 'e', '-n', 'all', '-f', file], env);
    expect(both.stdout).toMatch(/^a +\| a listening on 127\.0\.0\.1:\d+$/m);
    expect(both.stdout).toMatch(/^e +\| out-line$/m);
    expect(both.stderr).toMatch(/^e +\| err-line$/m);
    // Color: FORCE_COLOR colors a pipe, NO_COLOR wins over it.
    const forced = await runCli(['logs', 'a', 'e', '-n', '1', '-f', file], { ...env, NO_COLOR: '', FORCE_COLOR: '1' });
    expect(forced.stdout).toMatch(/^\x1b\[\d+ma +\|\x1b\[0m /m);
    const noColor = await runCli(['logs', 'a', 'e', '-n', '1', '-f', file], { ...env, NO_COLOR: '1', FORCE_COLOR: '1' });
    expect(noColor.stdout).not.toContain('\x1b[');
    const json = await runCli(['logs', 'e', '--json', '-f', file], env);
    const entries = json.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as LogEntry);
    expect(entries.map((x) => [x.node, x.stream, x.text])).toEqual([
      ['e', 'stdout', 'out-line'],
      ['e', 'stderr', 'err-line'],
    ]);
    expect(entries.every((x) => typeof x.seq === 'number' && typeof x.time === 'number')).toBe(true);
    const last = await runCli(['logs', 'a', '-n', '1', '--json', '-f', file], env);
    expect(last.stdout.trimEnd().split('\n')).toHaveLength(1);
    // e wrote its two lines at start and nothing since: a window in the future of them is empty.
    await waitFor(() => Date.now() - entries[1]!.time, (ms) => ms > 300, { describe: '300 ms after e wrote its lines' });
    const recent = await runCli(['logs', 'e', '--since', '200ms', '-f', file], env);
    expect([recent.code, recent.stdout, recent.stderr]).toEqual([0, '', '']);

    // restart: a new pid, ready again, one more restart.
    const restart = await runCli(['restart', 'a', '-f', file], env);
    expect(restart.stderr).toBe('');
    expect(restart.code).toBe(0);
    const afterRestart = await ps(file);
    expect(restart.stdout).toBe(`a: restarted (ready, pid ${rowOf(afterRestart, 'a').pid})\n`);
    expect(rowOf(afterRestart, 'a').pid).not.toBe(rowOf(rows, 'a').pid);
    expect(rowOf(afterRestart, 'a').restarts).toBe(1);

    // stop and start several nodes at once.
    const stop = await runCli(['stop', 'b', 'c', '-f', file], env);
    expect([stop.code, stop.stdout]).toEqual([0, 'b: stopped\nc: stopped\n']);
    expect((await ps(file)).filter((r) => r.state === 'stopped').map((r) => r.name)).toEqual(['b', 'c']);
    const start = await runCli(['start', 'b', 'c', '-f', file], env);
    expect(start.code).toBe(0);
    expect(start.stdout).toMatch(/^b: started \(ready, pid \d+\)\nc: started \(ready, pid \d+\)\n$/);

    // kill: the signal reaches the group; the restart policy brings the node back.
    const beforeKill = rowOf(await ps(file), 'c');
    const kill = await runCli(['kill', 'c', '--signal', 'kill', '-f', file], env);
    expect([kill.code, kill.stdout]).toEqual([0, `c: SIGKILL sent to 1 process group (pid ${beforeKill.pid})\n`]);
    const back = await waitFor(() => ps(file), (r) => rowOf(r, 'c').state === 'ready' && rowOf(r, 'c').restarts === beforeKill.restarts + 1, {
      timeoutMs: 15_000,
      describe: 'c restarted by its policy after SIGKILL',
    });
    expect(rowOf(back, 'c').pid).not.toBe(beforeKill.pid);
    findShepherds().forEach((p) => pids.add(p));

    // Bad input changes nothing: unknown nodes, unknown signal, unknown stream.
    const unknown = await runCli(['restart', 'a', 'zz', '-f', file], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe(`drover: no node "zz" in cluster ring; its nodes are a, b, c, e (see \`drover ps -f ${file}\`)\n`);
    expect(rowOf(await ps(file), 'a').restarts).toBe(1);
    const badSignal = await runCli(['kill', 'a', '-s', 'SIGTREM', '-f', file], env);
    expect(badSignal.code).toBe(1);
    expect(badSignal.stderr).toContain('Expected `--signal` to be a signal name such as SIGTERM');
    const badStream = await runCli(['logs', 'a', '--stream', 'both', '-f', file], env);
    expect(badStream.code).toBe(1);
    expect(badStream.stderr).toContain('Invalid values');
    const badLines = await runCli(['logs', 'a', '-n', 'x', '-f', file], env);
    expect([badLines.code, badLines.stderr]).toEqual([1, 'drover: Expected `--lines` to be a whole number ≥ 0 or "all", got "x" (string)\n']);
    const badSince = await runCli(['logs', 'a', '--since', 'yesterday', '-f', file], env);
    expect(badSince.code).toBe(1);
    expect(badSince.stderr).toContain('Expected `--since` to be a duration such as 30s');

    // A second up of the same config, foreground or detached, is refused; the first keeps running.
    for (const args of [['up'], ['up', '--wait']]) {
      const second = await runCli([...args, '-f', file], env);
      expect(second.code).toBe(1);
      expect(second.stderr).toBe(
        `drover: a cluster is already running for this config: drover up pid ${upPid} (control socket ${path.join(dir, 'state', 'control.sock')}); see it with \`drover ps -f ${file}\`, stop it with \`drover down -f ${file}\`\n`,
      );
    }
    expect((await ps(file)).every((r) => r.state === 'ready')).toBe(true);
    findShepherds().forEach((p) => pids.add(p));

    // down: graceful, the background up exits, nothing is left: not even its files in the state
    // dir (a $DROVER_STATE_DIR stays, emptied).
    const log = readFileSync(path.join(dir, 'state', 'up.log'), 'utf8');
    expect(log).toMatch(/^\d\d:\d\d:\d\d\.\d{3} drover \| cluster ring: 4\/4 nodes ready$/m);
    const down = await runCli(['down', '-f', file], env);
    expect([down.code, down.stdout, down.stderr]).toEqual([0, 'cluster ring stopped (4 nodes)\n', '']);
    await expectAllGone([upPid]);
    expect(readdirSync(path.join(dir, 'state'))).toEqual([]);
  });

  it('logs --follow prints new lines as they come and ends with exit 0 when the cluster goes down', async () => {
    const file = await writeRing(dir);
    await upDetached(file);
    await ps(file);
    const follow = new CliProcess(['logs', 'a', 'b', '-n', '0', '--follow', '-f', file], env);
    followers.push(follow);
    // The ring nodes log a ping line every second.
    await follow.waitForStdout(/^a +\| a ping: /m, 'a ping line from a follower');
    await follow.waitForStdout(/^b +\| b ping: /m, 'a ping line of b');
    expect(follow.stdout).not.toContain('listening on'); // -n 0: nothing from before
    const restart = await runCli(['restart', 'a', '-f', file], env);
    expect(restart.code).toBe(0);
    await follow.waitForStdout(/^a +\| a got SIGTERM, closing\n(?:.*\n)*a +\| a listening on/m, 'the restart of a in the follow output');
    await ps(file);
    findShepherds().forEach((p) => pids.add(p));
    const down = await runCli(['down', '--timeout', '10s', '-f', file], env);
    expect(down.code).toBe(0);
    expect(await follow.closed).toBe(0);
  });

  it('down --timeout SIGKILLs a node that ignores its stop signal once the timeout runs out', async () => {
    const ignoreSigterm = path.resolve('test', 'fixtures', 'ignore-sigterm.mjs');
    const file = path.join(dir, 'drover.yaml');
    writeFileSync(
      file,
      `name: stubborn\nnodes:\n  s:\n    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(ignoreSigterm)}]\n    ready: { log: { pattern: ready } }\n    stop: { timeout: 60s }\n`,
    );
    const up = new CliProcess(['up', '--no-tty', '-f', file], env);
    followers.push(up);
    await up.waitForStdout('1/1 nodes ready', 'stubborn cluster ready');
    pids.add(up.child.pid!);
    await ps(file);
    findShepherds().forEach((p) => pids.add(p));
    const began = Date.now();
    // 3 s: well past the first 1 s progress line (with 1 s the SIGKILL raced it under load).
    const down = await runCli(['down', '--timeout', '3s', '-f', file], env);
    expect([down.code, down.stderr]).toEqual([0, '']);
    expect(Date.now() - began).toBeLessThan(20_000); // far below the 60 s stop timeout
    expect(await up.closed).toBe(0);
    expect(up.stdout).toMatch(/still stopping: s pid \d+: SIGTERM sent \d+\.\d s ago, still running; SIGKILL in 5\d\.\d s/);
    expect(up.stdout).toMatch(/^drover \| s: stopped \(killed by SIGKILL, \d+\.\d s after SIGTERM\)$/m);
  });
});

describe('ports, scale and config against examples/ring (ports allocated by drover)', () => {
  it('ps shows allocated ports, config resolves templates with them, scale adds and removes replicas with their own ports', { timeout: 90_000 }, async () => {
    const file = path.resolve('examples', 'ring', 'drover.yaml');
    await upDetached(file);
    const rows = await ps(file);
    const portOf = (name: string, replica = 0) => rows.find((r) => r.name === name && r.replica === replica)!.ports.http!;
    expect(rows.map((r) => typeof r.ports.http)).toEqual(['number', 'number', 'number']);
    const table = await runCli(['ps', '-f', file], env);
    expect(table.stdout).toMatch(new RegExp(`^a +0 +ready +\\d+ +0 +\\d+s +http=${portOf('a')}$`, 'm'));

    const config = await runCli(['config', '--json', '-f', file], env);
    expect([config.code, config.stderr]).toEqual([0, '']);
    const resolved = JSON.parse(config.stdout) as { name: string; nodes: { name: string; replica: number; ports: Record<string, number>; env: Record<string, string>; droverEnv: Record<string, string> }[] };
    expect(resolved.name).toBe('ring');
    const a = resolved.nodes.find((n) => n.name === 'a')!;
    expect(a.ports).toEqual({ http: portOf('a') });
    expect(a.env.PORT).toBe(String(portOf('a')));
    expect(a.env.PEERS).toBe(`127.0.0.1:${portOf('b')},127.0.0.1:${portOf('c')}`);
    expect(a.droverEnv.DROVER_PORT_HTTP).toBe(String(portOf('a')));
    const yaml = await runCli(['config', '-f', file], env);
    expect(yaml.stdout).toMatch(/^name: ring$/m);
    expect(yaml.stdout).toContain(`PORT: "${portOf('a')}"`);

    const up3 = await runCli(['scale', 'b', '3', '-f', file], env);
    expect([up3.code, up3.stderr]).toEqual([0, '']);
    expect(up3.stdout).toMatch(/^b: scaled 1 → 3 \(b\[0\] ready pid \d+ http=\d+; b\[1\] ready pid \d+ http=\d+; b\[2\] ready pid \d+ http=\d+\)\n$/);
    const scaled = await ps(file);
    findShepherds().forEach((p) => pids.add(p));
    const bs = scaled.filter((r) => r.name === 'b');
    expect(bs.map((r) => [r.replica, r.state])).toEqual([
      [0, 'ready'],
      [1, 'ready'],
      [2, 'ready'],
    ]);
    expect(new Set(bs.map((r) => r.ports.http)).size).toBe(3);
    // Each replica's lines say which replica wrote them.
    const logsB = await runCli(['logs', 'b', '-n', 'all', '-f', file], env);
    expect(logsB.stdout).toMatch(/^b\[2\]\s*\| .*listening/m);
    expect(logsB.stdout).toMatch(/^b\s*\| .*listening/m);
    const logsJson = await runCli(['logs', 'b', '-n', 'all', '--json', '-f', file], env);
    const replicasSeen = new Set(logsJson.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { replica: number }).replica));
    expect([...replicasSeen].sort()).toEqual([0, 1, 2]);
    const down1 = await runCli(['scale', 'b', '1', '-f', file], env);
    expect(down1.stdout).toMatch(/^b: scaled 3 → 1 \(b\[0\] ready pid \d+ http=\d+\)\n$/);
    expect((await ps(file)).filter((r) => r.name === 'b')).toHaveLength(1);
    for (const [args, message] of [
      [['scale', 'zz', '2'], 'no node "zz"'],
      [['scale', 'b', 'many'], 'Expected `replicas` to be a whole number ≥ 0, got "many" (string)'],
    ] as const) {
      const bad = await runCli([...args, '-f', file], env);
      expect(bad.code, args.join(' ')).toBe(1);
      expect(bad.stderr).toContain(message);
    }
    expect((await runCli(['down', '-f', file], env)).code).toBe(0);

    // Without a running cluster: the config as `up` would start it, ports not yet allocated.
    const offline = await runCli(['config', '--json', '-f', file], env);
    expect(offline.code).toBe(0);
    expect(offline.stderr).toContain('no running cluster');
    expect((JSON.parse(offline.stdout) as { nodes: { ports: object }[] }).nodes.map((n) => n.ports)).toEqual([{}, {}, {}]);
  });
});

describe('drover without a running cluster', () => {
  it('every client command says how to start one and exits 1; a stale socket is named', async () => {
    const file = await writeRing(dir);
    for (const args of [['ps'], ['ps', '--json'], ['logs', 'a'], ['restart', 'a'], ['kill', 'a'], ['down']]) {
      const result = await runCli([...args, '-f', file], env);
      expect(result.code, args.join(' ')).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe(`drover: no running cluster for ${file}; start one with \`drover up -f ${file}\`\n`);
    }
  });

  it('validate --json describes a valid and an invalid config', async () => {
    const good = await writeRing(dir);
    const ok = await runCli(['validate', '--json', '-f', good]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toEqual({ file: good, valid: true, name: 'ring', nodes: ['a', 'b', 'c'], errors: [], warnings: [] });
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'name: bad\nnodes: { a: { command: 42, stopp: 1 } }\n');
    const notOk = await runCli(['validate', '--json', '--strict', '-f', bad]);
    expect(notOk.code).toBe(1);
    const answer = JSON.parse(notOk.stdout) as { valid: boolean; errors: { path: string; message: string }[] };
    expect(answer.valid).toBe(false);
    expect(answer.errors.map((e) => e.path)).toEqual(expect.arrayContaining(['nodes.a.command', 'nodes.a.stopp']));
    const missing = await runCli(['ps', '-f', path.join(dir, 'nope.yaml')], env);
    expect(missing.code).toBe(1); // ps needs no config file, only its running cluster
    const noFile = await runCli(['up', '-f', path.join(dir, 'nope.yaml')], env);
    expect(noFile.code).toBe(1);
    expect(noFile.stderr).toContain('drover: pass the config with -f PATH');
  });

  it('--help of every command shows examples; completion prints a script and completes node names', async () => {
    for (const command of ['up', 'ps', 'logs', 'start', 'stop', 'restart', 'kill', 'scale', 'config', 'down', 'validate']) {
      const help = await runCli([command, '--help']);
      expect(help.code, command).toBe(0);
      expect(help.stdout, command).toContain('Examples:');
    }
    const top = await runCli(['--help']);
    expect(top.stdout).toContain('Exit codes:');
    expect(top.stdout).toContain('DROVER_STATE_DIR');
    const script = await runCli(['completion']);
    expect(script.code).toBe(0);
    expect(script.stdout).toContain('--get-yargs-completions');
    const file = await writeRing(dir);
    const nodes = await runCli(['--get-yargs-completions', 'restart', '-f', file, '']);
    expect(nodes.stdout.trim().split('\n')).toEqual(['a', 'b', 'c']);
    const commands = await runCli(['--get-yargs-completions', 're']);
    expect(commands.stdout).toContain('restart');
  });

  it('a misspelled command suggests the right one', async () => {
    const result = await runCli(['restrat', 'a']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Did you mean restart?');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
