/**
 * Clock faults: a node's wall clock offset or sped up / slowed down at run time, through
 * libfaketime (LD_PRELOAD) in its timestamp-file mode. A node opts in with `clock: true`; each of
 * its runs then starts with libfaketime preloaded, reading a drover-owned file that
 * {@link NodeClock} rewrites (atomically, by rename) to change the time of the running processes.
 *
 * Only the wall clock (CLOCK_REALTIME: `Date.now()`, `date`, `gettimeofday`) is faked: the
 * monotonic clock stays real (FAKETIME_DONT_FAKE_MONOTONIC), so timers, timeouts and the
 * node's event loop keep real time. libfaketime rereads the file on every time call
 * (FAKETIME_NO_CACHE), so a change is seen at once, at the cost of a small file read per call.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { DroverError } from '../contract/errors.js';
import { endsRun, isRunningState } from '../contract/lifecycle.js';
import type { ClusterEvent, FaultRecord } from '../contract/types.js';
import type { FaultInjection } from './fault-registry.js';

/** Where libfaketime is looked for, after `DROVER_LIBFAKETIME` and dpkg's file lists. */
const KNOWN_LIBFAKETIME_DIRS = [
  '/usr/lib/x86_64-linux-gnu/faketime',
  '/usr/lib/aarch64-linux-gnu/faketime',
  '/usr/lib/arm-linux-gnueabihf/faketime',
  '/usr/lib/i386-linux-gnu/faketime',
  '/usr/lib/riscv64-linux-gnu/faketime',
  '/usr/lib64/faketime',
  '/usr/lib/faketime',
  '/usr/local/lib/faketime',
  '/usr/local/lib',
  '/opt/homebrew/lib/faketime',
];

const LIBRARY_NAME = 'libfaketime.so.1';
const DPKG_INFO_DIR = '/var/lib/dpkg/info';

/** The outcome of looking for libfaketime: its path, or why it was not found. */
export type LibfaketimeLookup = { readonly path: string } | { readonly path: null; readonly reason: string };

/**
 * Finds libfaketime.so.1: `DROVER_LIBFAKETIME` when set (a path that must exist), else the file
 * Debian's `libfaketime` package installed (dpkg's file lists, read without running dpkg), else
 * the first of a list of known directories. Never throws.
 */
export function findLibfaketime(env: Readonly<Record<string, string | undefined>> = process.env): LibfaketimeLookup {
  const override = env['DROVER_LIBFAKETIME'];
  if (override !== undefined && override !== '') {
    return existsSync(override) ? { path: override } : { path: null, reason: `DROVER_LIBFAKETIME=${override} does not exist` };
  }
  const packaged = findPackagedLibrary();
  if (packaged !== null && existsSync(packaged)) return { path: packaged };
  for (const dir of KNOWN_LIBFAKETIME_DIRS) {
    const path = join(dir, LIBRARY_NAME);
    if (existsSync(path)) return { path };
  }
  return {
    path: null,
    reason: `libfaketime is not installed (no ${LIBRARY_NAME} in dpkg's lists or in ${KNOWN_LIBFAKETIME_DIRS.join(', ')}); install Debian's libfaketime (apt-get install libfaketime) or set DROVER_LIBFAKETIME to its path`,
  };
}

/** The dpkg lookup's result (it reads a directory of thousands of files: once per process). */
let packagedLibrary: string | null | undefined;

/** The libfaketime.so.1 that Debian's package installed, from dpkg's file lists (without running dpkg). */
function findPackagedLibrary(): string | null {
  if (packagedLibrary !== undefined) return packagedLibrary;
  packagedLibrary = null;
  try {
    for (const entry of readdirSync(DPKG_INFO_DIR)) {
      if (!entry.startsWith('libfaketime') || !entry.endsWith('.list')) continue;
      const line = readFileSync(join(DPKG_INFO_DIR, entry), 'utf8')
        .split('\n')
        .find((l) => l.endsWith(`/${LIBRARY_NAME}`));
      if (line !== undefined) {
        packagedLibrary = line;
        break;
      }
    }
  } catch {
    // No dpkg on this system: the known directories are tried instead.
  }
  return packagedLibrary;
}

/** How an executable is linked, as far as preloading a library is concerned. */
export type ExecutableLinking =
  | { readonly kind: 'dynamic'; readonly path: string }
  | { readonly kind: 'static' | 'not-elf' | 'missing'; readonly path: string };

/** `name` resolved like execvp(3): a path containing `/` relative to `cwd`, else the first match in `PATH`. */
export function resolveExecutable(name: string, cwd: string, path: string | undefined): string | null {
  if (name.includes('/')) return isAbsolute(name) ? name : resolve(cwd, name);
  for (const dir of (path ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter)) {
    if (dir === '') continue;
    const candidate = resolve(cwd, dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

const PT_INTERP = 3;

/**
 * Whether the executable at `path` is dynamically linked (an ELF with a PT_INTERP program header,
 * so the dynamic loader honours LD_PRELOAD). A `#!` script is judged by its interpreter (through
 * `/usr/bin/env name` too), following at most 4 levels.
 */
export async function getExecutableLinking(path: string, searchPath: string | undefined, cwd: string, depth = 0): Promise<ExecutableLinking> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch {
    return { kind: 'missing', path };
  }
  try {
    const header = Buffer.alloc(256);
    const { bytesRead } = await handle.read(header, 0, header.length, 0);
    if (bytesRead >= 2 && header[0] === 0x23 && header[1] === 0x21 && depth < 4) {
      // `#!interpreter [arg]`: the kernel runs the interpreter, so its linking is what counts.
      const line = header.subarray(2, bytesRead).toString('latin1').split('\n')[0]!.trim();
      const [interpreter = '', argument] = line.split(/\s+/);
      const target = interpreter.endsWith('/env') && argument !== undefined ? resolveExecutable(argument, cwd, searchPath) : interpreter;
      if (target === null || target === '') return { kind: 'missing', path: `${path} (interpreter ${line})` };
      return await getExecutableLinking(target, searchPath, cwd, depth + 1);
    }
    if (bytesRead < 52 || header.readUInt32BE(0) !== 0x7f454c46) return { kind: 'not-elf', path };
    const is64 = header[4] === 2;
    const little = header[5] === 1;
    const u16 = (offset: number) => (little ? header.readUInt16LE(offset) : header.readUInt16BE(offset));
    const u32 = (buffer: Buffer, offset: number) => (little ? buffer.readUInt32LE(offset) : buffer.readUInt32BE(offset));
    const phoff = is64 ? Number(little ? header.readBigUInt64LE(32) : header.readBigUInt64BE(32)) : u32(header, 28);
    const phentsize = u16(is64 ? 54 : 42);
    const phnum = u16(is64 ? 56 : 44);
    if (phnum === 0 || phentsize < 4 || phnum * phentsize > 65536) return { kind: 'static', path };
    const table = Buffer.alloc(phnum * phentsize);
    const read = await handle.read(table, 0, table.length, phoff);
    for (let i = 0; i + 4 <= read.bytesRead && i < table.length; i += phentsize) {
      if (u32(table, i) === PT_INTERP) return { kind: 'dynamic', path };
    }
    return { kind: 'static', path };
  } finally {
    await handle.close();
  }
}

const OFFSET_PATTERN = /^([+-]?)(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h|d)$/;
const MS_PER_UNIT: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** The largest clock offset accepted, ms (±10 years). */
export const MAX_CLOCK_OFFSET_MS = 10 * 365 * 86_400_000;
/** Accepted clock rates: the wall clock runs this many times real speed. */
export const MIN_CLOCK_RATE = 0.001;
export const MAX_CLOCK_RATE = 1000;

/**
 * A clock offset in ms: a number of ms, or a string `[+|-]<number><unit>` with unit ms, s, m, h
 * or d (`'+90s'`, `'-1.5h'`, `'250ms'`).
 * @throws {DroverError} ERR_INVALID_OPTION naming the bad value.
 */
export function parseClockOffset(offset: string | number): number {
  let ms: number;
  if (typeof offset === 'number') {
    ms = offset;
  } else {
    const match = OFFSET_PATTERN.exec(offset.trim());
    if (match === null) {
      throw new DroverError('ERR_INVALID_OPTION', `clock offset ${JSON.stringify(offset)} is not an offset: expected a signed duration like "+90s", "-1.5m", "250ms", "2h" or "1d", or a number of ms`, { reason: 'invalid-offset' });
    }
    ms = (match[1] === '-' ? -1 : 1) * Number(match[2]) * MS_PER_UNIT[match[3]!]!;
  }
  if (!Number.isFinite(ms) || Math.abs(ms) > MAX_CLOCK_OFFSET_MS) {
    throw new DroverError('ERR_INVALID_OPTION', `clock offset ${String(offset)} is out of range: expected at most ±${MAX_CLOCK_OFFSET_MS} ms (10 years)`, { reason: 'invalid-offset' });
  }
  return ms;
}

/** `ms` as people read an offset: `+90s`, `-1.5m`, `+250ms`. */
export function formatClockOffset(ms: number): string {
  const sign = ms < 0 ? '-' : '+';
  const abs = Math.abs(ms);
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1_000]] as const) {
    if (abs >= size && (abs % size === 0 || unit === 's')) return `${sign}${Number((abs / size).toFixed(3))}${unit}`;
  }
  return `${sign}${abs}ms`;
}

/** Validates a clock rate. @throws {DroverError} ERR_INVALID_OPTION */
export function validateClockRate(rate: number): number {
  if (typeof rate !== 'number' || !Number.isFinite(rate) || rate < MIN_CLOCK_RATE || rate > MAX_CLOCK_RATE) {
    throw new DroverError('ERR_INVALID_OPTION', `clock rate ${String(rate)} is out of range: expected a number from ${MIN_CLOCK_RATE} to ${MAX_CLOCK_RATE} (1 = real speed, 2 = twice as fast)`, { reason: 'invalid-rate' });
  }
  return rate;
}

/** A node's skewed wall clock: `read(t) = t + skewMs + (t - anchorMs) × (rate - 1)`. */
export interface ClockState {
  /** Offset from real time at `anchorMs`, ms. */
  readonly skewMs: number;
  /** Speed of the node's wall clock relative to real time (1 = real). */
  readonly rate: number;
  /** Epoch ms (real) the skew was measured at. */
  readonly anchorMs: number;
}

const REAL_CLOCK: ClockState = { skewMs: 0, rate: 1, anchorMs: 0 };

/** The node's wall-clock reading at real time `t` (epoch ms). */
export function readSkewedClock(state: ClockState, t: number): number {
  return t + state.skewMs + (t - state.anchorMs) * (state.rate - 1);
}

/**
 * The line libfaketime reads from the timestamp file for a process that started at `runStartMs`.
 * libfaketime computes `fake(t) = start + (t - start) × rate + offset`, with `start` the process's
 * start, so the offset that makes it equal {@link readSkewedClock} is
 * `skew + (start - anchor) × (rate - 1)`.
 */
export function faketimeSpec(state: ClockState, runStartMs: number): string {
  const offsetMs = state.skewMs + (runStartMs - state.anchorMs) * (state.rate - 1);
  const seconds = (offsetMs / 1000).toFixed(3);
  const signed = offsetMs < 0 ? seconds : `+${seconds}`;
  // The rate is always written: libfaketime keeps the previous rate when a line has none.
  return `${signed} x${state.rate}\n`;
}

/** What a {@link NodeClock} needs from its node and cluster. */
export interface NodeClockOptions {
  /** The replica's label (`a`, `b[1]`): the fault's node. */
  readonly label: string;
  /** Whether the node opted in (`clock: true`). */
  readonly enabled: boolean;
  /** The node's resolved command, cwd and env (the command's linking is checked at the first fault). */
  readonly command: () => { readonly argv: readonly string[]; readonly cwd: string; readonly env: Readonly<Record<string, string>> };
  /** The cluster's directory for timestamp files, created on first use. */
  readonly directory: () => string;
  /** Registers an injected fault (the cluster's fault registry). */
  readonly addFault: (injection: FaultInjection) => FaultRecord;
  /** Heals a registered fault by id (the cluster's fault registry). */
  readonly healFault: (id: string) => Promise<void>;
  /** Ends a registered fault without running its heal action. */
  readonly forgetFault: (id: string) => void;
  /** Epoch-ms clock. @default Date.now */
  readonly clock?: () => number;
  /** Finds libfaketime. @default findLibfaketime */
  readonly findLibrary?: () => LibfaketimeLookup;
}

/**
 * The wall clock of one node replica (`node.clock`). Needs `clock: true` on the node. Every
 * change is a `clock` fault in the cluster's registry (healed by `reset()`, `healFaults()` or
 * `drover fault heal`), published as a `fault` event.
 */
export class NodeClock {
  private state: ClockState = REAL_CLOCK;
  /** Start (epoch ms) of the current run, as libfaketime counts from it. */
  private runStartMs = 0;
  private fileName: string | null = null;
  private faultId: string | null = null;
  /** Whether the current run started with libfaketime preloaded; null before the first run. */
  private isRunPreloaded: boolean | null = null;
  /** Pids of runs started with libfaketime whose shared memory may still be in /dev/shm. */
  private readonly preloadedPids = new Set<number>();
  private readonly now: () => number;

  /** @internal Created by `Cluster` only. */
  constructor(private readonly options: NodeClockOptions) {
    this.now = options.clock ?? Date.now;
  }

  /** Whether the node's processes run with libfaketime (the node has `clock: true` and it was found). */
  get enabled(): boolean {
    return this.options.enabled;
  }

  /** The node's clock now: `skewMs` ahead of real time (negative: behind), running `rate` times real speed. */
  current(): { readonly skewMs: number; readonly rate: number } {
    const now = this.now();
    return { skewMs: readSkewedClock(this.state, now) - now, rate: this.state.rate };
  }

  /**
   * Sets the node's wall clock `offset` ahead of (or, negative, behind) real time, at once, in
   * its running processes and in every later run. The rate stays as it is.
   * @param offset ms, or `'+90s'`, `'-1.5m'`, `'2h'`, `'1d'`.
   * @param options.by who asked (the fault's `by`). @default 'api'
   * @returns the `clock` fault record.
   * @throws {DroverError} ERR_INVALID_OPTION for a bad offset; ERR_UNSUPPORTED when the node has
   *   no `clock: true`, libfaketime is missing, or the node's program is statically linked.
   */
  async offset(offset: string | number, options: { by?: string } = {}): Promise<FaultRecord> {
    const skewMs = parseClockOffset(offset);
    await this.requireSupported();
    return this.change({ skewMs, rate: this.state.rate, anchorMs: this.now() }, options.by);
  }

  /**
   * Makes the node's wall clock run `rate` times real speed from now on, continuing from its
   * current reading (no jump). Processes the node's command starts later count from their own
   * start, so their clocks may differ from the main process's by their age × (rate − 1).
   * @param rate from 0.001 to 1000 (1 = real speed, 2 = twice as fast).
   * @throws {DroverError} ERR_INVALID_OPTION, ERR_UNSUPPORTED (see {@link NodeClock.offset}).
   */
  async rate(rate: number, options: { by?: string } = {}): Promise<FaultRecord> {
    validateClockRate(rate);
    await this.requireSupported();
    const now = this.now();
    return this.change({ skewMs: readSkewedClock(this.state, now) - now, rate, anchorMs: now }, options.by);
  }

  /**
   * Sets offset and rate together as one fault: the clock reads `offset` ahead of real time now
   * and runs `rate` times real speed from now on. Either may be left out (kept as it is).
   * @throws {DroverError} ERR_INVALID_OPTION, ERR_UNSUPPORTED (see {@link NodeClock.offset}).
   */
  async set(options: { offset?: string | number; rate?: number; by?: string }): Promise<FaultRecord> {
    const now = this.now();
    const skewMs = options.offset === undefined ? readSkewedClock(this.state, now) - now : parseClockOffset(options.offset);
    const rate = options.rate === undefined ? this.state.rate : validateClockRate(options.rate);
    await this.requireSupported();
    return this.change({ skewMs, rate, anchorMs: this.now() }, options.by);
  }

  /** Puts the node's clock back to real time (heals its `clock` fault); no-op when not skewed. */
  async reset(): Promise<void> {
    if (this.faultId !== null) await this.options.healFault(this.faultId);
    else this.apply(REAL_CLOCK);
  }

  /**
   * The extra environment of a run that starts now (LD_PRELOAD and libfaketime's settings), or
   * undefined when the node has no `clock: true` or libfaketime is missing. Writes the timestamp
   * file first, so the run starts with the current skew.
   * @internal
   */
  spawnEnvironment(inherited: Readonly<Record<string, string>>): Record<string, string> | undefined {
    if (!this.options.enabled) return undefined;
    const library = (this.options.findLibrary ?? findLibfaketime)();
    this.isRunPreloaded = library.path !== null;
    if (library.path === null) return undefined;
    this.runStartMs = this.now();
    this.fileName ??= join(this.options.directory(), `${this.options.label.replace(/[^A-Za-z0-9_.-]/g, '_')}.faketime`);
    this.writeFile();
    const preload = inherited['LD_PRELOAD'] ?? process.env['LD_PRELOAD'];
    return {
      LD_PRELOAD: preload === undefined || preload === '' ? library.path : `${library.path}:${preload}`,
      FAKETIME_TIMESTAMP_FILE: this.fileName,
      FAKETIME_NO_CACHE: '1',
      FAKETIME_DONT_FAKE_MONOTONIC: '1',
      // Honoured by newer libfaketime versions; 0.9.10 makes shared memory anyway (see observe()).
      FAKETIME_DISABLE_SHM: '1',
    };
  }

  /**
   * Follows the replica's state events: libfaketime creates POSIX shared memory and a semaphore
   * named by the pid of the run's process (its children attach to them) and removes them only on
   * a clean exit, so once a run has ended — stopped, killed, crashed — drover removes them.
   * @internal
   */
  observe(event: ClusterEvent): void {
    if (event.type !== 'state' || this.isRunPreloaded !== true) return;
    if (event.pid !== null && isRunningState(event.to)) this.preloadedPids.add(event.pid);
    if (event.exit !== undefined || endsRun(event.to)) this.removeSharedMemory();
  }

  /** Removes the shared memory of every ended run (also at cluster stop). @internal */
  removeSharedMemory(): void {
    for (const pid of this.preloadedPids) {
      for (const name of [`/dev/shm/faketime_shm_${pid}`, `/dev/shm/sem.faketime_sem_${pid}`]) {
        try {
          unlinkSync(name);
        } catch {
          // Already removed (a clean exit) or not made (no /dev/shm).
        }
      }
    }
    this.preloadedPids.clear();
  }

  private async requireSupported(): Promise<void> {
    const { label } = this.options;
    if (!this.options.enabled) {
      throw new DroverError('ERR_UNSUPPORTED', `node ${label} has no clock faults: set "clock: true" on the node (its processes then run with libfaketime preloaded) and restart it`, { node: label });
    }
    const library = (this.options.findLibrary ?? findLibfaketime)();
    if (library.path === null) throw new DroverError('ERR_UNSUPPORTED', `node ${label}: cannot fake its clock: ${library.reason}`, { node: label });
    if (this.isRunPreloaded === false) {
      throw new DroverError('ERR_UNSUPPORTED', `node ${label}: cannot fake its clock: its current run started without libfaketime (it was not installed then); restart the node`, { node: label });
    }
    const { argv, cwd, env } = this.options.command();
    const program = argv[0] ?? '';
    const searchPath = env['PATH'] ?? process.env['PATH'];
    const resolved = resolveExecutable(program, cwd, searchPath);
    if (resolved === null) throw new DroverError('ERR_UNSUPPORTED', `node ${label}: cannot fake its clock: its program ${JSON.stringify(program)} is not in PATH`, { node: label });
    const linking = await getExecutableLinking(resolved, searchPath, cwd);
    if (linking.kind !== 'dynamic') {
      const why = linking.kind === 'static' ? 'is statically linked (an ELF without PT_INTERP), so LD_PRELOAD cannot load libfaketime into it' : linking.kind === 'not-elf' ? 'is not an ELF executable' : 'cannot be read';
      throw new DroverError('ERR_UNSUPPORTED', `node ${label}: cannot fake its clock: ${linking.path} ${why}`, { node: label, path: linking.path });
    }
  }

  private change(state: ClockState, by: string | undefined): FaultRecord {
    const previous = this.faultId;
    this.apply(state);
    if (previous !== null) this.options.forgetFault(previous);
    this.faultId = null;
    const parts = [`clock ${formatClockOffset(Math.round(state.skewMs))}`];
    if (state.rate !== 1) parts.push(`×${state.rate}`);
    const record = this.options.addFault({
      kind: 'clock',
      nodes: [this.options.label],
      detail: parts.join(' '),
      ...(by === undefined ? {} : { by }),
      heal: () => {
        this.faultId = null;
        this.apply(REAL_CLOCK);
      },
    });
    this.faultId = record.id;
    return record;
  }

  private apply(state: ClockState): void {
    this.state = state;
    this.writeFile();
  }

  /** Replaces the timestamp file atomically (libfaketime may read it at any moment). */
  private writeFile(): void {
    if (this.fileName === null) return; // no run yet: the first spawn writes it
    const temporary = `${this.fileName}.tmp`;
    try {
      writeFileSync(temporary, faketimeSpec(this.state, this.runStartMs));
      renameSync(temporary, this.fileName);
    } catch (error) {
      // The cluster's directory is gone once it stopped: nothing runs that could read the file.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}

/** A lazily created temp directory for a cluster's timestamp files, removed by `remove()`. */
export class ClockDirectory {
  private path: string | null = null;

  /** The directory, created (mode 0700) on first call. */
  get(): string {
    this.path ??= mkdtempSync(join(tmpdir(), 'drover-clock-'));
    return this.path;
  }

  /** Removes the directory and its files, if it was created. */
  remove(): void {
    if (this.path === null) return;
    rmSync(this.path, { recursive: true, force: true });
    this.path = null;
  }
}
