import { defineConfig } from 'vitest/config';

// In every project: a test file that blocks its worker for 30 s fails (vitest's own RPC deadline is 60 s).
const setupFiles = ['test/helpers/event-loop-guard.ts'];

// Projects: fast unit tests need nothing installed; integration tests get real PostgreSQL and
// pgbouncer binaries from the global setup (which installs or builds them on a fresh machine).
export default defineConfig({
  test: {
    pool: 'forks',
    maxWorkers: 2,
    projects: [
      {
        test: {
          name: 'unit',
          setupFiles,
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          setupFiles,
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/helpers/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 600_000,
        },
      },
      {
        // Tests that change this machine itself (apt purge/install, /etc/pgbouncer, the pgbouncer on
        // port 6432, ufw in a private namespace). Run on their own, after the others, one file at a time.
        test: {
          name: 'host',
          setupFiles,
          include: ['test/host/**/*.test.ts'],
          globalSetup: ['test/helpers/global-setup.ts'],
          testTimeout: 300_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
      {
        // Reference hosts (#12): Debian 12 and 13 root filesystems booted with systemd as PID 1 under
        // systemd-nspawn (--private-network), pgb-setup installed from the npm pack tarball inside.
        // Run last; the first run builds and caches the root filesystems (a few minutes each).
        test: {
          name: 'guests',
          setupFiles,
          include: ['test/guests/**/*.test.ts'],
          globalSetup: ['test/helpers/guests/setup.ts'],
          testTimeout: 600_000,
          hookTimeout: 1_500_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
