#!/usr/bin/env node
// Config fuzzer: feeds mutations of the bundled examples and generated hostile YAML (deep
// nesting, huge numbers, alias bombs, odd tags, binary, wrong types everywhere, unicode,
// __proto__, long strings, special files as env_file) to the config loader, and checks that every
// input is either valid or refused with a message naming a config path or a YAML line:column:
// never another error (a stack trace), never a hang, never unbounded memory.
//
// Most inputs run in-process, in a worker thread with a heap limit, through loadConfig (what
// `drover validate` runs); each gets a time budget, and a worker that overruns it is terminated.
// Alongside, a sample goes through the real CLI (`node dist/bin/drover.js validate -f FILE`, under
// prlimit --data) and must exit 0 or 1, agree with the in-process verdict, and print no stack.
//
//   npm run fuzz:config -- SECONDS [--seed N] [--budget-ms 10000] [--out DIR] [--no-cli]
//
// Prints counts (inputs, valid, invalid, failures) and exits 1 when any property broke, with each
// failing input saved in --out (default ./fuzz-config-failures) beside a note of what broke.
// Needs the built dist/ (npm run build:ts).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { getHeapStatistics } from 'node:v8';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST_CONFIG = path.join(ROOT, 'dist', 'config', 'index.js');
const DIST_ERRORS = path.join(ROOT, 'dist', 'contract', 'errors.js');
const CLI = path.join(ROOT, 'dist', 'bin', 'drover.js');

/** Heap of the in-process worker; an input that needs more breaks "bounded memory". */
const WORKER_HEAP_MB = 512;
/** RLIMIT_DATA of a CLI run. */
const CLI_DATA_BYTES = 1024 ** 3;
/** A CLI run gets this much more time than an in-process one (node's start, the dist import). */
const CLI_EXTRA_MS = 10_000;
/** Failing inputs saved at most. */
const MAX_SAVED = 50;

/** A stack frame line, as Node prints them. */
const STACK_LINE = /^\s+at\s+(?:.+\(.+:\d+:\d+\)|.+:\d+:\d+|<anonymous>)$/m;
/** A YAML position in a message. */
const LINE_COL = /\bat \d+:\d+\b/;
/** Whole-document issues (path '') that need no position: the document is not a config at all. */
const DOCUMENT_MESSAGES = [/^expected an object with name and nodes, got /, /^YAML could not be expanded: /, /^… and \d+ more YAML errors$/];

// ---------------------------------------------------------------------------------------------
// Worker: loads one config per message and classifies the outcome.

async function runWorker() {
  const { loadConfig } = await import(pathToFileURL(DIST_CONFIG).href);
  const { isDroverError } = await import(pathToFileURL(DIST_ERRORS).href);
  parentPort.on('message', async ({ id, file }) => {
    const started = performance.now();
    let verdict;
    try {
      const { spec } = await loadConfig(file, { strict: false }); // as `drover validate` does without --strict
      verdict = { kind: 'valid', detail: `${spec.nodes.length} nodes` };
    } catch (error) {
      verdict = classify(error, file, isDroverError);
    }
    const heapUsed = getHeapStatistics().used_heap_size;
    parentPort.postMessage({ id, ms: performance.now() - started, heapUsed, ...verdict });
  });
  parentPort.postMessage({ ready: true });
}

/** `invalid` when the error is a config error whose every issue names a path or a line:column. */
function classify(error, file, isDroverError) {
  if (isDroverError(error, 'ERR_CONFIG_READ')) {
    return error.message.includes(file) ? { kind: 'invalid', detail: 'ERR_CONFIG_READ' } : { kind: 'failure', detail: `ERR_CONFIG_READ without the path: ${error.message}` };
  }
  if (!isDroverError(error, 'ERR_CONFIG_INVALID')) {
    return { kind: 'failure', detail: `not a config error: ${error?.stack ?? String(error)}` };
  }
  if (STACK_LINE.test(error.message)) return { kind: 'failure', detail: `stack trace in the message:\n${error.message}` };
  const issues = error.issues ?? [];
  if (issues.length === 0) return { kind: 'failure', detail: `ERR_CONFIG_INVALID without issues: ${error.message}` };
  const unplaced = issues.find((issue) => issue.path === '' && !LINE_COL.test(issue.message) && !DOCUMENT_MESSAGES.some((re) => re.test(issue.message)));
  if (unplaced !== undefined) return { kind: 'failure', detail: `an issue names neither a path nor a line:column: ${unplaced.message}` };
  if (!error.message.startsWith(`Invalid config ${file}:`)) return { kind: 'failure', detail: `message does not name the file: ${error.message.slice(0, 200)}` };
  return { kind: 'invalid', detail: `${issues.length} issues` };
}

// ---------------------------------------------------------------------------------------------
// Main thread.

function usage(message) {
  process.stderr.write(`fuzz-config: ${message}\nusage: npm run fuzz:config -- SECONDS [--seed N] [--budget-ms MS] [--out DIR] [--no-cli]\n`);
  process.exit(2);
}

/** Special files env_file entries may name, made once per run in `dir`. */
function makeFixtures(dir) {
  writeFileSync(path.join(dir, 'ok.env'), 'A=1\nB="two"\n');
  writeFileSync(path.join(dir, 'proto.env'), '__proto__=x\nA=1\n');
  writeFileSync(path.join(dir, 'big.env'), `A=${'x'.repeat(2 * 1024 * 1024)}\n`);
  writeFileSync(path.join(dir, 'binary.env'), Buffer.from([0xff, 0xfe, 0, 0x41, 0x3d, 0x0a, 0xc3]));
  execFileSync('mkfifo', [path.join(dir, 'fifo.env')]);
  mkdirSync(path.join(dir, 'dir.env'));
  symlinkSync('loop-b.env', path.join(dir, 'loop-a.env'));
  symlinkSync('loop-a.env', path.join(dir, 'loop-b.env'));
  symlinkSync('/dev/zero', path.join(dir, 'zero.env'));
  const envFiles = ['ok.env', 'proto.env', 'big.env', 'binary.env', 'fifo.env', 'dir.env', 'loop-a.env', 'zero.env', 'missing.env'];
  return { envFiles, specialConfigs: ['fifo.env', 'dir.env', 'zero.env', 'loop-a.env', 'big.env'].map((name) => path.join(dir, name)) };
}

/** examples/**\/drover.yaml and the config test fixtures: the seeds mutations start from. */
function readSeeds() {
  const seeds = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory() && entry.name !== 'node_modules') walk(full);
      else if (entry.isFile() && /^drover\.(yaml|yml|json)$/.test(entry.name)) seeds.push(readFileSync(full, 'utf8'));
    }
  };
  walk(path.join(ROOT, 'examples'));
  const fixtures = path.join(ROOT, 'test', 'config', 'fixtures');
  if (existsSync(fixtures)) for (const name of readdirSync(fixtures)) if (/\.(yaml|json)$/.test(name)) seeds.push(readFileSync(path.join(fixtures, name), 'utf8'));
  return seeds;
}

/** The in-process worker, restarted after a hang or a crash. */
class Loader {
  constructor(budgetMs) {
    this.budgetMs = budgetMs;
    this.nextId = 0;
    this.peakHeap = 0;
    /** Workers given up on whose termination has not completed. */
    this.stuck = 0;
    this.start();
  }

  start() {
    this.worker = new Worker(fileURLToPath(import.meta.url), {
      workerData: { role: 'loader' },
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB, maxYoungGenerationSizeMb: 32 },
      stdout: true,
      stderr: true,
    });
    this.worker.stdout.resume();
    this.worker.stderr.resume();
    this.pending = null;
    this.ready = new Promise((resolve, reject) => {
      const onMessage = (message) => {
        if (message.ready) {
          this.worker.off('error', reject);
          resolve();
        }
      };
      this.worker.on('message', onMessage);
      this.worker.once('error', reject);
    });
    this.worker.on('message', (message) => {
      if (message.ready || this.pending === null || message.id !== this.pending.id) return;
      const { resolve, timer } = this.pending;
      clearTimeout(timer);
      this.pending = null;
      this.peakHeap = Math.max(this.peakHeap, message.heapUsed);
      resolve(message);
    });
    this.worker.on('error', (error) => this.fail(`worker died: ${error.code ?? ''} ${error.message}`));
    this.worker.on('exit', (code) => this.fail(`worker exited with code ${code}`));
  }

  fail(detail) {
    if (this.pending === null) return;
    const { resolve, timer } = this.pending;
    clearTimeout(timer);
    this.pending = null;
    resolve({ kind: 'failure', detail, ms: null });
    this.restart();
  }

  restart() {
    const old = this.worker;
    old.removeAllListeners('exit');
    old.removeAllListeners('error');
    old.on('error', () => {});
    // A worker blocked in a system call (an open(2) of a FIFO) cannot be terminated; it is left
    // behind, and the watchdog in main() ends the process if it holds up the exit.
    this.stuck += 1;
    void old.terminate().then(() => {
      this.stuck -= 1;
    });
    this.start();
  }

  async load(file) {
    await this.ready;
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending = null;
        resolve({ kind: 'failure', detail: `no answer within the ${this.budgetMs} ms budget (a hang)`, ms: null });
        this.restart();
      }, this.budgetMs);
      this.pending = { id, resolve, timer };
      this.worker.postMessage({ id, file });
    });
  }

  close() {
    this.worker.removeAllListeners('exit');
    return this.worker.terminate();
  }
}

/** One run of the real CLI on `file`: a failure detail, or null when every property held. */
function runCli(file, expected, budgetMs) {
  return new Promise((resolve) => {
    const child = spawn('prlimit', [`--data=${CLI_DATA_BYTES}`, process.execPath, CLI, 'validate', '-f', file], {
      env: { ...process.env, NO_COLOR: '1', DROVER_DEBUG: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      if (stdout.length < 65_536) stdout += d;
    });
    child.stderr.on('data', (d) => {
      if (stderr.length < 65_536) stderr += d;
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, budgetMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) return resolve(`CLI still running after ${budgetMs} ms`);
      if (code !== 0 && code !== 1) return resolve(`CLI exit ${code ?? signal}; stderr: ${stderr.slice(0, 2000)}`);
      if (STACK_LINE.test(stderr) || stderr.includes('this is a bug in drover')) return resolve(`CLI printed an internal error:\n${stderr.slice(0, 2000)}`);
      if (code === 0 && !stdout.includes(': valid (cluster ')) return resolve(`CLI exit 0 without "valid": ${stdout.slice(0, 500)}`);
      if (code === 1 && !stderr.includes(`drover: Invalid config ${file}:`) && !stderr.includes(`drover: Cannot read config ${file}: `)) {
        return resolve(`CLI exit 1 without naming the config: ${stderr.slice(0, 2000)}`);
      }
      if (expected !== null && (code === 0) !== (expected === 'valid')) return resolve(`CLI exit ${code} but in-process the input was ${expected}`);
      resolve(null);
    });
  });
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      seed: { type: 'string' },
      'budget-ms': { type: 'string', default: '10000' },
      out: { type: 'string', default: 'fuzz-config-failures' },
      'no-cli': { type: 'boolean', default: false },
    },
  });
  if (positionals.length !== 1) usage('give the duration in seconds');
  const seconds = Number(positionals[0]);
  const budgetMs = Number(values['budget-ms']);
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
  if (!(seconds > 0)) usage(`SECONDS must be a positive number, got ${positionals[0]}`);
  if (!(budgetMs > 0)) usage(`--budget-ms must be a positive number, got ${values['budget-ms']}`);
  if (!Number.isSafeInteger(seed)) usage(`--seed must be an integer, got ${values.seed}`);
  if (!existsSync(DIST_CONFIG) || !existsSync(CLI)) usage('dist/ is missing: run `npm run build:ts` first');

  const { createGenerators, createRandom, pickGenerator } = await import('./fuzz-config-inputs.mjs');
  const dir = mkdtempSync(path.join(tmpdir(), 'drover-fuzz-config-'));
  const fixtures = makeFixtures(dir);
  const generators = createGenerators(readSeeds(), fixtures);
  const outDir = path.resolve(values.out);
  const loader = new Loader(budgetMs);
  const counts = { inputs: 0, valid: 0, invalid: 0, failures: 0, cli: 0, cliFailures: 0 };
  const byGenerator = new Map(generators.map((g) => [g.name, { inputs: 0, valid: 0, invalid: 0, failures: 0, ms: 0, heap: 0 }]));
  let slowest = { ms: 0, generator: '' };
  let largestBytes = 0;
  let saved = 0;
  const failures = [];

  const save = (number, generator, content, detail) => {
    failures.push(`#${number} (${generator}): ${detail.split('\n')[0]}`);
    if (saved >= MAX_SAVED) return;
    saved += 1;
    mkdirSync(outDir, { recursive: true });
    const base = path.join(outDir, `input-${seed}-${number}`);
    writeFileSync(`${base}.yaml`, content);
    writeFileSync(`${base}.txt`, `seed ${seed}, input ${number}, generator ${generator}\nenv files named relatively are in ${dir} (see makeFixtures in scripts/fuzz-config.mjs)\n\n${detail}\n`);
  };

  process.stdout.write(`fuzz-config: ${seconds} s, seed ${seed}, budget ${budgetMs} ms per input, worker heap ${WORKER_HEAP_MB} MB${values['no-cli'] ? '' : ', CLI sample under prlimit --data=1GiB'}\n`);
  const deadline = Date.now() + seconds * 1000;
  let cliRun = Promise.resolve();
  let cliBusy = false;

  /** Input `number`, generated while the worker loads the one before. */
  const generate = (number) => {
    const random = createRandom(seed + number * 7919);
    const generator = pickGenerator(random, generators);
    const content = generator.make(random);
    const special = generator.name === 'special-files' && random.chance(0.2);
    return { random, generator, content, special, file: special ? random.pick(fixtures.specialConfigs) : path.join(dir, `input-${number % 4}.yaml`) };
  };
  let upcoming = generate(0);
  for (let number = 0; Date.now() < deadline; number += 1) {
    const { generator, special, file } = upcoming;
    let { content } = upcoming;
    if (!special) writeFileSync(file, content);
    else content = `(the config file itself is ${file})`;
    largestBytes = Math.max(largestBytes, typeof content === 'string' ? Buffer.byteLength(content) : content.length);
    const stats = byGenerator.get(generator.name);
    const loading = loader.load(file);
    upcoming = generate(number + 1);
    const result = await loading;
    counts.inputs += 1;
    stats.inputs += 1;
    if (result.ms !== null && result.ms > slowest.ms) slowest = { ms: result.ms, generator: generator.name };
    stats.ms += result.ms ?? budgetMs;
    stats.heap = Math.max(stats.heap, result.heapUsed ?? 0);
    if (result.kind === 'failure') {
      counts.failures += 1;
      stats.failures += 1;
      save(number, generator.name, content, result.detail);
    } else {
      counts[result.kind] += 1;
      stats[result.kind] += 1;
    }
    // The CLI sample: the latest input whenever the previous CLI run is done.
    if (!values['no-cli'] && !cliBusy) {
      const cliFile = path.join(dir, special ? path.basename(file) : 'cli-input.yaml');
      if (!special) writeFileSync(cliFile, content);
      const target = special ? file : cliFile;
      const expected = result.kind === 'failure' ? null : result.kind;
      cliBusy = true;
      cliRun = runCli(target, expected, budgetMs + CLI_EXTRA_MS).then((detail) => {
        counts.cli += 1;
        if (detail !== null) {
          counts.cliFailures += 1;
          counts.failures += 1;
          save(number, `${generator.name} (CLI)`, content, detail);
        }
        cliBusy = false;
      });
    }
  }
  await cliRun;
  const stuck = loader.stuck;
  if (stuck === 0) await loader.close();
  rmSync(dir, { recursive: true, force: true });

  process.stdout.write(
    `fuzz-config: ${counts.inputs} inputs in-process (${counts.valid} valid, ${counts.invalid} invalid), ${counts.cli} through the CLI; ${counts.failures} failures\n`,
  );
  for (const [name, s] of byGenerator) {
    const average = s.inputs === 0 ? 0 : s.ms / s.inputs;
    process.stdout.write(
      `  ${name.padEnd(16)} ${String(s.inputs).padStart(6)} inputs  ${String(s.valid).padStart(5)} valid  ${String(s.invalid).padStart(6)} invalid  ${s.failures} failures  ${average.toFixed(1).padStart(7)} ms avg  heap ≤ ${(s.heap / 1024 ** 2).toFixed(0)} MB\n`,
    );
  }
  process.stdout.write(`  slowest input ${slowest.ms.toFixed(0)} ms (${slowest.generator}); largest ${(largestBytes / 1024).toFixed(0)} KiB; peak worker heap ${(loader.peakHeap / 1024 ** 2).toFixed(0)} MB\n`);
  if (failures.length > 0) {
    for (const line of failures.slice(0, 20)) process.stdout.write(`  FAIL ${line}\n`);
    process.stdout.write(`fuzz-config: ${counts.failures} failures; inputs saved in ${outDir} (seed ${seed})\n`);
    process.exitCode = 1;
  }
  if (stuck > 0) {
    // Node's exit would wait for those workers forever.
    process.stdout.write(`fuzz-config: ${stuck} worker(s) stuck in a system call; ending with SIGKILL\n`, () => process.kill(process.pid, 'SIGKILL'));
  }
}

if (isMainThread) {
  await main();
} else if (workerData?.role === 'loader') {
  await runWorker();
}
