import type { OutputLine, OutputStream } from './types.js';

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

/**
 * Ring buffer of output lines bounded in BOTH lines and bytes; drops the oldest and counts what
 * it dropped (process-compose `process_log_buffer.go`; execa `max-buffer.js`). Splits raw chunks
 * into lines per stream, carrying a partial last line until its newline (or `end()`).
 * Listeners run after the buffer's state is updated and never inside its bookkeeping, so a slow
 * or throwing listener cannot corrupt it.
 */
export class OutputBuffer {
  private readonly lines: (BufferedLine | undefined)[];
  private readonly sizes: number[];
  private head = 0;
  private count = 0;
  private bytes = 0;
  private nextSeq = 0;
  private readonly partial: Record<OutputStream, Buffer[]> = { stdout: [], stderr: [] };
  private readonly partialBytes: Record<OutputStream, number> = { stdout: 0, stderr: 0 };
  private readonly listeners = new Set<Listener>();
  private readonly clock: () => number;
  /** Lines dropped to stay inside the bounds. */
  droppedLines = 0;
  /** Bytes dropped to stay inside the bounds. */
  droppedBytes = 0;

  constructor(private readonly options: OutputBufferOptions) {
    // The ring grows to maxLines as lines come (a quiet process holds no 1000-slot arrays); while
    // it grows, head + count equals its length, so slot (head + count) % maxLines is the next one.
    this.lines = [];
    this.sizes = [];
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

  /** Feeds a raw chunk read from `stream`. The chunk may be reused by the caller once this returns. */
  write(stream: OutputStream, chunk: Buffer): void {
    let start = 0;
    const { maxLineBytes } = this.options;
    while (start < chunk.length) {
      const nl = chunk.indexOf(10, start);
      const end = nl === -1 ? chunk.length : nl;
      let piece = chunk.subarray(start, end);
      // Cut pieces so that no carried line grows past maxLineBytes.
      while (this.partialBytes[stream] + piece.length > maxLineBytes) {
        const room = maxLineBytes - this.partialBytes[stream];
        this.partial[stream].push(piece.subarray(0, room));
        this.partialBytes[stream] += room;
        this.flush(stream, true);
        piece = piece.subarray(room);
      }
      if (nl === -1) {
        // A partial last line is carried to the next chunk: keep a copy, since the caller's chunk
        // may be a reused read buffer.
        if (piece.length > 0) {
          this.partial[stream].push(Buffer.from(piece));
          this.partialBytes[stream] += piece.length;
        }
        break;
      }
      if (piece.length > 0) {
        this.partial[stream].push(piece);
        this.partialBytes[stream] += piece.length;
      }
      this.flush(stream, false);
      start = nl + 1;
    }
  }

  /** Flushes a partial last line of `stream` (call at EOF). */
  end(stream: OutputStream): void {
    if (this.partialBytes[stream] > 0) this.flush(stream, false);
  }

  /** The last `n` lines, oldest first. */
  tail(n = this.count): BufferedLine[] {
    const k = Math.max(0, Math.min(n, this.count));
    const out: BufferedLine[] = [];
    const capacity = this.options.maxLines;
    for (let i = this.count - k; i < this.count; i++) {
      out.push(this.lines[(this.head + i) % capacity]!);
    }
    return out;
  }

  /** Calls `listener` for every new line; returns the unsubscribe function. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private flush(stream: OutputStream, split: boolean): void {
    const parts = this.partial[stream];
    let raw = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    this.partial[stream] = [];
    this.partialBytes[stream] = 0;
    if (!split && raw.length > 0 && raw[raw.length - 1] === 13) raw = raw.subarray(0, raw.length - 1);
    const line: BufferedLine = split
      ? { stream, text: raw.toString('utf8'), seq: this.nextSeq++, time: this.clock(), split: true }
      : { stream, text: raw.toString('utf8'), seq: this.nextSeq++, time: this.clock() };
    this.push(line, raw.length);
    for (const listener of this.listeners) listener(line);
  }

  private push(line: BufferedLine, size: number): void {
    const capacity = this.options.maxLines;
    if (this.count === capacity) this.dropOldest();
    while (this.count > 0 && this.bytes + size > this.options.maxBytes) this.dropOldest();
    if (size > this.options.maxBytes) {
      // A single line larger than the whole byte budget is counted as dropped, not kept.
      this.droppedLines++;
      this.droppedBytes += size;
      return;
    }
    const index = (this.head + this.count) % capacity;
    this.lines[index] = line;
    this.sizes[index] = size;
    this.count++;
    this.bytes += size;
  }

  private dropOldest(): void {
    const size = this.sizes[this.head]!;
    this.lines[this.head] = undefined;
    this.head = (this.head + 1) % this.options.maxLines;
    this.count--;
    this.bytes -= size;
    this.droppedLines++;
    this.droppedBytes += size;
  }
}
