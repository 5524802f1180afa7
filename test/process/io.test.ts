// The I/O path: byte-exact delivery in every mode, exact counters, real backpressure in
// stream mode, stdin above pipe capacity, exit after drain with a bound.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ManagedProcess } from '../../process/index.js';
import { getStreamReadBytes } from '../../process/pipe-streams.js';
import { fixture } from '../helpers/fixtures.js';
import { expectAllGone, expectNoShepherds } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';

const started: ManagedProcess[] = [];

async function start(...args: Parameters<typeof spawn>): Promise<ManagedProcess> {
  const p = await spawn(...args);
  started.push(p);
  return p;
}

afterEach(async () => {
  await Promise.all(started.map((p) => p.stop({ timeoutMs: 1000 })));
  const pids = started.flatMap((p) => [p.pid, ...(p.shepherdPid ? [p.shepherdPid] : [])]);
  started.length = 0;
  if (pids.length > 0) await expectAllGone(pids);
  await expectNoShepherds();
});

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The fixture's own account on stderr: `sha256 <hex> bytes <n>`. */
function getReport(p: ManagedProcess): { sha: string; bytes: number } {
  const line = p.output.tail().find((l) => l.stream === 'stderr' && l.text.startsWith('sha256 '));
  expect(line, 'spam-bytes report line').toBeDefined();
  const [, sha, , bytes] = line!.text.split(' ');
  return { sha: sha!, bytes: Number(bytes) };
}

/** Reassembles the stdout lines of the ring buffer into the bytes the child wrote. */
function joinLines(p: ManagedProcess): string {
  return p.output
    .tail()
    .filter((l) => l.stream === 'stdout')
    .map((l) => l.text + (l.split ? '' : '\n'))
    .join('');
}

/**
 * Waits until `pid` is blocked in write(2) on fd 1: /proc/<pid>/syscall starts with the syscall
 * number (1 = write on x86-64, 64 on arm64) and its first argument, the fd.
 */
async function waitBlockedInWrite(pid: number, what: string): Promise<void> {
  const writeNr = process.arch === 'arm64' ? '64' : '1';
  await waitFor(
    () => readFileSync(`/proc/${pid}/syscall`, 'utf8'),
    (text) => text.startsWith(`${writeNr} 0x1 `),
    { describe: what, timeoutMs: 15_000 },
  );
}

async function readAll(p: ManagedProcess): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of p.stdout!) chunks.push(chunk as Buffer);
  return chunks;
}

describe('byte-exact delivery and exact counters', () => {
  it('stream mode: 8 MiB of binary arrive byte-exact; bytes and read ops equal what arrived', async () => {
    const size = 8 * 1024 * 1024 + 13;
    const p = await start(fixture('spam-bytes', size, 50_000), { stdout: 'stream' });
    const chunks = await readAll(p);
    const result = await p.exited;
    expect(result.exitCode).toBe(0);
    const report = getReport(p);
    expect(report.bytes).toBe(size);
    expect(sha256(Buffer.concat(chunks))).toBe(report.sha);
    const stats = p.stats();
    expect(stats.stdout.bytes).toBe(size);
    // One push per read(2) that returned data: the consumer saw exactly `ops` chunks.
    expect(stats.stdout.ops).toBe(chunks.length);
    expect(Math.max(...chunks.map((c) => c.length))).toBeLessThanOrEqual(getStreamReadBytes(p.pipeSizes[1]));
  });

  it('buffer mode: 4 MiB of lines arrive byte-exact in the ring buffer; bytes equal the size', async () => {
    const size = 4 * 1024 * 1024;
    const p = await start(fixture('spam-bytes', size, 30_000, 'lines'), { output: { maxLines: 200_000, maxBytes: 64 * 1024 * 1024 } });
    const result = await p.exited;
    expect(result.exitCode).toBe(0);
    expect(result.drainTimedOut).toBe(false);
    const report = getReport(p);
    expect(sha256(joinLines(p))).toBe(report.sha);
    const stats = p.stats();
    expect(stats.stdout.bytes).toBe(size);
    expect(stats.stdout.ops).toBeGreaterThan(0);
    expect(stats.droppedLines).toBe(0);
  });

  it('fast-exiting children lose nothing: echo hi, and 40 KB then exit, 10 times each', async () => {
    for (let i = 0; i < 10; i++) {
      const hi = await start(['sh', '-c', 'echo hi']);
      expect((await hi.exited).exitCode).toBe(0);
      expect(hi.output.tail().map((l) => l.text)).toEqual(['hi']);
      expect(hi.stats().stdout).toMatchObject({ bytes: 3 });
      const big = await start(['sh', '-c', 'head -c 40000 /dev/zero | tr "\\0" "a"; exit 7']);
      expect((await big.exited).exitCode).toBe(7);
      expect(big.stats().stdout.bytes).toBe(40_000);
      expect(joinLines(big).replace(/\n$/, '')).toBe('a'.repeat(40_000));
    }
  });

  it('property: random chunk sequences (0..192 KiB) through cat arrive byte-exact in both modes with exact counters', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 192 * 1024 }), { minLength: 1, maxLength: 6 }),
        fc.constantFrom('stream' as const, 'buffer' as const),
        fc.integer({ min: 0, max: 255 }),
        async (sizes, mode, seed) => {
          // Printable bytes with newlines so buffer mode's lines reassemble exactly.
          const chunks = sizes.map((size, k) => {
            const chunk = Buffer.alloc(size);
            for (let i = 0; i < size; i++) chunk[i] = (i + k + seed) % 61 === 0 ? 10 : 65 + ((i * 7 + seed) % 26);
            return chunk;
          });
          const input = Buffer.concat(chunks);
          const p = await start(['cat'], { stdin: 'pipe', stdout: mode, output: { maxLines: 100_000, maxBytes: 8 * 1024 * 1024 } });
          const reading = mode === 'stream' ? readAll(p) : Promise.resolve([]);
          for (const chunk of chunks) p.stdin!.write(chunk);
          p.closeStdin();
          const received = await reading;
          const result = await p.exited;
          expect(result.exitCode).toBe(0);
          const output = mode === 'stream' ? Buffer.concat(received) : Buffer.from(joinLines(p));
          // Buffer mode ends a last partial line at EOF without a newline of its own.
          const expected = mode === 'buffer' && input.length > 0 && input[input.length - 1] !== 10 ? Buffer.concat([input, Buffer.from('\n')]) : input;
          expect(output.equals(expected)).toBe(true);
          const stats = p.stats();
          expect(stats.stdin.bytes).toBe(input.length);
          expect(stats.stdout.bytes).toBe(input.length);
          if (mode === 'stream') expect(stats.stdout.ops).toBe(received.length);
        },
      ),
      { numRuns: 12 },
    );
  });
});

describe('pipe sizes', () => {
  it('requests pipeSizeBytes with F_SETPIPE_SZ and reports the sizes obtained at start, in stats() and at exit', async () => {
    const p = await start(['cat'], { stdin: 'pipe', pipeSizeBytes: 256 * 1024 });
    expect(p.pipeSizes).toEqual([262144, 262144, 262144]);
    expect(p.stats().pipeSizes).toEqual({ stdin: 262144, stdout: 262144, stderr: 262144 });
    p.closeStdin();
    expect((await p.exited).pipeSizes).toEqual([262144, 262144, 262144]);
    const plain = await start(['true'], { pipeSizeBytes: 0, stdout: 'ignore' });
    expect(plain.pipeSizes).toEqual([0, 0, 65536]);
  });

  it('rejects a pipe size outside 0..64 MiB naming the option', async () => {
    await expect(spawn(['true'], { pipeSizeBytes: -1 })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', message: expect.stringContaining('`pipeSizeBytes`') });
  });
});

describe('stream mode backpressure', () => {
  it('a consumer that does not read leaves the child blocked in write(2), with at most the pipe plus one read buffered', async () => {
    const total = 32 * 1024 * 1024;
    const p = await start(fixture('write-until-blocked', total), { stdout: 'stream' });
    await waitBlockedInWrite(p.pid, 'the child blocked in write(1, …)');
    const wrote = () => Number(p.output.tail(1)[0]?.text.split(' ')[1] ?? 0);
    const blockedAt = wrote();
    const pipeBytes = p.pipeSizes[1];
    expect(pipeBytes).toBeGreaterThan(0);
    // Not the 32 MiB a reader without backpressure would have taken.
    expect(blockedAt).toBeLessThanOrEqual(pipeBytes + 64 * 1024 + getStreamReadBytes(pipeBytes) + 4096);
    expect(p.stats().stdout.bytes).toBeLessThanOrEqual(64 * 1024 + getStreamReadBytes(pipeBytes));
    // Now consume: the child continues and everything arrives.
    let received = 0;
    for await (const chunk of p.stdout!) received += (chunk as Buffer).length;
    expect(received).toBe(total);
    expect((await p.exited).exitCode).toBe(0);
    expect(p.output.tail(1)[0]?.text).toBe(`done ${total}`);
  });
});

describe('stream mode: the consumer drives the reads', () => {
  /** The last "wrote <n>" line of the write-until-blocked fixture (stderr, buffer mode). */
  const wrote = (p: ManagedProcess) => Number(p.output.tail(1)[0]?.text.split(' ')[1] ?? 0);

  it('reads nothing before the consumer asks: the child fills the pipe and blocks, the manager holds no byte', async () => {
    const total = 8 * 1024 * 1024;
    const p = await start(fixture('write-until-blocked', total), { stdout: 'stream', pipeSizeBytes: 256 * 1024 });
    const pipeBytes = p.pipeSizes[1];
    expect(pipeBytes).toBe(256 * 1024);
    await waitBlockedInWrite(p.pid, 'the child blocked in write(1, …) with nobody reading');
    // Its 4 KiB writes filled the pipe's pages, and nothing more: the manager took nothing out.
    await waitFor(() => wrote(p), (n) => n >= pipeBytes - 4096, { describe: 'the child to report the bytes it wrote' });
    expect(wrote(p)).toBeLessThanOrEqual(pipeBytes);
    expect(p.stats().stdout).toEqual({ bytes: 0, ops: 0 });
    expect(p.stdout!.readableLength).toBe(0);
    let received = 0;
    for await (const chunk of p.stdout!) received += (chunk as Buffer).length;
    expect(received).toBe(total);
    expect((await p.exited).exitCode).toBe(0);
  });

  it('a consumer that starts after the exit still gets every byte: the output waited in the pipe', async () => {
    const p = await start(['sh', '-c', 'echo out; echo err >&2'], { stdout: 'stream', stderr: 'stream' });
    expect((await p.exited).exitCode).toBe(0);
    expect(p.stats().stdout.bytes).toBe(0);
    let out = '';
    for await (const chunk of p.stdout!) out += (chunk as Buffer).toString();
    let err = '';
    for await (const chunk of p.stderr!) err += (chunk as Buffer).toString();
    expect({ out, err }).toEqual({ out: 'out\n', err: 'err\n' });
    expect(p.stats().stdout).toEqual({ bytes: 4, ops: 1 });
  });

  it('a consumer that keeps up gets chunks as large as the pipe, 1 MiB and 256 KiB pipes alike', async () => {
    const total = 32 * 1024 * 1024;
    for (const pipeSizeBytes of [1024 * 1024, 256 * 1024]) {
      const p = await start(['dd', 'if=/dev/zero', 'bs=1M', `count=${total / 1024 / 1024}`, 'status=none'], { stdout: 'stream', stderr: 'ignore', pipeSizeBytes });
      expect(p.pipeSizes[1]).toBe(pipeSizeBytes);
      const sizes: number[] = [];
      p.stdout!.on('data', (chunk: Buffer) => sizes.push(chunk.length));
      await once(p.stdout!, 'end');
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(total);
      // dd writes 1 MiB at a time; each read(2) can take what the whole pipe holds, never more.
      expect({ pipeSizeBytes, largest: Math.max(...sizes) }).toEqual({ pipeSizeBytes, largest: pipeSizeBytes });
      expect(sizes.length).toBeLessThan((total / pipeSizeBytes) * 4);
      expect((await p.exited).exitCode).toBe(0);
    }
  });

  it('a consumer that pauses stops the reads: the child blocks, the manager holds at most highWaterMark plus one read', async () => {
    const total = 64 * 1024 * 1024;
    const p = await start(fixture('write-until-blocked', total, 65_536), { stdout: 'stream', pipeSizeBytes: 1024 * 1024 });
    const pipeBytes = p.pipeSizes[1];
    let received = 0;
    await new Promise<void>((resolve) => {
      const onData = (chunk: Buffer) => {
        received += chunk.length;
        if (received < 4 * 1024 * 1024) return;
        p.stdout!.off('data', onData);
        p.stdout!.pause();
        resolve();
      };
      p.stdout!.on('data', onData);
    });
    // Reads go on until push() returns false, i.e. until the Readable holds highWaterMark (64 KiB):
    // from then on nothing reads the pipe, the child fills it and blocks for good.
    await waitFor(() => p.stdout!.readableLength, (n) => n >= 64 * 1024, { describe: 'the paused Readable to fill to its highWaterMark' });
    await waitBlockedInWrite(p.pid, 'the child blocked in write(1, …) while the consumer is paused');
    const read = p.stats().stdout.bytes;
    // What the manager read beyond what the consumer took sits in the Readable: one read at most
    // past highWaterMark (64 KiB).
    expect(read - received).toBe(p.stdout!.readableLength);
    expect(read - received).toBeLessThanOrEqual(64 * 1024 + pipeBytes);
    await waitFor(() => wrote(p), (n) => n >= read + pipeBytes - 65_536, { describe: 'the child to report the bytes it wrote' });
    // The child got no further than the pipe holds: it is blocked, not buffered into the manager.
    expect(wrote(p)).toBeLessThanOrEqual(read + pipeBytes);
    expect(p.stats().stdout.bytes).toBe(read);
    p.stdout!.on('data', (chunk: Buffer) => (received += chunk.length));
    p.stdout!.resume();
    await once(p.stdout!, 'end');
    expect(received).toBe(total);
    expect((await p.exited).exitCode).toBe(0);
  });
});

describe('stream mode over a pty', () => {
  it("ends with 'end' once the child exits: the master's EIO after the last byte is the end of the output, not an error", async () => {
    const p = await start(['sh', '-c', 'echo hi; head -c 100000 /dev/zero | tr "\\0" x'], { pty: true, stdout: 'stream' });
    let text = '';
    for await (const chunk of p.stdout!) text += (chunk as Buffer).toString();
    // What a pty delivers after its session leader exits is the kernel's affair (the tail can be
    // flushed away on hangup, in buffer mode too); the stream must end either way.
    expect(text.startsWith('hi\r\nxxx')).toBe(true);
    expect(p.stdout!.readableEnded).toBe(true);
    expect((await p.exited).exitCode).toBe(0);
  });
});

describe('stream mode as a WHATWG byte stream (BYOB)', () => {
  it('reads straight into one reused buffer: byte-exact, what the Readable already held first, backpressure kept', async () => {
    const size = 16 * 1024 * 1024 + 7;
    const p = await start(fixture('spam-bytes', size, 65_536), { stdout: 'stream' });
    // read(0) asks the Readable to fill its buffer (the reads start only when asked), then nobody
    // reads: the child blocks in write(2) and the Readable side holds what it read.
    p.stdout!.read(0);
    await waitBlockedInWrite(p.pid, 'the child blocked in write(1, …)');
    expect(p.stdout!.readableLength).toBeGreaterThan(0);
    const readBefore = p.stats().stdout.bytes;
    const reader = p.stdout!.toByteStream().getReader({ mode: 'byob' });
    const hash = createHash('sha256');
    let view = new Uint8Array(100_000); // not a multiple of anything the pipe or the reads use
    // One read, then nothing: the manager reads at most one more read(2) and the child blocks again.
    const first = await reader.read(view);
    hash.update(first.value!);
    let received = first.value!.byteLength;
    let reads = 1;
    view = new Uint8Array(first.value!.buffer);
    await waitBlockedInWrite(p.pid, 'the child blocked in write(1, …) again');
    expect(p.stats().stdout.bytes).toBeLessThanOrEqual(readBefore + getStreamReadBytes(p.pipeSizes[1]));
    const bufferSizes = new Set<number>();
    for (;;) {
      const { value, done } = await reader.read(view);
      if (done) break;
      hash.update(value);
      received += value.byteLength;
      reads++;
      bufferSizes.add(value.buffer.byteLength);
      view = new Uint8Array(value.buffer);
    }
    expect((await p.exited).exitCode).toBe(0);
    const report = getReport(p);
    expect(received).toBe(size);
    expect(hash.digest('hex')).toBe(report.sha);
    expect(p.stats().stdout.bytes).toBe(size);
    expect(reads).toBeGreaterThan(size / 100_000 - 1);
    // Transferred back and forth, it stays the caller's one block of memory (each transfer makes a
    // new ArrayBuffer object over it and detaches the old one).
    expect([...bufferSizes]).toEqual([100_000]);
  });

  it('gives a default reader chunks of up to the read size, and a cancel stops reading', async () => {
    const size = 4 * 1024 * 1024;
    const p = await start(fixture('spam-bytes', size, 65_536), { stdout: 'stream' });
    const stream = p.stdout!.toByteStream();
    expect(p.stdout!.toByteStream()).toBe(stream);
    const reader = stream.getReader();
    const hash = createHash('sha256');
    let received = 0;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      expect(value.byteLength).toBeLessThanOrEqual(getStreamReadBytes(p.pipeSizes[1]));
      hash.update(value);
      received += value.byteLength;
    }
    expect(received).toBe(size);
    await p.exited;
    expect(hash.digest('hex')).toBe(getReport(p).sha);

    const q = await start(fixture('spam-bytes', size, 65_536), { stdout: 'stream' });
    const qReader = q.stdout!.toByteStream().getReader({ mode: 'byob' });
    const first = await qReader.read(new Uint8Array(1000));
    expect(first.value!.byteLength).toBeGreaterThan(0);
    await qReader.cancel();
    expect(q.stdout!.destroyed).toBe(true);
    // The child loses its reader: SIGPIPE or a stop ends it.
    const result = await q.stop({ timeoutMs: 1000 });
    expect(result.exitCode !== 0 || result.signal !== null).toBe(true);
  });
});

describe('stdin', () => {
  it('4 MiB through cat with stdin and stdout both piped finishes (no deadlock above pipe capacity)', async () => {
    const input = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < input.length; i++) input[i] = (i * 31) & 0xff;
    for (const mode of ['stream', 'buffer'] as const) {
      const p = await start(['cat'], { stdin: 'pipe', stdout: mode, output: { maxLines: 10, maxBytes: 1024 } });
      const reading = mode === 'stream' ? readAll(p) : Promise.resolve([]);
      // One write far above pipe capacity; the manager reads stdout meanwhile.
      p.stdin!.end(input);
      const chunks = await reading;
      expect((await p.exited).exitCode).toBe(0);
      if (mode === 'stream') expect(sha256(Buffer.concat(chunks))).toBe(sha256(input));
      expect(p.stats().stdin.bytes).toBe(input.length);
      expect(p.stats().stdout.bytes).toBe(input.length);
    }
  });

  it('write() returns false when the child does not read, and drain fires once it does', async () => {
    const p = await start(['sh', '-c', 'read line; cat >/dev/null'], { stdin: 'pipe' });
    let accepted = true;
    let written = 0;
    while (accepted && written < 64 * 1024 * 1024) {
      accepted = p.stdin!.write(Buffer.alloc(64 * 1024, 'y'));
      written += 64 * 1024;
    }
    expect(accepted).toBe(false);
    p.stdin!.write('\n');
    await new Promise((resolve) => p.stdin!.once('drain', resolve));
    p.closeStdin();
    expect((await p.exited).exitCode).toBe(0);
  });
});

describe('exit after drain', () => {
  it('waits for the last byte after the exit status, and bounds the wait when someone else holds the pipe', async () => {
    const p = await start(['sh', '-c', 'echo before; read x; echo after; exit 0'], { stdin: 'pipe', drainTimeoutMs: 300 });
    await waitFor(() => p.output.tail().map((l) => l.text), (t) => t.includes('before'), { describe: 'before line' });
    // Hold a second copy of the child's stdout write end, as a grandchild that escaped would.
    const holder = openSync(`/proc/${p.pid}/fd/1`, 'w');
    try {
      p.stdin!.write('go\n');
      const result = await p.exited;
      expect(result.exitCode).toBe(0);
      expect(result.drainTimedOut).toBe(true);
      // Everything the child wrote before it exited is in.
      expect(p.output.tail().map((l) => l.text)).toEqual(['before', 'after']);
    } finally {
      closeSync(holder);
    }
  });

  it('reports drainTimedOut false when the pipes reach EOF', async () => {
    const p = await start(['sh', '-c', 'echo done']);
    const result = await p.exited;
    expect(result.drainTimedOut).toBe(false);
    expect(p.output.tail().map((l) => l.text)).toEqual(['done']);
  });
});
