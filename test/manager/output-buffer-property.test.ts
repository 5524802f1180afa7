// Property tests of the ring buffer (issue 4): it keeps exactly its bounds, its drop counters are
// exact, and what it keeps is the longest suffix of the output that fits both bounds.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OutputBuffer } from '../../manager/output-buffer.js';

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
