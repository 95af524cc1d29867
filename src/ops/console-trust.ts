/**
 * Whether health can judge from a console answer at all. A real pgbouncer sends every SHOW POOLS
 * count as a non-negative int4 in decimal, never NULL; anything else (NULL, negative, `0x10`,
 * `1e26`, a column missing) is an answer from something that is not behaving like pgbouncer, and
 * judging it would print OK for nonsense. Returns the first problem as one line, or undefined.
 */
import type { ConsoleResult, ConsoleRow, ConsoleValue } from './console.js';
import { ADMIN_DB, type Snapshot } from './pools.js';

/** More than any pgbouncer can have: max_client_conn is an int, but file descriptors end far below this. */
const MAX_COUNT = 10_000_000;
/** maxwait in seconds: about three years. A waiting client older than that is not a measurement. */
const MAX_WAIT_SECONDS = 100_000_000;
/** SHOW STATS rates and mean times (µs): 10^15 is beyond any real figure and still prints without an exponent. */
const MAX_STAT = 1e15;

const POOL_COUNTS = ['cl_active', 'cl_waiting', 'sv_active', 'sv_idle'] as const;
const DECIMAL = /^\d{1,30}(\.\d{1,30})?$/;

function show(v: ConsoleValue | undefined): string {
  return v === null || v === undefined ? 'NULL' : JSON.stringify(String(v).slice(0, 40));
}

/** A value as a number when it is a plain non-negative decimal within [0, max]; else undefined. */
function within(v: ConsoleValue | undefined, max: number, integer: boolean): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && DECIMAL.test(v) ? Number(v) : undefined;
  if (n === undefined || !Number.isFinite(n) || n < 0 || n > max || (integer && !Number.isInteger(n))) return undefined;
  return n;
}

function rowName(row: ConsoleRow, a: string, b?: string): string {
  const first = row[a];
  return b ? `${first ?? 'NULL'}/${row[b] ?? 'NULL'}` : String(first ?? 'NULL');
}

function missing(result: ConsoleResult, command: string, columns: readonly string[]): string | undefined {
  const absent = columns.filter((c) => !result.columns.includes(c));
  return absent.length ? `${command} has no ${absent.join(', ')} column${absent.length > 1 ? 's' : ''}` : undefined;
}

export function untrustedAnswer(snapshot: Snapshot): string | undefined {
  const pools = snapshot.pools;
  const noColumns = missing(pools, 'SHOW POOLS', ['database', 'user', ...POOL_COUNTS, 'maxwait']);
  if (noColumns) return noColumns;
  for (const row of pools.rows) {
    const name = rowName(row, 'database', 'user');
    if (typeof row['database'] !== 'string' || typeof row['user'] !== 'string') return `SHOW POOLS row ${name}: database or user is NULL`;
    for (const c of POOL_COUNTS) {
      if (within(row[c], MAX_COUNT, true) === undefined) return `SHOW POOLS row ${name}: ${c} is ${show(row[c])}, not a count from 0 to ${MAX_COUNT}`;
    }
    if ('sv_used' in row && within(row['sv_used'], MAX_COUNT, true) === undefined) return `SHOW POOLS row ${name}: sv_used is ${show(row['sv_used'])}, not a count from 0 to ${MAX_COUNT}`;
    if (within(row['maxwait'], MAX_WAIT_SECONDS, true) === undefined) return `SHOW POOLS row ${name}: maxwait is ${show(row['maxwait'])}, not a number of seconds from 0 to ${MAX_WAIT_SECONDS}`;
    if ('maxwait_us' in row && within(row['maxwait_us'], 999_999, true) === undefined) return `SHOW POOLS row ${name}: maxwait_us is ${show(row['maxwait_us'])}, not microseconds from 0 to 999999`;
  }
  for (const row of snapshot.stats.rows) {
    const name = rowName(row, 'database');
    if (typeof row['database'] !== 'string') return 'SHOW STATS: a row whose database is NULL';
    for (const c of ['avg_xact_count', 'avg_xact_time', 'avg_query_count', 'avg_query_time', 'avg_wait_time']) {
      if (c in row && within(row[c], MAX_STAT, false) === undefined) return `SHOW STATS row ${name}: ${c} is ${show(row[c])}, not a figure from 0 to 1e15`;
    }
  }
  const poolDatabases = new Set(pools.rows.map((r) => r['database']).filter((d) => d !== ADMIN_DB));
  for (const row of snapshot.databases.rows) {
    if (!poolDatabases.has(row['name'] as string)) continue;
    for (const c of ['pool_size', 'reserve_pool_size', 'reserve_pool']) {
      if (c in row && row[c] !== null && row[c] !== '' && within(row[c], MAX_COUNT, true) === undefined) return `SHOW DATABASES row ${rowName(row, 'name')}: ${c} is ${show(row[c])}, not a size from 0 to ${MAX_COUNT}`;
    }
  }
  const poolUsers = new Set(pools.rows.map((r) => r['user']));
  for (const row of snapshot.users?.rows ?? []) {
    // 1.24 shows an empty pool_size for a user without a [users] override.
    if (!poolUsers.has(row['name'] as string) || !('pool_size' in row) || row['pool_size'] === null || row['pool_size'] === '') continue;
    const v = row['pool_size'];
    if (v !== -1 && v !== '-1' && within(v, MAX_COUNT, true) === undefined) return `SHOW USERS row ${rowName(row, 'name')}: pool_size is ${show(v)}, not a size from -1 to ${MAX_COUNT}`;
  }
  return undefined;
}
