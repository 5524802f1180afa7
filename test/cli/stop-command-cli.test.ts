/**
 * `stop.command` through the CLI against a real redis-server: `drover stop redis` runs
 * `redis-cli shutdown`, the node exits 0 and no signal is sent. Skipped only where redis is
 * missing and DROVER_REQUIRE_REDIS is not set.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLI, runCli } from '../helpers/cli.js';
import { hasCommand } from '../helpers/commands.js';
import { expectAllGone } from '../helpers/processes.js';

const available = hasCommand('redis-server') && hasCommand('redis-cli');
const required = process.env['DROVER_REQUIRE_REDIS'] === '1';

/** Runs the built CLI in `cwd` to completion (NO_COLOR=1). */
const runIn = (cwd: string, args: string[], env: NodeJS.ProcessEnv = {}) => runCli(args, env, { cwd });

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'drover-stop-cli-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('drover stop with stop.command', () => {
  it.runIf(available || required)('redis-cli shutdown: redis exits 0, no signal, in far less than the stop timeout', async () => {
    const file = path.join(dir, 'drover.yaml');
    writeFileSync(
      file,
      `name: stopcli
nodes:
  redis:
    command: [redis-server, --port, "{{ports.redis}}", --bind, 127.0.0.1, --save, "", --appendonly, "no", --dir, ${JSON.stringify(dir)}]
    ports: [redis]
    ready: { exec: { command: [redis-cli, -p, "{{ports.redis}}", ping] }, interval: 50ms, timeout: 10s }
    stop: { command: [redis-cli, -p, "{{ports.redis}}", shutdown, nosave], timeout: 20s }
`,
    );
    const env = { DROVER_STATE_DIR: path.join(dir, 'state') };
    const up = await runIn(dir, ['up', '--wait', '-f', file], env);
    const manager = Number(/drover up pid (\d+)/.exec(up.stdout)?.[1]);
    const pids: number[] = [];
    try {
      expect(up.code, up.stdout + up.stderr).toBe(0);
      const before = JSON.parse((await runIn(dir, ['ps', '--json', '-f', file], env)).stdout) as { pid: number }[];
      pids.push(before[0]!.pid);
      const began = Date.now();
      const stop = await runIn(dir, ['stop', '-f', file, 'redis'], env);
      const tookMs = Date.now() - began;
      expect(stop.code, stop.stdout + stop.stderr).toBe(0);
      expect(tookMs).toBeLessThan(20_000);
      const rows = JSON.parse((await runIn(dir, ['ps', '--json', '-f', file], env)).stdout) as { state: string; exitCode: number | null; signal: string | null }[];
      expect(rows[0]).toMatchObject({ state: 'stopped', exitCode: 0, signal: null });
    } finally {
      const down = await runIn(dir, ['down', '-f', file], env);
      expect(down.code, down.stderr).toBe(0);
    }
    await expectAllGone([manager, ...pids]);
  });
});
