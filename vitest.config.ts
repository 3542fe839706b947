import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // A folder for the homes of the CLI processes tests start; the user's code cache left alone.
    globalSetup: ['test/global-setup.ts'],
  },
});
