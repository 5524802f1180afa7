// `npm run test:package`: the package tests, the slow end-to-end consumer test (test/package/*.e2e.ts:
// pack, install into a fresh project, build from source, type-check, run) among them.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: fileURLToPath(new URL('../..', import.meta.url)),
    include: ['test/package/**/*.test.ts', 'test/package/**/*.e2e.ts'],
    setupFiles: ['test/setup.ts'],
    restoreMocks: true,
    mockReset: true,
    unstubEnvs: true,
    // They spawn npm, compilers and clusters on a shared 2-core machine: one file at a time.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 900_000,
    retry: 0,
  },
});
