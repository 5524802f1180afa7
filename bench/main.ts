/**
 * `npm run bench [-- --quick] [-- --only throughput,spawn] [-- --rounds N] [-- --json file]`
 *
 * Measures drover against node:child_process (and execa where it fits) in the same run on the same
 * machine: every measurement in a fresh Node process, contenders interleaved round by round (the
 * order rotates), medians over rounds. Prints a table, the targets with met / NOT MET,
 * and the JSON of everything (to stdout, or to the `--json` file). Exits 0 whether or not targets
 * are met: on a loaded machine they are noisy, and CI runs `--quick` to prove the bench works.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SCENARIOS, type Contender, type Figures, type ScenarioName } from './scenarios.js';
import { median, round } from './stats.js';
import { getPeerUnavailable } from './peers.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    rounds: { type: 'string' },
    json: { type: 'string' },
  },
});

const here = path.dirname(fileURLToPath(import.meta.url));
const names = (args.only ? args.only.split(',') : Object.keys(SCENARIOS)) as ScenarioName[];
for (const name of names) {
  if (!(name in SCENARIOS)) {
    console.error(`bench: unknown scenario ${JSON.stringify(name)}; known: ${Object.keys(SCENARIOS).join(', ')}`);
    process.exit(2);
  }
}
/** Heavy scenarios (GiBs held, 1000 processes, 10 GiB streamed) get fewer rounds. */
const HEAVY = new Set<ScenarioName>(['stall', 'idle', 'slow-consumer', 'peers']);
function getRounds(name: ScenarioName): number {
  if (args.rounds) return Number(args.rounds);
  if (args.quick) return name === 'throughput' || name === 'spawn' ? 2 : 1;
  if (name === 'slow-consumer') return 1; // 10 GiB per contender
  return HEAVY.has(name) ? 3 : 5;
}

type Results = Partial<Record<ScenarioName, Partial<Record<Contender, Figures>>>>;

function runOne(name: ScenarioName, contender: Contender): Figures {
  const argv = ['--expose-gc', path.join(here, 'run-scenario.js'), name, contender, ...(args.quick ? ['--quick'] : [])];
  const env = { ...process.env };
  delete env.DROVER_LAUNCHER;
  const result = spawnSync(process.execPath, argv, { encoding: 'utf8', env, maxBuffer: 1024 * 1024, timeout: 600_000 });
  if (result.status !== 0) {
    throw new Error(`bench ${name}/${contender} failed (status ${result.status}, signal ${result.signal}): ${result.stderr.trim()}`);
  }
  const line = result.stdout.trim().split('\n').pop()!;
  return JSON.parse(line) as Figures;
}

const started = Date.now();
const load = os.loadavg();
const results: Results = {};
const samples: Record<string, Record<string, Figures[]>> = {};
const skipped: string[] = [];
for (const name of names) {
  const contenders = [...SCENARIOS[name].contenders] as Contender[];
  // A peer that is not installed (pm2, supervisord) is skipped with a note, never a failure.
  for (const contender of [...contenders]) {
    const why = getPeerUnavailable(contender);
    if (why === null) continue;
    contenders.splice(contenders.indexOf(contender), 1);
    skipped.push(`${name}/${contender}: ${why}`);
    process.stderr.write(`bench: skipping ${name}/${contender}: ${why}\n`);
  }
  const rounds = getRounds(name);
  samples[name] = {};
  for (let r = 0; r < rounds; r++) {
    // Rotate the order so no contender always runs first (or right after a heavy one).
    const order = contenders.map((_, i) => contenders[(i + r) % contenders.length]!);
    for (const contender of order) {
      (samples[name][contender] ??= []).push(runOne(name, contender));
      process.stderr.write('.');
    }
  }
  const summary: Partial<Record<Contender, Figures>> = {};
  for (const contender of contenders) {
    const runs = samples[name][contender]!;
    const figures: Figures = {};
    for (const key of Object.keys(runs[0]!)) figures[key] = round(median(runs.map((f) => f[key]!)));
    summary[contender] = figures;
  }
  results[name] = summary;
}
process.stderr.write('\n');

function get(name: ScenarioName, contender: Contender, key: string): number {
  return results[name]?.[contender]?.[key] ?? Number.NaN;
}

interface Target {
  readonly target: string;
  readonly measured: string;
  /** null: a figure shown for information, with no target. */
  readonly met: boolean | null;
}
const targets: Target[] = [];
function addTarget(target: string, value: number, met: boolean | null, detail: string): void {
  if (Number.isNaN(value)) return;
  targets.push({ target, measured: detail, met });
}
{
  const cp = get('throughput', 'child_process', 'gbPerSecond');
  const stream = get('throughput', 'drover-stream', 'gbPerSecond');
  const buffer = get('throughput', 'drover-buffer', 'gbPerSecond');
  addTarget('stream mode throughput ≥ 1.25× child_process', stream / cp, stream / cp >= 1.25, `${round(stream / cp)}× (${stream} vs ${cp} GB/s)`);
  addTarget('buffer mode throughput ≥ 2× child_process', buffer / cp, buffer / cp >= 2, `${round(buffer / cp)}× (${buffer} vs ${cp} GB/s)`);
  const byob = get('throughput', 'drover-byob', 'gbPerSecond');
  addTarget('stream mode read by a BYOB reader vs child_process (no target)', byob / cp, null, `${round(byob / cp)}× (${byob} vs ${cp} GB/s)`);
  const linesCp = get('lines', 'child_process', 'gbPerSecond');
  for (const c of ['drover-buffer', 'drover-subscribed'] as const) {
    const v = get('lines', c, 'gbPerSecond');
    addTarget(`80-byte lines, ${c === 'drover-buffer' ? 'ring buffer' : 'every line to a subscriber'} vs child_process + readline (no target)`, v / linesCp, null, `${round(v / linesCp)}× (${v} vs ${linesCp} GB/s; execa ${get('lines', 'execa', 'gbPerSecond')})`);
  }
  const rt = get('round-trip', 'drover-stream', 'gbPerSecond') / get('round-trip', 'child_process', 'gbPerSecond');
  addTarget('stdin→cat→stdout vs child_process (no target)', rt, null, `${round(rt)}× (${get('round-trip', 'drover-stream', 'gbPerSecond')} vs ${get('round-trip', 'child_process', 'gbPerSecond')} GB/s)`);
  const p50 = get('spawn', 'drover', 'runningP50Ms');
  const cpExit = get('spawn', 'child_process', 'exitP50Ms');
  addTarget('spawn→running p50 ≤ 1.5× child_process spawn→exit', p50 / cpExit, p50 / cpExit <= 1.5, `${round(p50 / cpExit)}× (${p50} vs ${cpExit} ms)`);
  const p99 = get('spawn', 'drover', 'runningP99Ms');
  addTarget('spawn→running p99 ≤ 10 ms', p99, p99 <= 10, `${p99} ms`);
  const stall = get('stall', 'drover', 'stallP50Ms');
  addTarget(
    'event-loop stall per spawn, 2 GiB held ≤ 5 ms (median of per-spawn max)',
    stall,
    stall <= 5,
    `${stall} ms, worst ${get('stall', 'drover', 'stallMaxMs')} ms (child_process ${get('stall', 'child_process', 'stallP50Ms')} ms)`,
  );
  const exit = get('exit-latency', 'drover', 'exitP50Ms');
  addTarget('child exit → exited p50 ≤ 1 ms', exit, exit <= 1, `${exit} ms (child_process ${get('exit-latency', 'child_process', 'exitP50Ms')} ms)`);
  const rss = get('slow-consumer', 'drover-stream', 'rssGrowthMiB');
  const retained = (c: Contender) => get('slow-consumer', c, 'retainedAfterGcMiB');
  addTarget(
    'slow consumer of a 10 GiB producer: RSS growth < 16 MiB (stream mode, Node Readable `for await`)',
    rss,
    rss < 16,
    `${rss} MiB peak, ${retained('drover-stream')} MiB heap+external after a full GC (child_process ${get('slow-consumer', 'child_process', 'rssGrowthMiB')} / ${retained('child_process')} MiB)`,
  );
  const rssByob = get('slow-consumer', 'drover-byob', 'rssGrowthMiB');
  addTarget('same producer, stream mode read by a BYOB reader: RSS growth < 16 MiB', rssByob, rssByob < 16, `${rssByob} MiB peak, ${retained('drover-byob')} MiB heap+external after a full GC`);
  const rssBuffer = get('slow-consumer', 'drover-buffer', 'rssGrowthMiB');
  addTarget('same producer, buffer mode: RSS growth < 16 MiB', rssBuffer, rssBuffer < 16, `${rssBuffer} MiB peak, ${retained('drover-buffer')} MiB heap+external after a full GC`);
  const idle = get('idle', 'drover', 'idleCpuPercent');
  addTarget('idle supervised processes: manager CPU < 1 %', idle, idle < 1, `${idle} % (child_process ${get('idle', 'child_process', 'idleCpuPercent')} %)`);
  const direct = get('relay', 'loopback', 'gbPerSecond');
  const relayed = get('relay', 'drover-relay', 'gbPerSecond');
  addTarget('TCP through the network-fault relay vs direct loopback: throughput ≥ 0.5×', relayed / direct, relayed / direct >= 0.5, `${round(relayed / direct)}× (${relayed} vs ${direct} GB/s)`);
  const added = (key: string) => round(get('relay', 'drover-relay', key) - get('relay', 'loopback', key));
  addTarget(
    'relay: added 64-byte round trip p50 ≤ 0.5 ms',
    added('rttP50Ms'),
    added('rttP50Ms') <= 0.5,
    `+${added('rttP50Ms')} ms p50, +${added('rttP99Ms')} ms p99 (direct ${get('relay', 'loopback', 'rttP50Ms')} / ${get('relay', 'loopback', 'rttP99Ms')} ms)`,
  );
  const loaded = (key: string) => get('relay-load', 'drover-relay', key);
  const quiet = (key: string) => get('relay-load', 'drover', key);
  addTarget(
    'spawn→running and exit→known with 100 busy relayed links (no target)',
    loaded('runningP50Ms'),
    null,
    `spawn p50/p99 ${loaded('runningP50Ms')} / ${loaded('runningP99Ms')} ms (quiet ${quiet('runningP50Ms')} / ${quiet('runningP99Ms')}), exit p50/p99 ${loaded('exitP50Ms')} / ${loaded('exitP99Ms')} ms (quiet ${quiet('exitP50Ms')} / ${quiet('exitP99Ms')})`,
  );
}
{
  // Stream mode against buffer mode, and both against the floor (`producer | cat`, no manager).
  const stream = get('throughput', 'drover-stream', 'gbPerSecond');
  const buffer = get('throughput', 'drover-buffer', 'gbPerSecond');
  addTarget('stream mode ≥ 0.8× buffer mode, 1 MiB-block producer (dd bs=1M)', stream / buffer, stream / buffer >= 0.8, `${round(stream / buffer)}× (${stream} vs ${buffer} GB/s; BYOB ${get('throughput', 'drover-byob', 'gbPerSecond')})`);
  const floor = get('throughput', 'pipe-cat', 'gbPerSecond');
  addTarget('1 MiB-block producer: stream and buffer modes vs dd | cat (no target)', floor, null, `stream ${round(stream / floor)}×, buffer ${round(buffer / floor)}× (floor ${floor} GB/s)`);
  const smallFloor = get('throughput-small-blocks', 'pipe-cat', 'gbPerSecond');
  const smallStream = get('throughput-small-blocks', 'drover-stream', 'gbPerSecond');
  const smallBuffer = get('throughput-small-blocks', 'drover-buffer', 'gbPerSecond');
  const worst = Math.min(smallStream, smallBuffer) / smallFloor;
  addTarget(
    'buffer and stream modes ≥ 0.9× head -c | cat, small-block producer (head -c: 4 KiB writes)',
    worst,
    worst >= 0.9,
    `buffer ${round(smallBuffer / smallFloor)}×, stream ${round(smallStream / smallFloor)}× (${smallBuffer}, ${smallStream} vs ${smallFloor} GB/s; child_process ${get('throughput-small-blocks', 'child_process', 'gbPerSecond')})`,
  );
}

// The peers (pm2, supervisord) and the cold path (against `node -e 0`).
{
  const peers = ['pm2', 'supervisord'] as const;
  for (const n of [10, 100, 300]) {
    const drover = get('peers', 'drover', `up${n}Ms`);
    for (const peer of peers) {
      const other = get('peers', peer, `up${n}Ms`);
      const ratio = other / drover;
      addTarget(
        `drover up -d of ${n} idle nodes ${n === 100 ? '≥ 4× faster than' : 'vs'} ${peer}${n === 100 ? '' : ' (no target)'}`,
        ratio,
        n === 100 ? ratio >= 4 : null,
        `${round(ratio)}× faster (${round(drover)} vs ${round(other)} ms; all spawned after ${get('peers', 'drover', `spawned${n}Ms`)} vs ${get('peers', peer, `spawned${n}Ms`)} ms)`,
      );
      // Until every node is ready (`up --wait`): each waits its minUptime, 500 ms by default, as
      // supervisord's RUNNING waits its startsecs (1 s by default).
      const ready = get('peers', 'drover-wait', `up${n}Ms`);
      addTarget(
        `drover up --wait of ${n} idle nodes vs ${peer} (no target)`,
        other / ready,
        null,
        `${round(other / ready)}× faster (${round(ready)} vs ${round(other)} ms)`,
      );
    }
    const cpu = get('peers', 'drover', `idleCpu${n}Pct`);
    const pm2Cpu = get('peers', 'pm2', `idleCpu${n}Pct`);
    addTarget(
      `idle supervision layer with ${n} nodes: CPU ${n === 100 ? '≤' : 'vs'} pm2's${n === 100 ? '' : ' (no target)'}`,
      cpu,
      n === 100 && !Number.isNaN(pm2Cpu) ? cpu <= pm2Cpu : null,
      `${cpu} % of a core, of which the manager ${get('peers', 'drover', `idleCpuManager${n}Pct`)} % (pm2 ${pm2Cpu} %, supervisord ${get('peers', 'supervisord', `idleCpu${n}Pct`)} %)`,
    );
    const shepherd = get('peers', 'drover', `pssPerShepherd${n}KiB`);
    addTarget(
      `PSS of the supervision layer with ${n} nodes, per node${n === 100 ? '; ≤ 1 MiB per shepherd' : ' (no target)'}`,
      get('peers', 'drover', `pssPerNode${n}KiB`),
      n === 100 ? shepherd <= 1024 : null,
      `${get('peers', 'drover', `pssPerNode${n}KiB`)} KiB per node, ${shepherd} KiB per shepherd, ${get('peers', 'drover', `pss${n}MiB`)} MiB in all (pm2 ${get('peers', 'pm2', `pssPerNode${n}KiB`)} KiB per node, supervisord ${get('peers', 'supervisord', `pssPerNode${n}KiB`)})`,
    );
    const survivors = get('peers', 'drover', `survivors${n}`);
    addTarget(
      `nodes left running after the manager's SIGKILL, ${n} nodes: drover 0`,
      survivors,
      survivors === 0,
      `drover ${survivors}, pm2 ${get('peers', 'pm2', `survivors${n}`)}, supervisord ${get('peers', 'supervisord', `survivors${n}`)} of ${n}`,
    );
  }
  // Where the start's time goes: CPU by part, and per node between 10 and 100 nodes (the cost of
  // each further node, without the fixed cost of the manager's own start). On 2 cores the start
  // of 100 nodes is bound by this CPU (bench/README.md, "Where the start's time goes").
  {
    const contenders = ['drover', 'pm2', 'supervisord'] as const;
    const parts = (c: (typeof contenders)[number], n: number) => ({
      manager: get('peers', c, `startCpuManager${n}Ms`),
      layer: get('peers', c, `startCpuLayer${n}Ms`),
      nodes: get('peers', c, `startCpuNodes${n}Ms`),
    });
    const describe = (c: (typeof contenders)[number]) => {
      const at100 = parts(c, 100);
      const at10 = parts(c, 10);
      const perNode = (key: 'manager' | 'layer' | 'nodes') => round((at100[key] - at10[key]) / 90);
      const layer = c === 'drover' ? `, launcher and shepherds ${round(at100.layer)} ms (${perNode('layer')} per node)` : '';
      return `${c}: manager ${round(at100.manager)} ms (${perNode('manager')} per further node)${layer}, the nodes' own exec ${round(at100.nodes)} ms (${perNode('nodes')} per node)`;
    };
    const drover = parts('drover', 100);
    addTarget(
      'CPU used by the start of 100 idle nodes, by part (no target)',
      drover.manager + drover.layer + drover.nodes,
      null,
      contenders.filter((c) => !Number.isNaN(get('peers', c, 'startCpuManager100Ms'))).map(describe).join('; '),
    );
  }
  const floor = get('cold', 'node-e0', 'ms');
  const cold = (contender: Contender, what: string, limit: number) => {
    const ms = get('cold', contender, 'ms');
    const first = get('cold', contender, 'firstMs');
    addTarget(`${what} ≤ ${limit}× node -e 0`, ms / floor, ms / floor <= limit, `${round(ms / floor)}× (${ms} vs ${floor} ms; the first run, with an empty code cache: ${round(first / floor)}×, ${first} ms)`);
  };
  cold('import-spawn', "import { spawn } from the built package (dist/bundle/index.js)", 1.5);
  cold('cli-help', 'drover --help', 1.5);
  cold('cli-ps', `drover ps against a running cluster`, 1.5);
  cold('up-first-node', 'foreground drover up until its first node runs', 2);
  cold('up-d-1', 'drover up -d of 1 node', 2.5);
}

// The table.
const rows: string[][] = [['scenario', 'contender', 'figures (medians)']];
for (const name of names) {
  for (const [contender, figures] of Object.entries(results[name] ?? {})) {
    rows.push([name, contender, Object.entries(figures!).map(([k, v]) => `${k}=${v}`).join('  ')]);
  }
}
const widths = [0, 1].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const row of rows) console.log(`${row[0]!.padEnd(widths[0]!)}  ${row[1]!.padEnd(widths[1]!)}  ${row[2]}`);
console.log('');
for (const t of targets) console.log(`${t.met === null ? 'info   ' : t.met ? 'met    ' : 'NOT MET'}  ${t.target}: ${t.measured}`);
for (const s of skipped) console.log(`skipped  ${s}`);
const report = {
  mode: args.quick ? 'quick' : 'full',
  node: process.version,
  cpus: os.cpus().length,
  loadAverageAtStart: load.map(round),
  durationSeconds: Math.round((Date.now() - started) / 1000),
  rounds: Object.fromEntries(names.map((n) => [n, getRounds(n)])),
  skipped,
  results,
  targets,
};
const json = JSON.stringify(report, null, 2);
console.log('');
if (args.json) {
  writeFileSync(args.json, `${json}\n`);
  console.log(`JSON written to ${args.json}`);
} else console.log(json);
