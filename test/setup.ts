import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';

// vitest hygiene: a process warning or an unhandled rejection fails the run.
process.on('warning', (warning) => {
  // The one-time "cgroup v2 is not writable" notice is expected on machines without one.
  if ((warning as NodeJS.ErrnoException).code === 'DROVER_CGROUP') return;
  throw warning;
});
process.on('unhandledRejection', (reason) => {
  throw reason;
});

// Every temp dir a test file makes (its own mkdtemp under os.tmpdir(), the state dirs, sockets and
// logs of the CLI and clusters it starts, which inherit TMPDIR) goes under one dir per file, removed
// once the file's own cleanup has run. Mode 1777 as /tmp itself: tests that run a process as
// `nobody` give it a dir of its own in there.
// The base is kept: a worker that runs several files (vitest --no-isolate) must not nest each
// file's dir in the previous file's, removed by then.
const base = process.env.DROVER_TEST_TMPDIR_BASE ?? tmpdir();
process.env.DROVER_TEST_TMPDIR_BASE = base;
const fileTemp = mkdtempSync(path.join(base, 'drover-t-'));
chmodSync(fileTemp, 0o1777);
process.env.TMPDIR = fileTemp;
afterAll(() => rmSync(fileTemp, { recursive: true, force: true, maxRetries: 3 }));
