import { closeSync, constants, fstatSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { OUTPUT_FILE_MAX_PENDING_BYTES } from '../contract/defaults.js';
import type { OutputFileSpec, OutputLine } from '../contract/types.js';

/** Batches up to this many bytes (UTF-16 units) into one write(2), as `up.log` does. */
const FLUSH_BYTES = 64 * 1024;

/** After a failed write, lines are dropped (and counted) for this long before the next try (as `up.log`). */
const RETRY_AFTER_MS = 1000;

/** `HH:MM:SS.mmm` in local time: the clock `drover logs --timestamps` prints (cli/printer.ts formatClock). */
export function formatLineClock(time: number): string {
  const d = new Date(time);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/**
 * The file of one replica: `{{replica}}` replaced; without it replica 0 writes `path` and replica
 * N ≥ 1 `name-N.ext`, so a scale from 1 to 2 replicas leaves replica 0's file where it was.
 */
export function getReplicaOutputPath(path: string, replica: number): string {
  if (path.includes('{{replica}}')) return path.replaceAll('{{replica}}', String(replica));
  if (replica === 0) return path;
  const ext = extname(path);
  return join(dirname(path), `${basename(path, ext)}-${replica}${ext}`);
}

/**
 * A node replica's output file (`output.file`): each line as `HH:MM:SS.mmm <stream> <text>`,
 * batched into `write(2)`s once per event-loop turn or per 64 KiB. Before a batch would take the file past
 * `maxBytes`, it is rotated (`app.log.<keep-1>` → `app.log.<keep>` … `app.log` → `app.log.1`;
 * the oldest is replaced), so each file holds whole lines and at most `maxBytes` (a single
 * longer line gets a file of its own). The same rotation as `up.log` (cli/up-log.ts) with
 * `keep` generations instead of one.
 *
 * Never blocks or fails the node: lines wait in a queue of at most
 * {@link OUTPUT_FILE_MAX_PENDING_BYTES}; past it, and while the file cannot be written (ENOSPC,
 * EACCES), lines are dropped and counted (`droppedLines`), one warning is emitted per failure
 * episode, and writing is tried again a second later.
 */
export class OutputFile {
  private fd: number | null = null;
  private size = 0;
  private pending: string[] = [];
  private pendingBytes = 0;
  private flushScheduled = false;
  private retryAtMs = 0;
  private warned = false;
  /** Lines not written: queue full or write errors. */
  droppedLines = 0;

  constructor(
    /** Absolute path of the current file. */
    readonly path: string,
    private readonly spec: Pick<OutputFileSpec, 'maxBytes' | 'keep'>,
    private readonly label: string,
    private readonly clock: () => number = Date.now,
    private readonly maxPendingBytes = OUTPUT_FILE_MAX_PENDING_BYTES,
  ) {}

  writeLine(line: Pick<OutputLine, 'stream' | 'text' | 'time'>): void {
    const text = `${formatLineClock(line.time)} ${line.stream} ${line.text}\n`;
    if (this.clock() < this.retryAtMs || this.pendingBytes + text.length > this.maxPendingBytes) {
      this.droppedLines++;
      return;
    }
    this.pending.push(text);
    this.pendingBytes += text.length;
    if (this.pendingBytes >= FLUSH_BYTES) {
      // A burst (many lines read in one event-loop turn) is written as it comes, so the queue
      // holds lines only while the disk fails and a working disk never loses one.
      this.flush();
    } else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Writes what is pending now (synchronously; also on close). */
  flush(): void {
    this.flushScheduled = false;
    const lines = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    let batch: Buffer[] = [];
    let batchBytes = 0;
    let index = 0;
    const writeBatch = (): boolean => {
      if (batch.length === 0) return true;
      const ok = this.write(Buffer.concat(batch, batchBytes));
      if (!ok) this.droppedLines += lines.length - index + batch.length;
      batch = [];
      batchBytes = 0;
      return ok;
    };
    for (; index < lines.length; index++) {
      const bytes = Buffer.from(lines[index]!);
      if (this.fd === null && !this.open()) {
        this.droppedLines += lines.length - index + batch.length;
        return;
      }
      if (this.size + batchBytes > 0 && this.size + batchBytes + bytes.length > this.spec.maxBytes) {
        if (!writeBatch()) return;
        if (!this.rotate()) {
          this.droppedLines += lines.length - index;
          return;
        }
      }
      batch.push(bytes);
      batchBytes += bytes.length;
    }
    index = lines.length;
    writeBatch();
  }

  /** Flushes and closes the file; a later line opens it again. */
  close(): void {
    this.flush();
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  private write(data: Buffer): boolean {
    let offset = 0;
    try {
      while (offset < data.length) offset += writeSync(this.fd!, data, offset, data.length - offset);
    } catch (error) {
      this.size += offset;
      this.fail(error as NodeJS.ErrnoException);
      return false;
    }
    this.size += offset;
    this.warned = false;
    return true;
  }

  private open(): boolean {
    try {
      // A path such as logs/{{node}}.log: its directory is made on first use.
      mkdirSync(dirname(this.path), { recursive: true });
      this.fd = openSync(this.path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o644);
      this.size = fstatSync(this.fd).size;
      return true;
    } catch (error) {
      this.fd = null;
      this.fail(error as NodeJS.ErrnoException);
      return false;
    }
  }

  private rotate(): boolean {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    try {
      rotateGenerations(this.path, this.spec.keep);
    } catch (error) {
      this.fail(error as NodeJS.ErrnoException);
      return false;
    }
    return this.open();
  }

  private fail(error: NodeJS.ErrnoException): void {
    this.retryAtMs = this.clock() + RETRY_AFTER_MS;
    if (this.warned) return;
    this.warned = true;
    process.emitWarning(
      `drover: node ${this.label}: output file ${this.path}: ${error.message}; lines are dropped (counted) until it can be written again, the node keeps running`,
      'DroverWarning',
    );
  }
}

/**
 * Shifts a log's generations: `path.<keep-1>` → `path.<keep>` … `path` → `path.1` (the oldest
 * replaced); `keep` 0 removes `path`. A missing generation is skipped. Used by output files and
 * by `drover up`'s `up.log` (keep 1).
 * @throws the rename's or unlink's error other than ENOENT.
 */
export function rotateGenerations(path: string, keep: number): void {
  if (keep === 0) {
    try {
      unlinkSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    return;
  }
  for (let n = keep - 1; n >= 1; n--) renameIfExists(`${path}.${n}`, `${path}.${n + 1}`);
  renameIfExists(path, `${path}.1`);
}

function renameIfExists(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
