import { defineConfig } from 'vitest/config';

// Two projects: `unit` (pure, fast, no sockets or child processes) and `integration`
// (real sockets, child processes, the built dist/ — run after `npm run build`).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{common,ingester,querier,operator,agent,cli,bench}/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', 'node_modules/**', 'dist/**'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['**/*.int.test.ts', 'e2e/**/*.test.ts'],
          exclude: ['node_modules/**', 'dist/**'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // Integration suites bind ports and spawn processes; run files one at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
