/**
 * vitest globalSetup: makes sure PostgreSQL 15, pgbouncer 1.18 (Debian 12) and a newer pgbouncer
 * (1.24.x, built from Debian 13's source package and cached in /var/cache/pgb-setup-test) exist,
 * and provides their paths to tests. Read them in tests with the helpers in ./context.ts
 * (or `inject('pgbouncer118')` / `inject('pgbouncerNew')` / `inject('pgBinDir')` from vitest).
 *
 * Idempotent; well under a second when everything is already installed and built.
 */
import type { TestProject } from 'vitest/node';
import { ensurePgbouncer118, ensurePgbouncerNew, PG_BIN_DIR } from './pgbouncer-binaries.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Absolute path of Debian 12's pgbouncer 1.18 (`/usr/sbin/pgbouncer`). */
    pgbouncer118: string;
    /** Absolute path of the locally built pgbouncer 1.24.x. */
    pgbouncerNew: string;
    /** Directory with PostgreSQL 15's server binaries (initdb, pg_ctl, postgres, pgbench, psql). */
    pgBinDir: string;
  }
}

export default async function setup(project: Pick<TestProject, 'provide'>): Promise<void> {
  const started = Date.now();
  const pgbouncer118 = await ensurePgbouncer118();
  const pgbouncerNew = await ensurePgbouncerNew();
  project.provide('pgbouncer118', pgbouncer118);
  project.provide('pgbouncerNew', pgbouncerNew);
  project.provide('pgBinDir', PG_BIN_DIR);
  const ms = Date.now() - started;
  if (ms > 1_000) console.log(`[global-setup] binaries ready in ${ms} ms: ${pgbouncer118}, ${pgbouncerNew}`);
}

export { setup };
