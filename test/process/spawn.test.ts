import { spawn as nodeSpawn } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from '../../process/index.js';
import { FIXTURES_DIR, fixture } from '../helpers/fixtures.js';
import { createSpawnTracker, expectAllGone, expectNoShepherds, isAlive } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';

const { start, extraPids, nestedManagers, cleanup } = createSpawnTracker();

afterEach(cleanup);

describe('spawn', () => {
  it('captures stdout and stderr lines in order with exit code and rusage', async () => {
    const p = await start(['sh', '-c', 'echo one; echo two >&2; printf three; exit 3']);
    const result = await p.exited;
    expect(result.exitCode).toBe(3);
    expect(result.signal).toBeNull();
    expect(result.error).toBeNull();
    expect(result.rusage?.maxRssKiB).toBeGreaterThan(0);
    expect(p.output.tail().map((l) => [l.stream, l.text])).toEqual([
      ['stdout', 'one'],
      ['stderr', 'two'],
      ['stdout', 'three'],
    ]);
    const stats = p.stats();
    expect(stats.stdout.bytes).toBe('one\nthree'.length);
    expect(stats.stderr.bytes).toBe('two\n'.length);
  });

  it('counts every byte a child writes, with the ring buffer bounded in lines', async () => {
    const p = await start(['sh', '-c', 'i=0; while [ $i -lt 5000 ]; do echo "line $i"; i=$((i+1)); done'], { output: { maxLines: 100 } });
    await p.exited;
    let expectedBytes = 0;
    for (let i = 0; i < 5000; i++) expectedBytes += `line ${i}\n`.length;
    const stats = p.stats();
    expect(stats.stdout.bytes).toBe(expectedBytes);
    expect(stats.bufferedLines).toBe(100);
    expect(stats.droppedLines).toBe(4900);
    expect(p.output.tail(1)[0]?.text).toBe('line 4999');
  });

  it('reports ENOENT as ERR_COMMAND_NOT_FOUND before anything runs', async () => {
    await expect(spawn(['drover-no-such-command-xyz'])).rejects.toMatchObject({
      code: 'ERR_COMMAND_NOT_FOUND',
      errno: 'ENOENT',
      path: 'drover-no-such-command-xyz',
    });
    await expectNoShepherds();
  });

  it('reports EACCES as ERR_PERMISSION_DENIED and a bad cwd as ERR_CWD', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'drover-'));
    const script = path.join(dir, 'not-executable.sh');
    writeFileSync(script, '#!/bin/sh\necho hi\n');
    chmodSync(script, 0o644);
    await expect(spawn([script])).rejects.toMatchObject({ code: 'ERR_PERMISSION_DENIED', errno: 'EACCES' });
    await expect(spawn(['true'], { cwd: path.join(dir, 'missing') })).rejects.toMatchObject({ code: 'ERR_CWD', errno: 'ENOENT' });
    await expectNoShepherds();
  });

  it('stops with SIGTERM to the process group, grandchildren included', async () => {
    const p = await start(fixture('spawn-tree'));
    const line = await waitFor(() => p.output.tail().find((l) => l.text.startsWith('tree ')), Boolean, { describe: 'tree line' });
    const grandchild = Number(line!.text.split(' ')[2]);
    extraPids.push(grandchild);
    expect(isAlive(grandchild)).toBe(true);
    const result = await p.stop();
    expect(result.signal).toBe('SIGTERM');
    expect(result.forcedKill).toBe(false);
    await expectAllGone([p.pid, grandchild]);
  });

  it('kills the rest of the group when the leader exits', async () => {
    const p = await start(fixture('spawn-tree', 'exit'));
    const result = await p.exited;
    expect(result.exitCode).toBe(0);
    const line = p.output.tail().find((l) => l.text.startsWith('tree '));
    const grandchild = Number(line!.text.split(' ')[2]);
    extraPids.push(grandchild);
    await expectAllGone([grandchild]);
  });

  it('kills a setsid daemon (outside the group) when the leader exits: the shepherd is its subreaper', async () => {
    const p = await start(fixture('daemonize'));
    expect((await p.exited).exitCode).toBe(0);
    const line = p.output.tail().find((l) => l.text.startsWith('daemon '));
    const daemon = Number(line!.text.split(' ')[1]);
    extraPids.push(daemon);
    await expectAllGone([daemon]);
  });

  it('kills a setsid daemon on stop', async () => {
    const p = await start(fixture('daemonize', 'stay'));
    const line = await waitFor(() => p.output.tail().find((l) => l.text.startsWith('daemon ')), Boolean, { describe: 'daemon line' });
    const daemon = Number(line!.text.split(' ')[1]);
    extraPids.push(daemon);
    expect(isAlive(daemon)).toBe(true);
    await p.stop();
    await expectAllGone([daemon]);
  });

  it('when the manager is SIGKILLed, the shepherd stops the child and its setsid daemon', async () => {
    const manager = nodeSpawn(process.execPath, [path.join(FIXTURES_DIR, 'nested-manager.mjs'), ...fixture('daemonize', 'stay')], { stdio: ['ignore', 'pipe', 'inherit'] });
    nestedManagers.push(manager);
    let out = '';
    manager.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const text = await waitFor(() => out, (o) => /manager \d+ \d+/.test(o) && /daemon \d+/.test(o), { describe: 'nested manager and daemon pids' });
    const [, child, shepherd] = /manager (\d+) (\d+)/.exec(text)!.map(Number);
    const daemon = Number(/daemon (\d+)/.exec(text)![1]);
    extraPids.push(child!, shepherd!, daemon);
    expect([child, shepherd, daemon].every((pid) => isAlive(pid!))).toBe(true);
    manager.kill('SIGKILL');
    await new Promise((resolve) => manager.once('close', resolve));
    await expectAllGone([child!, shepherd!, daemon], 3000);
  });

  it('escalates to SIGKILL after the stop timeout and says it had to', async () => {
    const p = await start(fixture('ignore-sigterm'), { stop: { timeoutMs: 200 } });
    await waitFor(() => p.output.tail().map((l) => l.text), (t) => t.includes('ready'), { describe: 'ready line' });
    const result = await p.stop();
    expect(result.signal).toBe('SIGKILL');
    expect(result.forcedKill).toBe(true);
    expect(p.output.tail().some((l) => l.text === 'got SIGTERM, ignoring')).toBe(true);
  });

  it('relays kill() signals and never signals after the exit is known', async () => {
    const p = await start(fixture('forever'));
    await waitFor(() => p.output.tail().length, (n) => n > 0, { describe: 'ready line' });
    expect(p.kill('SIGKILL')).toBe(true);
    const result = await p.exited;
    expect(result.signal).toBe('SIGKILL');
    expect(p.kill('SIGTERM')).toBe(false);
  });

  it('pipes stdin through the child', async () => {
    const p = await start(fixture('echo-stdin'), { stdin: 'pipe' });
    const payload = 'x'.repeat(300_000) + '\n';
    p.stdin!.write(payload);
    p.closeStdin();
    const result = await p.exited;
    expect(result.exitCode).toBe(0);
    expect(p.stats().stdout.bytes).toBe(payload.length);
    expect(p.output.tail().find((l) => l.stream === 'stderr')?.text).toBe(`bytes ${payload.length}`);
  });

  it('gives a Readable in stream mode', async () => {
    const p = await start(['sh', '-c', 'echo streamed'], { stdout: 'stream' });
    const chunks: Buffer[] = [];
    for await (const chunk of p.stdout!) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('streamed\n');
    expect((await p.exited).exitCode).toBe(0);
  });

  it('rejects bad options naming the option', async () => {
    await expect(spawn(['true'], { stdout: 'nope' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', message: expect.stringContaining('`stdout`') });
    await expect(spawn(['true'], { stop: { signal: 'SIGNOPE' } })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', message: expect.stringContaining('stop.signal') });
  });
});
