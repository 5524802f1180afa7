import { execFileSync } from 'node:child_process';

/** True when `name` is a command on PATH (`command -v`): whether a real server a test runs is installed. */
export function hasCommand(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false; // `command -v` exits 1: not installed
  }
}
