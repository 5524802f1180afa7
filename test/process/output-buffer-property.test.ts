// Property tests of the ring buffer: it keeps exactly its bounds, its drop counters are
// exact, and what it keeps is the longest suffix of the output that fits both bounds.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OutputBuffer } from '../../process/output-buffer.js';

/** The lines a stream of bytes makes: split at '\n', long lines cut into maxLineBytes pieces. */
function getExpectedLines(input: string, maxLineBytes: number): { text: string; split: boolean }[] {
  const lines: { text: string; split: boolean }[] = [];
  const parts = input.split('\n');
  const last = parts.pop()!; // after the last newline: flushed by end() when not empty
  const cut = (line: string, ended: boolean) => {
    let rest = line;
    while (rest.length > maxLineBytes) {
      lines.push({ text: rest.slice(0, maxLineBytes), split: true });
      rest = rest.slice(maxLineBytes);
    }
    if (ended || rest.length > 0) lines.push({ text: rest, split: false });
  };
  for (const line of parts) cut(line, true);
  cut(last, false);
  return lines;
}

describe('OutputBuffer properties', () => {
  it('keeps the longest suffix within maxLines and maxBytes, and counts every other line and byte as dropped', () => {
    fc.assert(
      fc.property(
        fc.array(fc.stringMatching(/^[a-z\n]{0,300}$/), { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 2000 }),
        fc.integer({ min: 1, max: 400 }),
        (chunks, maxLines, maxBytes, lineBytes) => {
          const maxLineBytes = Math.min(lineBytes, maxBytes); // a line never exceeds the byte budget
          let now = 0;
          const buffer = new OutputBuffer({ maxLines, maxBytes, maxLineBytes, clock: () => now++ });
          // Reuse one scratch buffer for every chunk, as the manager's read path does.
          const scratch = Buffer.alloc(400);
          for (const chunk of chunks) {
            const n = scratch.write(chunk);
            buffer.write('stdout', scratch.subarray(0, n));
            scratch.fill(0x58);
          }
          buffer.end('stdout');
          const all = getExpectedLines(chunks.join(''), maxLineBytes);
          // The longest suffix fitting both bounds.
          let keep = 0;
          let bytes = 0;
          while (keep < all.length && keep < maxLines && bytes + all[all.length - 1 - keep]!.text.length <= maxBytes) {
            bytes += all[all.length - 1 - keep]!.text.length;
            keep++;
          }
          const kept = buffer.tail();
          expect(kept.map((l) => ({ text: l.text, split: l.split === true }))).toEqual(all.slice(all.length - keep));
          expect(buffer.lineCount).toBe(keep);
          expect(buffer.byteCount).toBe(bytes);
          expect(buffer.lineCount).toBeLessThanOrEqual(maxLines);
          expect(buffer.byteCount).toBeLessThanOrEqual(maxBytes);
          expect(buffer.droppedLines).toBe(all.length - keep);
          expect(buffer.droppedBytes).toBe(all.reduce((sum, l) => sum + l.text.length, 0) - bytes);
          // Sequence numbers are consecutive and end at the number of lines made.
          expect(kept.map((l) => l.seq)).toEqual(Array.from({ length: keep }, (_, i) => all.length - keep + i));
        },
      ),
      { numRuns: 300 },
    );
  });
});

/**
 * The plain model of the ring buffer: every line is made into an object and pushed one by one,
 * dropping the oldest until it fits (what OutputBuffer did before it kept texts as bytes).
 */
class ModelBuffer {
  lines: { stream: string; raw: Buffer; seq: number; split: boolean }[] = [];
  bytes = 0;
  nextSeq = 0;
  droppedLines = 0;
  droppedBytes = 0;
  heard: { stream: string; text: string; seq: number; split: boolean }[] = [];
  listening = false;
  private partial: Record<string, Buffer> = { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };

  constructor(private readonly maxLines: number, private readonly maxBytes: number, private readonly maxLineBytes: number) {}

  write(stream: string, chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(10, start);
      const end = nl === -1 ? chunk.length : nl;
      let piece = chunk.subarray(start, end);
      while (this.partial[stream]!.length + piece.length > this.maxLineBytes) {
        const room = this.maxLineBytes - this.partial[stream]!.length;
        this.partial[stream] = Buffer.concat([this.partial[stream]!, piece.subarray(0, room)]);
        this.flush(stream, true);
        piece = piece.subarray(room);
      }
      this.partial[stream] = Buffer.concat([this.partial[stream]!, piece]);
      if (nl === -1) break;
      this.flush(stream, false);
      start = nl + 1;
    }
  }

  end(stream: string): void {
    if (this.partial[stream]!.length > 0) this.flush(stream, false);
  }

  private flush(stream: string, split: boolean): void {
    let raw = this.partial[stream]!;
    this.partial[stream] = Buffer.alloc(0);
    if (!split && raw.length > 0 && raw[raw.length - 1] === 13) raw = raw.subarray(0, raw.length - 1);
    const line = { stream, raw, seq: this.nextSeq++, split };
    if (this.lines.length === this.maxLines) this.dropOldest();
    while (this.lines.length > 0 && this.bytes + raw.length > this.maxBytes) this.dropOldest();
    if (raw.length > this.maxBytes) {
      this.droppedLines++;
      this.droppedBytes += raw.length;
    } else {
      this.lines.push(line);
      this.bytes += raw.length;
    }
    if (this.listening) this.heard.push({ stream, text: raw.toString('utf8'), seq: line.seq, split });
  }

  private dropOldest(): void {
    const line = this.lines.shift()!;
    this.bytes -= line.raw.length;
    this.droppedLines++;
    this.droppedBytes += line.raw.length;
  }
}

type Op =
  | { kind: 'write'; stream: 'stdout' | 'stderr'; bytes: number[] }
  | { kind: 'end'; stream: 'stdout' | 'stderr' }
  | { kind: 'listen'; on: boolean }
  | { kind: 'tail'; n: number };

describe('OutputBuffer against the plain model', () => {
  it('keeps, drops, numbers, decodes and announces every line as the one-line-at-a-time model does', () => {
    // Bytes: letters, '\n', '\r' and the halves of 'é' (0xc3 0xa9), so UTF-8 sequences get cut
    // by chunk ends, by maxLineBytes and by the ring's wrap.
    const byte = fc.constantFrom(0x61, 0x62, 0x0a, 0x0a, 0x0d, 0xc3, 0xa9);
    const stream = fc.constantFrom('stdout' as const, 'stderr' as const);
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 8, arbitrary: fc.record({ kind: fc.constant('write' as const), stream, bytes: fc.array(byte, { maxLength: 200 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('end' as const), stream }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('listen' as const), on: fc.boolean() }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('tail' as const), n: fc.integer({ min: 0, max: 60 }) }) },
    );
    fc.assert(
      fc.property(
        fc.array(op, { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 600 }),
        fc.integer({ min: 1, max: 300 }),
        (ops, maxLines, maxBytes, maxLineBytes) => {
          const buffer = new OutputBuffer({ maxLines, maxBytes, maxLineBytes, clock: () => 7 });
          const model = new ModelBuffer(maxLines, maxBytes, maxLineBytes);
          const heard: { stream: string; text: string; seq: number; split: boolean }[] = [];
          let unsubscribe: (() => void) | null = null;
          const scratch = Buffer.alloc(200);
          for (const o of ops) {
            if (o.kind === 'write') {
              scratch.set(o.bytes);
              buffer.write(o.stream, scratch.subarray(0, o.bytes.length));
              model.write(o.stream, Buffer.from(o.bytes));
              scratch.fill(0x58); // the read buffer is reused: nothing may point into it
            } else if (o.kind === 'end') {
              buffer.end(o.stream);
              model.end(o.stream);
            } else if (o.kind === 'listen') {
              if (o.on && unsubscribe === null) unsubscribe = buffer.subscribe((l) => heard.push({ stream: l.stream, text: l.text, seq: l.seq, split: l.split === true }));
              if (!o.on && unsubscribe !== null) {
                unsubscribe();
                unsubscribe = null;
              }
              model.listening = unsubscribe !== null;
            } else {
              const want = model.lines.slice(Math.max(0, model.lines.length - o.n));
              expect(buffer.tail(o.n).map((l) => [l.stream, l.text, l.seq, l.split === true])).toEqual(want.map((l) => [l.stream, l.raw.toString('utf8'), l.seq, l.split]));
            }
            expect(buffer.tail().map((l) => [l.stream, l.text, l.seq, l.split === true, l.time])).toEqual(model.lines.map((l) => [l.stream, l.raw.toString('utf8'), l.seq, l.split, 7]));
            expect([buffer.lineCount, buffer.byteCount, buffer.droppedLines, buffer.droppedBytes, buffer.nextSequence]).toEqual([model.lines.length, model.bytes, model.droppedLines, model.droppedBytes, model.nextSeq]);
            expect(buffer.byteCount).toBeLessThanOrEqual(maxBytes);
            expect(buffer.lineCount).toBeLessThanOrEqual(maxLines);
          }
          expect(heard).toEqual(model.heard);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
