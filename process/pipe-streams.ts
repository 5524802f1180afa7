/**
 * The I/O path between the manager and a child's pipes. The shepherd hands real pipe fds back over
 * SCM_RIGHTS; each is owned by one `net.Socket` (libuv reads/writes it on the event loop). Every
 * stream counts bytes and operations exactly, at the point where the kernel moved them.
 *
 * - {@link readPipe} (`buffer` policy): always reads, into ONE reused buffer (`net.Socket`'s
 *   `onread` option; no allocation per read), and hands each chunk to a sink. Never blocks the child.
 * - {@link PipeReader} (`stream` policy): a Readable whose consumer drives the reads: nothing is
 *   read before the consumer asks, and each read(2) takes up to the pipe's capacity (≤ 1 MiB), so
 *   a consumer that keeps up gets chunks as large as the pipe. When the consumer stops, reading
 *   stops and the kernel pipe fills, so the child blocks in write(2): real backpressure. At most
 *   the pipe plus `highWaterMark` + one read are ever buffered.
 * - {@link PipeWriter} (`stdin: 'pipe'`): a Writable counting bytes the kernel accepted. libuv
 *   retries partial writes at once and waits for POLLOUT on EAGAIN, so `write()` returning false is
 *   the real backpressure signal.
 */
import net from 'node:net';
import { Readable, Writable } from 'node:stream';
import { allocateAligned } from './aligned-buffer.js';
import { DroverError } from '../contract/errors.js';

/** A parent end from the shepherd: a pipe fd, or a pty master (`isPty`). */
export interface PipeEnd {
  readonly fd: number;
  readonly isPty: boolean;
}

interface PipeHandle {
  open(fd: number): number;
}

/** A libuv pipe handle on `fd` (Node's internal pipe_wrap, which `process.binding` allows). */
function openPipeHandle(fd: number): PipeHandle {
  const { Pipe, constants } = (process as unknown as { binding(name: 'pipe_wrap'): { Pipe: new (type: number) => PipeHandle; constants: { SOCKET: number } } }).binding('pipe_wrap');
  const handle = new Pipe(constants.SOCKET);
  const status = handle.open(fd);
  if (status !== 0) throw new DroverError('ERR_SPAWN_FAILED', `could not open the pty master (uv error ${status})`);
  return handle;
}

/**
 * The socket options owning `end`. A pty master is not a pipe to net.Socket's type check, so it
 * gets a libuv pipe handle opened on the fd, as node-pty does for its terminals: non-blocking
 * reads and writes, unlike tty.WriteStream.
 */
function getSocketOptions(end: PipeEnd, readable: boolean): net.SocketConstructorOpts {
  const base = { readable, writable: !readable, allowHalfOpen: false };
  return end.isPty ? ({ ...base, handle: openPipeHandle(end.fd) } as net.SocketConstructorOpts) : { ...base, fd: end.fd };
}

/** Mutable counter of one stream: bytes moved and read(2)/write(2) operations that moved them. */
export interface IoCounter {
  bytes: number;
  ops: number;
}

/** `new net.Socket({ fd, onread })`: supported since Node 18 (net.md), missing from @types/node 20's constructor options. */
function createReadSocket(end: PipeEnd, onread: net.OnReadOpts, manualStart = false): net.Socket {
  // `manualStart` (net.Socket's constructor option, not in @types/node): do not start reading.
  const options: net.SocketConstructorOpts & { onread: net.OnReadOpts; manualStart: boolean } = { ...getSocketOptions(end, true), onread, manualStart };
  return new net.Socket(options);
}

/**
 * Size of the read buffer of `buffer` streams: one read(2) can empty a 1 MiB pipe. ONE buffer is
 * shared by every such stream of the manager: libuv reads one stream at a time on the loop thread
 * and each chunk is consumed synchronously in its callback, so 1000 idle processes cost no read
 * buffers at all.
 */
export const READ_BUFFER_BYTES = 1024 * 1024;
/**
 * Read sizes of `stream` streams. One read(2) takes up to the capacity of the pipe the child got
 * (F_GETPIPE_SZ), clamped to 64 KiB..1 MiB: a producer that fills a 1 MiB pipe is emptied by one
 * read, and the consumer gets that as one chunk (a quarter of the reads, pushes and 'data' events
 * of the former fixed 256 KiB; bench/README.md, "Stream mode"). A pty (no pipe size) reads 64 KiB.
 */
export const STREAM_MIN_READ_BYTES = 64 * 1024;
export const STREAM_MAX_READ_BYTES = 1024 * 1024;
/**
 * A read of at least this many bytes is handed to the consumer as is (the kernel's copy is the only
 * one, as in Node's own sockets); a smaller read is copied into a right-sized buffer and the read
 * buffer is reused, so tiny chunks never pin a large one.
 */
export const STREAM_HANDOFF_BYTES = 16 * 1024;
/**
 * Reads of `stream` streams go to consecutive page-aligned parts of a 1 MiB slab (see
 * aligned-buffer.ts for why alignment matters); a chunk the consumer keeps keeps its slab.
 */
const STREAM_SLAB_BYTES = STREAM_MAX_READ_BYTES;
const PAGE_BYTES = 4096;
const EMPTY = Buffer.alloc(0);

/**
 * The read(2) size of a `stream` stream over a pipe of `pipeBytes` (its F_GETPIPE_SZ; 0 for a pty
 * or when unknown): the pipe's capacity rounded up to whole pages, clamped to
 * {@link STREAM_MIN_READ_BYTES}..{@link STREAM_MAX_READ_BYTES}.
 */
export function getStreamReadBytes(pipeBytes: number): number {
  const pages = Math.ceil(Math.max(0, pipeBytes) / PAGE_BYTES) * PAGE_BYTES;
  return Math.min(STREAM_MAX_READ_BYTES, Math.max(STREAM_MIN_READ_BYTES, pages));
}

let sharedReadBuffer: Buffer | undefined;

/**
 * Reads `end` to EOF into a reused buffer. `onChunk` gets a view that is only valid during the call
 * (copy what you keep). `onEnd` fires once, after the last chunk, on EOF or error.
 * Returns the socket (it owns the fd; `destroy()` closes it).
 */
export function readPipe(end: PipeEnd, counter: IoCounter, onChunk: (chunk: Buffer) => void, onEnd: () => void): net.Socket {
  const buffer = (sharedReadBuffer ??= allocateAligned(READ_BUFFER_BYTES));
  const socket = createReadSocket(end, {
    buffer,
    callback: (n: number, buf: Uint8Array) => {
      counter.bytes += n;
      counter.ops++;
      onChunk((buf as Buffer).subarray(0, n));
      return true;
    },
  });
  let ended = false;
  socket.once('close', () => {
    if (ended) return;
    ended = true;
    onEnd();
  });
  socket.on('error', () => {
    // A read error (EIO and the like) ends the stream like EOF; 'close' follows and calls onEnd.
  });
  return socket;
}

/** A byte-stream read waiting for the pipe: the next read(2) is copied into its request's view. */
interface PendingByteRead {
  readonly controller: ReadableByteStreamController;
  readonly request: ReadableStreamBYOBRequest;
  readonly resolve: () => void;
}

/**
 * Consumer-driven Readable over a pipe fd (a `stream` stdout/stderr). The fd is read only while
 * the Readable asks for data (`_read`): reading starts on the consumer's first read or `'data'`
 * listener, each read(2) takes up to the pipe's capacity (≤ 1 MiB), and reading stops (`readStop`)
 * as soon as `push()` returns false (the consumer's buffer reached `highWaterMark`); the next
 * `_read` resumes it. Meanwhile the kernel pipe fills and the child blocks in write(2).
 * {@link PipeReader.toByteStream} offers the same pipe as a WHATWG byte stream for BYOB readers.
 */
export class PipeReader extends Readable {
  private readonly socket: net.Socket;
  /** Bytes one read(2) may take: the pipe's capacity, 64 KiB..1 MiB ({@link getStreamReadBytes}). */
  private readonly readBytes: number;
  private byteStream: ReadableStream<Uint8Array> | null = null;
  private pendingByteRead: PendingByteRead | null = null;
  /** Byte mode: the part of the last read the reader's buffer had no room for. */
  private leftover: Buffer = EMPTY;
  private isEof = false;
  /** Slab the reads go to: each read takes the next page-aligned part, handed to the consumer as is. */
  private slab: Buffer = EMPTY;
  private slabUsed = 0;
  private readBuffer: Buffer = EMPTY;

  /**
   * @internal `spawn` creates the readers of `stream` outputs. `pipeBytes`: the pipe's F_GETPIPE_SZ
   * (0: a pty, or unknown), which sets the read size.
   */
  constructor(end: PipeEnd, private readonly counter: IoCounter, pipeBytes = 0, highWaterMark = 64 * 1024) {
    super({ highWaterMark });
    this.readBytes = getStreamReadBytes(pipeBytes);
    // manualStart: net.Socket would start reading at once; here the first _read() starts it.
    this.socket = createReadSocket(end, {
      buffer: () => this.getReadBuffer(),
      callback: (n: number, buf: Uint8Array) => this.handleRead(n, buf as Buffer),
    }, true);
    this.socket.once('end', () => this.handleEof());
    this.socket.once('error', (error: NodeJS.ErrnoException) => {
      // A pty master reads EIO once the slave side is closed for good (the child and its tree
      // exited): the end of the output, as for node-pty, not a failure.
      if (end.isPty && error.code === 'EIO') this.handleEof();
      else this.destroy(error);
    });
  }

  private handleEof(): void {
    if (this.isEof) return;
    this.isEof = true;
    this.push(null);
    const pending = this.pendingByteRead;
    if (pending === null) return;
    this.pendingByteRead = null;
    pending.controller.close();
    pending.request.respond(0);
    pending.resolve();
  }

  /**
   * The same pipe as a WHATWG `ReadableStream` of type `'bytes'`. With a BYOB reader
   * (`getReader({ mode: 'byob' })`) each read(2) goes to one reused read buffer and is copied into
   * the caller's buffer: a consumer that passes its buffer back reads any amount of output with no
   * allocation per read, so the manager's memory stays flat however slow the consumer is (Node's
   * Readable hands out a new Buffer per read, garbage until V8's next scavenge: 30-50 MiB with a
   * slow consumer). Backpressure is the same: nothing is read until the consumer asks. Data this
   * Readable had already read comes first. Once called, use only the byte stream (the Readable
   * interface must not be read); later calls return the same stream. A default reader gets
   * chunks of up to the read size (the pipe's capacity, 64 KiB..1 MiB).
   *
   * @example
   * const reader = p.stdout.toByteStream().getReader({ mode: 'byob' });
   * let view = new Uint8Array(256 * 1024);
   * for (;;) {
   *   const { value, done } = await reader.read(view);
   *   if (done) break;
   *   consume(value);                      // valid until the next read
   *   view = new Uint8Array(value.buffer); // same memory, passed back
   * }
   */
  toByteStream(): ReadableStream<Uint8Array> {
    this.byteStream ??= new ReadableStream({
      type: 'bytes',
      autoAllocateChunkSize: this.readBytes,
      pull: (controller) => this.pullBytes(controller),
      cancel: () => {
        this.destroy();
      },
    });
    return this.byteStream;
  }

  private pullBytes(controller: ReadableByteStreamController): Promise<void> | void {
    const request = controller.byobRequest!; // always set: autoAllocateChunkSize
    if (this.readableLength > 0) {
      // What the Readable side read before the switch (at most highWaterMark + one read).
      const held = this.read() as Buffer;
      const n = this.copyToReader(request, held);
      if (n < held.length) this.unshift(held.subarray(n));
      return;
    }
    if (this.leftover.length > 0) {
      const n = this.copyToReader(request, this.leftover);
      this.leftover = this.leftover.subarray(n);
      return;
    }
    if (this.isEof) {
      controller.close();
      request.respond(0);
      return;
    }
    return new Promise<void>((resolve) => {
      this.pendingByteRead = { controller, request, resolve };
      // libuv stopped after the last read (handleRead returned false), or never started; read once more.
      this.socket._read(0);
    });
  }

  /** Copies what fits of `data` into the reader's buffer and answers the request; returns the bytes copied. */
  private copyToReader(request: ReadableStreamBYOBRequest, data: Buffer): number {
    const view = request.view as Uint8Array;
    const n = Math.min(data.length, view.byteLength);
    data.copy(view, 0, 0, n);
    request.respond(n);
    return n;
  }

  /** The underlying socket (owns the fd). @internal */
  get handle(): net.Socket {
    return this.socket;
  }

  /**
   * @internal Readable's implementation hook: the consumer wants data. Starts libuv reading unless
   * it runs already. Socket#_read starts it (tryReadStart) when the handle is not reading: before
   * the first read (manualStart) and after an onread callback returned false. With `onread`, the
   * socket's own Readable state never sees data, so resume() would not. A socket already closed
   * (EOF or error, whose 'end'/'error' is about to end this Readable) is left alone: its _read
   * would wait for a 'connect' that never comes.
   */
  override _read(): void {
    if (this.byteStream !== null || this.socket.destroyed) return;
    this.socket._read(0);
  }

  /** @internal Readable's implementation hook. */
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.socket.destroy();
    const pending = this.pendingByteRead;
    if (pending !== null) {
      this.pendingByteRead = null;
      pending.controller.error(error ?? new DroverError('ERR_STOPPED', 'the output stream was destroyed'));
      pending.resolve();
    }
    callback(error);
  }

  /**
   * The buffer of the next read(2): the rest of the slab, up to the read size. A slab with less
   * than a quarter of the read size left is replaced, so a read is never much smaller than the pipe.
   */
  private getReadBuffer(): Uint8Array {
    if (this.readBuffer.length > 0) return this.readBuffer;
    if (this.slab.length - this.slabUsed < this.readBytes / 4) {
      this.slab = allocateAligned(STREAM_SLAB_BYTES);
      this.slabUsed = 0;
    }
    this.readBuffer = this.slab.subarray(this.slabUsed, Math.min(this.slab.length, this.slabUsed + this.readBytes));
    return this.readBuffer;
  }

  private handleRead(n: number, buf: Buffer): boolean {
    this.counter.bytes += n;
    this.counter.ops++;
    if (this.byteStream !== null) {
      // Byte mode: the read buffer is reused (never handed out); what the reader's buffer has no
      // room for waits in it, and libuv reads again only once the reader took everything.
      this.leftover = buf.subarray(0, n);
      const pending = this.pendingByteRead;
      if (pending !== null) {
        this.pendingByteRead = null;
        this.leftover = this.leftover.subarray(this.copyToReader(pending.request, this.leftover));
        pending.resolve();
      }
      return false;
    }
    let chunk: Buffer;
    if (n >= STREAM_HANDOFF_BYTES) {
      chunk = buf.subarray(0, n);
      // The chunk is the consumer's now; the next read goes to the slab's next page.
      this.slabUsed += Math.ceil(n / PAGE_BYTES) * PAGE_BYTES;
      this.readBuffer = EMPTY;
    } else {
      chunk = Buffer.allocUnsafe(n);
      buf.copy(chunk, 0, 0, n);
    }
    // false: the consumer's buffer is full; libuv stops reading until the next _read().
    return this.push(chunk) && this.byteStream === null;
  }
}

/**
 * Writable to a child's stdin pipe. Bytes and operations count when the kernel took them (the
 * socket's write callback), so `stats()` never includes data still queued in the manager.
 */
/** What a write to a child's stdin gets once the child has exited and its pipe is closed. */
function createClosedPipeError(): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error("write to the child's stdin after its pipe was closed (the child exited)");
  error.code = 'EPIPE';
  error.syscall = 'write';
  return error;
}

export class PipeWriter extends Writable {
  private readonly socket: net.Socket;

  constructor(end: PipeEnd, private readonly counter: IoCounter) {
    super({ highWaterMark: 64 * 1024, decodeStrings: true });
    this.socket = new net.Socket(getSocketOptions(end, false));
    this.socket.on('error', (error) => this.destroy(error));
  }

  /** The underlying socket (owns the fd). */
  get handle(): net.Socket {
    return this.socket;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.socket.destroyed) {
      // The child exited and the manager closed its end: every write after that fails at once.
      callback(createClosedPipeError());
      return;
    }
    // Counted when the kernel took the bytes (the socket's write callback); the next chunk is
    // accepted as soon as the socket has room, so writes pipeline instead of waiting one by one.
    const hasRoom = this.socket.write(chunk, (error) => {
      if (error) return; // the socket's 'error' (or its close) settles this write
      this.counter.bytes += chunk.length;
      this.counter.ops++;
    });
    if (hasRoom) {
      callback();
      return;
    }
    // Wait for room, or for the end of the pipe (the child exited): whichever comes first.
    const onDrain = () => {
      this.socket.off('close', onClose);
      callback();
    };
    const onClose = () => {
      this.socket.off('drain', onDrain);
      callback(createClosedPipeError());
    };
    this.socket.once('drain', onDrain);
    this.socket.once('close', onClose);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    const data = chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk));
    this._write(data, 'binary', callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.socket.end(() => callback());
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.socket.destroy();
    callback(error);
  }
}
