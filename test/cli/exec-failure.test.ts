// A node whose command cannot be executed goes `failed` at once, not in a restart loop,
// with its error in `drover ps --json` (field `error`) and in the `up` output.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupCliRun, CliProcess, runCli } from '../helpers/cli.js';
import { fixture } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/wait-for.js';

interface Row {
  name: string;
  state: string;
  pid: number | null;
  restarts: number;
  error: string | null;
}

const ups: CliProcess[] = [];
const pids = new Set<number>();

afterEach(() => cleanupCliRun(ups, pids, 'SIGINT'));

describe('exec failures in a running cluster', () => {
  it('shows ENOENT, EACCES and a bad cwd as failed nodes with their error, without restarts', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'drover-exec-'));
    const notExecutable = path.join(dir, 'script.sh');
    writeFileSync(notExecutable, '#!/bin/sh\necho hi\n', { mode: 0o644 });
    const file = path.join(dir, 'drover.yaml');
    writeFileSync(
      file,
      [
        'name: exec',
        'nodes:',
        '  ok:',
        `    command: ${JSON.stringify(fixture('forever'))}`,
        '  missing:',
        '    command: [drover-no-such-command]',
        '    restart: { policy: always }',
        '  denied:',
        `    command: [${JSON.stringify(notExecutable)}]`,
        '    restart: { policy: always }',
        '  nocwd:',
        '    command: ["true"]',
        '    cwd: ./no/such/dir',
        '    restart: { policy: always }',
        '',
      ].join('\n'),
    );
    const env = { DROVER_STATE_DIR: path.join(dir, 'state') };
    const up = new CliProcess(['up', '-f', file], env);
    ups.push(up);
    const rows = await waitFor(
      async () => {
        const result = await runCli(['ps', '-f', file, '--json'], env);
        return result.code === 0 ? (JSON.parse(result.stdout) as Row[]) : [];
      },
      (r) => r.length === 4 && r.filter((n) => n.state === 'failed').length === 3 && r.some((n) => n.name === 'ok' && n.state === 'ready'),
      { describe: 'three failed nodes and one ready in drover ps --json', timeoutMs: 20_000 },
    );
    for (const row of rows) if (row.pid !== null) pids.add(row.pid);
    const byName = Object.fromEntries(rows.map((r) => [r.name, r]));
    expect(byName.missing).toMatchObject({ restarts: 0, error: expect.stringMatching(/^ERR_COMMAND_NOT_FOUND: .*drover-no-such-command.*ENOENT/) });
    expect(byName.denied).toMatchObject({ restarts: 0, error: expect.stringMatching(/^ERR_PERMISSION_DENIED: .*script\.sh.*EACCES/) });
    expect(byName.nocwd).toMatchObject({ restarts: 0, error: expect.stringMatching(/^ERR_CWD: .*no\/such\/dir.*ENOENT/) });
    await waitFor(() => up.stdout + up.stderr, (out) => /missing.*ERR_COMMAND_NOT_FOUND|ERR_COMMAND_NOT_FOUND.*missing/.test(out), {
      describe: 'the up output to name the failed node and its error',
    });
    up.child.kill('SIGINT');
    expect(await up.closed).not.toBeNull();
  });
});
