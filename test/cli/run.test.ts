import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLI, CliProcess } from '../helpers/cli.js';
import { FIXTURES_DIR } from '../helpers/fixtures.js';
import { expectAllGone, getProcessState } from '../helpers/processes.js';

const HANDSHAKE = path.join(FIXTURES_DIR, 'run-handshake.mjs');
const NODE = JSON.stringify(process.execPath);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly pid: number;
}

/** Runs the built CLI in `cwd` to completion (NO_COLOR=1). */
function runIn(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, NO_COLOR: '1', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, pid: child.pid! }));
  });
}

/** `web` (an HTTP server with a readiness check) and, unless left out, `crasher` (exits 3 on the handshake; restart policy `no`). */
function writeConfig(dir: string, options: { crasher?: boolean; web?: string; crasherRestart?: string } = {}): string {
  const crasher =
    options.crasher === false
      ? ''
      : `  crasher:
    command: [${NODE}, ${JSON.stringify(HANDSHAKE)}, crasher, ${JSON.stringify(dir)}]
    ready: { log: { pattern: crasher ready } }
    restart: ${options.crasherRestart ?? '{ policy: "no" }'}
`;
  const web =
    options.web ??
    `  web:
    command: [${NODE}, ${JSON.stringify(path.join(FIXTURES_DIR, 'http-server.mjs'))}, "{{ports.http}}"]
    ports: [http]
    ready: { http: { url: "http://127.0.0.1:{{ports.http}}/health" }, interval: 50ms, timeout: 10s }
    stop: { timeout: 3s }
`;
  const file = path.join(dir, 'drover.yaml');
  writeFileSync(file, `name: runtest\nnodes:\n${web}${crasher}`);
  return file;
}

interface ProvidedNodeJson {
  pid: number | null;
  ports: Record<string, number>;
}

/** Pids of the nodes (as CMD was told in DROVER_CLUSTER_JSON) and of CMD itself, from the handshake files. */
function readRunPids(dir: string): number[] {
  const cluster = JSON.parse(readFileSync(path.join(dir, 'cluster.json'), 'utf8')) as { nodes: Record<string, ProvidedNodeJson[]> };
  const nodes = Object.values(cluster.nodes).flatMap((replicas) => replicas.map((r) => r.pid!));
  return [...nodes, Number(readFileSync(path.join(dir, 'cmd.pid'), 'utf8'))];
}

function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

/** The part of an OTLP/JSON ExportTraceServiceRequest the tests read. */
interface OtlpTraces {
  resourceSpans: { scopeSpans: { spans: { name: string; traceId: string; spanId: string }[] }[] }[];
}

/** Names of the spans in an OTLP/JSON ExportTraceServiceRequest. */
function getSpanNames(otlp: OtlpTraces): string[] {
  return otlp.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans.map((span) => span.name)));
}

let dir: string;
const running: CliProcess[] = [];

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'drover-run-'));
});

afterEach(async () => {
  for (const run of running) if (run.isRunning) run.child.kill('SIGKILL');
  await Promise.all(running.splice(0).map((r) => r.closed));
  rmSync(dir, { recursive: true, force: true });
});

describe('drover run', () => {
  it("exits with CMD's code; CMD gets the ports, the cluster and the control socket; a failed CMD leaves a bundle in ./drover-artifacts/<run-id>", async () => {
    const file = writeConfig(dir, { crasher: false });
    // CMD drives the cluster with the CLI: `drover ps` finds this run's cluster through DROVER_STATE_DIR.
    const script = `echo "web=$DROVER_WEB_HTTP sock=$DROVER_CONTROL_SOCKET"; printf %s "$DROVER_CLUSTER_JSON" > cluster.json; echo $$ > cmd.pid; "$0" "$1" ps --json > ps-from-cmd.json; exit 3`;
    const result = await runIn(dir, ['run', '-f', file, '--', 'sh', '-c', script, process.execPath, CLI]);
    expect(result.code, result.stderr).toBe(3);
    expect(readJson<{ name: string; state: string }[]>(path.join(dir, 'ps-from-cmd.json')).map((r) => [r.name, r.state])).toEqual([['web', 'ready']]);
    const cluster = readJson<{ name: string; nodes: Record<string, ProvidedNodeJson[]> }>(path.join(dir, 'cluster.json'));
    expect(cluster.name).toBe('runtest');
    const port = cluster.nodes.web![0]!.ports.http!;
    expect(result.stdout).toMatch(new RegExp(`^web=${port} sock=/\\S+/control\\.sock$`, 'm'));
    expect(result.stdout).toMatch(/^drover +\| sh exited with code 3$/m);
    // The bundle, at the default place, named in stderr.
    const runs = readdirSync(path.join(dir, 'drover-artifacts'));
    expect(runs).toHaveLength(1);
    const bundle = path.join(dir, 'drover-artifacts', runs[0]!);
    expect(result.stderr).toContain(`drover: forensic bundle of run ${runs[0]} (exit 3, command-exited): ${bundle}\n`);
    const summary = readJson<Record<string, unknown>>(path.join(bundle, 'summary.json'));
    expect(summary).toMatchObject({ runId: runs[0], exitCode: 3, reason: 'command-exited', command: ['sh', '-c', script, process.execPath, CLI], commandExit: { exitCode: 3, signal: null } });
    expect(readFileSync(path.join(bundle, 'nodes', 'web.log'), 'utf8')).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z stdout listening ${port}$`, 'm'));
    expect(readFileSync(path.join(bundle, 'ps.txt'), 'utf8')).toMatch(/^web +0 +ready /m);
    expect(existsSync(summary.stateDir as string)).toBe(false); // the run's own state dir is removed, failed run or not
    await expectAllGone([...readRunPids(dir), result.pid]);
  });

  it('a node that fails while CMD runs stops CMD and exits 2, with its output, the timeline, ps and spans in --artifacts', async () => {
    const file = writeConfig(dir);
    const artifacts = path.join(dir, 'out');
    const result = await runIn(dir, ['run', '-f', file, '--artifacts', artifacts, '--', process.execPath, HANDSHAKE, 'hold', dir]);
    expect(result.code, result.stdout + result.stderr).toBe(2);
    expect(result.stdout).toContain('cmd running');
    expect(result.stdout).toMatch(/^drover +\| node crasher exited with code 3 and its restart policy \(no\) does not restart it: the run fails$/m);
    expect(result.stdout).toMatch(/^drover +\| node (killed by SIGTERM|exited with code 143)$/m);
    const summary = readJson<Record<string, unknown>>(path.join(artifacts, 'summary.json'));
    expect(summary).toMatchObject({ exitCode: 2, reason: 'node-failed', failedNode: 'crasher' });
    const crasherLog = readFileSync(path.join(artifacts, 'nodes', 'crasher.log'), 'utf8');
    expect(crasherLog).toMatch(/^\S+ stdout traceparent 00-[0-9a-f]{32}-[0-9a-f]{16}-01\n\S+ stdout crasher ready\n\S+ stdout crasher exits now\n$/);
    const events = readFileSync(path.join(artifacts, 'events.ndjson'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { type: string; node?: string; to?: string; time: number });
    const crasherStates = events.filter((e) => e.type === 'state' && e.node === 'crasher').map((e) => e.to);
    expect(crasherStates).toEqual(['starting', 'running', 'ready', 'exited']);
    expect(events.map((e) => e.time)).toEqual(events.map((e) => e.time).sort((a, b) => a - b));
    const ps = readJson<{ name: string; state: string }[]>(path.join(artifacts, 'ps.json'));
    expect(ps.find((r) => r.name === 'crasher')?.state).toBe('exited');
    expect(ps.find((r) => r.name === 'web')?.state).toBe('ready'); // captured before the teardown
    const readiness = readJson<{ nodes: { node: string; attempts: { ok: boolean }[] }[] }>(path.join(artifacts, 'readiness.json'));
    expect(readiness.nodes.find((n) => n.node === 'web')?.attempts.at(-1)?.ok).toBe(true);
    const otlp = readJson<OtlpTraces>(path.join(artifacts, 'spans.otlp.json'));
    expect(getSpanNames(otlp)).toEqual(expect.arrayContaining(['cluster up', 'start web', 'start crasher']));
    // Without OTEL_* trace export, the node's TRACEPARENT is its start span in the bundle.
    const start = otlp.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((sc) => sc.spans)).find((span) => span.name === 'start crasher')!;
    expect(crasherLog).toContain(`traceparent 00-${start.traceId}-${start.spanId}-01`);
    await expectAllGone([...readRunPids(dir), result.pid]);
  });

  it('--keep-going: a node that ends `failed` (restart limit) is reported and the run goes on; CMD exit 0 → exit 0 (drives the control API through DROVER_CONTROL_SOCKET)', async () => {
    const file = writeConfig(dir, { crasherRestart: '{ policy: on-failure, maxRestarts: 0 }' });
    const result = await runIn(dir, ['run', '-f', file, '--keep-going', '--', process.execPath, HANDSHAKE, 'wait', dir]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain('cmd saw the crash');
    expect(result.stdout).toMatch(/^drover +\| node crasher failed: .* \(--keep-going: the run goes on\)$/m);
    expect(existsSync(path.join(dir, 'drover-artifacts'))).toBe(false); // no failure, no --artifacts: no bundle
    await expectAllGone([...readRunPids(dir), result.pid]);
  });

  it('a cluster that fails to start exits 2 and CMD never runs', async () => {
    const file = writeConfig(dir, {
      crasher: false,
      web: `  web:
    command: [${NODE}, -e, "console.log('web gives up'); process.exit(4)"]
    ready: { log: { pattern: never } }
    restart: { policy: "no" }
`,
    });
    const result = await runIn(dir, ['run', '-f', file, '--quiet', '--artifacts', 'out', '--', 'sh', '-c', 'echo $$ > cmd.pid']);
    expect(result.code, result.stdout + result.stderr).toBe(2);
    expect(existsSync(path.join(dir, 'cmd.pid'))).toBe(false);
    expect(result.stdout).toMatch(/^drover +\| cluster runtest failed to start: .*web/m);
    expect(result.stdout).toMatch(/^web +\| web gives up$/m); // --quiet prints the tails on failure
    expect(readJson(path.join(dir, 'out', 'summary.json'))).toMatchObject({ exitCode: 2, reason: 'start-failed', commandPid: null });
    expect(getProcessState(result.pid)).toBeNull();
  });

  it('SIGINT while the cluster starts stops it and exits 130; CMD never runs', async () => {
    const file = writeConfig(dir, {
      crasher: false,
      web: `  web:
    command: [${NODE}, ${JSON.stringify(path.join(FIXTURES_DIR, 'forever.mjs'))}]
    ready: { log: { pattern: never printed }, timeout: 60s }
`,
    });
    const run = new CliProcess(['run', '-f', file, '--artifacts', path.join(dir, 'out'), '--', 'sh', '-c', `echo $$ > ${JSON.stringify(path.join(dir, 'cmd.pid'))}`]);
    running.push(run);
    await run.waitForStdout(/^web +\| ready$/m, 'web to run (it never becomes ready)');
    run.child.kill('SIGINT');
    expect(await run.closed).toBe(130);
    expect(existsSync(path.join(dir, 'cmd.pid'))).toBe(false);
    const summary = readJson<{ reason: string; commandPid: number | null }>(path.join(dir, 'out', 'summary.json'));
    expect(summary).toMatchObject({ reason: 'interrupted', commandPid: null });
    const ps = readJson<{ name: string; state: string; pid: number }[]>(path.join(dir, 'out', 'ps.json'));
    expect(ps.map((r) => [r.name, r.state])).toEqual([['web', 'running']]); // captured at the signal
    await expectAllGone([ps[0]!.pid, run.child.pid!]);
  });

  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    it(`${signal} while CMD runs stops CMD and the cluster and exits ${code}`, async () => {
      const file = writeConfig(dir, { crasher: false });
      const run = new CliProcess(['run', '-f', file, '--artifacts', path.join(dir, 'out'), '--', process.execPath, HANDSHAKE, 'hold', dir, 'no-crash']);
      running.push(run);
      await run.waitForStdout('cmd running', 'CMD to run');
      run.child.kill(signal);
      expect(await run.closed).toBe(code);
      expect(run.stdout).toMatch(new RegExp(`^drover +\\| ${signal}: stopping node and cluster runtest`, 'm'));
      expect(readJson(path.join(dir, 'out', 'summary.json'))).toMatchObject({ exitCode: code, reason: 'interrupted' });
      await expectAllGone([...readRunPids(dir), run.child.pid!]);
    });
  }

  it("two concurrent runs of one config coexist (a state dir each); CMD's output passes through whole", async () => {
    const file = writeConfig(dir, { crasher: false });
    // 2 MiB on stdout, more than any pipe holds: the pass-through keeps up with backpressure.
    const script = `echo $$ > "$0/cmd.pid"; printf %s "$DROVER_CLUSTER_JSON" > "$0/cluster.json"; head -c 2097152 /dev/zero | tr '\\0' '#'; echo "$DROVER_STATE_DIR" >&2`;
    const dirs = [path.join(dir, 'one'), path.join(dir, 'two')];
    for (const d of dirs) mkdirSync(d);
    const results = await Promise.all(dirs.map((d) => runIn(dir, ['run', '-q', '-f', file, '--', 'sh', '-c', script, d])));
    for (const [i, result] of results.entries()) {
      expect(result.code, result.stderr).toBe(0);
      const passed = result.stdout.replace(/^drover +\| cluster runtest is ready; running sh .*$/m, ''); // that line shows the script
      expect(passed.split('#').length - 1, `run ${i}`).toBe(2 * 1024 * 1024);
    }
    const stateDirs = results.map((r) => r.stderr.trim().split('\n')[0]);
    expect(new Set(stateDirs).size).toBe(2);
    for (const stateDir of stateDirs) expect(existsSync(stateDir!)).toBe(false); // removed at the end
    await expectAllGone([...dirs.flatMap(readRunPids), ...results.map((r) => r.pid)]);
  });

  it('one Ctrl-C delivered twice (the terminal and npx both send it) is one graceful stop, not the SIGKILL of a second', async () => {
    const file = writeConfig(dir, { crasher: false });
    const run = new CliProcess(['run', '-f', file, '--artifacts', path.join(dir, 'out'), '--', process.execPath, HANDSHAKE, 'hold', dir, 'no-crash']);
    running.push(run);
    await run.waitForStdout('cmd running', 'CMD to run');
    run.child.kill('SIGINT');
    // The copy arrives once the first was handled (npm forwards it tens of ms later).
    await run.waitForStdout('SIGINT: stopping node', 'the first SIGINT to be handled');
    run.child.kill('SIGINT');
    expect(await run.closed).toBe(130);
    expect(run.stdout).toMatch(/^drover +\| node killed by SIGINT$/m);
    expect(run.stdout).not.toContain('second SIGINT');
    expect(run.stdout).toMatch(/^drover +\| web: stopped \(killed by SIGTERM/m);
    await expectAllGone([...readRunPids(dir), run.child.pid!]);
  });

  it('runs the `drover run` command of examples/ci/github-actions.yml as written, in a copy of examples/ci, and exits 0', async () => {
    const workflow = parse(readFileSync(path.join(ROOT, 'examples', 'ci', 'github-actions.yml'), 'utf8')) as { jobs: Record<string, { steps: { run?: string }[] }> };
    const commands = Object.values(workflow.jobs).flatMap((job) => job.steps.flatMap((step) => (step.run?.includes('drover run') ? [step.run.trim()] : [])));
    expect(commands).toHaveLength(1);
    const argv = commands[0]!.split(/\s+/);
    expect(argv.slice(0, 3)).toEqual(['npx', 'drover', 'run']);
    const copy = path.join(dir, 'ci');
    cpSync(path.join(ROOT, 'examples', 'ci'), copy, { recursive: true });
    const result = await runIn(copy, argv.slice(2));
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain('ci example: 2 visits counted through web → counter');
    const artifacts = argv[argv.indexOf('--artifacts') + 1]!;
    const summary = readJson<{ exitCode: number; commandPid: number }>(path.join(copy, artifacts, 'summary.json'));
    expect(summary.exitCode).toBe(0);
    const ps = readJson<{ pid: number }[]>(path.join(copy, artifacts, 'ps.json'));
    await expectAllGone([...ps.map((r) => r.pid), summary.commandPid, result.pid]);
  });
});
