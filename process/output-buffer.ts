import { isAscii } from 'node:buffer';
import { allocateAligned } from './aligned-buffer.js';
import type { OutputLine, OutputStream } from '../contract/types.js';

/** Options of {@link OutputBuffer}. */
export interface OutputBufferOptions {
  /** Lines kept, both streams together. */
  readonly maxLines: number;
  /** Bytes kept (UTF-8 bytes of the line texts), both streams together. */
  readonly maxBytes: number;
  /** A line longer than this many bytes is split; the pieces are marked `split: true`. */
  readonly maxLineBytes: number;
  /** Epoch-ms clock (injected for tests). */
  readonly clock?: () => number;
}

/** A kept line: the public {@link OutputLine} plus its size. */
export interface BufferedLine extends OutputLine {
  /** True when the line was cut at `maxLineBytes` (this piece does not end with a newline). */
  readonly split?: boolean;
}

type Listener = (line: BufferedLine) => void;

/** Flags of a line record (one line, or one piece of a split line). */
const RECORD_SPLIT = 1;
/** The record starts with the stream's carried partial line. */
const RECORD_CARRY = 2;
/** The carried part ends with the '\r' of a "\r\n" and is one byte shorter. */
const RECORD_CARRY_TRIM = 4;
/** Slot flag: the line came from stderr (the record flags above are not kept in slots). */
const SLOT_STDERR = 8;
/** Slot start of a line kept only as its object (it has no bytes in the byte ring). */
const NOT_IN_STORE = -1;

/** 0: stdout, 1: stderr. */
type StreamIndex = 0 | 1;

const EMPTY = Buffer.alloc(0);
/**
 * The byte ring starts half a page off the (page-aligned) read buffer, so copying a chunk's lines
 * into it never pairs source and destination at the same page offset (4K aliasing).
 */
const STORE_PAGE_OFFSET = 2048;
const STREAMS = ['stdout', 'stderr'] as const satisfies readonly OutputStream[];

/**
 * Scratch of the write path: the last `maxLines` records of one chunk (start, end, flags), as a
 * circular list. Shared by every buffer (writes are synchronous, one at a time on the loop thread).
 */
let scratchStarts = new Int32Array(1024);
let scratchEnds = new Int32Array(1024);
let scratchFlags = new Uint8Array(1024);

/** A line object; `split` is present only on pieces of a cut line (RECORD_SPLIT in `flags`). */
function createBufferedLine(stream: OutputStream, text: string, seq: number, time: number, flags: number): BufferedLine {
  return (flags & RECORD_SPLIT) !== 0 ? { stream, text, seq, time, split: true } : { stream, text, seq, time };
}

function ensureScratch(records: number): void {
  if (scratchStarts.length >= records) return;
  let size = scratchStarts.length;
  while (size < records) size *= 2;
  scratchStarts = new Int32Array(size);
  scratchEnds = new Int32Array(size);
  scratchFlags = new Uint8Array(size);
}

/**
 * Ring buffer of output lines bounded in BOTH lines and bytes; drops the oldest and counts what
 * it dropped (as process-compose's log buffer and execa's maxBuffer do). Splits raw chunks
 * into lines per stream, carrying a partial last line until its newline (or `end()`).
 *
 * What it keeps is always the longest suffix of the output that fits both bounds. Line texts are
 * kept as bytes in one byte ring (growing up to `maxBytes`) and decoded when read (`tail()`), so
 * reading output allocates nothing per line. Without subscribers, a chunk's lines that the same
 * chunk pushes out again are only counted, never copied or decoded: the cost of a chunk is one
 * newline search per line plus a copy of what stays. Subscribers get every line, in order, each
 * right after it is stored.
 */
export class OutputBuffer {
  // Line slots, a ring of maxLines grown as lines come (a quiet process holds no 1000-slot
  // arrays): slot (head + count) % maxLines is the next one, always the next index while growing.
  private readonly objects: (BufferedLine | undefined)[] = [];
  private readonly starts: number[] = [];
  private readonly sizes: number[] = [];
  private readonly seqs: number[] = [];
  private readonly times: number[] = [];
  private readonly flags: number[] = [];
  private head = 0;
  private count = 0;
  private bytes = 0;
  private nextSeq = 0;
  /** Byte ring of the texts of the lines kept as bytes, in slot order; at most `maxBytes`. */
  private store: Buffer = EMPTY;
  private storeEnd = 0;
  private storedBytes = 0;
  /** Partial last line per stream (stdout, stderr), at most maxLineBytes. */
  private readonly carry: [Buffer, Buffer] = [EMPTY, EMPTY];
  private readonly carryBytes: [number, number] = [0, 0];
  private readonly listeners = new Set<Listener>();
  private readonly clock: () => number;
  /** Lines dropped to stay inside the bounds. */
  droppedLines = 0;
  /** Bytes dropped to stay inside the bounds. */
  droppedBytes = 0;

  /** @internal `spawn` and cluster nodes create their buffers. */
  constructor(private readonly options: OutputBufferOptions) {
    this.clock = options.clock ?? Date.now;
  }

  /** Lines currently held. */
  get lineCount(): number {
    return this.count;
  }

  /** Sequence number the next line will get. */
  get nextSequence(): number {
    return this.nextSeq;
  }

  /** Bytes currently held. */
  get byteCount(): number {
    return this.bytes;
  }

  /** Feeds a raw chunk read from `stream`. The chunk may be reused by the caller once this returns. @internal */
  write(stream: OutputStream, chunk: Buffer): void {
    if (chunk.length === 0) return;
    const s: StreamIndex = stream === 'stderr' ? 1 : 0;
    if (this.listeners.size > 0) this.writeNotifying(s, chunk);
    else this.writeQuiet(s, chunk);
  }

  /** Flushes a partial last line of `stream` (call at EOF). @internal */
  end(stream: OutputStream): void {
    const s: StreamIndex = stream === 'stderr' ? 1 : 0;
    const carryLength = this.carryBytes[s];
    if (carryLength === 0) return;
    const flags = RECORD_CARRY | (this.carry[s][carryLength - 1] === 13 ? RECORD_CARRY_TRIM : 0);
    const size = this.getRecordSize(s, 0, 0, flags);
    if (this.listeners.size > 0) {
      const line = this.createLine(s, EMPTY, 0, 0, flags, this.nextSeq++, this.clock());
      this.carryBytes[s] = 0;
      this.pushLine(line, size);
      return;
    }
    ensureScratch(1);
    scratchStarts[0] = 0;
    scratchEnds[0] = 0;
    scratchFlags[0] = flags;
    this.commit(s, EMPTY, 1, size);
    this.carryBytes[s] = 0;
  }

  /** The last `n` lines, oldest first. */
  tail(n = this.count): BufferedLine[] {
    const k = Math.max(0, Math.min(n, this.count));
    const out: BufferedLine[] = [];
    const capacity = this.options.maxLines;
    for (let i = this.count - k; i < this.count; i++) out.push(this.getLine((this.head + i) % capacity));
    return out;
  }

  /** Calls `listener` for every new line, right after it is stored; returns the unsubscribe function. */
  subscribe(listener: (line: BufferedLine) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Walks `chunk` as the continuation of stream `s`, calling `sink` for every record (a line, or a
   * piece of a line cut at maxLineBytes) in order. Returns where the unterminated rest of the
   * chunk starts (chunk.length: none). Only the first record can include the carried line.
   */
  private scan(s: StreamIndex, chunk: Buffer, sink: (start: number, end: number, flags: number) => void): number {
    const maxLineBytes = this.options.maxLineBytes;
    const length = chunk.length;
    const carryLength = this.carryBytes[s];
    let pending = carryLength; // bytes of the current line before `start` that no record took yet
    let carryFlag = carryLength > 0 ? RECORD_CARRY : 0;
    let pos = 0;
    while (pos < length) {
      const nl = chunk.indexOf(10, pos);
      const lineEnd = nl === -1 ? length : nl;
      let start = pos;
      while (pending + (lineEnd - start) > maxLineBytes) {
        const room = maxLineBytes - pending;
        sink(start, start + room, RECORD_SPLIT | carryFlag);
        carryFlag = 0;
        pending = 0;
        start += room;
      }
      if (nl === -1) return start;
      let end = nl;
      let flags = carryFlag;
      if (end > start) {
        if (chunk[end - 1] === 13) end--;
      } else if (carryFlag !== 0 && this.carry[s][carryLength - 1] === 13) {
        flags |= RECORD_CARRY_TRIM;
      }
      sink(start, end, flags);
      carryFlag = 0;
      pending = 0;
      pos = nl + 1;
    }
    return length;
  }

  private getRecordSize(s: StreamIndex, start: number, end: number, flags: number): number {
    if ((flags & RECORD_CARRY) === 0) return end - start;
    return end - start + this.carryBytes[s] - ((flags & RECORD_CARRY_TRIM) !== 0 ? 1 : 0);
  }

  /** The write path without subscribers: records go to the scratch list, then one commit. */
  private writeQuiet(s: StreamIndex, chunk: Buffer): void {
    const capacity = this.options.maxLines;
    ensureScratch(capacity);
    let records = 0;
    let newBytes = 0;
    const rest = this.scan(s, chunk, (start, end, flags) => {
      const i = records % capacity;
      scratchStarts[i] = start;
      scratchEnds[i] = end;
      scratchFlags[i] = flags;
      newBytes += this.getRecordSize(s, start, end, flags);
      records++;
    });
    if (records > 0) this.commit(s, chunk, records, newBytes);
    this.appendCarry(s, chunk, rest, records > 0);
  }

  /**
   * Stores the kept suffix of `records` new records (the last min(records, maxLines) of them are in
   * the scratch list) and counts everything pushed out, old lines and new records alike.
   */
  private commit(s: StreamIndex, chunk: Buffer, records: number, newBytes: number): void {
    const { maxLines, maxBytes } = this.options;
    // The longest suffix of the new records that fits both bounds; a record larger than maxBytes
    // is never kept and ends the suffix (it would push out everything before it).
    let kept = 0;
    let keptBytes = 0;
    const first = Math.max(0, records - maxLines);
    for (let r = records - 1; r >= first; r--) {
      const i = r % maxLines;
      const size = this.getRecordSize(s, scratchStarts[i]!, scratchEnds[i]!, scratchFlags[i]!);
      if (keptBytes + size > maxBytes) break;
      kept++;
      keptBytes += size;
    }
    // Old lines give way to the kept records, oldest first (all of them when a record was not kept).
    while (this.count > 0 && (kept < records || this.count + kept > maxLines || this.bytes + keptBytes > maxBytes)) this.dropOldest();
    this.droppedLines += records - kept;
    this.droppedBytes += newBytes - keptBytes;
    const time = this.clock();
    this.ensureStore(this.storedBytes + keptBytes);
    for (let r = records - kept; r < records; r++) {
      const i = r % maxLines;
      const start = scratchStarts[i]!;
      const end = scratchEnds[i]!;
      const flags = scratchFlags[i]!;
      const slot = this.claimSlot();
      if (this.storedBytes === 0) this.storeEnd = 0;
      this.objects[slot] = undefined;
      this.starts[slot] = this.storeEnd;
      this.sizes[slot] = this.getRecordSize(s, start, end, flags);
      this.seqs[slot] = this.nextSeq + r;
      this.times[slot] = time;
      this.flags[slot] = (flags & RECORD_SPLIT) | (s === 1 ? SLOT_STDERR : 0);
      if ((flags & RECORD_CARRY) !== 0) {
        const carried = this.carryBytes[s] - ((flags & RECORD_CARRY_TRIM) !== 0 ? 1 : 0);
        this.copyIntoStore(this.carry[s], 0, carried);
      }
      this.copyIntoStore(chunk, start, end);
      this.bytes += this.sizes[slot]!;
    }
    this.nextSeq += records;
  }

  /** The write path with subscribers: every record becomes a line object, stored then announced. */
  private writeNotifying(s: StreamIndex, chunk: Buffer): void {
    const lines: BufferedLine[] = [];
    const sizes: number[] = [];
    const time = this.clock();
    const encoding = isAscii(chunk) ? 'latin1' : 'utf8';
    const rest = this.scan(s, chunk, (start, end, flags) => {
      lines.push(this.createLine(s, chunk, start, end, flags, this.nextSeq++, time, encoding));
      sizes.push(this.getRecordSize(s, start, end, flags));
    });
    // The carry is consumed before any subscriber runs, so a throwing subscriber leaves it sound.
    this.appendCarry(s, chunk, rest, lines.length > 0);
    for (let i = 0; i < lines.length; i++) this.pushLine(lines[i]!, sizes[i]!);
  }

  /**
   * The line object of a record, decoded from the chunk (and the carried line). `encoding` is
   * 'latin1' when the chunk is pure ASCII (the same text, decoded without UTF-8 validation).
   */
  private createLine(s: StreamIndex, chunk: Buffer, start: number, end: number, flags: number, seq: number, time: number, encoding: 'utf8' | 'latin1' = 'utf8'): BufferedLine {
    let text: string;
    if ((flags & RECORD_CARRY) !== 0) {
      const carried = this.carryBytes[s] - ((flags & RECORD_CARRY_TRIM) !== 0 ? 1 : 0);
      text = Buffer.concat([this.carry[s].subarray(0, carried), chunk.subarray(start, end)]).toString('utf8');
    } else {
      text = chunk.toString(encoding, start, end);
    }
    return createBufferedLine(STREAMS[s], text, seq, time, flags);
  }

  /** Stores one line object of `size` bytes (none of them in the byte ring) and announces it. */
  private pushLine(line: BufferedLine, size: number): void {
    const { maxLines, maxBytes } = this.options;
    if (this.count === maxLines) this.dropOldest();
    while (this.count > 0 && this.bytes + size > maxBytes) this.dropOldest();
    if (size > maxBytes) {
      // A single line larger than the whole byte budget is counted as dropped, not kept.
      this.droppedLines++;
      this.droppedBytes += size;
    } else {
      const slot = this.claimSlot();
      this.objects[slot] = line;
      this.starts[slot] = NOT_IN_STORE;
      this.sizes[slot] = size;
      this.seqs[slot] = line.seq;
      this.times[slot] = line.time;
      this.flags[slot] = (line.split === true ? RECORD_SPLIT : 0) | (line.stream === 'stderr' ? SLOT_STDERR : 0);
      this.bytes += size;
    }
    for (const listener of this.listeners) listener(line);
  }

  /** Keeps chunk[rest..] as the stream's partial line (after what was carried unless `consumed`). */
  private appendCarry(s: StreamIndex, chunk: Buffer, rest: number, consumed: boolean): void {
    if (consumed) this.carryBytes[s] = 0;
    const extra = chunk.length - rest;
    if (extra === 0) return;
    const needed = this.carryBytes[s] + extra;
    if (this.carry[s].length < needed) {
      // Grows by doubling up to maxLineBytes (scan() never leaves more than that carried).
      const grown = Buffer.allocUnsafeSlow(Math.min(this.options.maxLineBytes, Math.max(needed, 2 * this.carry[s].length, 256)));
      this.carry[s].copy(grown, 0, 0, this.carryBytes[s]);
      this.carry[s] = grown;
    }
    chunk.copy(this.carry[s], this.carryBytes[s], rest);
    this.carryBytes[s] = needed;
  }

  /** The slot the next line goes to; the caller fills it (count and bytes are the caller's too). */
  private claimSlot(): number {
    const slot = (this.head + this.count) % this.options.maxLines;
    this.count++;
    return slot;
  }

  /** Makes the byte ring hold at least `needed` bytes (at most maxBytes), keeping the stored lines. */
  private ensureStore(needed: number): void {
    if (this.store.length >= needed) return;
    const size = Math.min(this.options.maxBytes, Math.max(needed, 2 * this.store.length, 4096));
    // Alignment pays for large copies only; a quiet process's small ring is not worth a spare page.
    const grown = size >= 64 * 1024 ? allocateAligned(size, STORE_PAGE_OFFSET) : Buffer.allocUnsafeSlow(size);
    let end = 0;
    const capacity = this.options.maxLines;
    for (let i = 0; i < this.count; i++) {
      const slot = (this.head + i) % capacity;
      const start = this.starts[slot]!;
      if (start === NOT_IN_STORE) continue;
      const size = this.sizes[slot]!;
      const first = Math.min(size, this.store.length - start);
      this.store.copy(grown, end, start, start + first);
      if (first < size) this.store.copy(grown, end + first, 0, size - first);
      this.starts[slot] = end;
      end += size;
    }
    this.store = grown;
    this.storeEnd = end === grown.length ? 0 : end;
  }

  /** Appends source[start..end) at the end of the byte ring (the caller made room). */
  private copyIntoStore(source: Buffer, start: number, end: number): void {
    const size = end - start;
    if (size === 0) return;
    const room = this.store.length - this.storeEnd;
    if (size <= room) {
      source.copy(this.store, this.storeEnd, start, end);
      this.storeEnd += size;
    } else {
      source.copy(this.store, this.storeEnd, start, start + room);
      source.copy(this.store, 0, start + room, end);
      this.storeEnd = size - room;
    }
    if (this.storeEnd === this.store.length) this.storeEnd = 0;
    this.storedBytes += size;
  }

  /** The line in `slot`, decoded from the byte ring the first time it is asked for. */
  private getLine(slot: number): BufferedLine {
    const cached = this.objects[slot];
    if (cached !== undefined) return cached;
    const start = this.starts[slot]!;
    const size = this.sizes[slot]!;
    const first = Math.min(size, this.store.length - start);
    const text =
      first === size
        ? this.store.toString('utf8', start, start + size)
        : Buffer.concat([this.store.subarray(start, start + first), this.store.subarray(0, size - first)]).toString('utf8');
    const flags = this.flags[slot]!;
    const line = createBufferedLine((flags & SLOT_STDERR) !== 0 ? 'stderr' : 'stdout', text, this.seqs[slot]!, this.times[slot]!, flags);
    this.objects[slot] = line;
    return line;
  }

  private dropOldest(): void {
    const slot = this.head;
    const size = this.sizes[slot]!;
    if (this.starts[slot] !== NOT_IN_STORE) this.storedBytes -= size;
    this.objects[slot] = undefined;
    this.head = (this.head + 1) % this.options.maxLines;
    this.count--;
    this.bytes -= size;
    this.droppedLines++;
    this.droppedBytes += size;
  }
}
