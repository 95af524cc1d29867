import { defineConfig } from 'vitest/config';

// Two projects: fast unit tests need nothing installed; integration tests get real PostgreSQL and
// pgbouncer binaries from the global setup (which installs or builds them on a fresh machine).
export default defineConfig({
  test: {
    pool: 'forks',
    maxWorkers: 2,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 600_000,
        },
      },
      {
        // Tests that change this machine itself (apt purge/install, /etc/pgbouncer, the pgbouncer on
        // port 6432, ufw in a private namespace). Run on their own, after the others, one file at a time.
        test: {
          name: 'host',
          include: ['test/host/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 300_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
