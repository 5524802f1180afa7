import { closeSync, constants, fstatSync, writeSync } from 'node:fs';
import { rotateGenerations } from '../cluster/output-file.js';
import { getSystemErrorMap } from 'node:util';
import { formatClock, type LineSink } from './printer.js';
import { openStateFile } from './state-dir.js';

/** Cap of `up.log`: past it the file becomes `up.log.1` (replacing the previous one) and a new `up.log` begins. */
export const UP_LOG_MAX_BYTES = 10 * 1024 * 1024;

/** Lines longer than this (in UTF-16 units, at most 3 bytes each in UTF-8) are cut in the log. */
const MAX_LINE_CHARS = 256 * 1024;

/** Batches up to this many bytes into one write(2). */
const FLUSH_BYTES = 64 * 1024;

/** After a failed write, lines are dropped (and counted) for this long before the next try. */
const RETRY_AFTER_MS = 1000;

/** A write error of the log, as the control API reports it. */
export interface UpLogError {
  /** errno name of the first failure, e.g. `ENOSPC`, `EFBIG`. */
  readonly code: string;
  /** Its description, e.g. `no space left on device`. */
  readonly message: string;
  /** Epoch ms of the first failure. */
  readonly firstAtMs: number;
  /** Lines that could not be written, in all. */
  readonly linesLost: number;
  /** Whether the last write succeeded (the log works again). */
  readonly isWriting: boolean;
}

/** `up.log`'s state in `GET /v1/cluster` (`log`). */
export interface UpLogStatus {
  readonly path: string;
  readonly maxBytes: number;
  /** null while every line was written. */
  readonly error: UpLogError | null;
}

export interface UpLogOptions {
  /** @default UP_LOG_MAX_BYTES */
  readonly maxBytes?: number;
  /** Epoch-ms clock. @default Date.now */
  readonly clock?: () => number;
  /** Formats drover's own line (the one saying lines were lost) like the other lines of the log. */
  readonly formatNotice: (text: string) => string;
}

/** `no space left on device` for ENOSPC: libuv's description of an errno, else the error's message. */
function describeErrno(error: NodeJS.ErrnoException): string {
  return (typeof error.errno === 'number' ? getSystemErrorMap().get(error.errno)?.[1] : undefined) ?? error.message;
}

/**
 * The output log of a background `drover up`: lines are batched into `write(2)`s to
 * `<state dir>/up.log`, which is capped at `maxBytes` and then rotated to `up.log.1` (so at most
 * twice `maxBytes` on disk). A write error never throws: the lines are counted as lost, the error
 * is kept for the control API, writes are tried again a second later (at once after EFBIG, which
 * rotates the file), and the first line written again says how many lines were lost and why.
 */
export class UpLog implements LineSink {
  private fd: number | null = null;
  private pending: string[] = [];
  private pendingBytes = 0;
  private flushScheduled = false;
  private retryAtMs = 0;
  private error: { code: string; message: string; firstAtMs: number; linesLost: number; isWriting: boolean } | null = null;
  /** Lines lost since the last line that said so. */
  private unreported = 0;
  private unreportedSinceMs = 0;
  private readonly maxBytes: number;
  private readonly clock: () => number;

  constructor(
    readonly path: string,
    private readonly options: UpLogOptions,
  ) {
    this.maxBytes = options.maxBytes ?? UP_LOG_MAX_BYTES;
    this.clock = options.clock ?? Date.now;
    this.tryOpen(constants.O_CREAT);
  }

  get status(): UpLogStatus {
    return { path: this.path, maxBytes: this.maxBytes, error: this.error === null ? null : { ...this.error } };
  }

  writeLine(line: string): void {
    if (this.clock() < this.retryAtMs) {
      this.lose(1);
      return;
    }
    const text = line.length > MAX_LINE_CHARS ? `${line.slice(0, MAX_LINE_CHARS)} … [${line.length - MAX_LINE_CHARS} more characters cut]` : line;
    this.pending.push(`${text}\n`);
    this.pendingBytes += text.length + 1;
    if (this.pendingBytes >= FLUSH_BYTES) {
      this.flush();
    } else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Writes what is pending now (synchronously; also on the way out). */
  flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0) return;
    const lines = this.pending.length;
    const data = Buffer.from(this.pending.join(''));
    this.pending = [];
    this.pendingBytes = 0;
    if (this.fd === null && !this.tryOpen(constants.O_CREAT)) {
      this.lose(lines);
      return;
    }
    let size: number;
    try {
      size = fstatSync(this.fd!).size;
    } catch {
      size = 0;
    }
    if (size > 0 && size + data.length > this.maxBytes && !this.rotate()) {
      this.lose(lines);
      return;
    }
    if (this.unreported > 0) {
      const { code, message } = this.error!;
      const notice = Buffer.from(
        `${this.options.formatNotice(`up.log: ${this.unreported} lines lost: ${code}: ${message} (from ${formatClock(this.unreportedSinceMs)} to ${formatClock(this.clock())}); the cluster kept running`)}\n`,
      );
      if (this.writeAll(notice) !== notice.length) {
        this.lose(lines);
        return;
      }
      this.unreported = 0;
    }
    const written = this.writeAll(data);
    if (written < data.length) this.lose(countLines(data.subarray(written)));
  }

  /** Flushes and closes the file. */
  close(): void {
    this.flush();
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  /** Writes all of `data` or stops at the first error (recorded); the number of bytes written. */
  private writeAll(data: Buffer): number {
    let offset = 0;
    while (offset < data.length) {
      try {
        offset += writeSync(this.fd!, data, offset, data.length - offset);
      } catch (error) {
        this.fail(error as NodeJS.ErrnoException);
        if ((error as NodeJS.ErrnoException).code === 'EFBIG' && offset + safeSize(this.fd!) > 0 && this.rotate()) {
          // The file reached a file-size limit (RLIMIT_FSIZE): a new file can be written at once.
          this.retryAtMs = 0;
        }
        return offset;
      }
    }
    if (this.error !== null) this.error.isWriting = true;
    return offset;
  }

  /** `up.log` → `up.log.1` (replacing it), then a new `up.log` (O_EXCL: created now, by us). */
  private rotate(): boolean {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    try {
      // The rotation of output files with one generation; a removed up.log (ENOENT) is skipped.
      rotateGenerations(this.path, 1);
    } catch (error) {
      this.fail(error as NodeJS.ErrnoException);
      return false;
    }
    return this.tryOpen(constants.O_CREAT | constants.O_EXCL);
  }

  private tryOpen(create: number): boolean {
    try {
      this.fd = openStateFile(this.path, constants.O_WRONLY | constants.O_APPEND | create);
      return true;
    } catch (error) {
      // openStateFile's DroverError keeps the errno's error as its cause (a refused file has none).
      const cause = (error as { cause?: NodeJS.ErrnoException }).cause;
      this.fail(cause ?? Object.assign(new Error((error as Error).message), { code: 'EINVAL' }));
      return false;
    }
  }

  private fail(error: NodeJS.ErrnoException): void {
    const now = this.clock();
    const code = error.code ?? 'EIO';
    if (this.error === null) this.error = { code, message: describeErrno(error), firstAtMs: now, linesLost: 0, isWriting: false };
    this.error.isWriting = false;
    this.retryAtMs = now + RETRY_AFTER_MS;
  }

  private lose(lines: number): void {
    if (lines <= 0) return;
    if (this.unreported === 0) this.unreportedSinceMs = this.clock();
    this.unreported += lines;
    if (this.error !== null) this.error.linesLost += lines;
  }
}

function countLines(data: Buffer): number {
  let count = 0;
  for (let i = data.indexOf(10); i !== -1; i = data.indexOf(10, i + 1)) count++;
  return count;
}

function safeSize(fd: number): number {
  try {
    return fstatSync(fd).size;
  } catch {
    return 0;
  }
}
