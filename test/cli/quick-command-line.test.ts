/**
 * `ps`, `down`, `start`, `stop`, `restart` and `kill` with a plain command line run without
 * yargs (cli/quick-command-line.ts), and do what they do through yargs: every accepted form is run
 * both ways against the same running cluster (`DROVER_CLI_QUICK=0` sends it to yargs) and must
 * print the same and exit the same. What the quick reader does not accept goes to yargs, whose
 * help and error messages it keeps. The module-load recorder shows which path ran.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readQuickCommandLine } from '../../cli/quick-command-line.js';
import { cleanupDetachedRun, getUpPid, readPsRows, runCli } from '../helpers/cli.js';
import { writeLoadRecorder } from '../helpers/load-recorder.js';
import { findShepherds } from '../helpers/processes.js';

describe('readQuickCommandLine', () => {
  test.each([
    [['ps'], { command: 'ps', files: [], json: false }],
    [['ps', '--json', '-f', 'a.yaml'], { command: 'ps', files: ['a.yaml'], json: true }],
    [['ps', '--file=a.yaml', '--file', 'b.yaml', '-f', 'c.yaml'], { command: 'ps', files: ['a.yaml', 'b.yaml', 'c.yaml'], json: false }],
    [['down', '--timeout', '5s'], { command: 'down', files: [], timeout: '5s' }],
    [['down'], { command: 'down', files: [], timeout: undefined }],
    [['stop', 'a', 'b'], { command: 'stop', files: [], nodes: ['a', 'b'], signal: undefined }],
    [['kill', 'a', '-s', 'SIGTERM', '-f', 'x.yaml'], { command: 'kill', files: ['x.yaml'], nodes: ['a'], signal: 'SIGTERM' }],
    [['kill', '--signal=-9', 'a'], { command: 'kill', files: [], nodes: ['a'], signal: '-9' }],
  ])('reads %j', (args, expected) => {
    expect(readQuickCommandLine(args)).toEqual(expected);
  });

  test.each([
    [[]], [['up']], [['logs', 'a']], [['ps', '--help']], [['ps', '-h']], [['ps', '--version']], [['--help']],
    [['ps', 'extra']], [['stop']], [['ps', '--no-json']], [['ps', '--json=false']], [['ps', '--json', '--json']],
    [['ps', '-f=a.yaml']], [['ps', '-fa.yaml']], [['kill', 'a', '-sf', 'x']], [['kill', 'a', '-s', '-9']], [['kill', 'a', '-s']],
    [['down', '--timeout']], [['down', '--timeout', '1s', '--timeout', '2s']], [['stop', '--', 'a']], [['ps', '--unknown']],
    [['ps', '--File', 'x']], [['scale', 'a', '2']], [['completion']], [['ps', '--get-yargs-completions']],
  ])('leaves %j to yargs', (args) => {
    expect(readQuickCommandLine(args)).toBeNull();
  });
});

describe('a quick command line does what yargs does with it', () => {
  let dir: string;
  let register: string;
  let env: NodeJS.ProcessEnv;
  let config: string;
  const pids = new Set<number>();

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'drover-quick-cli-'));
    register = writeLoadRecorder(dir, { withPid: false });
    config = path.join(dir, 'drover.yaml');
    writeFileSync(config, 'name: quick\nnodes:\n  a:\n    command: [sleep, "600"]\n    minUptime: 0s\n  b:\n    command: [sleep, "600"]\n    minUptime: 0s\n');
    env = { DROVER_STATE_DIR: path.join(dir, 'state'), NO_COLOR: '1' };
    const up = await runCli(['up', '--wait', '-f', config], env);
    expect([up.code, up.stderr]).toEqual([0, '']);
    pids.add(await getUpPid(path.join(dir, 'state')));
    findShepherds().forEach((pid) => pids.add(pid));
    await readPsRows(config, env, pids);
  }, 60_000);

  afterAll(async () => {
    await runCli(['down', '-f', config], env);
    await cleanupDetachedRun(pids);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  /** One CLI run: its output (uptimes masked), exit code, and whether it loaded the bundle's yargs chunk. */
  async function runRecorded(name: string, args: string[], quick: boolean) {
    const log = path.join(dir, `${name}-${quick ? 'quick' : 'yargs'}.log`);
    writeFileSync(log, '');
    const result = await runCli(args, { ...env, DROVER_LOAD_LOG: log, NODE_OPTIONS: `--import ${pathToFileURL(register).href}`, ...(quick ? {} : { DROVER_CLI_QUICK: '0' }) });
    const loadedYargs = readFileSync(log, 'utf8').split('\n').some((url) => /\/yargs-[^/]*\.js$/.test(url));
    return { code: result.code, stdout: result.stdout.replace(/\b\d+(ms|s|m\d+s)\b/g, '<time>').replace(/"uptimeMs": \d+/g, '"uptimeMs": <ms>'), stderr: result.stderr, loadedYargs };
  }

  // Forms that leave the cluster as it is (errors included), so that both runs see the same state.
  const SAME_STATE: Array<[string, (config: string) => string[]]> = [
    ['ps', (f) => ['ps', '-f', f]],
    ['ps-json', (f) => ['ps', '--json', '--file', f]],
    ['ps-inline-file', (f) => [`ps`, `--file=${f}`]],
    ['ps-two-files', (f) => ['ps', '-f', f, '-f', path.join(path.dirname(f), 'other.yaml')]],
    ['stop-unknown', (f) => ['stop', 'nosuch', '-f', f]],
    ['kill-bad-signal', (f) => ['kill', 'a', '-s', 'SIGNOPE', '-f', f]],
    ['kill-unknown', (f) => ['kill', '--signal=SIGTERM', 'a', 'nosuch', '-f', f]],
    ['start-running', (f) => ['start', 'a', '-f', f]],
    ['down-bad-timeout', (f) => ['down', '--timeout', 'soon', '-f', f]],
    ['ps-no-cluster', (f) => ['ps', '-f', path.join(path.dirname(f), 'none', 'drover.yaml')]],
  ];

  test.each(SAME_STATE)('%s: the same output and exit code, without loading yargs', async (name, makeArgs) => {
    const args = makeArgs(config);
    const viaYargs = await runRecorded(name, args, false);
    const quick = await runRecorded(name, args, true);
    expect(viaYargs.loadedYargs).toBe(true); // the recorder sees the yargs path
    expect(quick.loadedYargs).toBe(false);
    expect({ ...quick, loadedYargs: undefined }).toEqual({ ...viaYargs, loadedYargs: undefined });
  }, 30_000);

  test('stop, then start a node: the same effect and output both ways', async () => {
    for (const quick of [true, false]) {
      const stop = await runRecorded(`stop-${quick}`, ['stop', 'b', '-f', config], quick);
      expect([stop.code, stop.stderr, stop.loadedYargs]).toEqual([0, '', !quick]);
      expect((await readPsRows(config, env, pids)).find((row) => row.name === 'b')?.state).toBe('stopped');
      const start = await runRecorded(`start-${quick}`, ['start', 'b', '-f', config], quick);
      expect([start.code, start.stderr, start.loadedYargs]).toEqual([0, '', !quick]);
      expect((await readPsRows(config, env, pids)).find((row) => row.name === 'b')?.state).toMatch(/^(running|ready)$/);
    }
  }, 60_000);

  test('forms left to yargs get its help and its errors', async () => {
    const help = await runRecorded('ps-help', ['ps', '--help'], true);
    expect([help.code, help.loadedYargs]).toEqual([0, true]);
    expect(help.stdout).toContain('drover ps');
    const extra = await runRecorded('ps-extra', ['ps', 'extra', '-f', config], true);
    expect([extra.code, extra.loadedYargs, extra.stderr.split('\n')[0]]).toEqual([1, true, 'drover: Unknown argument: extra']);
    const negated = await runRecorded('ps-no-json', ['ps', '--no-json', '-f', config], true);
    expect([negated.code, negated.loadedYargs, negated.stdout.split('\n')[0]?.startsWith('NAME')]).toEqual([0, true, true]);
  }, 30_000);
});
