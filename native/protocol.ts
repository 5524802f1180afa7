/**
 * TypeScript mirror of `shepherd/protocol.h` (the one specification of the wire format). Keep the
 * two in step; `test/native/protocol.test.ts` checks the constants against the header.
 */
import { constants as osConstants } from 'node:os';

export const PROTOCOL_VERSION = 1;
export const SHEPHERD_CONTROL_FD = 3;
export const PROTOCOL_HEADER_SIZE = 8;
export const PROTOCOL_MAX_MESSAGE = 192 * 1024;
export const SHEPHERD_MAX_ARGS = 4096;
export const SHEPHERD_MAX_SIGNAL = 64;

export const MSG_SPAWN = 1;
export const MSG_SIGNAL = 2;
export const MSG_STOP = 3;
export const MSG_STARTED = 16;
export const MSG_EXEC_FAILED = 17;
export const MSG_EXITED = 18;
export const MSG_ERROR = 19;

export const STDIO_PIPE = 0;
export const STDIO_NULL = 1;
export const SCOPE_LEADER = 0;
export const SCOPE_GROUP = 1;
export const STAGE_EXEC = 0;
export const STAGE_CHDIR = 1;
export const STAGE_SETUP = 2;

export const STARTED_PAYLOAD_SIZE = 12;
export const EXEC_FAILED_PAYLOAD_SIZE = 8;
export const EXITED_PAYLOAD_SIZE = 68;
export const SIGNAL_PAYLOAD_SIZE = 5;
export const STOP_PAYLOAD_SIZE = 8;
export const SHEPHERD_EXIT_INTERNAL = 70;

export type StdioMode = typeof STDIO_PIPE | typeof STDIO_NULL;

export interface SpawnMessage {
  readonly stdio: readonly [StdioMode, StdioMode, StdioMode];
  readonly killGraceMs: number;
  readonly cwd: string;
  readonly argv: readonly string[];
  /** `KEY=VALUE` entries: the child's whole environment. */
  readonly env: readonly string[];
}

export type ShepherdMessage =
  | { readonly type: 'started'; readonly pid: number; readonly pgid: number; readonly fdMask: number }
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
  | { readonly type: 'error'; readonly errno: number; readonly message: string };

function header(type: number, payloadLength: number): Buffer {
  const buf = Buffer.alloc(PROTOCOL_HEADER_SIZE + payloadLength);
  buf.writeUInt16LE(PROTOCOL_VERSION, 0);
  buf.writeUInt16LE(type, 2);
  buf.writeUInt32LE(payloadLength, 4);
  return buf;
}

/** Encodes SPAWN. Throws RangeError when a string holds NUL or the record exceeds the maximum. */
export function encodeSpawn(message: SpawnMessage): Buffer {
  const strings = [message.cwd, ...message.argv, ...message.env].map((s) => {
    if (s.includes('\0')) throw new RangeError(`string contains NUL: ${JSON.stringify(s.slice(0, 40))}`);
    return Buffer.from(s, 'utf8');
  });
  if (message.argv.length < 1 || message.argv.length > SHEPHERD_MAX_ARGS || message.env.length > SHEPHERD_MAX_ARGS) {
    throw new RangeError(`argv (${message.argv.length}) or env (${message.env.length}) count out of range`);
  }
  const payloadLength = 16 + strings.reduce((sum, s) => sum + 4 + s.length, 0);
  if (PROTOCOL_HEADER_SIZE + payloadLength > PROTOCOL_MAX_MESSAGE) {
    throw new RangeError(
      `argv and env take ${PROTOCOL_HEADER_SIZE + payloadLength} bytes, more than the ${PROTOCOL_MAX_MESSAGE}-byte SPAWN maximum`,
    );
  }
  const buf = header(MSG_SPAWN, payloadLength);
  let o = PROTOCOL_HEADER_SIZE;
  buf.writeUInt8(message.stdio[0], o++);
  buf.writeUInt8(message.stdio[1], o++);
  buf.writeUInt8(message.stdio[2], o++);
  buf.writeUInt8(0, o++);
  buf.writeUInt32LE(Math.max(0, Math.min(0xffffffff, Math.round(message.killGraceMs))), o);
  o += 4;
  buf.writeUInt32LE(message.argv.length, o);
  o += 4;
  buf.writeUInt32LE(message.env.length, o);
  o += 4;
  for (const s of strings) {
    buf.writeUInt32LE(s.length, o);
    o += 4;
    s.copy(buf, o);
    o += s.length;
  }
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
    case MSG_STARTED:
      expect(STARTED_PAYLOAD_SIZE, 'STARTED');
      return { type: 'started', pid: p.readInt32LE(0), pgid: p.readInt32LE(4), fdMask: p.readUInt8(8) };
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
    default:
      throw new RangeError(`unknown message type ${type}`);
  }
}

/** Signal name → number on this platform (`SIGTERM` → 15). Throws RangeError for unknown names. */
export function getSignalNumber(name: string): number {
  const signo = (osConstants.signals as Record<string, number | undefined>)[name];
  if (signo === undefined) throw new RangeError(`unknown signal ${name}`);
  return signo;
}

/** Signal number → name (`9` → `SIGKILL`), or `SIG<n>` for numbers without a name. */
export function getSignalName(signo: number): string {
  for (const [name, value] of Object.entries(osConstants.signals)) {
    if (value === signo) return name;
  }
  return `SIG${signo}`;
}

/** errno number → name (`2` → `ENOENT`), or `E<n>`. */
export function getErrnoName(errno: number): string {
  for (const [name, value] of Object.entries(osConstants.errno)) {
    if (value === errno) return name;
  }
  return `E${errno}`;
}
