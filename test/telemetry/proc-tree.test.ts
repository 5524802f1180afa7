import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from '../../process/managed-process.js';
import { parseStat, readProcTree } from '../../telemetry/proc-tree.js';
import { expectAllGone, expectNoShepherds } from '../helpers/processes.js';
import { FakeProc } from './fake-proc.js';

let fake: FakeProc | null = null;
afterEach(() => {
  fake?.dispose();
  fake = null;
});

function createFake(): FakeProc {
  fake = new FakeProc();
  return fake;
}

describe('readProcTree', () => {
  it('sums the root and every descendant, through each thread’s children file', () => {
    const proc = createFake();
    // 100 has two threads; 101 was forked by the main thread, 102 by thread 105; 103 is 101's child.
    proc.write({ pid: 100, comm: 'node (a) b', tids: [100, 105], children: { 100: [101], 105: [102] }, utimeTicks: 150, stimeTicks: 50, cutimeTicks: 10, cstimeTicks: 5, minflt: 1000, cminflt: 20, majflt: 3, cmajflt: 1, rssKiB: 1000, vsizeKiB: 5000, voluntary: 7, involuntary: 2, readBytes: 4096, writeBytes: 8192, fds: 4 });
    proc.write({ pid: 101, ppid: 100, children: { 101: [103] }, utimeTicks: 100, stimeTicks: 0, minflt: 10, rssKiB: 200, vsizeKiB: 300, voluntary: 1, involuntary: 1, readBytes: 1, writeBytes: 2, fds: 3 });
    proc.write({ pid: 102, ppid: 100, utimeTicks: 1, rssKiB: 1, vsizeKiB: 1, fds: 1, hasNoIo: true });
    proc.write({ pid: 103, ppid: 101, stimeTicks: 100, majflt: 5, rssKiB: 2, vsizeKiB: 2, fds: 2 });
    // Not in the tree.
    proc.write({ pid: 200, utimeTicks: 99999, rssKiB: 99999 });

    expect(readProcTree(100, { procRoot: proc.root })).toEqual({
      rootPid: 100,
      processCount: 4,
      source: 'tree',
      userCpuSeconds: (150 + 10 + 100 + 1) / 100,
      systemCpuSeconds: (50 + 5 + 100) / 100,
      rssBytes: (1000 + 200 + 1 + 2) * 1024,
      virtualBytes: (5000 + 300 + 1 + 2) * 1024,
      threads: 2 + 1 + 1 + 1,
      fileDescriptors: 4 + 3 + 1 + 2,
      voluntaryContextSwitches: 8,
      involuntaryContextSwitches: 3,
      minorFaults: 1020 + 10,
      majorFaults: 4 + 5,
      readBytes: 4097,
      writeBytes: 8194,
    });
  });

  it('returns null when the root is gone and skips descendants that ended during the walk', () => {
    const proc = createFake();
    proc.write({ pid: 300, children: { 300: [301, 302] }, utimeTicks: 100 });
    proc.write({ pid: 302, ppid: 300, utimeTicks: 100 });
    expect(readProcTree(999, { procRoot: proc.root })).toBeNull();
    expect(readProcTree(300, { procRoot: proc.root })).toMatchObject({ processCount: 2, userCpuSeconds: 2 });
  });

  it('falls back to scanning parent pids when the kernel has no children files', () => {
    const proc = createFake();
    proc.write({ pid: 400, utimeTicks: 100 }, { hasChildrenFiles: false });
    proc.write({ pid: 401, ppid: 400, utimeTicks: 200 }, { hasChildrenFiles: false });
    proc.write({ pid: 402, ppid: 401, utimeTicks: 300 }, { hasChildrenFiles: false });
    proc.write({ pid: 403, ppid: 1, utimeTicks: 400 }, { hasChildrenFiles: false });
    expect(readProcTree(400, { procRoot: proc.root })).toMatchObject({ processCount: 3, userCpuSeconds: 6 });
  });

  it('takes the members from the cgroup leaf when it lists the root: a setsid daemon outside the tree counts', () => {
    const proc = createFake();
    // 500 → 501 is the tree; 502 is a daemon re-parented to the shepherd (600), still in the leaf.
    proc.write({ pid: 500, children: { 500: [501] }, utimeTicks: 100, rssKiB: 100, tids: [500, 510] });
    proc.write({ pid: 501, ppid: 500, utimeTicks: 10, rssKiB: 10 });
    proc.write({ pid: 502, ppid: 600, utimeTicks: 1000, rssKiB: 1000, tids: [502, 503, 504] });
    proc.write({ pid: 600, children: { 600: [500, 502] }, utimeTicks: 5, rssKiB: 5 });
    const leaf = join(proc.root, 'leaf');
    mkdirSync(leaf);
    writeFileSync(join(leaf, 'cgroup.procs'), '502\n500\n501\n');

    expect(readProcTree(500, { procRoot: proc.root })).toMatchObject({ source: 'tree', processCount: 2, userCpuSeconds: 1.1, rssBytes: 110 * 1024, threads: 3 });
    expect(readProcTree(500, { procRoot: proc.root, cgroup: leaf })).toMatchObject({
      source: 'cgroup',
      processCount: 3,
      userCpuSeconds: 11.1,
      rssBytes: 1110 * 1024,
      threads: 2 + 1 + 3,
    });
    // A member that ended since cgroup.procs was read is skipped.
    writeFileSync(join(leaf, 'cgroup.procs'), '500\n501\n777\n');
    expect(readProcTree(500, { procRoot: proc.root, cgroup: leaf })).toMatchObject({ source: 'cgroup', processCount: 2 });
    // A last line without its newline (cut off) is not trusted: 50 could be the start of 502.
    writeFileSync(join(leaf, 'cgroup.procs'), '500\n501\n50');
    proc.write({ pid: 50, utimeTicks: 7 });
    expect(readProcTree(500, { procRoot: proc.root, cgroup: leaf })).toMatchObject({ source: 'cgroup', processCount: 2, userCpuSeconds: 1.1 });
  });

  it('falls back to the walk when the leaf is gone or is not the root’s, and is null when the root is gone', () => {
    const proc = createFake();
    proc.write({ pid: 700, children: { 700: [701] }, utimeTicks: 100 });
    proc.write({ pid: 701, ppid: 700, utimeTicks: 100 });
    const leaf = join(proc.root, 'leaf');
    expect(readProcTree(700, { procRoot: proc.root, cgroup: leaf })).toMatchObject({ source: 'tree', processCount: 2 });
    mkdirSync(leaf);
    writeFileSync(join(leaf, 'cgroup.procs'), '');
    expect(readProcTree(700, { procRoot: proc.root, cgroup: leaf })).toMatchObject({ source: 'tree', processCount: 2 });
    writeFileSync(join(leaf, 'cgroup.procs'), '999\n');
    expect(readProcTree(700, { procRoot: proc.root, cgroup: leaf })).toMatchObject({ source: 'tree', processCount: 2 });
    writeFileSync(join(leaf, 'cgroup.procs'), '999\n701\n');
    expect(readProcTree(999, { procRoot: proc.root, cgroup: leaf })).toBeNull();
  });

  it('reads a real idle process exactly as its /proc files say (fd count from the fd/ size where the kernel gives it)', async () => {
    const child = await spawn(['sleep', '30']);
    try {
      const pid = child.pid;
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const io = readFileSync(`/proc/${pid}/io`, 'utf8');
      const field = (text: string, key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)?.[1]);
      const stat = parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'))!;
      expect(readProcTree(pid, { cgroup: child.cgroup })).toEqual({
        rootPid: pid,
        processCount: 1,
        source: child.cgroup === null ? 'tree' : 'cgroup',
        userCpuSeconds: stat.userTicks / 100,
        systemCpuSeconds: stat.systemTicks / 100,
        rssBytes: field(status, 'VmRSS') * 1024,
        virtualBytes: field(status, 'VmSize') * 1024,
        threads: field(status, 'Threads'),
        fileDescriptors: readdirSync(`/proc/${pid}/fd`).length,
        voluntaryContextSwitches: field(status, 'voluntary_ctxt_switches'),
        involuntaryContextSwitches: field(status, 'nonvoluntary_ctxt_switches'),
        minorFaults: stat.minorFaults,
        majorFaults: stat.majorFaults,
        readBytes: field(io, 'read_bytes'),
        writeBytes: field(io, 'write_bytes'),
      });
    } finally {
      await child.stop();
      await expectAllGone([child.pid]);
      await expectNoShepherds();
    }
  });

  it('reads this very process from the real /proc', () => {
    const sample = readProcTree(process.pid);
    expect(sample).not.toBeNull();
    expect(sample?.rssBytes).toBeGreaterThan(1024 * 1024);
    expect(sample?.threads).toBeGreaterThanOrEqual(1);
    expect(sample?.fileDescriptors).toBeGreaterThanOrEqual(3);
    expect((sample?.userCpuSeconds ?? 0) + (sample?.systemCpuSeconds ?? 0)).toBeGreaterThan(0);
  });
});

describe('parseStat', () => {
  it('counts fields after the last parenthesis, whatever the command name holds', () => {
    const fields = ['R', 7, 0, 0, 0, 0, 0, 11, 12, 13, 14, 15, 16, 17, 18, 0, 0, 3, 0, 0, 0];
    expect(parseStat(`42 (a) b (c)) ${fields.join(' ')}`)).toEqual({
      parentPid: 7,
      minorFaults: 23,
      majorFaults: 27,
      userTicks: 15 + 17,
      systemTicks: 16 + 18,
      threads: 3,
    });
    expect(parseStat('garbage')).toBeNull();
  });
});
