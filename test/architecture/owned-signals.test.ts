import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// A static check, run with the default suite: the kill paths themselves are exercised as an
// unprivileged user in test/process/unowned-signals.test.ts.
describe('signals only what drover owns', () => {
  // A drover ManagedProcess's own kill() goes through owned-signals.ts; a line calling it with a literal
  // signal says so with a trailing `// owned: <why>` so that the check stays textual and strict.
  it('the manager never calls process.kill or ChildProcess.kill outside process/owned-signals.ts', () => {
    const root = path.resolve(import.meta.dirname, '..', '..');
    const offenders: string[] = [];
    for (const folder of ['contract', 'native', 'process', 'network', 'cluster', 'cli', 'config', 'telemetry', 'vitest']) {
      const walk = (dir: string): void => {
        for (const entry of readdirSync(dir, { withFileTypes: true })) {
          const file = path.join(dir, entry.name);
          if (entry.isDirectory()) walk(file);
          else if (entry.name.endsWith('.ts') && !file.endsWith(path.join('process', 'owned-signals.ts'))) {
            readFileSync(file, 'utf8')
              .split('\n')
              .forEach((line, i) => {
                if (/process\.kill\(|\.kill\(['"]SIG|child\.kill\(/.test(line) && !/^\s*(\/\/|\*)/.test(line) && !/\/\/ owned: \S/.test(line)) offenders.push(`${path.relative(root, file)}:${i + 1}: ${line.trim()}`);
              });
          }
        }
      };
      walk(path.join(root, folder));
    }
    expect(offenders).toEqual([]);
  });
});
