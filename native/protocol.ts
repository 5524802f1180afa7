/**
 * TypeScript mirror of `shepherd/protocol.h` (the one specification of the wire format). Keep the
 * two in step; `test/native/protocol.test.ts` checks the constants against the header.
 */
import { constants as osConstants } from 'node:os';

export const PROTOCOL_VERSION = 3;
export const SHEPHERD_CONTROL_FD = 3;
export const PROTOCOL_HEADER_SIZE = 8;
/** Largest record either side sends (bytes); a SPAWN payload spans several records. */
export const PROTOCOL_MAX_MESSAGE = 192 * 1024;
/** Largest SPAWN payload the shepherd reassembles (bytes): above Linux's largest ARG_MAX (6 MiB). */
export const SHEPHERD_MAX_SPAWN = 16 * 1024 * 1024;
/** Most argv + env entries (each string takes at least 4 bytes of the payload). */
export const SHEPHERD_MAX_ARGS = 4 * 1024 * 1024;
/** The u32 total length at the start of the first SPAWN record. */
export const SPAWN_TOTAL_SIZE = 4;
export const SHEPHERD_MAX_SIGNAL = 64;
/** Largest pipe size a SPAWN may request (bytes). */
export const SHEPHERD_MAX_PIPE_SIZE = 64 * 1024 * 1024;
/** Number of RLIMIT_* resources on Linux (0..15). */
export const SHEPHERD_MAX_RLIMITS = 16;
/** `u64` value meaning RLIM_INFINITY on the wire. */
export const SHEPHERD_RLIM_INFINITY = 0xffff_ffff_ffff_ffffn;
export const SHEPHERD_MAX_PATH = 4096;

export const MSG_SPAWN = 1;
export const MSG_SIGNAL = 2;
export const MSG_STOP = 3;
export const MSG_WINSIZE = 4;
export const MSG_SPAWN_MORE = 5;
export const MSG_FREEZE = 6;
export const MSG_STARTED = 16;
export const MSG_EXEC_FAILED = 17;
export const MSG_EXITED = 18;
export const MSG_ERROR = 19;
export const MSG_FROZEN = 20;

export const STDIO_PIPE = 0;
export const STDIO_NULL = 1;
export const SCOPE_LEADER = 0;
export const SCOPE_GROUP = 1;
export const STAGE_EXEC = 0;
export const STAGE_CHDIR = 1;
export const STAGE_SETUP = 2;
export const STAGE_RLIMIT = 3;
export const STAGE_CGROUP = 4;
export const STAGE_PTY = 5;
export const SPAWN_FLAG_PTY = 1;
export const STARTED_FLAG_PTY = 1;
export const STARTED_FLAG_CGROUP = 2;

export const STARTED_PAYLOAD_SIZE = 24;
export const EXEC_FAILED_PAYLOAD_SIZE = 8;
export const EXITED_PAYLOAD_SIZE = 68;
export const SIGNAL_PAYLOAD_SIZE = 5;
export const STOP_PAYLOAD_SIZE = 8;
export const WINSIZE_PAYLOAD_SIZE = 4;
export const FREEZE_PAYLOAD_SIZE = 1;
export const FROZEN_PAYLOAD_SIZE = 12;
/** How long the shepherd's FREEZE waits for every process of the tree to show stopped (ms). */
export const FREEZE_WAIT_MS = 2000;
export const RLIMIT_ENTRY_SIZE = 20;
export const SHEPHERD_EXIT_INTERNAL = 70;
/** `/proc/<pid>/comm` of a shepherd waiting for SPAWN (a launcher's spare), and after SPAWN. */
export const SHEPHERD_IDLE_NAME = 'shepherd-idle';
export const SHEPHERD_NAME = 'shepherd';

export type StdioMode = typeof STDIO_PIPE | typeof STDIO_NULL;

export interface SpawnMessage {
  readonly stdio: readonly [StdioMode, StdioMode, StdioMode];
  readonly killGraceMs: number;
  readonly cwd: string;
  readonly argv: readonly string[];
  /** `KEY=VALUE` entries: the child's whole environment. */
  readonly env: readonly string[];
  /** Bytes requested with F_SETPIPE_SZ for every pipe; 0 = kernel default. */
  readonly pipeSize?: number;
  /** Give the child a pty (stdin/stdout/stderr on its slave) with this window size. */
  readonly pty?: { readonly columns: number; readonly rows: number } | null;
  /** Absolute cgroup v2 directory the shepherd creates and the child joins before exec. */
  readonly cgroup?: string;
  /** setrlimit(2) entries: resource number and soft/hard (null = unlimited). */
  readonly rlimits?: readonly { readonly resource: number; readonly soft: number | null; readonly hard: number | null }[];
}

export type ShepherdMessage =
  | {
      readonly type: 'started';
      readonly pid: number;
      readonly pgid: number;
      readonly fdMask: number;
      readonly pty: boolean;
      readonly cgroup: boolean;
      /** F_GETPIPE_SZ of the stdin, stdout and stderr pipes (0: no pipe). */
      readonly pipeSizes: readonly [number, number, number];
    }
  | { readonly type: 'exec-failed'; readonly errno: number; readonly stage: number }
  | {
      readonly type: 'exited';
      readonly exitCode: number | null;
      readonly signal: number | null;
      readonly coreDumped: boolean;
      readonly forcedKill: boolean;
      readonly userCpuUs: number;
      readonly systemCpuUs: number;
      readonly maxRssKiB: number;
      readonly minorFaults: number;
      readonly majorFaults: number;
      readonly voluntaryContextSwitches: number;
      readonly involuntaryContextSwitches: number;
    }
  | { readonly type: 'error'; readonly errno: number; readonly message: string }
  | {
      readonly type: 'frozen';
      /** True answering a freeze, false a thaw. */
      readonly frozen: boolean;
      /** Processes of the tree the shepherd signalled. */
      readonly processes: number;
      /** Processes that did not show stopped within FREEZE_WAIT_MS (0 after a thaw). */
      readonly running: number;
    };

function header(type: number, payloadLength: number): Buffer {
  const buf = Buffer.alloc(PROTOCOL_HEADER_SIZE + payloadLength);
  buf.writeUInt16LE(PROTOCOL_VERSION, 0);
  buf.writeUInt16LE(type, 2);
  buf.writeUInt32LE(payloadLength, 4);
  return buf;
}

/**
 * Encodes the SPAWN payload (what the shepherd's parse_spawn parses once it has reassembled it).
 * @throws {RangeError} when a string holds NUL, a field is out of range, or the payload is larger
 *   than {@link SHEPHERD_MAX_SPAWN} (the message then says "maximum").
 */
export function encodeSpawnPayload(message: SpawnMessage): Buffer {
  const cgroup = message.cgroup ?? '';
  const strings = [message.cwd, cgroup, ...message.argv, ...message.env].map((s) => {
    if (s.includes('\0')) throw new RangeError(`string contains NUL: ${JSON.stringify(s.slice(0, 40))}`);
    return Buffer.from(s, 'utf8');
  });
  if (message.argv.length < 1 || message.argv.length > SHEPHERD_MAX_ARGS || message.env.length > SHEPHERD_MAX_ARGS) {
    throw new RangeError(`argv (${message.argv.length}) or env (${message.env.length}) count out of range`);
  }
  if (cgroup !== '' && (!cgroup.startsWith('/') || Buffer.byteLength(cgroup) >= SHEPHERD_MAX_PATH)) {
    throw new RangeError(`cgroup must be an absolute path shorter than ${SHEPHERD_MAX_PATH} bytes, got ${JSON.stringify(cgroup)}`);
  }
  const pipeSize = message.pipeSize ?? 0;
  if (!Number.isInteger(pipeSize) || pipeSize < 0 || pipeSize > SHEPHERD_MAX_PIPE_SIZE) {
    throw new RangeError(`pipe size ${pipeSize} outside 0..${SHEPHERD_MAX_PIPE_SIZE}`);
  }
  const pty = message.pty ?? null;
  if (pty !== null) validateWinsize(pty.columns, pty.rows);
  const rlimits = message.rlimits ?? [];
  if (rlimits.length > SHEPHERD_MAX_RLIMITS) throw new RangeError(`${rlimits.length} rlimits, at most ${SHEPHERD_MAX_RLIMITS}`);
  for (const { resource, soft, hard } of rlimits) {
    if (!Number.isInteger(resource) || resource < 0 || resource >= SHEPHERD_MAX_RLIMITS) {
      throw new RangeError(`rlimit resource ${resource} outside 0..${SHEPHERD_MAX_RLIMITS - 1}`);
    }
    for (const v of [soft, hard]) {
      if (v !== null && (!Number.isSafeInteger(v) || v < 0)) throw new RangeError(`rlimit value ${v} is not a non-negative integer`);
    }
    if (hard !== null && (soft === null || soft > hard)) throw new RangeError(`rlimit ${resource}: soft ${soft ?? 'unlimited'} above hard ${hard}`);
  }
  const payloadLength = 28 + strings.reduce((sum, s) => sum + 4 + s.length, 0) + rlimits.length * RLIMIT_ENTRY_SIZE;
  if (payloadLength > SHEPHERD_MAX_SPAWN) {
    throw new RangeError(`argv and env take ${payloadLength} bytes, more than the ${SHEPHERD_MAX_SPAWN}-byte SPAWN maximum (SHEPHERD_MAX_SPAWN)`);
  }
  const buf = Buffer.alloc(payloadLength);
  let o = 0;
  buf.writeUInt8(message.stdio[0], o++);
  buf.writeUInt8(message.stdio[1], o++);
  buf.writeUInt8(message.stdio[2], o++);
  buf.writeUInt8(pty !== null ? SPAWN_FLAG_PTY : 0, o++);
  buf.writeUInt32LE(Math.max(0, Math.min(0xffffffff, Math.round(message.killGraceMs))), o);
  o += 4;
  buf.writeUInt32LE(pipeSize, o);
  o += 4;
  buf.writeUInt16LE(pty?.columns ?? 0, o);
  buf.writeUInt16LE(pty?.rows ?? 0, o + 2);
  o += 4;
  buf.writeUInt32LE(message.argv.length, o);
  o += 4;
  buf.writeUInt32LE(message.env.length, o);
  o += 4;
  buf.writeUInt32LE(rlimits.length, o);
  o += 4;
  for (const s of strings) {
    buf.writeUInt32LE(s.length, o);
    o += 4;
    s.copy(buf, o);
    o += s.length;
  }
  for (const { resource, soft, hard } of rlimits) {
    buf.writeUInt32LE(resource, o);
    buf.writeBigUInt64LE(soft === null ? SHEPHERD_RLIM_INFINITY : BigInt(soft), o + 4);
    buf.writeBigUInt64LE(hard === null ? SHEPHERD_RLIM_INFINITY : BigInt(hard), o + 12);
    o += RLIMIT_ENTRY_SIZE;
  }
  return buf;
}

/**
 * Encodes SPAWN as the records that carry it: a SPAWN record with the payload's total length and
 * its first bytes, then SPAWN_MORE records with the rest, each record at most `recordSize` bytes
 * (default {@link PROTOCOL_MAX_MESSAGE}; smaller only in tests and fuzz seeds). A payload that
 * fits one record is one record.
 * @throws {RangeError} as {@link encodeSpawnPayload}, or for a `recordSize` below 16 or above
 *   PROTOCOL_MAX_MESSAGE.
 */
export function encodeSpawn(message: SpawnMessage, recordSize = PROTOCOL_MAX_MESSAGE): Buffer[] {
  if (!Number.isInteger(recordSize) || recordSize < 16 || recordSize > PROTOCOL_MAX_MESSAGE) {
    throw new RangeError(`record size ${recordSize} outside 16..${PROTOCOL_MAX_MESSAGE}`);
  }
  const payload = encodeSpawnPayload(message);
  const records: Buffer[] = [];
  const firstChunk = Math.min(payload.length, recordSize - PROTOCOL_HEADER_SIZE - SPAWN_TOTAL_SIZE);
  const first = header(MSG_SPAWN, SPAWN_TOTAL_SIZE + firstChunk);
  first.writeUInt32LE(payload.length, PROTOCOL_HEADER_SIZE);
  payload.copy(first, PROTOCOL_HEADER_SIZE + SPAWN_TOTAL_SIZE, 0, firstChunk);
  records.push(first);
  for (let o = firstChunk; o < payload.length; ) {
    const chunk = Math.min(payload.length - o, recordSize - PROTOCOL_HEADER_SIZE);
    const record = header(MSG_SPAWN_MORE, chunk);
    payload.copy(record, PROTOCOL_HEADER_SIZE, o, o + chunk);
    records.push(record);
    o += chunk;
  }
  return records;
}

function validateWinsize(columns: number, rows: number): void {
  for (const v of [columns, rows]) {
    if (!Number.isInteger(v) || v < 1 || v > 0xffff) throw new RangeError(`window size ${columns}x${rows}: each side must be 1..65535`);
  }
}

/** WINSIZE: TIOCSWINSZ on the child's pty. */
export function encodeWinsize(columns: number, rows: number): Buffer {
  validateWinsize(columns, rows);
  const buf = header(MSG_WINSIZE, WINSIZE_PAYLOAD_SIZE);
  buf.writeUInt16LE(columns, PROTOCOL_HEADER_SIZE);
  buf.writeUInt16LE(rows, PROTOCOL_HEADER_SIZE + 2);
  return buf;
}

function validateSignal(signo: number): void {
  if (!Number.isInteger(signo) || signo < 1 || signo > SHEPHERD_MAX_SIGNAL) {
    throw new RangeError(`signal number ${signo} outside 1..${SHEPHERD_MAX_SIGNAL}`);
  }
}

export function encodeSignal(signo: number, scope: typeof SCOPE_LEADER | typeof SCOPE_GROUP): Buffer {
  validateSignal(signo);
  const buf = header(MSG_SIGNAL, SIGNAL_PAYLOAD_SIZE);
  buf.writeInt32LE(signo, PROTOCOL_HEADER_SIZE);
  buf.writeUInt8(scope, PROTOCOL_HEADER_SIZE + 4);
  return buf;
}

export function encodeStop(signo: number, graceMs: number): Buffer {
  validateSignal(signo);
  const buf = header(MSG_STOP, STOP_PAYLOAD_SIZE);
  buf.writeInt32LE(signo, PROTOCOL_HEADER_SIZE);
  buf.writeUInt32LE(Math.max(0, Math.min(0xffffffff, Math.round(graceMs))), PROTOCOL_HEADER_SIZE + 4);
  return buf;
}

/** FREEZE: SIGSTOP (frozen) or SIGCONT (thawed) to the child's whole tree; answered by FROZEN. */
export function encodeFreeze(frozen: boolean): Buffer {
  const buf = header(MSG_FREEZE, FREEZE_PAYLOAD_SIZE);
  buf.writeUInt8(frozen ? 1 : 0, PROTOCOL_HEADER_SIZE);
  return buf;
}

/** Decodes one shepherd record. Throws RangeError naming what was wrong. */
export function decodeMessage(buf: Buffer): ShepherdMessage {
  if (buf.length < PROTOCOL_HEADER_SIZE) throw new RangeError(`record of ${buf.length} bytes is shorter than the header`);
  const version = buf.readUInt16LE(0);
  if (version !== PROTOCOL_VERSION) throw new RangeError(`protocol version ${version}, expected ${PROTOCOL_VERSION}`);
  const type = buf.readUInt16LE(2);
  const length = buf.readUInt32LE(4);
  if (length !== buf.length - PROTOCOL_HEADER_SIZE) {
    throw new RangeError(`header says ${length} payload bytes, record has ${buf.length - PROTOCOL_HEADER_SIZE}`);
  }
  const p = buf.subarray(PROTOCOL_HEADER_SIZE);
  const expect = (size: number, name: string) => {
    if (p.length !== size) throw new RangeError(`${name} payload is ${p.length} bytes, expected ${size}`);
  };
  switch (type) {
    case MSG_STARTED: {
      expect(STARTED_PAYLOAD_SIZE, 'STARTED');
      const pid = p.readInt32LE(0);
      const pgid = p.readInt32LE(4);
      // The manager signals this group itself when the shepherd is lost: only a real pid leading
      // its own group may get through (never 0, 1 or a negative number, which kill(2) reads as
      // "my group", "everything" or another group).
      if (pid < 2 || pgid !== pid) throw new RangeError(`STARTED names pid ${pid} in group ${pgid}: expected a pid above 1 that leads its own group`);
      return {
        type: 'started',
        pid,
        pgid,
        fdMask: p.readUInt8(8),
        pty: (p.readUInt8(9) & STARTED_FLAG_PTY) !== 0,
        cgroup: (p.readUInt8(9) & STARTED_FLAG_CGROUP) !== 0,
        pipeSizes: [p.readUInt32LE(12), p.readUInt32LE(16), p.readUInt32LE(20)],
      };
    }
    case MSG_EXEC_FAILED:
      expect(EXEC_FAILED_PAYLOAD_SIZE, 'EXEC_FAILED');
      return { type: 'exec-failed', errno: p.readInt32LE(0), stage: p.readUInt8(4) };
    case MSG_EXITED: {
      expect(EXITED_PAYLOAD_SIZE, 'EXITED');
      const code = p.readInt32LE(0);
      const signal = p.readInt32LE(4);
      const u64 = (o: number) => Number(p.readBigUInt64LE(o));
      return {
        type: 'exited',
        exitCode: signal === 0 ? code : null,
        signal: signal === 0 ? null : signal,
        coreDumped: p.readUInt8(8) !== 0,
        forcedKill: p.readUInt8(9) !== 0,
        userCpuUs: u64(12),
        systemCpuUs: u64(20),
        maxRssKiB: u64(28),
        minorFaults: u64(36),
        majorFaults: u64(44),
        voluntaryContextSwitches: u64(52),
        involuntaryContextSwitches: u64(60),
      };
    }
    case MSG_ERROR: {
      if (p.length < 8) throw new RangeError(`ERROR payload is ${p.length} bytes, expected at least 8`);
      const len = p.readUInt32LE(4);
      if (len !== p.length - 8) throw new RangeError('ERROR message length mismatch');
      return { type: 'error', errno: p.readInt32LE(0), message: p.toString('utf8', 8) };
    }
    case MSG_FROZEN:
      expect(FROZEN_PAYLOAD_SIZE, 'FROZEN');
      return { type: 'frozen', frozen: p.readUInt8(0) !== 0, processes: p.readUInt32LE(4), running: p.readUInt32LE(8) };
    default:
      throw new RangeError(`unknown message type ${type}`);
  }
}

export { getSignalName, getSignalNumber } from '../contract/signals.js';

/** errno number → name (`2` → `ENOENT`), or `E<n>`. */
export function getErrnoName(errno: number): string {
  for (const [name, value] of Object.entries(osConstants.errno)) {
    if (value === errno) return name;
  }
  return `E${errno}`;
}
