/**
 * Files a config names (`-f`, `env_file`) are checked before they are read: only regular files,
 * at most a stated size. Through the real CLI, under a time and memory budget, since the failure
 * modes are a hang (a FIFO) and unbounded memory (`/dev/zero`).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { MAX_CONFIG_BYTES, MAX_ENV_FILE_BYTES } from '../../config/index.js';
import { expectAllGone } from '../helpers/processes.js';
import { runCliBounded, type BoundedResult } from './run-bounded.js';

let dir: string;
const pids = new Set<number>();

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'drover-file-input-'));
});

afterEach(async () => {
  await expectAllGone(pids);
  pids.clear();
});

async function validate(file: string): Promise<BoundedResult> {
  const result = await runCliBounded(['validate', '-f', file], { timeoutMs: 15_000 });
  pids.add(result.pid);
  expect(result.timedOut, `validate still running after 15 s (stderr: ${result.stderr.slice(0, 500)})`).toBe(false);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  return result;
}

function writeConfig(envFile: string): string {
  const file = path.join(dir, 'drover.yaml');
  writeFileSync(file, `name: files\nnodes:\n  a:\n    command: [sleep, "1"]\n    env_file: ${JSON.stringify(envFile)}\n`);
  return file;
}

function mkfifo(name: string): string {
  const fifo = path.join(dir, name);
  execFileSync('mkfifo', [fifo]);
  return fifo;
}

describe('env_file', () => {
  test('/dev/zero is refused as not a regular file, naming the path', async () => {
    const result = await validate(writeConfig('/dev/zero'));
    expect(result.stderr).toContain('nodes.a.env_file: expected a regular file of at most 1 MiB, got "/dev/zero" (string); /dev/zero is a character device');
    expect(result.code).toBe(1);
  });

  test('a FIFO is refused without blocking on it', async () => {
    const fifo = mkfifo('env.fifo');
    const result = await validate(writeConfig('env.fifo'));
    expect(result.stderr).toContain(`nodes.a.env_file: expected a regular file of at most 1 MiB, got "env.fifo" (string); ${fifo} is a FIFO`);
    expect(result.code).toBe(1);
  });

  test('a file above the cap is refused with its size', async () => {
    writeFileSync(path.join(dir, 'big.env'), `A=${'x'.repeat(MAX_ENV_FILE_BYTES)}\n`);
    const result = await validate(writeConfig('big.env'));
    expect(MAX_ENV_FILE_BYTES).toBe(1024 * 1024);
    expect(result.stderr).toContain(`nodes.a.env_file: expected a regular file of at most 1 MiB, got "big.env" (string); ${path.join(dir, 'big.env')} has ${statSync(path.join(dir, 'big.env')).size} bytes`);
    expect(result.code).toBe(1);
  });

  test('a symlink to a regular file is followed', async () => {
    writeFileSync(path.join(dir, 'real.env'), 'A=1\n');
    symlinkSync(path.join(dir, 'real.env'), path.join(dir, 'link.env'));
    const result = await validate(writeConfig('link.env'));
    expect(result.code).toBe(0);
  });

  test('a directory is refused, naming the path', async () => {
    mkdirSync(path.join(dir, 'envdir'));
    const result = await validate(writeConfig('envdir'));
    expect(result.stderr).toContain(`${path.join(dir, 'envdir')} is a directory`);
    expect(result.code).toBe(1);
  });
});

describe('-f', () => {
  test('a FIFO is refused without blocking on it', async () => {
    const fifo = mkfifo('drover.yaml');
    const result = await validate(fifo);
    expect(result.stderr).toContain(`drover: Cannot read config ${fifo}: it is a FIFO, not a regular file`);
    expect(result.code).toBe(1);
  });

  test('/dev/zero is refused', async () => {
    const result = await validate('/dev/zero');
    expect(result.stderr).toContain('drover: Cannot read config /dev/zero: it is a character device, not a regular file');
    expect(result.code).toBe(1);
  });

  test('a config above the cap is refused with its size', async () => {
    const file = path.join(dir, 'big.yaml');
    // Valid YAML (a comment) so only the size can fail it.
    writeFileSync(file, `name: big\nnodes: { a: { command: [sleep, "1"] } }\n#${'x'.repeat(MAX_CONFIG_BYTES)}\n`);
    const result = await validate(file);
    expect(MAX_CONFIG_BYTES).toBe(1024 * 1024);
    expect(result.stderr).toContain(`drover: Cannot read config ${file}: it has ${statSync(file).size} bytes, more than the 1 MiB a config may have`);
    expect(result.code).toBe(1);
  });
});
