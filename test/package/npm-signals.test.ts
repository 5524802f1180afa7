/**
 * Ctrl-C on `drover up` run through npm, as docs/cli.md documents it (`npx drover up`, `npm run
 * drover -- up`). A terminal's Ctrl-C signals its whole foreground process group: npm, the shell
 * npm runs the command with, and drover. npm forwards the SIGINT to its own child as well, so when
 * that child is drover (a shell that execs its one command: bash) drover gets one Ctrl-C twice,
 * a few milliseconds apart. Here a process group of our own stands in for the terminal's: its
 * leader is the process we spawn (detached), the group id is that recorded pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, realpathSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCtrlCFilter, SAME_CTRL_C_MS } from '../../cli/ctrl-c.js';
import { waitFor } from '../helpers/wait-for.js';
import { getProcessState } from '../helpers/processes.js';
import { cleanUpProject, findProcessesUnder, getConsumerEnv, listPackedFiles, makeStateDir, stageConsumerProject, type StagedProject } from './staging.js';

/** A node that stops on SIGTERM at once (Node's default action). */
const CONFIG = `name: tiny
nodes:
  a:
    command: [${JSON.stringify(process.execPath)}, -e, "console.log('a up'); setInterval(() => {}, 1 << 30)"]
    ready: { log: { pattern: "a up" } }
    stop: { timeout: 20s }
`;

/** What drover prints for a clean down of CONFIG: the node stopped by its stop signal, nothing forced. */
const CLEAN_DOWN = [/^drover \| stopping cluster tiny \(Ctrl-C\); Ctrl-C again to kill every node at once$/m, /^drover \| a: stopped \(killed by SIGTERM/m, /^drover \| cluster tiny stopped$/m];

function getRunEnv(stateDir: string): NodeJS.ProcessEnv {
  return getConsumerEnv({ DROVER_STATE_DIR: stateDir });
}

class Run {
  readonly child: ChildProcess;
  /** Everything written to stdout and stderr (npm's banner, drover's lines). */
  output = '';
  /** Settles once the process has ended and its output is read to the end (every holder of the pipes is gone). */
  readonly ended: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Settles once the process itself has ended (a process it left behind may still hold the pipes). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The process group standing in for the terminal's foreground group: the leader's pid. */
  readonly pgid: number;

  constructor(project: StagedProject, argv: string[], env: NodeJS.ProcessEnv) {
    this.child = spawn(argv[0]!, argv.slice(1), { cwd: project.dir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.pgid = this.child.pid!;
    this.child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.ended = new Promise((resolve) => this.child.on('close', (code, signal) => resolve({ code, signal })));
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  waitForOutput(pattern: RegExp, describe: string): Promise<string> {
    return waitFor(() => this.output, (out) => pattern.test(out), { timeoutMs: 20_000, describe });
  }

  /** Ctrl-C on a terminal: SIGINT to every process of the foreground group. */
  pressCtrlC(): void {
    process.kill(-this.pgid, 'SIGINT');
  }
}

let files: string[] = [];
let project: StagedProject | null = null;
const runs: Run[] = [];

beforeAll(async () => {
  files = await listPackedFiles();
}, 60_000);

afterEach(async () => {
  const left = project === null ? [] : await cleanUpProject(project, 15_000);
  project = null;
  for (const run of runs.splice(0)) await run.ended;
  expect(left, 'processes left behind').toEqual([]);
});

async function start(argv: string[], config = CONFIG): Promise<{ run: Run; stateDir: string }> {
  project = await stageConsumerProject(files, { withNativeBuild: true });
  writeFileSync(path.join(project.dir, 'drover.yaml'), config);
  const stateDir = makeStateDir(project.dir);
  const run = new Run(project, argv, getRunEnv(stateDir));
  runs.push(run);
  await run.waitForOutput(/cluster tiny: 1\/1 nodes ready/, 'the cluster to be ready');
  return { run, stateDir };
}

/** The shell npm runs scripts with by default (`script-shell`): what /bin/sh is here. */
const defaultShell = path.basename(realpathSync('/bin/sh'));

/** A node that takes 300 ms to stop on SIGTERM, so a second SIGINT lands while the cluster stops. */
const SLOW_STOP_CONFIG = `name: tiny
nodes:
  a:
    command: [${JSON.stringify(process.execPath)}, -e, "process.on('SIGTERM', () => setTimeout(() => process.exit(0), 300)); console.log('a up'); setInterval(() => {}, 1 << 30)"]
    ready: { log: { pattern: "a up" } }
    stop: { timeout: 20s }
`;

describe('createCtrlCFilter', () => {
  it('takes SIGINTs within the window after the first for that same Ctrl-C; later ones count', () => {
    let now = 1000;
    const isNew = createCtrlCFilter(() => now, SAME_CTRL_C_MS);
    expect(isNew()).toBe(true); // the first Ctrl-C
    now += 37; // npm's copy, as measured
    expect(isNew()).toBe(false);
    now += SAME_CTRL_C_MS - 38;
    expect(isNew()).toBe(false);
    now += 1; // SAME_CTRL_C_MS after the first
    expect(isNew()).toBe(true); // a second Ctrl-C
    now += 1;
    expect(isNew()).toBe(true); // and a third, however soon
  });
});

describe('one Ctrl-C that reaches drover up twice (the terminal\'s SIGINT, then npm\'s copy)', () => {
  it('the copy arriving while the nodes stop is the same Ctrl-C: a clean down, exit 0', async () => {
    const { run } = await start(['node_modules/.bin/drover', 'up', '--no-tty'], SLOW_STOP_CONFIG);
    run.pressCtrlC();
    await run.waitForOutput(/stopping cluster tiny \(Ctrl-C\)/, 'the graceful down to begin');
    // What npm does on the same Ctrl-C: it passes the SIGINT it got on to its child.
    process.kill(run.pgid, 'SIGINT');
    expect(await run.ended, run.output).toEqual({ code: 0, signal: null });
    expect(run.output).toMatch(/^drover \| a: stopped \(exited with code 0, \d+\.\d s after SIGTERM\)$/m);
    expect(run.output).toMatch(/^drover \| cluster tiny stopped$/m);
    expect(run.output).not.toContain('second Ctrl-C');
  });

  it('the copy arriving once the nodes have stopped does not end drover by SIGINT: exit 0', async () => {
    const { run } = await start(['node_modules/.bin/drover', 'up', '--no-tty']);
    run.pressCtrlC();
    await run.waitForOutput(/^drover \| a: stopped /m, 'the node to stop');
    // drover may have printed its last line and exited by now (nothing is left for it to do):
    // then the copy reaches nobody, and the exit status is the first Ctrl-C's alone.
    try {
      process.kill(run.pgid, 'SIGINT');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
    expect(await run.ended, run.output).toEqual({ code: 0, signal: null });
    for (const line of CLEAN_DOWN) expect(run.output).toMatch(line);
  });
});

describe('Ctrl-C on drover up through npm', () => {
  it('npm run with a script shell that execs the command (bash): a clean down, and npm exits 0', async () => {
    const { run } = await start(['npm', 'run', '--script-shell=/bin/bash', 'drover', '--', 'up', '--no-tty']);
    run.pressCtrlC();
    expect(await run.ended, run.output).toEqual({ code: 0, signal: null });
    for (const line of CLEAN_DOWN) expect(run.output).toMatch(line);
    expect(run.output).not.toContain('second Ctrl-C');
  });

  it.runIf(existsSync('/bin/dash'))('npm run with dash as the script shell: a clean down, then dash and npm end by SIGINT (130 in a shell)', async () => {
    const { run } = await start(['npm', 'run', '--script-shell=/bin/dash', 'drover', '--', 'up', '--no-tty']);
    run.pressCtrlC();
    expect(await run.ended, run.output).toEqual({ code: null, signal: 'SIGINT' });
    // npm waited for drover: its whole clean down was printed before npm ended.
    for (const line of CLEAN_DOWN) expect(run.output).toMatch(line);
  });

  it(`npx drover up with the default script shell (/bin/sh is ${defaultShell} here): a clean down`, async () => {
    const { run } = await start(['npx', 'drover', 'up', '--no-tty']);
    run.pressCtrlC();
    const ended = await run.ended;
    for (const line of CLEAN_DOWN) expect(run.output).toMatch(line);
    expect(run.output).not.toContain('second Ctrl-C');
    if (defaultShell === 'dash') expect(ended, run.output).toEqual({ code: null, signal: 'SIGINT' });
    if (defaultShell === 'bash') expect(ended, run.output).toEqual({ code: 0, signal: null });
  });

  it(`drover down from another process ends npx drover up with 0 (script shell /bin/sh: ${defaultShell} here)`, async () => {
    const { run, stateDir } = await start(['npx', '--script-shell=/bin/sh', 'drover', 'up', '--no-tty']);
    const down = await runDown(stateDir);
    expect(down).toBe(0);
    expect(await run.ended, run.output).toEqual({ code: 0, signal: null });
    expect(run.output).toMatch(/^drover \| cluster tiny stopped$/m);
  });

  it.runIf(existsSync('/bin/dash'))("SIGTERM to npm's pid alone, with dash as the script shell, never reaches drover: npm ends, drover keeps running", async () => {
    const { run, stateDir } = await start(['npx', '--script-shell=/bin/dash', 'drover', 'up', '--no-tty']);
    const droverPid = findDroverUp(project!.dir);
    process.kill(run.pgid, 'SIGTERM'); // npm's pid: the leader we spawned
    expect(await run.exited, run.output).toEqual({ code: null, signal: 'SIGTERM' });
    expect(run.output).not.toContain('stopping cluster');
    expect(getProcessState(droverPid), 'drover up still running').toMatch(/^[RS]$/);
    expect(await runDown(stateDir)).toBe(0);
  });
});

/** Pid of the `drover up` process (node running the installed bin) of the project. */
function findDroverUp(dir: string): number {
  const found = findProcessesUnder(dir).filter((p) => p.cmdline.includes('node_modules/.bin/drover up'));
  expect(found, 'one drover up process').toHaveLength(1);
  return found[0]!.pid;
}

/** `drover down` for the cluster of the current project; resolves with its exit code. */
async function runDown(stateDir: string): Promise<number | null> {
  const down = spawn(path.join(project!.dir, 'node_modules', '.bin', 'drover'), ['down'], { cwd: project!.dir, env: getRunEnv(stateDir), stdio: 'ignore' });
  return new Promise((resolve) => down.on('close', resolve));
}
