/**
 * The manager as the last subreaper (`drover up`): a node's setsid'd descendant that kills its
 * shepherd, and the launcher too, is re-parented to the manager and killed there; a re-parented
 * shepherd is left serving its node and reaped once it exits. Runs nested managers as `nobody` in
 * sessions of their own, without cgroups (the case where nothing else catches the escapee).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES_DIR } from '../helpers/fixtures.js';
import { getProcessState } from '../helpers/processes.js';

function runNestedAsNobody(fixtureName: string, args: string[]): Record<string, unknown> {
  const result = spawnSync('runuser', ['-u', 'nobody', '--', 'setsid', '--wait', 'env', 'DROVER_CGROUP=off', process.execPath, path.join(FIXTURES_DIR, fixtureName), ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  const line = result.stdout.trim().split('\n').at(-1) ?? '';
  expect(line, `no report from ${fixtureName}; stderr: ${result.stderr}`).toMatch(/^\{/);
  return JSON.parse(line) as Record<string, unknown>;
}

describe('orphan reaping in a dedicated manager', () => {
  it('kills a setsid daemon whose node SIGKILLed its shepherd and the launcher', () => {
    for (const also of ['launcher', '']) {
      const report = runNestedAsNobody('reaping-manager.mjs', ['reap', also]);
      expect(report, `also killed: ${also || 'nothing but the shepherd'}`).toMatchObject({ gone: true });
      expect(getProcessState(report['daemonPid'] as number)).toBeNull();
    }
  });

  it('leaves a re-parented shepherd and its node running, and reaps the shepherd once it exits', () => {
    const report = runNestedAsNobody('adopted-shepherd.mjs', []);
    expect(report).toMatchObject({
      adoptedParentIsManager: true,
      shepherdState: 'S',
      nodeState: 'S',
      // Nothing killed; what is reaped varies: the dead launcher's spare shepherds, closed by the
      // manager, exit re-parented here.
      sweeps: [{ killed: 0 }, { killed: 0 }],
      shepherdReaped: true,
      exit: 'SIGTERM',
    });
  });
});
