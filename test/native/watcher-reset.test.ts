// A SOCK_SEQPACKET peer that closes while a record of ours is still unread makes the kernel set
// ECONNRESET on our end (unix_release_sock), and a datagram-style recvmsg returns that error
// *before* the records the peer sent just before closing. A shepherd that reports the child's exit
// and leaves while the manager's STOP is still in its queue does exactly that: the watcher must
// still deliver the exit record, then the end of the stream.
import { describe, expect, it } from 'vitest';
import { closeFd, createSocketPair, sendRecord, watchRecords } from '../../native/index.js';

describe('addon Watcher after the peer closed with our record unread', () => {
  it('delivers every record the peer sent before it closed, then EOF without an error', async () => {
    const [manager, shepherd] = createSocketPair();
    sendRecord(manager, Buffer.from('STOP')); // never read by the peer
    sendRecord(shepherd, Buffer.from('EXITED'));
    closeFd(shepherd);
    const records: string[] = [];
    const end = await new Promise<string | null>((resolve) => {
      watchRecords(
        manager,
        (payload) => records.push(payload === null ? '<truncated>' : payload.toString()),
        (error) => resolve(error),
      );
    });
    expect({ records, end }).toEqual({ records: ['EXITED'], end: null });
  });

  it('does the same when the peer closes while the watcher is reading its records', async () => {
    const [manager, shepherd] = createSocketPair();
    sendRecord(shepherd, Buffer.from('STARTED'));
    const records: string[] = [];
    const end = await new Promise<string | null>((resolve) => {
      watchRecords(
        manager,
        (payload) => {
          const text = payload === null ? '<truncated>' : payload.toString();
          records.push(text);
          if (text !== 'STARTED') return;
          // Inside the watcher's read loop: its next recvmsg meets the reset, not a poll error.
          sendRecord(manager, Buffer.from('STOP'));
          sendRecord(shepherd, Buffer.from('EXITED'));
          closeFd(shepherd);
        },
        (error) => resolve(error),
      );
    });
    expect({ records, end }).toEqual({ records: ['STARTED', 'EXITED'], end: null });
  });
});
