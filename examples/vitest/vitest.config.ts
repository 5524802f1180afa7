import { defineConfig } from 'vitest/config';

// Two projects: `shared` drives the one cluster of the globalSetup (its files run one after the
// other: they restart and kill nodes of the same cluster); `per-worker` gives each of up to 4
// workers a cluster of its own through a worker-scoped fixture.
export default defineConfig({
  test: {
    retry: 0,
    maxWorkers: 4,
    testTimeout: 30_000,
    projects: [
      { extends: true, test: { name: 'shared', include: ['*.test.ts'], globalSetup: ['./global-setup.ts'], fileParallelism: false } },
      { extends: true, test: { name: 'per-worker', include: ['per-worker/*.test.ts'], isolate: false } },
    ],
  },
});
