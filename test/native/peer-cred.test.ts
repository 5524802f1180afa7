import { closeSync, mkdtempSync, openSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { getPeerCredentials } from '../../native/index.js';

describe('getPeerCredentials (SO_PEERCRED)', () => {
  it('reports the connecting process: our own pid, uid and gid', async () => {
    const socketPath = path.join(mkdtempSync(path.join(tmpdir(), 'drover-peercred-')), 's.sock');
    const server = net.createServer();
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    const client = net.connect(socketPath);
    const socket = await accepted;
    const fd = (socket as unknown as { _handle: { fd: number } })._handle.fd;
    expect(getPeerCredentials(fd)).toEqual({ pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
    client.destroy();
    socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('names the syscall and errno when the fd is not a socket', () => {
    const fd = openSync(path.join(tmpdir(), 'drover-peercred-not-a-socket'), 'w');
    try {
      expect(() => getPeerCredentials(fd)).toThrow(expect.objectContaining({ code: 'ERR_PEER_CRED', errno: 'ENOTSOCK', syscall: 'getsockopt' }));
    } finally {
      closeSync(fd);
    }
    expect(() => getPeerCredentials(-1)).toThrow(TypeError);
  });
});
