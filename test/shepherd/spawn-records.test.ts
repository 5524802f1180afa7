// Protocol version 3 against the real shepherd binary: a SPAWN reassembled from many records
// starts the child; a record of another version, a record carrying more than the SPAWN announced,
// another message in the middle of a SPAWN, a total above the cap, and a hangup mid-SPAWN are
// refused with an ERROR naming the reason (or a quiet exit on hangup), and nothing is started.
import { spawn as nodeSpawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { closeFd, createSocketPair, decodeMessage, getShepherdPath, sendRecord, watchRecords, type RecordWatcher, type ShepherdMessage } from '../../native/index.js';
import * as protocol from '../../native/protocol.js';
import { expectAllGone } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';

interface RawShepherd {
  readonly process: ChildProcess;
  readonly fd: number;
  readonly messages: ShepherdMessage[];
  /** Owns `fd`: closing it is the hangup. */
  watcher: RecordWatcher | null;
  exit: Promise<number | null>;
}

const shepherds: RawShepherd[] = [];
afterEach(async () => {
  for (const s of shepherds.splice(0)) {
    s.watcher?.close(); // hangup: the shepherd stops whatever it started and exits
    await s.exit;
    // The shepherd and any child it reported are gone (not zombies): it reaps before it exits.
    const children = s.messages.flatMap((m) => (m.type === 'started' ? [m.pid] : []));
    await expectAllGone([s.process.pid!, ...children]);
  }
});

/** A shepherd started directly with a control socket as fd 3; replies are decoded into `messages`. */
function startShepherd(): RawShepherd {
  const [managerFd, shepherdFd] = createSocketPair();
  const child = nodeSpawn(getShepherdPath(), [], { stdio: ['ignore', 'ignore', 'pipe', shepherdFd], detached: true });
  closeFd(shepherdFd);
  const shepherd: RawShepherd = {
    process: child,
    fd: managerFd,
    messages: [],
    watcher: null,
    exit: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
  };
  shepherd.watcher = watchRecords(
    managerFd,
    (data, fds) => {
      for (const fd of fds) closeFd(fd);
      if (data !== null) shepherd.messages.push(decodeMessage(data));
    },
    () => {},
  );
  shepherds.push(shepherd);
  return shepherd;
}

const MESSAGE = { stdio: [1, 1, 1] as const, killGraceMs: 1000, cwd: '', argv: ['sh', '-c', 'exit 7'], env: ['PATH=/usr/bin:/bin'] };

/** Waits for the shepherd's ERROR and exit; returns the ERROR's message. */
async function expectRefused(shepherd: RawShepherd, reason: RegExp): Promise<void> {
  const error = await waitFor(() => shepherd.messages.find((m) => m.type === 'error'), (m) => m !== undefined, { describe: 'an ERROR from the shepherd' });
  expect(error).toMatchObject({ type: 'error', errno: 71 /* EPROTO */, message: expect.stringMatching(reason) });
  expect(await shepherd.exit).toBe(protocol.SHEPHERD_EXIT_INTERNAL);
  expect(shepherd.messages.filter((m) => m.type === 'started')).toEqual([]);
}

function record(type: number, payload: Buffer, version = protocol.PROTOCOL_VERSION): Buffer {
  const buf = Buffer.alloc(8 + payload.length);
  buf.writeUInt16LE(version, 0);
  buf.writeUInt16LE(type, 2);
  buf.writeUInt32LE(payload.length, 4);
  payload.copy(buf, 8);
  return buf;
}

describe('SPAWN records (protocol v3)', () => {
  it('starts the child from a SPAWN split into 16-byte records', async () => {
    const shepherd = startShepherd();
    const records = protocol.encodeSpawn(MESSAGE, 16);
    expect(records.length).toBeGreaterThan(10);
    for (const r of records) sendRecord(shepherd.fd, r);
    const exited = await waitFor(() => shepherd.messages.find((m) => m.type === 'exited'), (m) => m !== undefined, { describe: 'EXITED' });
    expect(shepherd.messages[0]).toMatchObject({ type: 'started' });
    expect(exited).toMatchObject({ exitCode: 7 });
    expect(await shepherd.exit).toBe(0);
  });

  it('refuses a record of protocol version 2', async () => {
    const shepherd = startShepherd();
    const v3 = protocol.encodeSpawn(MESSAGE)[0]!;
    const v2 = Buffer.from(v3);
    v2.writeUInt16LE(2, 0);
    sendRecord(shepherd.fd, v2);
    await expectRefused(shepherd, /protocol version/);
  });

  it('refuses records that carry more bytes than the SPAWN announced', async () => {
    const shepherd = startShepherd();
    const [first, ...rest] = protocol.encodeSpawn(MESSAGE, 32);
    sendRecord(shepherd.fd, first!);
    for (const r of rest.slice(0, -1)) sendRecord(shepherd.fd, r);
    // The last continuation with one byte too many.
    const last = rest.at(-1)!;
    sendRecord(shepherd.fd, record(protocol.MSG_SPAWN_MORE, Buffer.concat([last.subarray(8), Buffer.from([0])])));
    await expectRefused(shepherd, /more bytes than announced/);
  });

  it('refuses another message in the middle of a SPAWN', async () => {
    const shepherd = startShepherd();
    const [first] = protocol.encodeSpawn(MESSAGE, 32);
    sendRecord(shepherd.fd, first!);
    sendRecord(shepherd.fd, protocol.encodeStop(15, 100));
    await expectRefused(shepherd, /SPAWN_MORE/);
  });

  it('refuses a SPAWN that announces more than SHEPHERD_MAX_SPAWN bytes, before allocating it', async () => {
    const shepherd = startShepherd();
    const head = Buffer.alloc(4);
    head.writeUInt32LE(protocol.SHEPHERD_MAX_SPAWN + 1, 0);
    sendRecord(shepherd.fd, record(protocol.MSG_SPAWN, head));
    await expectRefused(shepherd, /out of range/);
  });

  it('exits without starting anything when the manager hangs up in the middle of a SPAWN', async () => {
    const shepherd = startShepherd();
    const [first] = protocol.encodeSpawn(MESSAGE, 32);
    sendRecord(shepherd.fd, first!);
    shepherd.watcher!.close();
    expect(await shepherd.exit).toBe(protocol.SHEPHERD_EXIT_INTERNAL);
  });
});
