/**
 * A fake procfs in a temporary directory: `<root>/<pid>/{stat,status,io,fd/,task/<tid>/children}`
 * with exactly the numbers a test chooses (proc(5) layouts), so /proc sampling has exact results.
 */

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface FakeProcess {
  readonly pid: number;
  readonly ppid?: number;
  /** Command name (field 2); may hold spaces and parentheses. */
  readonly comm?: string;
  readonly utimeTicks?: number;
  readonly stimeTicks?: number;
  readonly cutimeTicks?: number;
  readonly cstimeTicks?: number;
  readonly minflt?: number;
  readonly cminflt?: number;
  readonly majflt?: number;
  readonly cmajflt?: number;
  readonly rssKiB?: number;
  readonly vsizeKiB?: number;
  /** Thread ids; the first is the pid itself. @default [pid] */
  readonly tids?: readonly number[];
  readonly voluntary?: number;
  readonly involuntary?: number;
  readonly readBytes?: number;
  readonly writeBytes?: number;
  readonly fds?: number;
  /** Child pids per thread id (default: none). */
  readonly children?: Readonly<Record<number, readonly number[]>>;
  /** Omit the io file (as for another user's process). */
  readonly hasNoIo?: boolean;
}

export class FakeProc {
  readonly root: string;

  constructor() {
    this.root = mkdtempSync(join(tmpdir(), 'drover-fake-proc-'));
  }

  /** Writes (or rewrites) one process. */
  write(process: FakeProcess, options: { hasChildrenFiles?: boolean } = {}): void {
    const { hasChildrenFiles = true } = options;
    const dir = join(this.root, String(process.pid));
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, 'fd'), { recursive: true });
    const tids = process.tids ?? [process.pid];
    // Fields 3..24 of proc(5) stat.
    const fields = new Array<number | string>(22).fill(0);
    const set = (n: number, value: number | string) => {
      fields[n - 3] = value;
    };
    set(3, 'S');
    set(4, process.ppid ?? 1);
    set(10, process.minflt ?? 0);
    set(11, process.cminflt ?? 0);
    set(12, process.majflt ?? 0);
    set(13, process.cmajflt ?? 0);
    set(14, process.utimeTicks ?? 0);
    set(15, process.stimeTicks ?? 0);
    set(16, process.cutimeTicks ?? 0);
    set(17, process.cstimeTicks ?? 0);
    set(20, tids.length);
    writeFileSync(join(dir, 'stat'), `${process.pid} (${process.comm ?? 'fake'}) ${fields.join(' ')} 0 0 0 0\n`);
    writeFileSync(
      join(dir, 'status'),
      [
        `Name:\t${process.comm ?? 'fake'}`,
        `VmSize:\t${String(process.vsizeKiB ?? 0).padStart(8)} kB`,
        `VmRSS:\t${String(process.rssKiB ?? 0).padStart(8)} kB`,
        `Threads:\t${tids.length}`,
        `voluntary_ctxt_switches:\t${process.voluntary ?? 0}`,
        `nonvoluntary_ctxt_switches:\t${process.involuntary ?? 0}`,
        '',
      ].join('\n'),
    );
    if (process.hasNoIo !== true) {
      writeFileSync(
        join(dir, 'io'),
        `rchar: 999\nwchar: 999\nsyscr: 1\nsyscw: 1\nread_bytes: ${process.readBytes ?? 0}\nwrite_bytes: ${process.writeBytes ?? 0}\ncancelled_write_bytes: 0\n`,
      );
    }
    for (let fd = 0; fd < (process.fds ?? 0); fd++) {
      writeFileSync(join(dir, 'fd', String(fd)), '');
    }
    for (const tid of tids) {
      mkdirSync(join(dir, 'task', String(tid)), { recursive: true });
      if (hasChildrenFiles) {
        const children = process.children?.[tid] ?? [];
        writeFileSync(join(dir, 'task', String(tid), 'children'), children.map((c) => `${c} `).join(''));
      }
    }
  }

  /** Removes one process (it exited and was reaped). */
  remove(pid: number): void {
    rmSync(join(this.root, String(pid)), { recursive: true, force: true });
  }

  dispose(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
