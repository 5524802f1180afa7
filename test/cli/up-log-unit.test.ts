import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { UpLog } from '../../cli/up-log.js';

let dir: string;
let now: number;
const clock = () => now;
const formatNotice = (text: string) => `drover | ${text}`;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'drover-uplog-unit-'));
  now = Date.UTC(2024, 0, 1, 12, 0, 0);
});

describe('UpLog', () => {
  it('rotates up.log to up.log.1 before a batch would pass maxBytes; never more than two files', () => {
    const file = path.join(dir, 'up.log');
    const log = new UpLog(file, { maxBytes: 1000, clock, formatNotice });
    for (let i = 0; i < 100; i++) {
      log.writeLine(`line ${String(i).padStart(3, '0')} ${'x'.repeat(40)}`);
      if (i % 10 === 9) log.flush();
    }
    log.close();
    expect(statSync(file).size).toBeLessThanOrEqual(1000);
    expect(statSync(`${file}.1`).size).toBeLessThanOrEqual(1000);
    expect(statSync(`${file}.1`).mode & 0o777).toBe(0o600);
    expect(existsSync(`${file}.2`)).toBe(false);
    const lines = `${readFileSync(`${file}.1`, 'utf8')}${readFileSync(file, 'utf8')}`.trimEnd().split('\n');
    // The newest lines, in order, each whole: rotation happens between batches, never inside a line.
    expect(lines.at(-1)).toBe(`line 099 ${'x'.repeat(40)}`);
    expect(lines.every((line, i) => i === 0 || Number(line.slice(5, 8)) === Number(lines[i - 1]!.slice(5, 8)) + 1)).toBe(true);
    expect(log.status.error).toBeNull();
  });

  it('a write error loses lines without throwing, is kept for the API, and the first line written again says what was lost', () => {
    const state = path.join(dir, 'state');
    mkdirSync(state, { mode: 0o700 });
    const file = path.join(state, 'up.log');
    const log = new UpLog(file, { clock, formatNotice });
    log.writeLine('before');
    log.flush();
    rmSync(state, { recursive: true }); // the next open fails (ENOENT) until the dir is back
    log.close();
    now += 1;
    log.writeLine('lost 1');
    log.writeLine('lost 2');
    log.flush();
    expect(log.status.error).toMatchObject({ code: 'ENOENT', linesLost: 2, isWriting: false });
    now += 500; // within the second after the failure: dropped without a try
    log.writeLine('lost 3');
    expect(log.status.error?.linesLost).toBe(3);
    mkdirSync(state, { mode: 0o700 });
    now += 1000;
    log.writeLine('after');
    log.flush();
    expect(readFileSync(file, 'utf8')).toBe('drover | up.log: 3 lines lost: ENOENT: no such file or directory (from 12:00:00.001 to 12:00:01.501); the cluster kept running\nafter\n'.replace(/12:00/g, new Date(Date.UTC(2024, 0, 1, 12)).toTimeString().slice(0, 5)));
    expect(log.status.error).toMatchObject({ code: 'ENOENT', linesLost: 3, isWriting: true });
    log.close();
  });

  it('never writes through a symlink named up.log', () => {
    const victim = path.join(dir, 'victim');
    writeFileSync(victim, 'precious\n');
    const file = path.join(dir, 'up.log');
    symlinkSync(victim, file);
    const log = new UpLog(file, { clock, formatNotice });
    log.writeLine('x');
    log.close();
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(log.status.error).toMatchObject({ code: 'ELOOP', linesLost: 1 });
  });
});
