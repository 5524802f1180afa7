/**
 * Reading files a config names (the config itself, `envFile`s, the project `.env`) without trusting them: only a
 * regular file of at most a stated size is read. The path is stat'ed first, so a device or FIFO is
 * never even opened; it is then opened non-blocking (had it been swapped for a FIFO since, opening
 * it for reading would otherwise wait for a writer forever) and checked again with fstat on the
 * opened descriptor, and read to at most the cap plus one byte (a regular file can grow after
 * fstat, and /proc files report size 0). Symlinks are followed: a config may link to a shared env
 * file.
 */
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { open, stat } from 'node:fs/promises';

/**
 * The largest config file read, in bytes (1 MiB): some 20,000 lines, far above any hand-written
 * cluster, and small enough that even a document of nothing but tiny flow-list items (the
 * slowest for the YAML parser, about 15 µs per item on a loaded 2-core machine) parses in seconds.
 */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** The largest env file read, in bytes (1 MiB). */
export const MAX_ENV_FILE_BYTES = 1024 * 1024;

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

/** Why a file was not read. */
export type ReadFailure =
  | { readonly kind: 'not-regular'; /** e.g. `a FIFO`, `a directory`, `a character device`. */ readonly type: string }
  | { readonly kind: 'too-large'; /** Its size from fstat, or null when it grew past the cap while read. */ readonly size: number | null }
  | {
      readonly kind: 'error';
      /** e.g. `no such file`, `permission denied`, or the system error's message. */
      readonly reason: string;
      readonly errno?: string;
      readonly syscall?: string;
      readonly cause: unknown;
    };

/** A file's text, or why it was not read. */
export type ReadResult = { readonly ok: true; readonly text: string } | ({ readonly ok: false } & ReadFailure);

type Refusal = Exclude<ReadResult, { ok: true }>;

/** Bytes read per read(2). */
const CHUNK_BYTES = 64 * 1024;

function describeType(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** Refusal for what fstat says, or undefined when the file may be read. */
function checkStats(stats: Stats, maxBytes: number): Refusal | undefined {
  if (!stats.isFile()) return { ok: false, kind: 'not-regular', type: describeType(stats) };
  if (stats.size > maxBytes) return { ok: false, kind: 'too-large', size: stats.size };
  return undefined;
}

function describeError(error: unknown): Refusal {
  const { code, syscall, message } = error as NodeJS.ErrnoException;
  const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : message;
  return { ok: false, kind: 'error', reason, ...(code === undefined ? {} : { errno: code }), ...(syscall === undefined ? {} : { syscall }), cause: error };
}

/** Collects chunks up to `maxBytes`; `add` says false once the text is known to be too large. */
class BoundedText {
  private readonly chunks: Buffer[] = [];
  private total = 0;
  constructor(private readonly maxBytes: number) {}

  /** A buffer for the next read: one byte more than may still come, so growth past the cap shows. */
  next(): Buffer {
    return Buffer.allocUnsafe(Math.min(CHUNK_BYTES, this.maxBytes + 1 - this.total));
  }

  add(buffer: Buffer, bytes: number): boolean {
    this.chunks.push(buffer.subarray(0, bytes));
    this.total += bytes;
    return this.total <= this.maxBytes;
  }

  text(): string {
    return Buffer.concat(this.chunks, this.total).toString('utf8');
  }
}

/** Reads `path` as UTF-8 text if it is a regular file of at most `maxBytes` bytes. */
export function readRegularFileSync(path: string, maxBytes: number): ReadResult {
  let fd: number;
  try {
    const refusal = checkStats(statSync(path), maxBytes);
    if (refusal !== undefined) return refusal;
    fd = openSync(path, OPEN_FLAGS);
  } catch (error) {
    return describeError(error);
  }
  try {
    const refusal = checkStats(fstatSync(fd), maxBytes);
    if (refusal !== undefined) return refusal;
    const text = new BoundedText(maxBytes);
    for (;;) {
      const buffer = text.next();
      const bytes = readSync(fd, buffer, 0, buffer.length, null);
      if (bytes === 0) return { ok: true, text: text.text() };
      if (!text.add(buffer, bytes)) return { ok: false, kind: 'too-large', size: null };
    }
  } catch (error) {
    return describeError(error);
  } finally {
    closeSync(fd);
  }
}

/** The async twin of {@link readRegularFileSync}. */
export async function readRegularFile(path: string, maxBytes: number): Promise<ReadResult> {
  let handle;
  try {
    const refusal = checkStats(await stat(path), maxBytes);
    if (refusal !== undefined) return refusal;
    handle = await open(path, OPEN_FLAGS);
  } catch (error) {
    return describeError(error);
  }
  try {
    const refusal = checkStats(await handle.stat(), maxBytes);
    if (refusal !== undefined) return refusal;
    const text = new BoundedText(maxBytes);
    for (;;) {
      const buffer = text.next();
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) return { ok: true, text: text.text() };
      if (!text.add(buffer, bytesRead)) return { ok: false, kind: 'too-large', size: null };
    }
  } catch (error) {
    return describeError(error);
  } finally {
    await handle.close();
  }
}
