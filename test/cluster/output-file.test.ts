import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Cluster } from '../../cluster/cluster.js';
import { getReplicaOutputPath, OutputFile } from '../../cluster/output-file.js';
import { loadConfig } from '../../config/loader.js';
import { createClusterTracker } from '../helpers/cluster-tracker.js';
import { fixture } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/wait-for.js';

const { track, cleanup } = createClusterTracker();
const dirs: string[] = [];

afterEach(async () => {
  await cleanup();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function makeDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'drover-output-file-'));
  dirs.push(dir);
  return dir;
}

const LINE = /^\d\d:\d\d:\d\d\.\d{3} (?:stdout (?:line (\d+) x+|done)|stderr last)$/;

describe('output.file', () => {
  it('rotates by size: keep rotated files + the current one, each <= maxBytes, lines whole and in order, both streams', async () => {
    const dir = makeDir();
    const count = 4000;
    writeFileSync(
      join(dir, 'drover.yaml'),
      `name: files
output: { file: { path: 'logs/{{node}}.log', maxBytes: 16KiB, keep: 3 } }
nodes:
  app: { command: ${JSON.stringify(fixture('numbered-lines', count, 60))}, ready: { log: '^done$' } }
`,
    );
    const { spec } = await loadConfig(join(dir, 'drover.yaml'));
    expect(spec.nodes[0]!.output.file).toEqual({ path: join(dir, 'logs', 'app.log'), maxBytes: 16 * 1024, keep: 3 });
    const cluster = track(new Cluster(spec));
    await cluster.start();
    const path = join(dir, 'logs', 'app.log');
    // The streams are read independently: wait for the last line of each.
    const readAll = () => ['.3', '.2', '.1', ''].map((n) => (existsSync(path + n) ? readFileSync(path + n, 'utf8') : '')).join('');
    await waitFor(readAll, (text) => text.includes(' stdout done\n') && text.includes(' stderr last\n'), {
      describe: 'the last line of each stream in app.log*',
    });
    await cluster.stop();

    const files = [`${path}.3`, `${path}.2`, `${path}.1`, path];
    expect(files.map((f) => existsSync(f))).toEqual([true, true, true, true]);
    expect(existsSync(`${path}.4`)).toBe(false);
    // A file is rotated before a line would take it past maxBytes: each stays within it.
    for (const file of files) expect(statSync(file).size, file).toBeLessThanOrEqual(16 * 1024);
    const lines = files.flatMap((f) => readFileSync(f, 'utf8').split('\n').filter((l) => l !== ''));
    for (const line of lines) expect(line).toMatch(LINE);
    // The oldest lines went with the dropped generations; what is kept is a contiguous run up to the last.
    const numbers = lines.map((l) => LINE.exec(l)!).filter((m) => m[1] !== undefined).map((m) => Number(m[1]));
    expect(numbers.length).toBeGreaterThan(600); // 4 files of 16 KiB, 78-byte lines
    expect(numbers.every((n, i) => i === 0 || n === numbers[i - 1]! + 1), 'lines in order without gaps').toBe(true);
    expect(numbers.at(-1)).toBe(count - 1);
    expect(lines.filter((l) => l.endsWith(' stderr last'))).toHaveLength(1);
    expect(lines.filter((l) => l.endsWith(' stdout done'))).toHaveLength(1);
  });

  it('a burst larger than the queue within one event-loop turn loses no line on a working disk', () => {
    const dir = makeDir();
    const file = new OutputFile(join(dir, 'burst.log'), { maxBytes: 64 * 1024 * 1024, keep: 1 }, 'app');
    const text = 'x'.repeat(100);
    const count = 30_000; // ~3.6 MiB of lines, 1 MiB queue
    for (let i = 0; i < count; i++) file.writeLine({ stream: 'stdout', text: `${i} ${text}`, time: 0 });
    file.close();
    expect(file.droppedLines).toBe(0);
    expect(readFileSync(join(dir, 'burst.log'), 'utf8').split('\n').filter((l) => l !== '')).toHaveLength(count);
  });

  it('names replica files: {{replica}}, else name-N.ext for N >= 1', () => {
    expect(getReplicaOutputPath('/l/{{replica}}/api.log', 2)).toBe('/l/2/api.log');
    expect(getReplicaOutputPath('/l/api.log', 0)).toBe('/l/api.log');
    expect(getReplicaOutputPath('/l/api.log', 1)).toBe('/l/api-1.log');
    expect(getReplicaOutputPath('/l/api', 1)).toBe('/l/api-1');
  });

  it('a full disk drops and counts lines with one warning; the node keeps running', async () => {
    // Expected warnings are caught here (test/setup.ts turns any emitted warning into a failure).
    const emitWarning = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      // /dev/full answers every write with ENOSPC.
      const file = new OutputFile('/dev/full', { maxBytes: 1024, keep: 1 }, 'app', () => 0);
      for (let i = 0; i < 5; i++) file.writeLine({ stream: 'stdout', text: `line ${i}`, time: 0 });
      file.flush();
      file.writeLine({ stream: 'stdout', text: 'later', time: 0 }); // within the retry pause: dropped at once
      file.close();
      expect(file.droppedLines).toBe(6);

      const dir = makeDir();
      writeFileSync(
        join(dir, 'drover.yaml'),
        `name: full\nnodes:\n  app: { command: ${JSON.stringify(fixture('forever', 'tick'))}, ready: { log: '^ready$' }, output: { file: { path: /dev/full, maxBytes: 1KiB, keep: 1 } } }\n`,
      );
      const cluster = track(new Cluster((await loadConfig(join(dir, 'drover.yaml'))).spec));
      await cluster.start();
      const app = cluster.node('app');
      await waitFor(() => app.outputFileDroppedLines, (n) => n >= 3, { describe: 'dropped lines of /dev/full' });
      expect(app.state).toBe('ready');
      expect(app.snapshot().restarts).toBe(0);
      const warnings = emitWarning.mock.calls.map(([message]) => String(message)).filter((m) => m.includes('/dev/full'));
      // One per OutputFile (the one above, the node's), however many lines were dropped.
      expect(warnings).toHaveLength(2);
      expect(warnings[1]).toMatch(/^drover: node app: output file \/dev\/full: ENOSPC: .*the node keeps running$/);
    } finally {
      emitWarning.mockRestore();
    }
  });
});

