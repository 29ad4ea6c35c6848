import { defineConfig } from 'vitest/config';

// `npm run test:package`: the packed tarball as a consumer installs it. Needs no container lab; its
// globalSetup installs the tools and Node runtimes, builds the prebuilds and packs.
export default defineConfig({
  test: {
    include: ['test/package/**/*.test.ts'],
    globalSetup: ['test/package/global-setup.ts'],
    pool: 'forks',
    // Each file runs npm installs and compiles; in parallel they would only slow each other down on 2 cores.
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 300_000,
    reporters: process.env.CI ? ['default', ['json', { outputFile: 'test-results/package.json' }]] : ['default'],
  },
});
