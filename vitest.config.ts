import { existsSync } from 'node:fs';
import { configDefaults, defineConfig } from 'vitest/config';

/**
 * The unit tier (`npm run test:unit`): files that need no root, no cgroup, no lab, no network and no
 * build of dist/. Everything else is the kernel tier, which `npm test` runs with this tier; a file
 * not listed here can never end up in neither.
 */
const UNIT = [
  'test/unit/**/*.test.ts',
  'test/cgroup/membership.test.ts',
  'test/cgroup/mountinfo.test.ts',
  'test/cli/args.test.ts',
  'test/serve/units.test.ts',
  'test/freezer/pacing.test.ts',
  'test/resolve/cache.test.ts',
  'test/resolve/filter.test.ts',
  'test/bench/stats.test.ts',
  'test/bench/svg.test.ts',
];

export default defineConfig({
  test: {
    // Native addons crash vitest's worker-thread pool; forks isolate them.
    pool: 'forks',
    // The soak test measures memory after a full collection.
    poolOptions: { forks: { execArgv: ['--expose-gc'] } },
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Each CI pass names its own report (.ci/run), so one pass can never be judged by another's file.
    reporters: process.env['CI']
      ? ['default', ['json', { outputFile: process.env['CGFREEZE_TEST_REPORT'] ?? 'test-results/vitest.json' }]]
      : ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: UNIT,
          // Fake host trees are thousands of small files: on tmpfs they cost no disk I/O.
          env: existsSync('/dev/shm') ? { TMPDIR: '/dev/shm' } : {},
        },
      },
      {
        extends: true,
        test: {
          name: 'kernel',
          include: ['test/**/*.test.ts'],
          // The packed package's consumer tests have their own run: npm run test:package.
          exclude: [...configDefaults.exclude, ...UNIT, 'test/package/**'],
          // Checks root and the cgroup mounts (failing, never skipping, without them), builds dist/ once
          // for the tests that run it, and brings up the real-engine labs (docker, containerd, podman;
          // host and cgroup v2 modes).
          globalSetup: ['test/global-setup.ts'],
        },
      },
    ],
  },
});
