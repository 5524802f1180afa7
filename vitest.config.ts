import { defineConfig } from 'vitest/config';

/**
 * The long fault suites: kill paths run as `nobody`, fd exhaustion, hostile matrix subset, npm's
 * signal handling, stuck peers waited out, the shepherd's freeze as `nobody`, process faults
 * without a cgroup, a partitioned etcd cluster, 8 processes racing for the same ports, Ctrl-C
 * with telemetry exporting. Beside them the long end-to-end suites of what sits around drover:
 * the vitest example run as a user runs it, `drover run` as CI runs it, the packed tarball's
 * types, and the bench's pm2/supervisord harness (as `nobody`). `npm run test:faults` runs them
 * (CI does, beside `npm test`); the default run leaves them out (it takes about seven minutes on two
 * cores).
 */
const FAULT_SUITES = [
  'test/hostile/**/*.test.ts',
  'test/package/npm-signals.test.ts',
  'test/shepherd/large-spawn.test.ts',
  'test/shepherd/stop-once.test.ts',
  'test/process/unowned-signals.test.ts',
  'test/cli/client-timeout.test.ts',
  'test/cli/follow-backpressure.test.ts',
  'test/cli/up-log.test.ts',
  'test/shepherd/freeze.test.ts',
  'test/cluster/process-faults-no-cgroup.test.ts',
  'test/network/etcd.test.ts',
  'test/cluster/port-collisions.test.ts',
  'test/cli/ctrl-c-telemetry.test.ts',
  'test/vitest/example.test.ts',
  'test/cli/run.test.ts',
  'test/package/consumer-types.test.ts',
  'test/bench/peers-cleanup.test.ts',
];

const isFaultRun = process.env.DROVER_TEST_SET === 'faults';

export default defineConfig({
  test: {
    include: isFaultRun ? FAULT_SUITES : ['test/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**', ...(isFaultRun ? [] : FAULT_SUITES)],
    setupFiles: ['test/setup.ts'],
    restoreMocks: true,
    mockReset: true,
    unstubEnvs: true,
    // Suites that spawn processes share the machine's 2 cores; run files one at a time.
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    retry: 0,
  },
});
