import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as protocol from '../../native/protocol.js';

const header = readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../shepherd/protocol.h'), 'utf8');

function getDefines(): Map<string, number> {
  const values = new Map<string, number>();
  // `#define NAME 42`, `#define NAME (192 * 1024)`, `#define NAME (16 * 1024 * 1024)`
  for (const match of header.matchAll(/^#define (\w+) \(?(\d+(?: \* \d+)*)\)?$/gm)) {
    values.set(match[1]!, match[2]!.split(' * ').reduce((product, factor) => product * Number(factor), 1));
  }
  for (const match of header.matchAll(/\b([A-Z_]+) = (\d+)/g)) values.set(match[1]!, Number(match[2]));
  return values;
}

describe('protocol mirror', () => {
  it('matches every constant of shepherd/protocol.h', () => {
    const defines = getDefines();
    expect(defines.size).toBeGreaterThan(20);
    expect(defines.get('SHEPHERD_MAX_SPAWN')).toBe(16 * 1024 * 1024);
    const ts = protocol as unknown as Record<string, unknown>;
    const missing: string[] = [];
    for (const [name, value] of defines) {
      if (name === 'DROVER_SHEPHERD_PROTOCOL_H') continue;
      if (ts[name] !== value) missing.push(`${name}: header ${value}, ts ${String(ts[name])}`);
    }
    expect(missing).toEqual([]);
  });

  it('round-trips SIGNAL and STOP and range-checks signals', () => {
    const stop = protocol.encodeStop(15, 2500);
    expect([...stop]).toEqual([3, 0, 3, 0, 8, 0, 0, 0, 15, 0, 0, 0, 0xc4, 0x09, 0, 0]);
    expect(() => protocol.encodeSignal(0, protocol.SCOPE_GROUP)).toThrow(RangeError);
    expect(() => protocol.encodeSignal(65, protocol.SCOPE_GROUP)).toThrow(RangeError);
  });

  it('encodes SPAWN with length-prefixed strings and refuses NUL and oversize', () => {
    const records = protocol.encodeSpawn({ stdio: [1, 0, 0], killGraceMs: 5, cwd: '/', argv: ['ab'], env: ['K=V'] });
    expect(records).toHaveLength(1);
    const buf = records[0]!;
    expect(buf.readUInt16LE(0)).toBe(3);
    expect(buf.readUInt16LE(2)).toBe(protocol.MSG_SPAWN);
    expect(buf.readUInt32LE(4)).toBe(buf.length - 8);
    // the payload's total length, then the payload
    expect(buf.readUInt32LE(8)).toBe(buf.length - 12);
    // modes, flags, grace 5, pipe size 0, pty 0x0, argc 1, envc 1, rlimits 0
    expect(buf.subarray(12, 40)).toEqual(Buffer.from([1, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]));
    // cwd "/", cgroup "", argv "ab", env "K=V"
    expect(buf.subarray(40)).toEqual(Buffer.from([1, 0, 0, 0, 0x2f, 0, 0, 0, 0, 2, 0, 0, 0, 0x61, 0x62, 3, 0, 0, 0, 0x4b, 0x3d, 0x56]));
    expect(buf.subarray(12)).toEqual(protocol.encodeSpawnPayload({ stdio: [1, 0, 0], killGraceMs: 5, cwd: '/', argv: ['ab'], env: ['K=V'] }));
    expect(() => protocol.encodeSpawn({ stdio: [1, 0, 0], killGraceMs: 0, cwd: '', argv: ['a\0b'], env: [] })).toThrow(/NUL/);
    // Beyond the reassembly cap (and every execve's ARG_MAX); 16 MiB in one string is enough.
    expect(() => protocol.encodeSpawn({ stdio: [1, 0, 0], killGraceMs: 0, cwd: '', argv: ['x'.repeat(protocol.SHEPHERD_MAX_SPAWN)], env: [] })).toThrow(/maximum/);
  });

  it('splits a SPAWN larger than one record into SPAWN + SPAWN_MORE records that reassemble to the payload', () => {
    const message = { stdio: [1, 0, 0] as const, killGraceMs: 5, cwd: '/tmp', argv: ['node', 'x'.repeat(500_000)], env: ['A=' + 'y'.repeat(300_000)] };
    const payload = protocol.encodeSpawnPayload(message);
    const records = protocol.encodeSpawn(message);
    expect(records.length).toBe(Math.ceil((payload.length + 4) / (protocol.PROTOCOL_MAX_MESSAGE - 8)));
    for (const record of records) {
      expect(record.length).toBeLessThanOrEqual(protocol.PROTOCOL_MAX_MESSAGE);
      expect(record.readUInt16LE(0)).toBe(protocol.PROTOCOL_VERSION);
      expect(record.readUInt32LE(4)).toBe(record.length - 8);
    }
    expect(records.map((r) => r.readUInt16LE(2))).toEqual([protocol.MSG_SPAWN, ...records.slice(1).map(() => protocol.MSG_SPAWN_MORE)]);
    expect(records[0]!.readUInt32LE(8)).toBe(payload.length);
    const joined = Buffer.concat([records[0]!.subarray(12), ...records.slice(1).map((r) => r.subarray(8))]);
    expect(joined.equals(payload)).toBe(true);
    // Small records (fuzz seeds): the same payload, more records, none empty.
    const small = protocol.encodeSpawn({ ...message, argv: ['a', 'b'], env: [] }, 16);
    expect(small.length).toBeGreaterThan(3);
    expect(small.every((r) => r.length <= 16 && r.length > 8)).toBe(true);
    expect(() => protocol.encodeSpawn(message, 8)).toThrow(/record size/);
  });

  it('encodes the SPAWN payload fields (pty, pipe size, cgroup, rlimits) and range-checks them', () => {
    const buf = protocol.encodeSpawnPayload({
      stdio: [0, 0, 0],
      killGraceMs: 0,
      cwd: '',
      argv: ['x'],
      env: [],
      pipeSize: 1 << 20,
      pty: { columns: 100, rows: 30 },
      cgroup: '/sys/fs/cgroup/a',
      rlimits: [{ resource: 7, soft: 64, hard: null }],
    });
    expect(buf.readUInt8(3)).toBe(protocol.SPAWN_FLAG_PTY);
    expect(buf.readUInt32LE(8)).toBe(1 << 20);
    expect([buf.readUInt16LE(12), buf.readUInt16LE(14)]).toEqual([100, 30]);
    expect(buf.readUInt32LE(24)).toBe(1);
    const tail = buf.subarray(buf.length - protocol.RLIMIT_ENTRY_SIZE);
    expect([tail.readUInt32LE(0), tail.readBigUInt64LE(4), tail.readBigUInt64LE(12)]).toEqual([7, 64n, protocol.SHEPHERD_RLIM_INFINITY]);
    expect(buf.includes(Buffer.from('/sys/fs/cgroup/a'))).toBe(true);
    const base = { stdio: [0, 0, 0] as const, killGraceMs: 0, cwd: '', argv: ['x'], env: [] };
    expect(() => protocol.encodeSpawn({ ...base, cgroup: 'relative' })).toThrow(/absolute/);
    expect(() => protocol.encodeSpawn({ ...base, pipeSize: protocol.SHEPHERD_MAX_PIPE_SIZE + 1 })).toThrow(/pipe size/);
    expect(() => protocol.encodeSpawn({ ...base, pty: { columns: 0, rows: 1 } })).toThrow(/window size/);
    expect(() => protocol.encodeSpawn({ ...base, rlimits: [{ resource: 16, soft: 1, hard: 1 }] })).toThrow(/resource/);
    expect(() => protocol.encodeSpawn({ ...base, rlimits: [{ resource: 7, soft: 2, hard: 1 }] })).toThrow(/above hard/);
    expect([...protocol.encodeWinsize(120, 40)]).toEqual([3, 0, protocol.MSG_WINSIZE, 0, 4, 0, 0, 0, 120, 0, 40, 0]);
  });

  it('decodes EXITED and refuses other versions, lengths and types', () => {
    const buf = Buffer.alloc(8 + protocol.EXITED_PAYLOAD_SIZE);
    buf.writeUInt16LE(protocol.PROTOCOL_VERSION, 0);
    buf.writeUInt16LE(protocol.MSG_EXITED, 2);
    buf.writeUInt32LE(protocol.EXITED_PAYLOAD_SIZE, 4);
    buf.writeInt32LE(-1, 8);
    buf.writeInt32LE(9, 12);
    buf.writeUInt8(1, 17);
    buf.writeBigUInt64LE(1_500_000n, 20);
    expect(protocol.decodeMessage(buf)).toMatchObject({ type: 'exited', exitCode: null, signal: 9, forcedKill: true, coreDumped: false, userCpuUs: 1_500_000 });
    const v2 = Buffer.from(buf);
    v2.writeUInt16LE(2, 0);
    expect(() => protocol.decodeMessage(v2)).toThrow(/version 2, expected 3/);
    expect(() => protocol.decodeMessage(buf.subarray(0, 20))).toThrow(/payload/);
    const unknown = Buffer.from([3, 0, 99, 0, 0, 0, 0, 0]);
    expect(() => protocol.decodeMessage(unknown)).toThrow(/unknown message type 99/);
  });

  it('refuses a STARTED whose pid or group kill(2) would read as more than one process', () => {
    const started = (pid: number, pgid: number) => {
      const buf = Buffer.alloc(8 + protocol.STARTED_PAYLOAD_SIZE);
      buf.writeUInt16LE(protocol.PROTOCOL_VERSION, 0);
      buf.writeUInt16LE(protocol.MSG_STARTED, 2);
      buf.writeUInt32LE(protocol.STARTED_PAYLOAD_SIZE, 4);
      buf.writeInt32LE(pid, 8);
      buf.writeInt32LE(pgid, 12);
      return buf;
    };
    expect(protocol.decodeMessage(started(4242, 4242))).toMatchObject({ type: 'started', pid: 4242, pgid: 4242 });
    for (const [pid, pgid] of [[0, 0], [1, 1], [-1, -1], [4242, 0], [4242, 1], [4242, 4243], [-4242, -4242]]) {
      expect(() => protocol.decodeMessage(started(pid!, pgid!)), `pid ${pid} pgid ${pgid}`).toThrow(/leads its own group/);
    }
  });
});
