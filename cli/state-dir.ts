import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** Where a running cluster keeps its control socket. */
export interface StatePaths {
  readonly dir: string;
  readonly socket: string;
}

/**
 * The state dir of a config file: `$DROVER_STATE_DIR` when set, else
 * `<tmpdir>/drover-<uid>/<config dir name>-<hash of the absolute config path>` (short enough for
 * the 108-byte limit of a Unix socket path; one per config, so two clusters never collide).
 */
export function getStatePaths(configPath: string, env: NodeJS.ProcessEnv = process.env): StatePaths {
  const absolute = path.resolve(configPath);
  let dir = env.DROVER_STATE_DIR;
  if (!dir) {
    const hash = createHash('sha256').update(absolute).digest('hex').slice(0, 12);
    const label = path.basename(path.dirname(absolute)).replace(/[^\w.-]/g, '_').slice(0, 24);
    const uid = process.getuid?.() ?? 0;
    dir = path.join(tmpdir(), `drover-${uid}`, `${label}-${hash}`);
  }
  return { dir, socket: path.join(dir, 'control.sock') };
}

/** Creates the state dir with mode 0700 (the socket inside is 0600). */
export function createStateDir(paths: StatePaths): void {
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
}
