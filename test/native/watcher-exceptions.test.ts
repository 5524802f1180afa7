// An exception thrown by a JS observer reached from the addon's Watcher (a libuv callback, no JS
// frame above it) must surface as the process's uncaughtException, never as a C++ exception that
// std::terminates the manager (SIGABRT). Shown failing before the fix: exit 134, "terminate called".
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const NATIVE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'native', 'index.js');

function runWith(handler: 'message' | 'eof'): { status: number | null; signal: string | null; stdout: string; stderr: string } {
  const script = `
    const { createSocketPair, watchRecords, sendRecord, closeFd } = await import(${JSON.stringify(NATIVE)});
    process.on('uncaughtException', (error) => { console.log('uncaught: ' + error.message); process.exit(0); });
    const [a, b] = createSocketPair();
    watchRecords(a,
      () => { if (${JSON.stringify(handler)} === 'message') throw new Error('boom in onMessage'); },
      () => { if (${JSON.stringify(handler)} === 'eof') throw new Error('boom in onEof'); });
    sendRecord(b, Buffer.from([1, 2, 3]));
    if (${JSON.stringify(handler)} === 'eof') closeFd(b);
    setTimeout(() => { console.log('no exception seen'); process.exit(3); }, 5000);
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/**
 * A record that arrives on an unref'd watcher while Node tears the environment down (after the
 * loop ended; FreeEnvironment's CleanupHandles runs the loop once more to close handles, here an
 * unref'd server) reaches the watcher when JS can no longer run. Shown failing before the fix:
 * exit 134, "terminate called after throwing an instance of 'Napi::Error'".
 */
function runTeardown(): { status: number | null; signal: string | null; stdout: string; stderr: string } {
  const script = `
    import net from 'node:net';
    const { createSocketPair, watchRecords, sendRecord } = await import(${JSON.stringify(NATIVE)});
    const [a, b] = createSocketPair();
    const watcher = watchRecords(a, () => console.log('record in JS'), () => console.log('eof in JS'));
    watcher.unref();
    net.createServer().listen(0).unref();
    process.on('exit', () => { sendRecord(b, Buffer.from([1, 2, 3])); console.log('sent at exit'); });
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

describe('addon Watcher', () => {
  it('lets the process exit cleanly when a record arrives while the environment is torn down', () => {
    for (let i = 0; i < 3; i++) {
      const r = runTeardown();
      expect(r, r.stderr).toMatchObject({ status: 0, signal: null });
      expect(r.stdout).toBe('sent at exit\n');
    }
  });

  it('turns an exception in onMessage into uncaughtException instead of aborting', () => {
    const r = runWith('message');
    expect(r, r.stderr).toMatchObject({ status: 0, signal: null });
    expect(r.stdout).toContain('uncaught: boom in onMessage');
  });

  it('does the same for onEof', () => {
    const r = runWith('eof');
    expect(r, r.stderr).toMatchObject({ status: 0, signal: null });
    expect(r.stdout).toContain('uncaught: boom in onEof');
  });
});
