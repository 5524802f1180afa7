/**
 * `up`, `ps`, `down`, `start`, `stop`, `restart`, `kill`, `validate` and `analyze` with a plain
 * command line run without yargs (cli/quick-command-line.ts), and do what they do through yargs:
 * every accepted form is run both ways against the same running cluster (`DROVER_CLI_QUICK=0`
 * sends it to yargs) and must print the same and exit the same. What the quick reader does not accept goes to yargs, whose
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
    [['up'], { command: 'up', files: [], nodes: [], deps: true, detach: false, wait: false, timestamps: false, tty: true, strict: false, profile: undefined }],
    [['up', '-d', 'api', '--no-tty', '--profile', 'debug', '-t', '--no-deps', '--strict', '-f', 'a.yaml', '--profile=x,y', '--wait'], { command: 'up', files: ['a.yaml'], nodes: ['api'], deps: false, detach: true, wait: true, timestamps: true, tty: false, strict: true, profile: ['debug', 'x,y'] }],
    [['up', 'a', 'b', '--tty', '--deps'], { command: 'up', files: [], nodes: ['a', 'b'], deps: true, detach: false, wait: false, timestamps: false, tty: true, strict: false, profile: undefined }],
    [['ps'], { command: 'ps', files: [], json: false }],
    [['analyze', '--json'], { command: 'analyze', files: [], json: true }],
    [['validate', '--strict', '--json', '--profile', 'a', '-f', 'x.yaml'], { command: 'validate', files: ['x.yaml'], json: true, strict: true, profile: ['a'] }],
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
    [[]], [['logs', 'a']], [['ps', '--help']], [['ps', '-h']], [['ps', '--version']], [['--help']],
    [['ps', 'extra']], [['stop']], [['ps', '--no-json']], [['ps', '--json=false']], [['ps', '--json', '--json']],
    [['ps', '-f=a.yaml']], [['ps', '-fa.yaml']], [['kill', 'a', '-sf', 'x']], [['kill', 'a', '-s', '-9']], [['kill', 'a', '-s']],
    [['down', '--timeout']], [['down', '--timeout', '1s', '--timeout', '2s']], [['stop', '--', 'a']], [['ps', '--unknown']],
    [['ps', '--File', 'x']], [['scale', 'a', '2']], [['completion']], [['ps', '--get-yargs-completions']],
    [['up', '--profile', 'a', 'b']], [['up', '--profile=a', 'b']], [['up', '--tty', '--no-tty']], [['up', '--no-strict']], [['up', '--background']],
    [['validate', 'x']], [['analyze', '--no-json']], [['validate', '--profile', 'a', 'b']],
    [['up', '-dt']], [['up', '--profile']], [['up', '--detach=false']], [['up', '-d', '-d']], [['run', '--', 'true']],
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
    writeFileSync(path.join(dir, 'bad.yaml'), 'name: bad\nnodes:\n  a:\n    commnd: [sleep, "600"]\n');
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
  async function runRecorded(name: string, args: string[], quick: boolean, runEnv: NodeJS.ProcessEnv = env) {
    const log = path.join(dir, `${name}-${quick ? 'quick' : 'yargs'}.log`);
    writeFileSync(log, '');
    const result = await runCli(args, { ...runEnv, DROVER_LOAD_LOG: log, NODE_OPTIONS: `--import ${pathToFileURL(register).href}`, ...(quick ? {} : { DROVER_CLI_QUICK: '0' }) });
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
    ['validate', (f) => ['validate', '-f', f]],
    ['validate-bad-strict-json', (f) => ['validate', '--strict', '--json', '-f', path.join(path.dirname(f), 'bad.yaml')]],
    ['validate-profile', (f) => ['validate', '--profile', 'debug,extra', '-f', f]],
    ['analyze', (f) => ['analyze', '-f', f]],
    ['analyze-json', (f) => ['analyze', '--json', '-f', f]],
    ['up-running', (f) => ['up', '-d', '-f', f]],
    ['up-bad-config', (f) => ['up', '--wait', '-f', path.join(path.dirname(f), 'bad.yaml')]],
    ['up-no-deps-alone', (f) => ['up', '--no-deps', '--no-tty', '-f', f]],
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

  test('up -d of a second cluster: the same output both ways (pids masked), nothing left behind', async () => {
    const second = path.join(dir, 'second.yaml');
    writeFileSync(second, 'name: second\nnodes:\n  c:\n    command: [sleep, "600"]\n    minUptime: 0s\n');
    const outputs: string[] = [];
    for (const quick of [true, false]) {
      const secondEnv = { ...env, DROVER_STATE_DIR: path.join(dir, `second-state-${quick}`) };
      const up = await runRecorded(`up-second-${quick}`, ['up', '-d', '-f', second], quick, secondEnv);
      const upPid = Number(/drover up pid (\d+)/.exec(up.stdout)?.[1]);
      if (upPid > 0) pids.add(upPid);
      findShepherds().forEach((pid) => pids.add(pid));
      expect([up.code, up.stderr, up.loadedYargs]).toEqual([0, '', !quick]);
      outputs.push(up.stdout.replace(/pid \d+/g, 'pid <pid>').replaceAll(secondEnv.DROVER_STATE_DIR, '<state>'));
      const down = await runCli(['down', '-f', second], secondEnv);
      expect([down.code, down.stderr]).toEqual([0, '']);
    }
    expect(outputs[0]).toContain('cluster second started in the background');
    expect(outputs[0]).toBe(outputs[1]);
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
