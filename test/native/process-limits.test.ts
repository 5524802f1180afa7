import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { getFdLimit, lockFile, raiseFdLimit, reapChild } from '../../native/index.js';

// Each call runs in a fresh `node` so that raising the limit or becoming a subreaper never
// changes the vitest worker itself.
function runNative(script: string, prefix = ''): string {
  const modulePath = path.resolve('dist/native/index.js');
  const result = spawnSync('bash', ['-c', `${prefix} exec node --input-type=module -e "$SCRIPT"`], {
    encoding: 'utf8',
    env: { ...process.env, SCRIPT: `const n = await import(${JSON.stringify(modulePath)});\n${script}` },
  });
  expect(result.stderr).toBe('');
  return result.stdout.trim();
}

describe('process-level native calls', () => {
  it('getFdLimit/raiseFdLimit: the soft RLIMIT_NOFILE ends at the hard limit even when started lower', () => {
    // Node itself raises the soft limit at start-up (src/node.cc PlatformInit); raiseFdLimit is the
    // same step for drover's own processes, and idempotent.
    const out = runNative('console.log(JSON.stringify([n.getFdLimit(), n.raiseFdLimit()]))', 'ulimit -S -n 256;');
    const [before, raised] = JSON.parse(out) as { soft: number; hard: number; previous?: number }[];
    expect(before!.soft).toBe(before!.hard);
    expect(raised).toEqual({ soft: before!.hard, hard: before!.hard, previous: before!.soft });
    expect(getFdLimit().hard).toBeGreaterThan(0);
    expect(raiseFdLimit().soft).toBe(getFdLimit().hard);
  });

  it('setChildSubreaper makes orphans re-parent to the process; reapChild collects one of them', () => {
    const out = runNative(`
      n.setChildSubreaper(true);
      const { spawnSync } = await import('node:child_process');
      // sh forks a sleeper in the background and exits: the sleeper is orphaned and comes to us.
      const pid = Number(spawnSync('sh', ['-c', 'sleep 0.2 & echo $!'], { encoding: 'utf8' }).stdout.trim());
      const ppid = (await import('node:fs')).readFileSync('/proc/' + pid + '/stat', 'utf8').split(') ')[1].split(' ')[1];
      let status = null;
      const deadline = Date.now() + 5000;
      while (status === null && Date.now() < deadline) { status = n.reapChild(pid); }
      console.log(JSON.stringify({ subreaper: n.isChildSubreaper(), parentIsUs: Number(ppid) === process.pid, status }));
    `);
    expect(JSON.parse(out)).toEqual({ subreaper: true, parentIsUs: true, status: { exitCode: 0, signal: null } });
  });

  it('reapChild refuses what is not a child with ECHILD, and non-positive pids before any call', () => {
    expect(() => reapChild(1)).toThrow(expect.objectContaining({ code: 'ERR_NATIVE_CALL', errno: 'ECHILD', syscall: 'waitid(2)' }));
    expect(() => reapChild(0)).toThrow(TypeError);
    expect(() => reapChild(-1)).toThrow(TypeError);
  });

  it('lockFile takes an exclusive flock once; a second open file description is refused', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'drover-lock-')), 'lock');
    const first = openSync(file, 'w');
    const second = openSync(file, 'r');
    try {
      expect(lockFile(first)).toBe(true);
      expect(lockFile(second)).toBe(false);
    } finally {
      closeSync(first);
    }
    expect(lockFile(second)).toBe(true);
    closeSync(second);
  });
});
