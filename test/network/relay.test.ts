/**
 * NetworkRelay on its own, with real sockets (no nodes: every peer is `external`): the byte
 * stream, half-close and backpressure behave as on a direct connection, and the relay's bytes do
 * not wait for the manager's event loop.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { createInterface } from 'node:readline';
import getPort from 'get-port';
import { afterEach, describe, expect, it } from 'vitest';
import { NetworkRelay } from '../../network/relay-thread.js';
import { expectAllGone } from '../helpers/processes.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A server that counts the bytes it gets and answers the count once the client half-closes. */
async function startCountingServer(): Promise<number> {
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    let count = 0;
    socket.on('data', (chunk: Buffer) => (count += chunk.length));
    socket.on('end', () => socket.end(String(count)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as net.AddressInfo).port;
}

async function startRelay(target: number, onRelay: (relay: NetworkRelay) => Promise<void> | void = () => {}): Promise<number> {
  const relay = new NetworkRelay({ lookup: () => ({ trees: [], target }) });
  cleanups.push(() => relay.close());
  const port = await getPort();
  await relay.addRoute('b', 'p', port);
  await onRelay(relay);
  return port;
}

/** A child process: an echo server on a free port, which it prints. */
const ECHO_SERVER = `const net = require('node:net');
const server = net.createServer((s) => { s.setNoDelay(true); s.pipe(s); });
server.listen(0, '127.0.0.1', () => console.log(server.address().port));`;

/**
 * A child process: connects to argv[1], sends a 1-byte ping every 10 ms for 1.5 s, waiting for
 * each echo; prints \`flowing\` after the first echo (the relay has set the connection up), and at
 * the end the slowest round trip after it, in ms.
 */
const PINGER = `const net = require('node:net');
const s = net.connect(Number(process.argv[1]), '127.0.0.1');
s.setNoDelay(true);
let worst = 0, first = true, t0 = 0; const end = Date.now() + 1500;
const ping = () => { t0 = performance.now(); s.write('x'); };
s.on('connect', ping);
s.on('data', () => { if (first) { first = false; console.log('flowing'); } else worst = Math.max(worst, performance.now() - t0); if (Date.now() > end) { console.log(Math.round(worst)); s.destroy(); } else setTimeout(ping, 10); });`;

/** Sends `bytes` bytes to `port`, half-closes, and resolves to what comes back before the end. */
function sendAndHalfClose(port: number, bytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('end', () => {
      socket.end();
      resolve(answer);
    });
    socket.on('error', reject);
    socket.on('connect', () => socket.end(Buffer.alloc(bytes, 1)));
  });
}

describe('NetworkRelay', () => {
  it('carries an answer sent after the client half-closed (request, FIN, then the answer)', async () => {
    const server = await startCountingServer();
    const relay = await startRelay(server);
    expect(await sendAndHalfClose(server, 4 * 1024 * 1024)).toBe(String(4 * 1024 * 1024)); // direct, for reference
    expect(await sendAndHalfClose(relay, 4 * 1024 * 1024)).toBe(String(4 * 1024 * 1024));
  });

  it('a bandwidth fault paces the bytes: 200 KB at 400 KB/s take ≥ 0.45 s, and every byte arrives', async () => {
    const server = await startCountingServer();
    const relay = await startRelay(server, (r) => r.setFaults([{ id: 'f1', from: 'external', to: 'b', port: null, effect: { kind: 'bandwidth', bytesPerSec: 400_000 } }]));
    const t0 = performance.now();
    expect(await sendAndHalfClose(relay, 200_000)).toBe('200000');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(450);
  });

  it("relayed bytes keep flowing while the manager's event loop is blocked (the relay has its own thread)", async () => {
    const server = spawn(process.execPath, ['-e', ECHO_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
    const pids = [server.pid!];
    cleanups.push(() => void server.kill('SIGKILL'));
    const [serverPort] = (await once(createInterface({ input: server.stdout! }), 'line')) as [string];
    const relay = await startRelay(Number(serverPort));
    const pinger = spawn(process.execPath, ['-e', PINGER, String(relay)], { stdio: ['ignore', 'pipe', 'inherit'] });
    pids.push(pinger.pid!);
    cleanups.push(() => void pinger.kill('SIGKILL'));
    const lines = createInterface({ input: pinger.stdout! })[Symbol.asyncIterator]();
    expect((await lines.next()).value).toBe('flowing');
    execFileSync('sleep', ['0.8']); // blocks this thread, as a test's synchronous child would
    const worst = Number((await lines.next()).value);
    // On the manager's loop, the pings sent during the block waited for it: ≥ 700 ms.
    expect(worst).toBeLessThan(400);
    server.kill('SIGKILL');
    await once(pinger, 'exit');
    await expectAllGone(pids);
  });
});
