import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ClusterShutdown, formatPending } from '../../cli/cluster-shutdown.js';
import { Printer, shouldUseColor } from '../../cli/printer.js';
import { fitLine, getStatusLines, StatusView } from '../../cli/status-view.js';
import type { ClusterController, ClusterEvent, ClusterObserver, ClusterSnapshot, NodeSnapshot } from '../../contract/types.js';
import { CLI, runCli, writeRing } from '../helpers/cli.js';
import { makeCluster, makeNode } from '../helpers/specs.js';
import { expectAllGone, expectNoShepherds, findShepherds } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';

function node(name: string, state: NodeSnapshot['state'], extra: Partial<NodeSnapshot> = {}): NodeSnapshot {
  return {
    name,
    replica: 0,
    state,
    pid: 100,
    restarts: 0,
    startedAt: 1_000,
    stateSince: 1_000,
    lastExit: null,
    error: null,
    ports: {},
    stats: { stdin: { bytes: 0, ops: 0 }, stdout: { bytes: 0, ops: 0 }, stderr: { bytes: 0, ops: 0 }, droppedLines: 0, droppedBytes: 0, bufferedBytes: 0, bufferedLines: 0 },
    ...extra,
  };
}

/** A controller whose snapshot the test sets; records kills. */
function createFakeController(nodes: NodeSnapshot[]): ClusterController & { kills: string[]; nodes: NodeSnapshot[]; finishStop(): void; emit(event: ClusterEvent): void } {
  let finishStop!: () => void;
  const stopped = new Promise<void>((resolve) => (finishStop = resolve));
  const observers = new Set<ClusterObserver>();
  const fake = {
    nodes,
    kills: [] as string[],
    finishStop: () => finishStop(),
    emit: (event: ClusterEvent) => observers.forEach((o) => o.onEvent(event)),
    snapshot: (): ClusterSnapshot => ({ name: 'ring', configPath: null, nodes: fake.nodes }),
    subscribe: (observer: ClusterObserver) => {
      observers.add(observer);
      return { unsubscribe: () => observers.delete(observer) };
    },
    provideSpawnEnvironment: () => ({ unsubscribe: () => undefined }),
    faults: () => [],
    healFaults: async () => undefined,
    pauseNode: async () => undefined,
    resumeNode: async () => undefined,
    crashNode: async () => 0,
    scale: async () => undefined,
    resolvedConfig: () => ({ name: 'ring', configPath: null, onNodeFailure: 'continue' as const, nodes: [] }),
    restartNode: async () => undefined,
    stopNode: async () => undefined,
    startNode: async () => undefined,
    killNode: async (name: string, signal: string | number) => {
      fake.kills.push(`${name}:${signal}`);
      return 1;
    },
    tail: () => [],
    stop: () => stopped,
  };
  return fake;
}

describe('status view and shutdown progress (pure)', () => {
  it('says which node is still stopping and why, from the stop spec, the manager\'s progress events and an injected clock', async () => {
    const spec = makeCluster(
      [makeNode('a', ['x']), makeNode('b', ['x'], { stop: { signal: 'SIGINT', timeoutMs: 5000 } }), makeNode('c', ['x']), makeNode('d', ['x'], { dependsOn: { e: 'ready' } }), makeNode('e', ['x'])],
      'ring',
    );
    const controller = createFakeController([
      node('a', 'stopped', { pid: null }),
      node('b', 'stopping', { pid: 42, stateSince: 10_000 }),
      node('c', 'backoff', { pid: null }),
      node('d', 'stopping', { pid: 43, stateSince: 11_000 }),
      node('e', 'ready', { pid: 44 }),
    ]);
    let now = 11_200;
    const shutdown = new ClusterShutdown(controller, spec, () => now);
    const done = shutdown.stop();
    expect(shutdown.isStopping).toBe(true);
    expect(formatPending(shutdown.getPending())).toBe(
      'b pid 42: SIGINT sent 1.2 s ago, still running; SIGKILL in 3.8 s; c: cancelling its pending restart; d pid 43: SIGTERM sent 0.2 s ago, still running; SIGKILL in 1.8 s; e pid 44: ready; waits for d (which depend on it) to stop first',
    );
    // The manager's progress event knows when the signal really went out.
    controller.emit({ type: 'stopping', node: 'b', replica: 0, time: 11_100, pid: 42, command: ['x'], signal: 'SIGINT', waitedMs: 1500, timeoutMs: 5000, message: '' });
    expect(shutdown.getPending()[0]!.reason).toBe('SIGINT sent 1.6 s ago, still running; SIGKILL in 3.4 s');
    controller.emit({ type: 'state', node: 'b', replica: 0, from: 'stopping', to: 'stopped', time: 11_150, pid: 42, run: 1 });
    now = 16_000;
    expect(shutdown.getPending()[0]!.reason).toBe('SIGINT sent 6.0 s ago; SIGKILL sent after the stop timeout of 5.0 s');
    const killed = shutdown.killAll('second Ctrl-C');
    expect(controller.kills).toEqual(['b:SIGKILL', 'c:SIGKILL', 'd:SIGKILL', 'e:SIGKILL']);
    expect(shutdown.getPending()[0]!.reason).toBe('SIGKILL sent (second Ctrl-C); waiting for the process to be reaped');
    controller.finishStop();
    await Promise.all([done, killed, shutdown.finished]);
    expect(shutdown.isForced).toBe(true);
  });

  it('renders one footer line per node, cut to the terminal width without breaking color codes', () => {
    const snapshot: ClusterSnapshot = { name: 'ring', configPath: null, nodes: [node('a', 'ready', { restarts: 2, ports: { http: 4101 } }), node('bb', 'failed', { pid: null, startedAt: null, error: 'ERR_COMMAND_NOT_FOUND: nope' })] };
    const lines = getStatusLines({ snapshot, phase: 'running', pending: null, now: 66_000, color: false });
    expect(lines).toEqual(['── ring · 1/2 ready · Ctrl-C stops the cluster ──', '  a   ready    pid 100  http=4101  up 1m5s  restarts 2', '  bb  failed   ERR_COMMAND_NOT_FOUND: nope']);
    const colored = getStatusLines({ snapshot, phase: 'stopping', pending: [{ name: 'a', replica: 0, pid: 100, reason: 'SIGTERM sent 1.0 s ago' }], now: 66_000, color: true });
    expect(colored[0]).toContain('stopping · Ctrl-C again kills every node now');
    expect(colored[1]).toBe('  a   \x1b[32mready   \x1b[0m SIGTERM sent 1.0 s ago');
    // A node with 0 replicas keeps its place in config order.
    expect(getStatusLines({ snapshot, phase: 'running', pending: null, now: 66_000, color: false, declared: ['a', 'idle', 'bb'] })).toEqual([
      '── ring · 1/2 ready · Ctrl-C stops the cluster ──',
      '  a     ready    pid 100  http=4101  up 1m5s  restarts 2',
      '  idle  scaled-to-0 (0 replicas)',
      '  bb    failed   ERR_COMMAND_NOT_FOUND: nope',
    ]);
    expect(fitLine('\x1b[32mabcdef\x1b[0m', 4)).toBe('\x1b[32mabc…\x1b[0m');
    expect(fitLine('abc', 4)).toBe('abc');
  });

  it('the footer counts only what truly is up: a running node is not ready, a completed job is counted apart', () => {
    const snapshot: ClusterSnapshot = {
      name: 'ring',
      configPath: null,
      nodes: [node('a', 'ready'), node('b', 'running'), node('migrate', 'exited', { pid: null, lastExit: { exitCode: 0 } as NodeSnapshot['lastExit'] })],
    };
    const [header] = getStatusLines({ snapshot, phase: 'running', pending: null, now: 2_000, color: false, jobs: new Map([['migrate', [0]]]) });
    expect(header).toBe('── ring · 1/2 ready · 1/1 job completed · Ctrl-C stops the cluster ──');
  });

  it('Printer: the prefix column grows to a replica added at run time, from the line that announces it', () => {
    const lines: string[] = [];
    const printer = new Printer({ writeLine: (line) => lines.push(line) }, ['gateway'], { color: false, labels: ['gateway'] });
    printer.output('gateway', 'hello 0', 0);
    printer.event({ type: 'scaled', node: 'gateway', from: 1, to: 2, time: 0 } as ClusterEvent);
    printer.output('gateway[1]', 'hello 1', 0, 'gateway');
    printer.output('gateway', 'again', 0);
    expect(lines).toEqual(['gateway | hello 0', 'drover     | gateway: scaled from 1 to 2 replicas', 'gateway[1] | hello 1', 'gateway    | again']);
  });

  it('StatusView erases and redraws its footer around every line, and leaves no footer on close', () => {
    const out = Object.assign(new PassThrough(), { columns: 80, rows: 24, isTTY: true }) as unknown as NodeJS.WriteStream;
    let written = '';
    out.on('data', (d: Buffer) => (written += d.toString()));
    let footer = ['F1', 'F2'];
    const view = new StatusView(out, () => footer, 60_000);
    const printer = new Printer(view, ['a'], { color: false });
    view.start();
    printer.output('a', 'hello', 0);
    footer = ['F3'];
    view.redraw();
    view.close();
    printer.info('after');
    expect(written).toBe('F1\nF2\n' + '\r\x1b[2A\x1b[Ja      | hello\nF1\nF2\n' + '\r\x1b[2A\x1b[JF3\n' + '\r\x1b[1A\x1b[J' + 'drover | after\n');
  });

  it('NO_COLOR wins over FORCE_COLOR; FORCE_COLOR colors a pipe; a TTY is colored by default', () => {
    expect(shouldUseColor({ isTTY: true }, {})).toBe(true);
    expect(shouldUseColor({ isTTY: false }, {})).toBe(false);
    expect(shouldUseColor({ isTTY: false }, { FORCE_COLOR: '1' })).toBe(true);
    expect(shouldUseColor({ isTTY: true }, { FORCE_COLOR: '0' })).toBe(true);
    expect(shouldUseColor({ isTTY: false }, { FORCE_COLOR: '0' })).toBe(false);
    expect(shouldUseColor({ isTTY: true }, { NO_COLOR: '1', FORCE_COLOR: '1' })).toBe(false);
    expect(shouldUseColor({ isTTY: true }, { NO_COLOR: '' })).toBe(true);
  });
});

describe('drover up on a terminal (tmux)', () => {
  let dir: string;
  let server: string;
  const pids = new Set<number>();

  // scroll-on-clear off: tmux (≥ 3.3) otherwise moves the screen into its history when an erase
  // starts at the top-left cell, which the first footer redraw on an empty screen does; the
  // history is then not what a terminal shows.
  const tmux = (...args: string[]) => execFileSync('tmux', ['-S', server, '-f', path.join(dir, 'tmux.conf'), ...args], { encoding: 'utf8' });
  const screen = () => tmux('capture-pane', '-p', '-t', 't');

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'drover-tty-'));
    server = path.join(dir, 'tmux.sock'); // in the test's temp dir: nothing left in /tmp/tmux-<uid>
    writeFileSync(path.join(dir, 'tmux.conf'), 'set -g scroll-on-clear off\n');
  });

  afterEach(async () => {
    const serverPid = Number(spawnSync('tmux', ['-S', server, 'display-message', '-p', '#{pid}'], { encoding: 'utf8' }).stdout.trim());
    spawnSync('tmux', ['-S', server, 'kill-server']); // its shell and `sleep` get SIGHUP
    if (serverPid > 0) pids.add(serverPid);
    if (pids.size > 0) await expectAllGone(pids);
    pids.clear();
    await expectNoShepherds();
  });

  it('shows a live status footer updated in place; Ctrl-C stops the cluster and leaves the terminal as it was', async () => {
    const file = await writeRing(dir);
    const state = path.join(dir, 'state');
    const script = [
      `stty -g > ${dir}/stty.before`,
      `env -u NO_COLOR -u FORCE_COLOR DROVER_STATE_DIR=${state} ${process.execPath} ${CLI} up -f ${file}`,
      `echo EXIT=$?`,
      `stty -g > ${dir}/stty.after`,
      'exec sleep 600',
    ].join('; ');
    tmux('new-session', '-d', '-s', 't', '-x', '120', '-y', '40', script);
    const ready = await waitFor(screen, (s) => s.includes('── ring · 3/3 ready · Ctrl-C stops the cluster ──') && /^ {2}c {2}ready +pid \d+ {2}up \d+s$/m.test(s) && s.includes('cluster ring: 3/3 nodes ready'), {
      timeoutMs: 20_000,
      describe: 'the footer to show 3/3 ready with a row per node',
    });
    expect(ready).toMatch(/^ {2}a {2}ready +pid \d+ {2}up \d+s$/m);
    expect(ready).toMatch(/^drover \| cluster ring: 3\/3 nodes ready$/m);
    const rows = JSON.parse((await runCli(['ps', '--json', '-f', file], { DROVER_STATE_DIR: state })).stdout) as { pid: number }[];
    rows.forEach((r) => pids.add(r.pid));
    findShepherds().forEach((p) => pids.add(p));
    // Redraws replace the footer: the whole history holds it exactly once, below the output.
    await waitFor(screen, (s) => / ping: /.test(s), { describe: 'a ping line printed above the footer' });
    const history = tmux('capture-pane', '-p', '-S', '-', '-t', 't');
    expect(history.match(/── ring ·/g), history).toHaveLength(1);
    expect(history.trimEnd().split('\n').at(-4)).toMatch(/── ring · 3\/3 ready/);

    tmux('send-keys', '-t', 't', 'C-c');
    const after = await waitFor(screen, (s) => s.includes('EXIT=0'), { timeoutMs: 20_000, describe: 'drover up to exit 0 after Ctrl-C' });
    expect(after).toMatch(/^drover \| stopping cluster ring \(Ctrl-C\); Ctrl-C again to kill every node at once$/m);
    expect(after).toMatch(/^drover \| cluster ring stopped$/m);
    expect(after).not.toContain('── ring ·'); // the footer is gone
    expect(after.trimEnd().split('\n').slice(-2)).toEqual([expect.stringMatching(/cluster ring stopped$/), 'EXIT=0']);
    await waitFor(() => readFileSync(`${dir}/stty.after`, 'utf8'), (s) => s.length > 0, { describe: 'stty -g after the exit' });
    expect(readFileSync(`${dir}/stty.after`, 'utf8')).toBe(readFileSync(`${dir}/stty.before`, 'utf8'));
  });
});
