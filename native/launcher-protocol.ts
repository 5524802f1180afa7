/**
 * TypeScript mirror of `shepherd/launcher-protocol.h` (manager <-> launcher). Keep the two in step;
 * `test/native/launcher.test.ts` checks the constants against the header.
 */
export const LAUNCHER_PROTOCOL_VERSION = 1;
export const LAUNCHER_CONTROL_FD = 3;
export const LAUNCHER_HEADER_SIZE = 8;
export const LMSG_LAUNCH = 1;
export const LMSG_LAUNCHED = 16;
export const LMSG_LAUNCH_FAILED = 17;
export const LAUNCH_PAYLOAD_SIZE = 4;
export const LAUNCHED_PAYLOAD_SIZE = 8;
export const LAUNCH_FAILED_PAYLOAD_SIZE = 8;
export const LAUNCHER_EXIT_INTERNAL = 70;

export type LauncherMessage =
  | { readonly type: 'launched'; readonly id: number; readonly pid: number }
  | { readonly type: 'launch-failed'; readonly id: number; readonly errno: number };

/** Encodes LAUNCH for request `id` (u32). */
export function encodeLaunch(id: number): Buffer {
  if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) throw new RangeError(`request id ${id} outside 0..2^32-1`);
  const buf = Buffer.alloc(LAUNCHER_HEADER_SIZE + LAUNCH_PAYLOAD_SIZE);
  buf.writeUInt16LE(LAUNCHER_PROTOCOL_VERSION, 0);
  buf.writeUInt16LE(LMSG_LAUNCH, 2);
  buf.writeUInt32LE(LAUNCH_PAYLOAD_SIZE, 4);
  buf.writeUInt32LE(id, LAUNCHER_HEADER_SIZE);
  return buf;
}

/** Decodes one launcher record. Throws RangeError naming what was wrong. */
export function decodeLauncherMessage(buf: Buffer): LauncherMessage {
  if (buf.length < LAUNCHER_HEADER_SIZE) throw new RangeError(`record of ${buf.length} bytes is shorter than the header`);
  const version = buf.readUInt16LE(0);
  if (version !== LAUNCHER_PROTOCOL_VERSION) throw new RangeError(`launcher protocol version ${version}, expected ${LAUNCHER_PROTOCOL_VERSION}`);
  const type = buf.readUInt16LE(2);
  const length = buf.readUInt32LE(4);
  if (length !== buf.length - LAUNCHER_HEADER_SIZE) throw new RangeError(`header says ${length} payload bytes, record has ${buf.length - LAUNCHER_HEADER_SIZE}`);
  if (length !== 8) throw new RangeError(`payload of type ${type} is ${length} bytes, expected 8`);
  const id = buf.readUInt32LE(LAUNCHER_HEADER_SIZE);
  const value = buf.readInt32LE(LAUNCHER_HEADER_SIZE + 4);
  if (type === LMSG_LAUNCHED) return { type: 'launched', id, pid: value };
  if (type === LMSG_LAUNCH_FAILED) return { type: 'launch-failed', id, errno: value };
  throw new RangeError(`unknown launcher message type ${type}`);
}
