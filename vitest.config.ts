import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The packed package's consumer tests have their own run: npm run test:package (vitest.package.config.ts).
    exclude: [...configDefaults.exclude, 'test/package/**'],
    // Brings up the real-engine labs (docker, containerd, podman; host and cgroup v2 modes) once per run.
    globalSetup: ['test/global-setup.ts'],
    // Native addons crash vitest's worker-thread pool; forks isolate them.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: process.env.CI ? ['default', ['json', { outputFile: 'test-results/vitest.json' }]] : ['default'],
  },
});
