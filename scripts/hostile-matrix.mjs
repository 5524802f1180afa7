#!/usr/bin/env node
// Hostile fault matrix: every case × {without cgroup (DROVER_CGROUP=off), with cgroup v2}. Each
// case runs a fresh drover manager (test/fixtures/matrix/manager.mjs on the built package, or the
// real CLI through test/fixtures/matrix/cli.mjs) as `nobody` in a session of its own
// (`runuser -u nobody -- setsid --wait …`) with a sentinel process of `nobody` beside it in the
// manager's process group, provokes the fault, lets drover clean up, and measures:
//   survivors  processes of the case still alive once the nodes were stopped (the manager alive:
//              it, its launcher and spare shepherds excepted) and after the manager is gone, each
//              after a bounded wait (settle). A process of the case: one below this script (the
//              subreaper of every case, so nothing escapes to init), drover's launcher and
//              shepherds included, or one carrying the case's env marker (nodes inherit it)
//   zombies    processes of the case in state Z at those moments whose parent is not this script
//              (it reaps what is re-parented to it, as an init would)
//   fds        open fds of the manager before the fault (launcher and spares up, no node) and
//              after it was handled and its nodes stopped; growth is a leak
//   peak RSS   VmHWM of the manager (sampled; its last value)
//   sentinel   alive at the end, or not (it must be)
// Exit 1 if any case has a survivor, a zombie, a dead sentinel, fd growth, a manager that ended
// the wrong way, memory above the case's bound, a cgroup column that did not use cgroups, or hung
// (a case is killed, its whole session and cgroup, after its time limit).
//
//   npm run hostile -- [--quick] [--case NAME …] [--column off|cgroup] [--set PARAM=JSON …] [--json FILE] [--list]
//
// Runs as root (it drops to nobody per case); with cgroup v2 mounted it makes a delegated subtree
// <cgroup2 mount>/<own cgroup>/drover-matrix-<pid>/<case> owned by nobody for the cgroup column,
// moves the case's wrapper shell into it before dropping privileges, and removes it afterwards.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MATRIX_FIXTURES = path.join(ROOT, 'test', 'fixtures', 'matrix');
const MARKER = 'DROVER_MATRIX_RUN';
const MiB = 1024 * 1024;
const SAMPLE_INTERVAL_MS = 200;
/** How long the fd count may take to come back down after a checkpoint (spares refilling, sockets closing). */
const FD_SETTLE_MS = 2000;

/**
 * The cases. `driver`: manager.mjs (a library manager) or cli.mjs (`drover up`). `survives`: the
 * manager lives through the fault and the case ends with a clean exit (else it is SIGKILLed, exit
 * 137). `params(quick)`: what the driver gets. `settleMs(params)`: the bounded wait for cleanup
 * (stop timeout + 2 s). `timeoutMs`: when the case counts as hung (default 120 s). `maxPeakMiB`: bound on the manager's VmHWM. `check(facts, params)`: what
 * else must hold of what the driver saw (reasons when not). `hidden`: only with --case.
 */
const CASES = [
  {
    name: 'manager-kill-mid-start',
    what: 'manager SIGKILLed while startCluster is pending (hostile nodes ready, a readiness wait in flight, a node not spawned yet)',
    driver: 'manager',
    survives: false,
    params: (quick) => ({ nodes: quick ? 4 : 8, graceMs: 500 }),
    settleMs: (p) => p.graceMs + 2000,
    check: (f) => (f.states?.running >= 1 && f.states?.pending >= 1 ? [] : [`not mid-start when killed: ${JSON.stringify(f.states)}`]),
  },
  {
    name: 'manager-kill-mid-stop',
    what: 'manager SIGKILLed inside the stop grace of SIGTERM-ignoring nodes',
    driver: 'manager',
    survives: false,
    params: (quick) => ({ nodes: quick ? 4 : 8, graceMs: quick ? 1000 : 3000 }),
    settleMs: (p) => p.graceMs + 2000,
    check: (f, p) => (f.states?.stopping === p.nodes ? [] : [`not every node stopping when killed: ${JSON.stringify(f.states)}`]),
  },
  {
    name: 'manager-kill-in-backoff',
    what: 'manager SIGKILLed while a crashing node waits out a 60 s backoff beside a process tree',
    driver: 'manager',
    survives: false,
    params: () => ({}),
    settleMs: () => 2500,
    check: (f) => (f.states?.backoff === 1 ? [] : [`no node in backoff when killed: ${JSON.stringify(f.states)}`]),
  },
  {
    name: 'shepherd-kill',
    what: "a node's shepherd SIGKILLed (node with a setsid daemon beside it): restarted, then stopped",
    driver: 'manager',
    survives: true,
    params: () => ({}),
    settleMs: () => 2500,
  },
  {
    name: 'launcher-kill',
    what: 'the launcher SIGKILLed while nodes run; a restart through a new launcher; stopped',
    driver: 'manager',
    survives: true,
    params: () => ({}),
    settleMs: () => 2500,
    check: (f) => (f.newLauncher ? [] : ['the restart after the launcher died did not start a new launcher']),
  },
  {
    name: 'escape-shepherd',
    what: 'a node setsid-forks a daemon and SIGKILLs its own shepherd (library manager)',
    driver: 'manager',
    survives: true,
    params: () => ({}),
    settleMs: () => 2500,
    // `restart: { policy: no }`: the run that lost its shepherd must not be restarted (each restart makes a new daemon).
    check: (f) => (f.restarts === 0 ? [] : [`node esc (restart policy no) restarted ${f.restarts} times after losing its shepherd: ${f.errors?.join('; ')}`]),
  },
  {
    name: 'escape-launcher',
    what: 'a node setsid-forks a daemon, SIGKILLs its shepherd and the launcher (drover up)',
    driver: 'cli',
    survives: true,
    params: () => ({}),
    settleMs: () => 2500,
    check: (f) => [
      ...(f.restarts?.esc === 0 ? [] : [`node esc (restart policy no) restarted ${f.restarts?.esc} times after losing its shepherd: ${f.errors?.join('; ')}`]),
      ...(f.upExit?.code === 0 ? [] : [`drover up ended ${JSON.stringify(f.upExit)}`]),
    ],
  },
  {
    name: 'fork-bomb',
    what: 'a setsid fork bomb ignoring SIGTERM that respawns what dies, stopped',
    driver: 'manager',
    survives: true,
    params: (quick) => ({ depth: quick ? 3 : 4, width: 3, graceMs: 1000 }),
    settleMs: (p) => p.graceMs + 2000,
    check: (f) => (f.bombProcesses > 0 ? [] : ['the bomb did not grow']),
  },
  {
    name: 'daemons-stop',
    what: 'SIGTERM ignorers, process trees, setsid and double-fork daemons, stopped',
    driver: 'manager',
    survives: true,
    params: (quick) => ({ nodes: quick ? 4 : 8, graceMs: 500 }),
    settleMs: (p) => p.graceMs + 2000,
  },
  {
    name: 'line-100mb',
    what: 'a node printing one 100 MiB line',
    driver: 'manager',
    survives: true,
    params: () => ({ bytes: 100 * MiB }),
    settleMs: () => 2500,
    maxPeakMiB: 512,
    check: (f, p) => (f.stdoutBytes === p.bytes + 6 ? [] : [`the manager read ${f.stdoutBytes} bytes of ${p.bytes + 6}`]),
  },
  {
    name: 'binary-output',
    what: 'a node writing 200 MiB (--quick: 50 MiB) of binary output (random bytes, NULs, invalid UTF-8)',
    driver: 'manager',
    survives: true,
    params: (quick) => ({ bytes: (quick ? 50 : 200) * MiB }),
    settleMs: () => 2500,
    maxPeakMiB: 512,
    check: (f, p) => (f.stdoutBytes === p.bytes ? [] : [`the manager read ${f.stdoutBytes} bytes of ${p.bytes}`]),
  },
  {
    name: 'fd-exhaustion',
    what: '300 idle nodes under ulimit -n 1024: those that do not fit fail with EMFILE, the rest run, all stop',
    driver: 'manager',
    survives: true,
    ulimitNofile: 1024,
    params: () => ({ count: 300 }),
    settleMs: () => 2500,
    check: (f, p) => [
      ...(f.states?.ready > 0 && f.states.ready + (f.states.failed ?? 0) === p.count ? [] : [`nodes neither ready nor failed: ${JSON.stringify(f.states)}`]),
      ...(f.restarts === 0 ? [] : [`${f.restarts} restarts (fd exhaustion is not retried)`]),
    ],
  },
  {
    name: 'follow-no-read',
    what: '3 `drover logs --follow` clients suspended (never read) on a node printing 10 MiB/s',
    driver: 'cli',
    survives: true,
    // 5 s in quick mode too: followers that were buffered without bound would hold 3 × 10 MiB/s × 5 s
    // = 150 MiB of NDJSON (more as JS strings), well past the bound below, whatever the GC does.
    params: () => ({ followers: 3, rate: 10 * MiB, holdMs: 5000 }),
    settleMs: () => 2500,
    // The manager's RSS here is bimodal: ~117 MiB, or, in about one run of four, 170-210 MiB when
    // V8 lets the garbage of 10 MiB/s of lines pile up before a major GC (measured on 12 runs; the
    // NDJSON a suspended follower may hold is bounded at 1 MiB). The bounds sit above that noise.
    maxPeakMiB: 256,
    // A slow client costs bounded memory: the manager's RSS may not grow by more than 128 MiB while they hang.
    check: (f) => (f.rssAtEndMiB - f.rssAtStartMiB <= 128 ? [] : [`drover up grew ${f.rssAtStartMiB} → ${f.rssAtEndMiB} MiB RSS in ${f.holdMs} ms with ${f.followers} suspended followers`]),
  },
  {
    name: 'fd-full-launcher-restart',
    what: 'out of fds (ulimit -n 256) while the launcher is restarted, 0 to 64 fds left free: EMFILE or a working spawn, no foreign signal',
    driver: 'manager',
    survives: true,
    ulimitNofile: 256,
    params: () => ({}),
    settleMs: () => 2500,
    check: (f) =>
      (f.outcomes ?? [])
        .filter((o) => !o.ok && !(o.code === 'ERR_SPAWN_FAILED' && o.errno === 'EMFILE'))
        .map((o) => `keep=${o.keep}: the spawn failed with ${o.code} ${o.errno ?? ''}, expected EMFILE`),
  },
  {
    name: 'regex-redos',
    what: 'readiness pattern ^(a+)+$ against lines of 40 a and a "!" (catastrophic backtracking), ready timeout 2 s',
    driver: 'manager',
    survives: true,
    timeoutMs: 15_000,
    params: () => ({ as: 40, readyTimeoutMs: 2000 }),
    settleMs: () => 2500,
    check: (f) => (f.startError === 'ERR_READY_TIMEOUT' && f.startMs < 10_000 ? [] : [`start ended ${f.startError} after ${f.startMs} ms, expected ERR_READY_TIMEOUT after the 2 s timeout`]),
  },
  {
    name: 'stop-signal-once',
    what: 'nodes with a child in their process group, stopped: every process gets SIGTERM exactly once',
    driver: 'manager',
    survives: true,
    params: () => ({ nodes: 3 }),
    settleMs: () => 2500,
    check: (f) => [
      ...(f.signalled === f.processes ? [] : [`${f.signalled} of ${f.processes} processes got the stop signal`]),
      ...(f.signalledTwiceOrMore === 0 ? [] : [`${f.signalledTwiceOrMore} process(es) got the stop signal more than once (up to ${f.maxSignals} times)`]),
    ],
  },
  {
    name: 'big-env',
    what: 'two 100 KB environment variables in the manager, inherited by a node',
    driver: 'manager',
    survives: true,
    params: () => ({ kib: 100 }),
    settleMs: () => 2500,
    check: (f) => (f.states?.ready === 1 || f.startError === null ? [] : [`the node did not start: ${f.startError}`]),
  },
  {
    name: 'canary',
    what: "the matrix's own check: the driver leaves a survivor, a zombie and an open fd (must fail)",
    driver: 'manager',
    survives: true,
    hidden: true,
    params: () => ({}),
    settleMs: () => 1000,
  },
];
const QUICK = new Set(['manager-kill-mid-start', 'manager-kill-mid-stop', 'manager-kill-in-backoff', 'shepherd-kill', 'launcher-kill', 'escape-shepherd', 'escape-launcher', 'fork-bomb', 'daemons-stop', 'line-100mb', 'binary-output', 'fd-exhaustion', 'follow-no-read', 'fd-full-launcher-restart', 'regex-redos', 'stop-signal-once', 'big-env']);
const COLUMNS = ['off', 'cgroup'];

// ---------------------------------------------------------------------------------------------
// Arguments

const usage = `usage: npm run hostile -- [--quick] [--case NAME ...] [--column off|cgroup] [--set PARAM=JSON ...] [--json FILE] [--list]`;
let values;
try {
  ({ values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      case: { type: 'string', multiple: true },
      column: { type: 'string', multiple: true },
      json: { type: 'string' },
      set: { type: 'string', multiple: true },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }));
} catch (error) {
  console.error(`hostile-matrix: ${error.message}\n${usage}`);
  process.exit(2);
}
if (values.help || values.list) {
  console.log(usage);
  console.log('\ncases (* in --quick):');
  for (const c of CASES) console.log(`  ${QUICK.has(c.name) ? '*' : ' '} ${c.name.padEnd(24)} ${c.what}${c.hidden ? ' [only with --case]' : ''}`);
  process.exit(0);
}
const known = new Map(CASES.map((c) => [c.name, c]));
for (const name of values.case ?? []) {
  if (!known.has(name)) {
    console.error(`hostile-matrix: --case ${JSON.stringify(name)} is not a case; known: ${CASES.map((c) => c.name).join(', ')}`);
    process.exit(2);
  }
}
for (const column of values.column ?? []) {
  if (!COLUMNS.includes(column)) {
    console.error(`hostile-matrix: --column ${JSON.stringify(column)} must be one of ${COLUMNS.join(', ')}`);
    process.exit(2);
  }
}
/** --set PARAM=VALUE: a case parameter (JSON value, else a string) for every selected case, for experiments. */
const overrides = {};
for (const item of values.set ?? []) {
  const at = item.indexOf('=');
  if (at <= 0) {
    console.error(`hostile-matrix: --set ${JSON.stringify(item)} must be PARAM=VALUE (e.g. --set followers=0)`);
    process.exit(2);
  }
  const raw = item.slice(at + 1);
  try {
    overrides[item.slice(0, at)] = JSON.parse(raw);
  } catch {
    overrides[item.slice(0, at)] = raw;
  }
}
if (process.getuid() !== 0) {
  console.error('hostile-matrix: run it as root: it runs every case as the user nobody (runuser) and sets up a delegated cgroup');
  process.exit(2);
}
const selected = values.case ? CASES.filter((c) => values.case.includes(c.name)) : CASES.filter((c) => !c.hidden && (!values.quick || QUICK.has(c.name)));
let columns = values.column ?? COLUMNS;

const dist = path.join(ROOT, 'dist');
if (!existsSync(path.join(dist, 'index.js'))) {
  console.error(`hostile-matrix: ${dist}/index.js is missing; build first (npm run build:ts)`);
  process.exit(2);
}
const { reapChild, setChildSubreaper } = await import(new URL('../dist/native/index.js', import.meta.url).href);
const { getCgroup2Mount, getOwnCgroupPath } = await import(new URL('../dist/process/cgroup.js', import.meta.url).href);

for (const tool of ['bash', 'runuser', 'setsid', 'env', 'id']) {
  if (spawnSync('bash', ['-c', `command -v ${tool}`]).status !== 0) {
    console.error(`hostile-matrix: ${tool} is missing (util-linux and bash are needed to run cases as nobody in their own session)`);
    process.exit(2);
  }
}
const nobody = getIds('nobody');
const NODE = process.execPath;

function getIds(user) {
  const uid = spawnSync('id', ['-u', user], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', user], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) {
    console.error(`hostile-matrix: no user ${user} here (id -u ${user}: ${uid.stderr.trim()})`);
    process.exit(2);
  }
  return { uid: Number(uid.stdout), gid: Number(gid.stdout) };
}

// ---------------------------------------------------------------------------------------------
// /proc

/** `/proc/<pid>/stat` fields we use, or null when the pid is gone. */
function readStat(pid) {
  let stat;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  const close = stat.lastIndexOf(')');
  const fields = stat.slice(close + 2).split(' ');
  return { pid, comm: stat.slice(stat.indexOf('(') + 1, close), state: fields[0], ppid: Number(fields[1]), sid: Number(fields[3]), key: `${pid}:${fields[19]}` };
}

const isAliveState = (s) => s !== null && s.state !== 'Z' && s.state !== 'X';

function childrenOf(pid) {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) => readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
  } catch {
    return [];
  }
}

function readText(file) {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

function exeOf(pid) {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return null;
  }
}

function cmdlineOf(pid) {
  return (readText(`/proc/${pid}/cmdline`) ?? '').split('\0').filter(Boolean).join(' ').slice(0, 160);
}

/** Process keys (pid:starttime) known not to carry any case's marker; a new case's processes are all born later. */
const unmarked = new Set();

/**
 * One pass over /proc for the running case: its members, live and zombie. A member is a process
 * below this script (every process of the case descends from its wrapper, and this script is
 * their subreaper, so orphans stay below it), except the root-owned runuser this script spawned;
 * or one whose environment holds the case's marker (`needle`), wherever it is. The subtree counts
 * drover's launcher and shepherds, which get a minimal environment without the marker.
 */
function scan(needle, seen) {
  const all = [];
  const children = new Map();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const stat = readStat(pid);
    if (stat === null) continue;
    all.push(stat);
    if (!children.has(stat.ppid)) children.set(stat.ppid, []);
    children.get(stat.ppid).push(stat.pid);
  }
  const below = new Set();
  const stack = [...(children.get(process.pid) ?? [])];
  while (stack.length > 0) {
    const pid = stack.pop();
    if (!ownChildren.has(pid)) below.add(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  const live = [];
  const zombies = [];
  for (const stat of all) {
    const dead = stat.state === 'Z' || stat.state === 'X';
    let member = below.has(stat.pid) || seen.has(stat.key);
    if (!member && !dead && !unmarked.has(stat.key)) {
      const environ = readText(`/proc/${stat.pid}/environ`);
      if (environ === null) continue; // gone
      if (environ.split('\0').includes(needle)) member = true;
      else unmarked.add(stat.key);
    }
    if (!member) continue;
    if (!seen.has(stat.key)) seen.set(stat.key, dead ? stat.comm : cmdlineOf(stat.pid));
    (dead ? zombies : live).push(stat);
  }
  return { live, zombies };
}

function readStatusKiB(pid, field) {
  const status = readText(`/proc/${pid}/status`);
  const match = status === null ? null : new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  return match ? Number(match[1]) : null;
}

function listFds(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).map((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`).replace(/\d+/g, 'N');
      } catch {
        return 'gone';
      }
    });
  } catch {
    return null;
  }
}

/** Targets in `after` beyond those in `before` (as a multiset), e.g. ['socket:[N]', 'pipe:[N]']. */
function fdGrowth(before, after) {
  const left = new Map();
  for (const t of before) left.set(t, (left.get(t) ?? 0) + 1);
  const grown = [];
  for (const t of after) {
    const n = left.get(t) ?? 0;
    if (n > 0) left.set(t, n - 1);
    else grown.push(t);
  }
  return grown;
}

// ---------------------------------------------------------------------------------------------
// The harness as subreaper: what a case orphans comes here instead of init, and is reaped here.

setChildSubreaper(true);
/** Pids this script spawned through child_process: libuv waits for those. */
const ownChildren = new Set();

function reapAdopted() {
  for (const pid of childrenOf(process.pid)) {
    if (ownChildren.has(pid)) continue;
    const stat = readStat(pid);
    if (stat === null || stat.state !== 'Z') continue;
    try {
      reapChild(pid);
    } catch {
      // ECHILD: reaped meanwhile
    }
  }
}

// ---------------------------------------------------------------------------------------------
// cgroup v2 delegation

const cgroupMount = getCgroup2Mount(readFileSync('/proc/self/mountinfo', 'utf8'));
const ownCgroup = getOwnCgroupPath(readFileSync('/proc/self/cgroup', 'utf8'));
const cgroupBase = cgroupMount !== null && ownCgroup !== null ? path.join(cgroupMount, ownCgroup, `drover-matrix-${process.pid}`) : null;
let cgroupBaseMade = false;
const skippedColumns = [];
if (cgroupBase === null && columns.includes('cgroup')) {
  // Nothing to delegate: say so and run what can run (a mounted but undelegatable hierarchy fails its cases instead).
  console.log('hostile-matrix: no cgroup v2 hierarchy is mounted here: the cgroup column is skipped');
  skippedColumns.push({ column: 'cgroup', reason: 'no cgroup v2 hierarchy is mounted' });
  columns = columns.filter((c) => c !== 'cgroup');
}

/** A cgroup for one case, owned by nobody (the dir and the files a delegatee writes), or a reason why not. */
function createCaseCgroup(name) {
  if (cgroupBase === null) return { dir: null, reason: 'no cgroup v2 hierarchy is mounted' };
  try {
    if (!cgroupBaseMade) {
      mkdirSync(cgroupBase);
      cgroupBaseMade = true;
    }
    const dir = path.join(cgroupBase, name);
    mkdirSync(dir);
    chownSync(dir, nobody.uid, nobody.gid);
    for (const file of ['cgroup.procs', 'cgroup.subtree_control', 'cgroup.threads']) chownSync(path.join(dir, file), nobody.uid, nobody.gid);
    return { dir, reason: null };
  } catch (error) {
    return { dir: null, reason: `cannot delegate a cgroup under ${cgroupBase}: ${error.message}` };
  }
}

/** Kills everything left in a case cgroup (cgroup.kill) and removes it, leaves first. */
async function removeCaseCgroup(dir) {
  if (dir === null || !existsSync(dir)) return;
  try {
    writeFileSync(path.join(dir, 'cgroup.kill'), '1');
  } catch {
    // gone
  }
  const deadline = Date.now() + 5000;
  const remove = (d) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) if (entry.isDirectory()) remove(path.join(d, entry.name));
    rmdirSync(d);
  };
  for (;;) {
    reapAdopted();
    try {
      remove(dir);
      return;
    } catch (error) {
      if (Date.now() >= deadline) {
        console.error(`hostile-matrix: could not remove ${dir}: ${error.message}`);
        return;
      }
    }
    await sleep(20);
  }
}

function removeCgroupBase() {
  if (!cgroupBaseMade) return;
  try {
    rmdirSync(cgroupBase);
  } catch (error) {
    console.error(`hostile-matrix: could not remove ${cgroupBase}: ${error.message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// One case

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const runId = `${process.pid}-${Date.now().toString(36)}`;
const tmpRoot = mkdtempSync(path.join(tmpdir(), 'drover-matrix-'));
chmodSync(tmpRoot, 0o755);
let active = null; // the case being run, for cleanup on SIGINT

/**
 * Kills every process of a case (see scan): all are frozen first, so nothing forks while they are
 * killed, and the scan is repeated until none is left; then the members of its cgroup.
 */
async function killCase(ctx) {
  for (let round = 0; round < 50; round++) {
    const { live } = scan(ctx.needle, ctx.seen);
    if (live.length === 0) break;
    // Not the wrapper shell: it forks nothing more, and runuser would stop itself with it.
    for (const s of live) if (s.pid !== ctx.wrapper) signal(s.pid, 'SIGSTOP');
    const again = scan(ctx.needle, ctx.seen).live;
    if (again.length === live.length) {
      for (const s of again) signal(s.pid, 'SIGKILL');
    }
    reapAdopted();
    await sleep(10);
  }
  if (ctx.cgroup !== null) {
    try {
      writeFileSync(path.join(ctx.cgroup, 'cgroup.kill'), '1');
    } catch {
      // gone
    }
  }
}

/** Signals a pid the case's scan just found to be one of the case's processes. */
function signal(pid, name) {
  try {
    process.kill(pid, name);
  } catch {
    // gone
  }
}

/** Survivors and zombies of a case right now: `exclude(stat)` names live processes that may stay. */
function census(ctx, exclude) {
  reapAdopted();
  const { live, zombies } = scan(ctx.needle, ctx.seen);
  const survivors = live.filter((s) => !exclude(s));
  // Re-parented to this script: reaped here as by an init (one may have died since reapAdopted).
  const caseZombies = zombies.filter((z) => z.ppid !== process.pid);
  return { survivors, zombies: caseZombies, live };
}

/** Polls census until nothing is left or `ms` pass; the last census. */
async function settle(ctx, exclude, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const c = census(ctx, exclude);
    if ((c.survivors.length === 0 && c.zombies.length === 0) || Date.now() >= deadline) return c;
    await sleep(20);
  }
}

/** `pid state command` of each (the command line now if the process is still the same one, else as first seen). */
function describeProcs(list, ctx) {
  return list.map((s) => {
    const now = readStat(s.pid);
    const command = now?.key === s.key && now.state !== 'Z' ? cmdlineOf(s.pid) : (ctx.seen.get(s.key) ?? s.comm);
    return `${s.pid} ${s.state} ${command || s.comm}`;
  });
}

async function runCase(c, column, quick) {
  const name = `${column}-${c.name}`;
  const params = { ...c.params(quick), ...overrides };
  const settleMs = c.settleMs(params);
  const timeoutMs = c.timeoutMs ?? 120_000;
  const dir = path.join(tmpRoot, name);
  mkdirSync(dir, { mode: 0o700 });
  chownSync(dir, nobody.uid, nobody.gid);
  const result = {
    case: c.name,
    column,
    ok: false,
    reasons: [],
    params,
    marker: `${runId}-${name}`,
    survivors: 0,
    survivorList: [],
    zombies: 0,
    zombieList: [],
    fds: null,
    peakRssMiB: null,
    sentinel: 'unknown',
    cgroup: { used: false, leaves: 0, dir: null },
    processesPeak: 0,
    driverExit: null,
    facts: {},
    timedOut: false,
    durationMs: 0,
    leftAfterCleanup: 0,
    timings: {},
    log: [],
  };
  const ctx = { needle: `${MARKER}=${result.marker}`, seen: new Map(), cgroup: null };
  let cgroupReason = null;
  if (column === 'cgroup') {
    const made = createCaseCgroup(name);
    ctx.cgroup = made.dir;
    cgroupReason = made.reason;
    result.cgroup.dir = made.dir;
  }
  const started = Date.now();
  active = ctx;
  const env = [
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    `HOME=${dir}`,
    `TMPDIR=${dir}`,
    'NO_COLOR=1',
    `DROVER_STATE_DIR=${path.join(dir, 'state')}`,
    `${MARKER}=${result.marker}`,
    ...(column === 'off' ? ['DROVER_CGROUP=off'] : []),
  ];
  // As nobody, in its own session: the sentinel shares the manager's process group, so a kill(0)
  // or a kill(-1) of the manager would take it.
  const inner = [
    'node=$1 driver=$2 case=$3 params=$4 nofile=$5',
    'if [ -n "$nofile" ]; then ulimit -n "$nofile" || exit 96; fi',
    'sleep 1000000 >/dev/null 2>&1 </dev/null &',
    'sentinel=$!',
    'echo "@wrapper {\\"wrapper\\":$$,\\"sentinel\\":$sentinel}"',
    '"$node" "$driver" "$case" "$params"',
    'echo "@wrapper {\\"driverExit\\":$?}"',
    'wait $sentinel',
  ].join('\n');
  // As root first: join the case cgroup, so the wrapper, the manager and all it starts are in it.
  const outer = 'if [ -n "$1" ]; then echo $$ > "$1/cgroup.procs" || exit 97; fi; shift; exec "$@"';
  const driver = path.join(MATRIX_FIXTURES, c.driver === 'cli' ? 'cli.mjs' : 'manager.mjs');
  const child = spawn(
    'bash',
    ['-c', outer, 'matrix', ctx.cgroup ?? '', 'runuser', '-u', 'nobody', '--', 'setsid', '--wait', 'env', '-i', ...env, 'bash', '-c', inner, 'wrapper', NODE, driver, c.name, JSON.stringify(params), String(c.ulimitNofile ?? '')],
    { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  ownChildren.add(child.pid);
  const events = [];
  let wake = null;
  const push = (event) => {
    events.push(event);
    wake?.();
  };
  let cleaning = false; // what runuser says about the wrapper we kill is noise
  const log = (line) => {
    if (cleaning) return;
    result.log.push(line.slice(0, 400));
    if (result.log.length > 40) result.log.shift();
  };
  const parse = (text) => {
    try {
      return JSON.parse(text);
    } catch {
      return null;
    }
  };
  createInterface({ input: child.stdout }).on('line', (line) => {
    const source = line.startsWith('@wrapper ') ? 'wrapper' : line.startsWith('@matrix ') ? 'driver' : null;
    const event = source === null ? null : parse(line.slice(line.indexOf(' ') + 1));
    if (event !== null && typeof event === 'object') push({ ...event, source });
    else log(line);
  });
  createInterface({ input: child.stderr }).on('line', log);
  child.stdin.on('error', () => {}); // the driver may be gone (SIGKILLed) when we answer
  child.on('error', (error) => log(`cannot run the case: ${error.message}`));
  const exited = new Promise((resolve) => child.once('exit', (code, sig) => {
    ownChildren.delete(child.pid);
    push({ source: 'exit', code, signal: sig });
    resolve();
  }));

  let wrapper = null;
  let sentinel = null;
  let driverPid = null;
  let manager = null;
  let before = null;
  let peakKiB = 0;
  const sampleManager = () => {
    if (manager === null) return;
    const hwm = readStatusKiB(manager, 'VmHWM');
    if (hwm !== null) peakKiB = Math.max(peakKiB, hwm);
  };
  const leafPattern = /\/drover-\d+\/[^/]+$/;
  const sample = () => {
    sampleManager();
    const { live } = scan(ctx.needle, ctx.seen);
    result.processesPeak = Math.max(result.processesPeak, live.length);
    for (const s of live) {
      const own = readText(`/proc/${s.pid}/cgroup`);
      const v2 = own?.split('\n').find((l) => l.startsWith('0::'))?.slice(3);
      if (v2 !== undefined && leafPattern.test(v2)) ctx.leaves = (ctx.leaves ?? new Set()).add(v2);
    }
  };
  const sampler = setInterval(sample, SAMPLE_INTERVAL_MS);
  /** What may stay alive while the manager lives: the harness's own processes, the manager, its launcher and spare shepherds. */
  const whileManagerLives = (s) => {
    if (s.pid === wrapper || s.pid === sentinel || s.pid === driverPid || s.pid === manager) return true;
    if (s.ppid === manager && exeOf(s.pid)?.endsWith('/launcher')) return true;
    const parent = readStat(s.ppid);
    return s.comm === 'shepherd-idle' && parent?.ppid === manager && exeOf(s.ppid)?.endsWith('/launcher');
  };
  const harnessOnly = (s) => s.pid === wrapper || s.pid === sentinel;
  const survivorSet = new Map();
  const zombieSet = new Map();
  const record = (c2) => {
    for (const s of c2.survivors) survivorSet.set(s.key, s);
    for (const z of c2.zombies) zombieSet.set(z.key, z);
  };

  const deadline = started + timeoutMs;
  let phase = 'starting';
  try {
    for (;;) {
      if (events.length === 0) {
        const left = deadline - Date.now();
        if (left <= 0) {
          result.timedOut = true;
          break;
        }
        await new Promise((resolve) => {
          wake = resolve;
          setTimeout(resolve, Math.min(left, 1000));
        });
        wake = null;
        continue;
      }
      const event = events.shift();
      if (event.source === 'exit') {
        if (result.driverExit === null) result.reasons.push(`the wrapper ended before the driver reported (exit ${event.code ?? event.signal})`);
        break;
      }
      if (event.source === 'wrapper') {
        if (event.wrapper !== undefined) {
          wrapper = ctx.wrapper = event.wrapper;
          sentinel = event.sentinel;
        }
        if (event.driverExit !== undefined) {
          result.driverExit = event.driverExit;
          break;
        }
        continue;
      }
      if (event.event === 'driver') driverPid = event.pid;
      else if (event.event === 'manager') {
        manager = event.pid;
        sampleManager();
      } else if (event.event === 'facts') {
        const { source: _s, event: _e, ...facts } = event;
        Object.assign(result.facts, facts);
      } else if (event.event === 'measure') {
        phase = event.phase;
        result.timings[event.phase] = Date.now() - started;
        sample();
        if (event.phase === 'before') {
          before = listFds(manager);
        } else {
          if (event.census !== false) {
            // The nodes are stopped: nothing but the manager, its launcher and spares may be left.
            const atStop = await settle(ctx, whileManagerLives, settleMs);
            result.timings[`settled-${event.phase}`] = Date.now() - started;
            record(atStop);
          }
          if (event.fds !== false && before !== null) {
            const fdDeadline = Date.now() + FD_SETTLE_MS;
            let after = listFds(manager);
            while (after !== null && after.length > before.length && Date.now() < fdDeadline) {
              await sleep(20);
              after = listFds(manager);
            }
            result.fds = { before: before.length, after: after?.length ?? null, grown: after === null ? [] : fdGrowth(before, after) };
          }
          sampleManager();
        }
        child.stdin.write('continue\n');
      }
    }
    if (result.timedOut) {
      const sentinelStat = sentinel === null ? null : readStat(sentinel);
      if (sentinel !== null) result.sentinel = isAliveState(sentinelStat) ? 'alive' : 'dead';
    } else {
      phase = 'settle';
      result.timings.driverExit = Date.now() - started;
      sampleManager();
      const atEnd = await settle(ctx, harnessOnly, settleMs);
      result.timings.settledAtEnd = Date.now() - started;
      record(atEnd);
      const sentinelStat = sentinel === null ? null : readStat(sentinel);
      result.sentinel = sentinel === null ? 'unknown' : isAliveState(sentinelStat) && ctx.seen.has(sentinelStat.key) ? 'alive' : 'dead';
    }
  } finally {
    clearInterval(sampler);
    result.survivorList = describeProcs([...survivorSet.values()], ctx);
    result.zombieList = describeProcs([...zombieSet.values()], ctx);
    cleaning = true;
    await killCase(ctx);
    // runuser stops itself when its child (the wrapper) is stopped; it must go on to see it die.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGCONT');
    await Promise.race([exited, sleep(5000)]);
    if (child.exitCode === null && child.signalCode === null) {
      result.log.push('runuser did not exit within 5 s of its wrapper being killed: SIGKILLed');
      child.kill('SIGKILL');
      await exited;
    }
    reapAdopted();
    result.timings.cleanedUp = Date.now() - started;
    result.leftAfterCleanup = scan(ctx.needle, ctx.seen).live.length;
    await removeCaseCgroup(ctx.cgroup);
    rmSync(dir, { recursive: true, force: true });
    active = null;
  }
  result.durationMs = Date.now() - started;
  result.survivors = survivorSet.size;
  result.zombies = zombieSet.size;
  result.peakRssMiB = peakKiB > 0 ? Math.round((peakKiB / 1024) * 10) / 10 : null;
  result.cgroup.leaves = ctx.leaves?.size ?? 0;
  result.cgroup.used = result.cgroup.leaves > 0 || (result.facts.cgroupLeaves ?? 0) > 0 || result.facts.warmUpCgroup === true;

  const reasons = result.reasons;
  if (result.timedOut) reasons.push(`hung: killed after ${timeoutMs / 1000} s (last checkpoint: ${phase})`);
  if (result.survivors > 0) reasons.push(`${result.survivors} survivor(s): ${result.survivorList.slice(0, 5).join('; ')}`);
  if (result.zombies > 0) reasons.push(`${result.zombies} zombie(s): ${result.zombieList.slice(0, 5).join('; ')}`);
  if (result.sentinel === 'dead' || (result.sentinel === 'unknown' && !result.timedOut)) reasons.push(`sentinel ${result.sentinel}`);
  if (result.fds !== null && result.fds.after !== null && result.fds.after > result.fds.before) reasons.push(`manager fds grew ${result.fds.before} → ${result.fds.after} (${result.fds.grown.join(', ')})`);
  const expectedExit = c.survives ? 0 : 137;
  if (!result.timedOut && result.driverExit !== null && result.driverExit !== expectedExit) reasons.push(`driver exited ${result.driverExit}, expected ${expectedExit}`);
  if (c.maxPeakMiB !== undefined && result.peakRssMiB !== null && result.peakRssMiB > c.maxPeakMiB) reasons.push(`manager peak RSS ${result.peakRssMiB} MiB above ${c.maxPeakMiB} MiB`);
  if (!result.timedOut && result.driverExit === (c.survives ? 0 : 137)) reasons.push(...(c.check?.(result.facts, params) ?? []));
  if (column === 'cgroup' && !result.cgroup.used) reasons.push(`cgroup column without cgroup leaves${cgroupReason ? `: ${cgroupReason}` : ''}`);
  if (column === 'off' && result.cgroup.used) reasons.push('cgroup leaves used although DROVER_CGROUP=off');
  if (result.leftAfterCleanup > 0) reasons.push(`the matrix could not kill ${result.leftAfterCleanup} process(es) of the case`);
  result.ok = reasons.length === 0;
  return result;
}

// ---------------------------------------------------------------------------------------------
// Main

function pad(text, width) {
  return String(text).padEnd(width);
}
const header = `${pad('case', 24)} ${pad('column', 7)} ${pad('surv', 5)} ${pad('zomb', 5)} ${pad('fds', 11)} ${pad('peak MiB', 9)} ${pad('sentinel', 9)} ${pad('procs', 6)} ${pad('time', 7)} ok`;
function formatRow(r) {
  const fds = r.fds === null ? '-' : `${r.fds.before}→${r.fds.after ?? '?'}`;
  return `${pad(r.case, 24)} ${pad(r.column, 7)} ${pad(r.survivors, 5)} ${pad(r.zombies, 5)} ${pad(fds, 11)} ${pad(r.peakRssMiB ?? '-', 9)} ${pad(r.sentinel, 9)} ${pad(r.processesPeak, 6)} ${pad(`${(r.durationMs / 1000).toFixed(1)}s`, 7)} ${r.ok ? 'ok' : 'FAIL'}`;
}

const onSignal = (sig) => {
  console.error(`hostile-matrix: ${sig}: cleaning up`);
  const ctx = active;
  void (ctx === null ? Promise.resolve() : killCase(ctx).then(() => removeCaseCgroup(ctx.cgroup))).finally(() => {
    removeCgroupBase();
    rmSync(tmpRoot, { recursive: true, force: true });
    process.exit(130);
  });
};
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);

const results = [];
const t0 = Date.now();
console.log(`hostile matrix: ${selected.length} case(s) × ${columns.join(', ')}${values.quick ? ' (quick)' : ''}; cgroup v2: ${cgroupBase ?? 'not mounted'}`);
console.log(header);
for (const c of selected) {
  for (const column of columns) {
    const r = await runCase(c, column, values.quick);
    results.push(r);
    console.log(formatRow(r));
    if (!r.ok) {
      for (const reason of r.reasons) console.log(`    ${reason}`);
      if (r.log.length > 0) console.log(`    last output: ${r.log.slice(-6).join(' | ')}`);
    }
  }
}
removeCgroupBase();
rmSync(tmpRoot, { recursive: true, force: true });

const failed = results.filter((r) => !r.ok);
const summary = {
  runId,
  quick: values.quick,
  host: { kernel: readText('/proc/sys/kernel/osrelease')?.trim() ?? null, node: process.version, cores: cpus().length, cgroup2: cgroupMount },
  durationMs: Date.now() - t0,
  columns,
  skippedColumns,
  cases: results.length,
  failed: failed.length,
  survivors: results.reduce((sum, r) => sum + r.survivors, 0),
  zombies: results.reduce((sum, r) => sum + r.zombies, 0),
  fdGrowth: results.filter((r) => r.fds !== null && r.fds.after !== null && r.fds.after > r.fds.before).length,
  deadSentinels: results.filter((r) => r.sentinel === 'dead').length,
  peakRssMiB: Math.max(0, ...results.map((r) => r.peakRssMiB ?? 0)),
  results,
};
if (values.json) writeFileSync(values.json, `${JSON.stringify(summary, null, 2)}\n`);
console.log(
  `hostile matrix: ${results.length} runs in ${(summary.durationMs / 1000).toFixed(0)} s: ${failed.length} failed; ` +
    `survivors ${summary.survivors}, zombies ${summary.zombies}, fd growth in ${summary.fdGrowth}, dead sentinels ${summary.deadSentinels}, peak manager RSS ${summary.peakRssMiB} MiB`,
);
if (failed.length > 0) console.log(`failed: ${failed.map((r) => `${r.case}/${r.column}`).join(', ')}`);
process.exit(failed.length === 0 ? 0 : 1);
