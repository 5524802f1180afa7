/**
 * `GET /v1/events` (useCluster's `events()`) keeps what waits for a slow reader bounded: past the
 * follower bound, events are counted instead of queued, and the reader gets one gap line with the
 * count once it reads again. A real node prints 20000 lines while the reader does not read.
 */
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { getSocketStatePaths } from '../../cli/control-client.js';
import { ControlServer } from '../../cli/control-server.js';
import type { Cluster } from '../../cluster/cluster.js';
import { startCluster } from '../../start-cluster.js';
import { expectAllGone, expectNoShepherds } from '../helpers/processes.js';

const LINES = 20_000;
const SPAMMER = `process.on('SIGUSR1', () => { for (let i = 0; i < ${LINES}; i++) console.log('x'.repeat(100)); console.log('done'); }); console.log('ready'); setInterval(() => {}, 1 << 30);`;

let cluster: Cluster | null = null;
let server: ControlServer | null = null;
let dir: string | null = null;

afterEach(async () => {
  await server?.close();
  const pid = cluster?.node('spammer').pid ?? null;
  await cluster?.stop();
  if (pid !== null) await expectAllGone([pid]);
  await expectNoShepherds();
  if (dir !== null) rmSync(dir, { recursive: true, force: true });
  cluster = server = dir = null;
});

it('a reader that stopped reading gets a gap line counting what it missed, and every other event', async () => {
  cluster = await startCluster({ name: 'spam', nodes: { spammer: { command: [process.execPath, '-e', SPAMMER], ready: { log: { pattern: '^ready$' } }, output: { maxLines: 100 } } } });
  dir = mkdtempSync(path.join(tmpdir(), 'drover-events-'));
  const paths = getSocketStatePaths(path.join(dir, 'control.sock'));
  const maxBytes = 64 * 1024;
  server = new ControlServer({ controller: cluster, paths, fileArg: 'test', declaredNodes: ['spammer'], getStatus: () => 'running', down: () => cluster!.stop(), followerMaxBytes: maxBytes });
  await server.listen();

  const res = await new Promise<http.IncomingMessage>((resolve, reject) => http.get({ socketPath: paths.socket, path: '/v1/events?output=1' }, resolve).on('error', reject));
  expect(res.statusCode).toBe(200);
  res.pause(); // a reader that does not read
  cluster.node('spammer').kill('SIGUSR1');
  await cluster.node('spammer').waitForOutput(/^done$/, { timeoutMs: 20_000 });

  res.setEncoding('utf8');
  let rest = '';
  let received = 0;
  let skipped = 0;
  let gaps = 0;
  reading: for await (const chunk of res) {
    rest += chunk as string;
    const parts = rest.split('\n');
    rest = parts.pop()!;
    for (const part of parts) {
      const event = JSON.parse(part) as { type: string; skipped?: number; line?: { text: string } };
      if (event.type === 'gap') {
        gaps++;
        skipped += event.skipped!;
      } else if (event.type === 'output') {
        received++;
      }
      // Every line (the x lines and `done`) came, or was counted in a gap: nothing else happens.
      if (received + skipped === LINES + 1) break reading;
    }
  }
  res.destroy();
  expect(gaps).toBeGreaterThan(0);
  expect(skipped).toBeGreaterThan(LINES / 2);
  expect(received + skipped).toBe(LINES + 1);
});
