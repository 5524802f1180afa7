import { describe, expect, it } from 'vitest';
import { OutputBuffer } from '../../process/output-buffer.js';

const clock = () => 1000;

describe('OutputBuffer', () => {
  it('splits chunks into lines per stream and carries partial lines', () => {
    const b = new OutputBuffer({ maxLines: 10, maxBytes: 1000, maxLineBytes: 100, clock });
    b.write('stdout', Buffer.from('a1\na'));
    b.write('stderr', Buffer.from('e1\r\n'));
    b.write('stdout', Buffer.from('2\n'));
    b.write('stdout', Buffer.from('tail'));
    b.end('stdout');
    expect(b.tail()).toEqual([
      { stream: 'stdout', text: 'a1', seq: 0, time: 1000 },
      { stream: 'stderr', text: 'e1', seq: 1, time: 1000 },
      { stream: 'stdout', text: 'a2', seq: 2, time: 1000 },
      { stream: 'stdout', text: 'tail', seq: 3, time: 1000 },
    ]);
  });

  it('is bounded in lines and counts what it dropped', () => {
    const b = new OutputBuffer({ maxLines: 3, maxBytes: 1000, maxLineBytes: 100, clock });
    b.write('stdout', Buffer.from('1\n22\n333\n4444\n'));
    expect(b.tail().map((l) => l.text)).toEqual(['22', '333', '4444']);
    expect(b.droppedLines).toBe(1);
    expect(b.droppedBytes).toBe(1);
    expect(b.lineCount).toBe(3);
    expect(b.byteCount).toBe(9);
  });

  it('is bounded in bytes and counts what it dropped', () => {
    const b = new OutputBuffer({ maxLines: 100, maxBytes: 8, maxLineBytes: 100, clock });
    b.write('stdout', Buffer.from('aaaa\nbbbb\ncc\n'));
    expect(b.tail().map((l) => l.text)).toEqual(['bbbb', 'cc']);
    expect(b.byteCount).toBe(6);
    expect(b.droppedLines).toBe(1);
    expect(b.droppedBytes).toBe(4);
  });

  it('drops a single line larger than the byte budget instead of keeping it', () => {
    const b = new OutputBuffer({ maxLines: 100, maxBytes: 4, maxLineBytes: 100, clock });
    b.write('stdout', Buffer.from('toolong\nok\n'));
    expect(b.tail().map((l) => l.text)).toEqual(['ok']);
    expect(b.droppedLines).toBe(1);
    expect(b.droppedBytes).toBe(7);
  });

  it('splits long lines at maxLineBytes and marks the pieces', () => {
    const b = new OutputBuffer({ maxLines: 100, maxBytes: 1000, maxLineBytes: 4, clock });
    b.write('stdout', Buffer.from('abcdefghij\n'));
    expect(b.tail().map((l) => [l.text, l.split ?? false])).toEqual([
      ['abcd', true],
      ['efgh', true],
      ['ij', false],
    ]);
  });

  it('returns the last n lines in order across the ring wrap', () => {
    const b = new OutputBuffer({ maxLines: 4, maxBytes: 1000, maxLineBytes: 100, clock });
    for (let i = 0; i < 10; i++) b.write('stdout', Buffer.from(`${i}\n`));
    expect(b.tail(2).map((l) => l.text)).toEqual(['8', '9']);
    expect(b.tail(100).map((l) => l.text)).toEqual(['6', '7', '8', '9']);
    expect(b.tail(0)).toEqual([]);
  });

  it('notifies subscribers after storing, and stops after unsubscribe', () => {
    const b = new OutputBuffer({ maxLines: 10, maxBytes: 1000, maxLineBytes: 100, clock });
    const seen: string[] = [];
    const unsubscribe = b.subscribe((line) => seen.push(`${line.text}:${b.lineCount}`));
    b.write('stdout', Buffer.from('x\ny\n'));
    unsubscribe();
    b.write('stdout', Buffer.from('z\n'));
    expect(seen).toEqual(['x:1', 'y:2']);
  });
});
