/**
 * Clock faults against real processes: libfaketime preloaded into a node (`clock: true`), the
 * node's wall clock offset, sped up and reset at run time, and clear ERR_UNSUPPORTED refusals.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Cluster } from '../../cluster/cluster.js';
import { findLibfaketime, getExecutableLinking, parseClockOffset, formatClockOffset, faketimeSpec, readSkewedClock } from '../../cluster/clock-fault.js';
import { isDroverError } from '../../contract/errors.js';
import type { ClusterEvent, OutputLine } from '../../contract/types.js';
import { createClusterTracker } from '../helpers/cluster-tracker.js';
import { fixture } from '../helpers/fixtures.js';
import { makeCluster, makeNode } from '../helpers/specs.js';
import { waitFor } from '../helpers/wait-for.js';

const tracker = createClusterTracker();
afterEach(() => tracker.cleanup());

const hasLibfaketime = findLibfaketime().path !== null;

/** Skew (printed wall clock − manager's receive time) of each `now <ms>` line after `afterSeq`. */
function samples(lines: readonly OutputLine[], afterSeq: number): { printed: number; time: number; skew: number; seq: number }[] {
  return lines
    .filter((l) => l.seq > afterSeq && l.text.startsWith('now '))
    .map((l) => {
      const printed = Number(l.text.slice(4));
      return { printed, time: l.time, skew: printed - l.time, seq: l.seq };
    });
}

async function startClockCluster(command: readonly string[]) {
  const cluster = tracker.track(new Cluster(makeCluster([makeNode('a', command, { clock: true })])));
  const events: ClusterEvent[] = [];
  cluster.on('event', (e) => events.push(e));
  await cluster.start();
  return { cluster, node: cluster.node('a'), events };
}

describe('clock offsets and parsing (pure)', () => {
  it('parses signed offsets with units and refuses the rest with the value named', () => {
    expect(parseClockOffset('+90s')).toBe(90_000);
    expect(parseClockOffset('-1.5m')).toBe(-90_000);
    expect(parseClockOffset('250ms')).toBe(250);
    expect(parseClockOffset('2h')).toBe(7_200_000);
    expect(parseClockOffset(-5000)).toBe(-5000);
    for (const bad of ['90', '+90x', 'soon', '']) {
      const error = (() => {
        try {
          parseClockOffset(bad);
        } catch (e) {
          return e;
        }
      })();
      expect(isDroverError(error, 'ERR_INVALID_OPTION'), bad).toBe(true);
      expect((error as Error).message).toContain(JSON.stringify(bad));
    }
    expect(formatClockOffset(90_000)).toBe('+90s');
    expect(formatClockOffset(-120_000)).toBe('-2m');
    expect(formatClockOffset(1500)).toBe('+1.5s');
  });

  it('writes the libfaketime offset that keeps a rate change continuous for a run started earlier', () => {
    // Skew +10 s measured at t=5000, rate 2; a run that started at t=1000.
    const state = { skewMs: 10_000, rate: 2, anchorMs: 5000 };
    const runStart = 1000;
    const [offsetText, rateText] = faketimeSpec(state, runStart).trim().split(' ');
    const offsetMs = Number(offsetText) * 1000;
    expect(rateText).toBe('x2');
    // libfaketime: fake(t) = start + (t - start) * rate + offset
    for (const t of [5000, 6000, 9000]) expect(runStart + (t - runStart) * 2 + offsetMs).toBe(readSkewedClock(state, t));
    expect(faketimeSpec({ skewMs: 90_000, rate: 1, anchorMs: 0 }, 123)).toBe('+90.000 x1\n');
  });
});

describe('executable linking', () => {
  it('node is dynamic; a #! script is judged by its interpreter; a non-ELF is refused', async () => {
    expect((await getExecutableLinking(process.execPath, process.env['PATH'], '/')).kind).toBe('dynamic');
    expect((await getExecutableLinking(fixture('print-time')[1]!, process.env['PATH'], '/')).kind).toBe('dynamic');
    const dir = mkdtempSync(join(tmpdir(), 'drover-elf-'));
    try {
      writeFileSync(join(dir, 'data'), 'just text');
      expect((await getExecutableLinking(join(dir, 'data'), undefined, dir)).kind).toBe('not-elf');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!hasLibfaketime)('clock faults on real processes (libfaketime)', () => {
  it('offset +90s moves a running node process’s Date.now by 90 s, rate 2 doubles its speed, reset restores it', async () => {
    const { cluster, node, events } = await startClockCluster(fixture('print-time', 50));
    const all = () => samples(node.output.tail(), 0);
    await waitFor(all, (s) => s.length >= 2, { describe: 'the node printing its clock' });
    expect(Math.abs(all().at(-1)!.skew)).toBeLessThan(1000); // real time before any fault

    const record = await node.clock.offset('+90s');
    expect(record).toMatchObject({ kind: 'clock', nodes: ['a'], detail: 'clock +90s', by: 'api' });
    expect(cluster.faults().map((f) => f.id)).toEqual([record.id]);
    let seq = all().at(-1)!.seq;
    const skewed = await waitFor(() => samples(node.output.tail(), seq), (s) => s.length >= 3, { describe: 'lines after the offset' });
    // The first line after the change may have been printed just before it.
    for (const s of skewed.slice(1)) expect(Math.abs(s.skew - 90_000), JSON.stringify(s)).toBeLessThan(1000);

    const rateRecord = await node.clock.rate(2);
    expect(rateRecord.detail).toMatch(/^clock \+90(\.\d+)?s ×2$/);
    expect(cluster.faults().map((f) => f.id)).toEqual([rateRecord.id]); // one clock fault per node
    seq = all().at(-1)!.seq;
    const fast = await waitFor(
      () => samples(node.output.tail(), seq).slice(1),
      (s) => s.length >= 2 && s.at(-1)!.time - s[0]!.time >= 1500,
      { describe: '1.5 s of lines after rate(2)', timeoutMs: 10_000 },
    );
    const first = fast[0]!;
    const last = fast.at(-1)!;
    const speed = (last.printed - first.printed) / (last.time - first.time);
    expect(speed, `wall clock speed ${speed}`).toBeGreaterThan(1.8);
    expect(speed, `wall clock speed ${speed}`).toBeLessThan(2.2);
    // No jump at the rate change: the skew right after it is still about +90 s.
    expect(Math.abs(first.skew - 90_000), JSON.stringify(first)).toBeLessThan(1500);

    await node.clock.reset();
    expect(cluster.faults()).toEqual([]);
    seq = all().at(-1)!.seq;
    const real = await waitFor(() => samples(node.output.tail(), seq), (s) => s.length >= 3, { describe: 'lines after reset' });
    for (const s of real.slice(1)) expect(Math.abs(s.skew), JSON.stringify(s)).toBeLessThan(1000);

    const faultEvents = events.flatMap((e) => (e.type === 'fault' ? [`${e.phase} ${e.fault.id} ${e.fault.detail}`] : []));
    expect(faultEvents[0]).toBe(`injected ${record.id} clock +90s`);
    expect(faultEvents.at(-1)).toBe(`healed ${rateRecord.id} ${rateRecord.detail}`);

    // The node's process got libfaketime and its own timestamp file in a 0700 temp dir, removed at stop.
    const environ = new Map(readFileSync(`/proc/${node.pid!}/environ`, 'utf8').split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
    expect(environ.get('LD_PRELOAD')).toBe(findLibfaketime().path);
    const file = environ.get('FAKETIME_TIMESTAMP_FILE')!;
    expect(readFileSync(file, 'utf8')).toBe('+0.000 x1\n');
    expect(statSync(dirname(file)).mode & 0o777).toBe(0o700);
    expect([environ.get('FAKETIME_NO_CACHE'), environ.get('FAKETIME_DONT_FAKE_MONOTONIC'), environ.get('FAKETIME_DISABLE_SHM')]).toEqual(['1', '1', '1']);
    // libfaketime makes POSIX shared memory per process tree (named by the creator's pid) and
    // removes it only on a clean exit: drover removes it once the run has ended.
    const pid = node.pid!;
    expect(existsSync(`/dev/shm/faketime_shm_${pid}`)).toBe(true);
    await cluster.stop();
    expect(existsSync(dirname(file))).toBe(false);
    expect(existsSync(`/dev/shm/faketime_shm_${pid}`)).toBe(false);
    expect(existsSync(`/dev/shm/sem.faketime_sem_${pid}`)).toBe(false);
  });

  it('a skew set before a restart carries into the next run; date +%s in a shell sees it; healFaults() heals it', async () => {
    const { cluster, node } = await startClockCluster(['/bin/sh', '-c', 'while :; do echo "now $(date +%s)000"; sleep 0.1; done']);
    await node.clock.offset('-1h');
    await node.restart();
    const runSeq = node.output.tail().at(-1)?.seq ?? 0;
    const lines = await waitFor(() => samples(node.output.tail(), runSeq), (s) => s.length >= 2, { describe: 'lines of the restarted run' });
    for (const s of lines) expect(Math.abs(s.skew + 3_600_000), JSON.stringify(s)).toBeLessThan(2000);
    await cluster.healFaults();
    const seq = node.output.tail().at(-1)!.seq;
    const real = await waitFor(() => samples(node.output.tail(), seq), (s) => s.length >= 3, { describe: 'lines after healFaults()' });
    for (const s of real.slice(1)) expect(Math.abs(s.skew), JSON.stringify(s)).toBeLessThan(2000);
  });

  it('refuses a node without clock: true and a statically linked program with ERR_UNSUPPORTED naming why', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drover-static-'));
    try {
      const staticBinary = join(dir, 'static-sleep');
      let compiled = false;
      try {
        writeFileSync(join(dir, 'main.c'), 'int main(void) { return 0; }\n');
        execFileSync('cc', ['-static', '-o', staticBinary, join(dir, 'main.c')], { stdio: 'ignore' });
        compiled = existsSync(staticBinary);
      } catch {
        compiled = false;
      }
      const nodes = [makeNode('plain', fixture('print-time', 1000)), ...(compiled ? [makeNode('static', [staticBinary], { clock: true })] : [])];
      const cluster = tracker.track(new Cluster(makeCluster(nodes)));
      const plain = await cluster.node('plain').clock.offset('+1s').catch((e: unknown) => e);
      expect(isDroverError(plain, 'ERR_UNSUPPORTED')).toBe(true);
      expect((plain as Error).message).toContain('node plain has no clock faults: set "clock: true"');
      expect(compiled, 'cc -static must build a static test binary (libc6-dev)').toBe(true);
      const error = await cluster.node('static').clock.offset('+1s').catch((e: unknown) => e);
      expect(isDroverError(error, 'ERR_UNSUPPORTED')).toBe(true);
      expect((error as Error).message).toContain(`${staticBinary} is statically linked`);
      expect(cluster.faults()).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses with ERR_UNSUPPORTED when libfaketime is missing (DROVER_LIBFAKETIME points nowhere)', async () => {
    const saved = process.env['DROVER_LIBFAKETIME'];
    process.env['DROVER_LIBFAKETIME'] = '/nonexistent/libfaketime.so.1';
    try {
      const cluster = tracker.track(new Cluster(makeCluster([makeNode('a', fixture('print-time', 1000), { clock: true })])));
      await cluster.start(); // this run starts without libfaketime
      const error = await cluster.node('a').clock.offset('+1s').catch((e: unknown) => e);
      expect(isDroverError(error, 'ERR_UNSUPPORTED')).toBe(true);
      expect((error as Error).message).toContain('DROVER_LIBFAKETIME=/nonexistent/libfaketime.so.1 does not exist');
      // Found again later: the run that started without it still cannot be skewed (the fault would not apply).
      if (saved === undefined) delete process.env['DROVER_LIBFAKETIME'];
      else process.env['DROVER_LIBFAKETIME'] = saved;
      const stale = await cluster.node('a').clock.offset('+1s').catch((e: unknown) => e);
      expect(isDroverError(stale, 'ERR_UNSUPPORTED')).toBe(true);
      expect((stale as Error).message).toContain('its current run started without libfaketime');
      expect(cluster.faults()).toEqual([]);
    } finally {
      if (saved === undefined) delete process.env['DROVER_LIBFAKETIME'];
      else process.env['DROVER_LIBFAKETIME'] = saved;
    }
  });
});
