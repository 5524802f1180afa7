#!/usr/bin/env node
// Containment soak: per trial, a drover manager runs a cluster of hostile nodes
// (SIGTERM ignorers, process trees, setsid daemons, double-forked daemons; test/fixtures/
// hostile-cluster.mjs), is SIGKILLed once every node is ready, and the trial measures the time
// until the last shepherd and the last descendant are gone. A shepherd or descendant still alive
// --deadline-ms after the manager's SIGKILL (default grace + 1 s) is a survivor; any survivor
// fails the run (exit 1) after it is killed.
//
//   npm run soak -- [--trials 100] [--nodes 20] [--grace-ms 500] [--deadline-ms N] [--cgroup auto|off] [--json]
// --cgroup off runs the manager with DROVER_CGROUP=off: containment by the shepherds' frozen tree
// walk and the launcher (subreaper) alone, as for a user without a writable cgroup v2.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    trials: { type: 'string', default: '10' },
    nodes: { type: 'string', default: '20' },
    'grace-ms': { type: 'string', default: '500' },
    'deadline-ms': { type: 'string' },
    cgroup: { type: 'string', default: 'auto' },
    json: { type: 'boolean', default: false },
  },
});
const trials = Number(values.trials);
const nodes = Number(values.nodes);
const graceMs = Number(values['grace-ms']);
const deadlineMs = values['deadline-ms'] === undefined ? graceMs + 1000 : Number(values['deadline-ms']);
for (const [name, v] of [['--trials', trials], ['--nodes', nodes], ['--grace-ms', graceMs], ['--deadline-ms', deadlineMs]]) {
  if (!Number.isInteger(v) || v < 0) {
    console.error(`soak: ${name} must be a non-negative integer`);
    process.exit(2);
  }
}
if (values.cgroup !== 'auto' && values.cgroup !== 'off') {
  console.error(`soak: --cgroup must be auto or off, got ${values.cgroup}`);
  process.exit(2);
}
const cgroupEnv = values.cgroup === 'off' ? { DROVER_CGROUP: 'off' } : {};
const FIXTURE = fileURLToPath(new URL('../test/fixtures/hostile-cluster.mjs', import.meta.url));
const MARKER = 'DROVER_SOAK_RUN';

function isAlive(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

/** Live pids whose environment carries MARKER=run (the manager, shepherds' children and all below). */
function findMarked(run) {
  const needle = `${MARKER}=${run}`;
  const found = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').includes(needle) && isAlive(Number(entry))) found.push(Number(entry));
    } catch {
      // gone, or a kernel thread
    }
  }
  return found;
}

/** /proc/<pid>/comm, or null when the process is gone. */
function getComm(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trimEnd();
  } catch {
    return null;
  }
}

function isLauncher(pid) {
  try {
    return readlinkSync(`/proc/${pid}/exe`).endsWith('/launcher');
  } catch {
    return false; // gone already
  }
}

function childrenOf(pid) {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

// Polls until check() is done or performance.now() passes `deadline` (an absolute time).
async function poll(check, deadline, intervalMs = 5) {
  for (;;) {
    const value = check();
    if (value.done || performance.now() >= deadline) return value;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

async function trial(index) {
  const run = `${process.pid}-${index}`;
  const manager = spawn(process.execPath, [FIXTURE, String(nodes), String(graceMs)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...cgroupEnv, [MARKER]: run },
  });
  let out = '';
  let err = '';
  manager.stdout.on('data', (d) => (out += d));
  manager.stderr.on('data', (d) => (err += d));
  const ready = await poll(() => ({ done: out.includes('cluster-ready') || manager.exitCode !== null }), performance.now() + 120_000, 20);
  if (!out.includes('cluster-ready')) {
    manager.kill('SIGKILL');
    throw new Error(`trial ${index}: the hostile cluster did not become ready (${manager.exitCode ?? 'running'}): ${err.slice(-2000)}`);
  }
  void ready;
  // Shepherds are the children of the manager's launcher (process/launcher-client.ts), or of the
  // manager itself when it spawns them directly. The launcher must be gone too.
  const launchers = childrenOf(manager.pid).filter(isLauncher);
  const started = [...childrenOf(manager.pid).filter((pid) => !launchers.includes(pid)), ...launchers.flatMap(childrenOf)];
  // Spare shepherds (still waiting for SPAWN, named shepherd-idle) are counted apart; they must be
  // gone with the rest.
  const spares = started.filter((pid) => getComm(pid) === 'shepherd-idle');
  const shepherds = started.filter((pid) => !spares.includes(pid));
  const descendants = findMarked(run).filter((pid) => pid !== manager.pid && !started.includes(pid));
  const exited = new Promise((resolve) => manager.once('exit', resolve));
  const killedAt = performance.now();
  manager.kill('SIGKILL');
  await exited;
  let lastShepherdGoneMs = null;
  let goneMs = null;
  // The deadline counts from the SIGKILL, like allGoneMs, so a trial that reports no survivor
  // always has allGoneMs within it.
  const result = await poll(() => {
    const checkedAt = performance.now();
    const left = findMarked(run);
    const shepherdsLeft = [...started, ...launchers].filter(isAlive);
    if (shepherdsLeft.length === 0 && lastShepherdGoneMs === null) lastShepherdGoneMs = checkedAt - killedAt;
    const done = left.length === 0 && shepherdsLeft.length === 0;
    if (done) goneMs = checkedAt - killedAt;
    return { done, left, shepherdsLeft };
  }, killedAt + deadlineMs);
  const survivors = [...new Set([...result.left, ...result.shepherdsLeft])];
  for (const pid of survivors) {
    try {
      process.kill(pid, 'SIGKILL'); // leave the machine clean even when the trial failed
    } catch {
      // already gone
    }
  }
  return { trial: index, shepherds: shepherds.length, spares: spares.length, descendants: descendants.length, survivors: survivors.length, survivorPids: survivors, lastShepherdGoneMs, allGoneMs: survivors.length === 0 ? goneMs : null };
}

const results = [];
for (let i = 0; i < trials; i++) {
  const r = await trial(i);
  results.push(r);
  if (!values.json) {
    console.log(
      `trial ${i + 1}/${trials}: ${r.shepherds} shepherds (+${r.spares} spares), ${r.descendants} descendants, ` +
        (r.survivors === 0 ? `all gone ${r.allGoneMs.toFixed(0)} ms after SIGKILL of the manager` : `${r.survivors} SURVIVORS: ${r.survivorPids.join(', ')}`),
    );
  }
}
const times = results.filter((r) => r.allGoneMs !== null).map((r) => r.allGoneMs).sort((a, b) => a - b);
const summary = {
  trials,
  nodes,
  graceMs,
  deadlineMs,
  cgroup: values.cgroup,
  survivors: results.reduce((sum, r) => sum + r.survivors, 0),
  allGoneMs: times.length ? { min: times[0], median: times[Math.floor(times.length / 2)], max: times[times.length - 1] } : null,
  results,
};
if (values.json) console.log(JSON.stringify(summary));
else {
  console.log(
    `soak: ${trials} trials x ${nodes} hostile nodes, grace ${graceMs} ms, cgroup ${values.cgroup}: ${summary.survivors} survivors` +
      (summary.allGoneMs ? `; all gone after ${summary.allGoneMs.min.toFixed(0)}/${summary.allGoneMs.median.toFixed(0)}/${summary.allGoneMs.max.toFixed(0)} ms (min/median/max)` : ''),
  );
}
process.exit(summary.survivors === 0 ? 0 : 1);
