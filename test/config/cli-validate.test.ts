/**
 * The config as the CLI shows it: `drover validate` stays lenient (unknown keys are warnings, as
 * in docker compose) unless --strict, and an invalid config's --json answer carries its warnings
 * too. Runs the built CLI (dist/); starts no cluster.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

const dir = mkdtempSync(path.join(tmpdir(), 'drover-cli-validate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('drover validate', () => {
  it('is lenient about unknown keys unless --strict, and prints unset-variable warnings', async () => {
    const file = path.join(dir, 'typo.yaml');
    writeFileSync(file, 'name: typo\nnodes:\n  a:\n    command: [x]\n    redy: { log: "^up" }\n    env:\n      LEVEL: ${DROVER_TEST_SURELY_UNSET}\n');
    const lenient = await runCli(['validate', '-f', file]);
    expect(lenient.code).toBe(0);
    expect(lenient.stderr).toContain('warning: nodes.a.redy: unknown key; did you mean "ready"?\n');
    expect(lenient.stderr).toContain('warning: nodes.a.env.LEVEL: the variable DROVER_TEST_SURELY_UNSET is not set');
    const strict = await runCli(['validate', '--strict', '-f', file]);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toContain('nodes.a.redy: unknown key; did you mean "ready"?');
  });

  it('--json of an invalid config lists its warnings beside its errors', async () => {
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, 'name: bad\nnodes:\n  a:\n    command: 42\n    colour: red\n');
    const result = await runCli(['validate', '--json', '-f', file]);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({
      valid: false,
      errors: [{ path: 'nodes.a.command', message: 'expected an array of strings, got 42 (number)' }],
      warnings: [{ path: 'nodes.a.colour', message: expect.stringMatching(/^unknown key; /) }],
    });
  });
});
