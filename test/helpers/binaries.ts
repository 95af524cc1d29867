/**
 * Test-side accessors for what test/helpers/global-setup.ts provides (wrappers around vitest's inject).
 */
import { inject } from 'vitest';
import type {} from './global-setup.js'; // ProvidedContext type augmentation only

/** Path of Debian 12's pgbouncer 1.18. */
export function pgbouncer118Binary(): string {
  return inject('pgbouncer118');
}

/** Path of the locally built pgbouncer 1.24.x. */
export function pgbouncerNewBinary(): string {
  return inject('pgbouncerNew');
}

/** PostgreSQL 15 bin dir. */
export function pgBinDir(): string {
  return inject('pgBinDir');
}

/** Both pgbouncer binaries, labelled, for `describe.each`. */
export function pgbouncerBinaries(): { label: '1.18' | 'new'; binary: string }[] {
  return [
    { label: '1.18', binary: pgbouncer118Binary() },
    { label: 'new', binary: pgbouncerNewBinary() },
  ];
}
