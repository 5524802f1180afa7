/**
 * NetworkRelay on its own, with real sockets in this process (no nodes: every peer is `external`):
 * the byte stream, half-close and backpressure behave as on a direct connection.
 */
import net from 'node:net';
import getPort from 'get-port';
import { afterEach, describe, expect, it } from 'vitest';
import { NetworkRelay } from '../../network/relay.js';

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

async function startRelay(target: number, onRelay: (relay: NetworkRelay) => void = () => {}): Promise<number> {
  const relay = new NetworkRelay({ trees: () => [] });
  cleanups.push(() => relay.close());
  const port = await getPort();
  await relay.addRoute('b', 'p', port, () => target);
  onRelay(relay);
  return port;
}

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
});
