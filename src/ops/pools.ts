/**
 * Per-pool and per-database figures from one console snapshot (SHOW POOLS, STATS, DATABASES,
 * USERS, CONFIG, VERSION), every column read by name. Shared by health, stats and size.
 */
import { num, numAny, str, type ConsoleResult, type ConsoleRow } from './console.js';

export const ADMIN_DB = 'pgbouncer';

export interface Snapshot {
  version?: ConsoleResult;
  pools: ConsoleResult;
  stats: ConsoleResult;
  databases: ConsoleResult;
  users?: ConsoleResult;
  lists?: ConsoleResult;
  config?: ConsoleResult;
}

export interface PoolFigures {
  database: string;
  user: string;
  poolMode: string | undefined;
  clientsActive: number;
  clientsWaiting: number;
  serversActive: number;
  serversIdle: number;
  serversUsed: number;
  /** The pool's size limit; undefined when unknown or unlimited. */
  poolSize: number | undefined;
  poolSizeSource: string;
  /** pool_size 0 on 1.24+ means no limit. */
  unlimited: boolean;
  reservePool: number | undefined;
  /** Busy servers (sv_active) against the pool size, in percent; undefined without a size. */
  utilisation: number | undefined;
  /** Age of the oldest waiting client, seconds (maxwait + maxwait_us). */
  maxwaitSeconds: number;
}

export interface DatabaseStats {
  database: string;
  /** avg_xact_count: transactions per second over the last stats_period. */
  xactPerSecond: number;
  queriesPerSecond: number;
  /** avg_xact_time: mean seconds a transaction held a server connection (W in Little's law). */
  avgXactSeconds: number;
  avgQuerySeconds: number;
  /** Mean time clients waited for a server (avg_wait_time). */
  avgWaitSeconds: number;
  totalXacts: number;
  totalQueries: number;
}

/** `PgBouncer 1.24.1` → [1, 24, 1]. */
function parseConsoleVersion(text: string | undefined): [number, number, number] | undefined {
  const m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text ?? '');
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

export function versionText(snapshot: Pick<Snapshot, 'version'>): string | undefined {
  return str(snapshot.version?.rows[0], 'version');
}

function atLeast(v: [number, number, number] | undefined, major: number, minor: number): boolean {
  return !!v && (v[0] > major || (v[0] === major && v[1] >= minor));
}

export function configValue(snapshot: Pick<Snapshot, 'config'>, key: string): string | undefined {
  return str(snapshot.config?.rows.find((r) => r['key'] === key), 'value');
}

/**
 * Figures per (database, user) pool, the admin console's own pool left out.
 * Pool size, most specific first: SHOW USERS pool_size (1.23+ [users] override), SHOW DATABASES
 * pool_size, `fallbackPoolSize(database)` (the profile), SHOW CONFIG default_pool_size.
 */
export function poolFigures(snapshot: Snapshot, fallbackPoolSize?: (database: string) => number | undefined): PoolFigures[] {
  const version = parseConsoleVersion(versionText(snapshot));
  const dbRows = new Map(snapshot.databases.rows.map((r) => [str(r, 'name') ?? '', r]));
  const userRows = new Map((snapshot.users?.rows ?? []).map((r) => [str(r, 'name') ?? '', r]));
  const configDefault = num({ v: configValue(snapshot, 'default_pool_size') ?? null }, 'v');
  return snapshot.pools.rows
    .filter((r) => str(r, 'database') !== ADMIN_DB)
    .map((r) => {
      const database = str(r, 'database') ?? '';
      const user = str(r, 'user') ?? '';
      const db = dbRows.get(database);
      const sizes: [number | undefined, string][] = [
        [num(userRows.get(user), 'pool_size'), 'SHOW USERS'],
        [num(db, 'pool_size'), 'SHOW DATABASES'],
        [fallbackPoolSize?.(database), 'profile'],
        [configDefault, 'SHOW CONFIG'],
      ];
      const [size, sizeSource] = sizes.find(([v]) => v !== undefined) ?? [undefined, 'unknown'];
      const unlimited = size === 0 && atLeast(version, 1, 24);
      const poolSize = size !== undefined && size > 0 ? size : undefined;
      const serversActive = num(r, 'sv_active') ?? 0;
      return {
        database,
        user,
        poolMode: str(r, 'pool_mode'),
        clientsActive: num(r, 'cl_active') ?? 0,
        clientsWaiting: num(r, 'cl_waiting') ?? 0,
        serversActive,
        serversIdle: num(r, 'sv_idle') ?? 0,
        serversUsed: num(r, 'sv_used') ?? 0,
        poolSize,
        poolSizeSource: sizeSource,
        unlimited,
        reservePool: numAny(userRows.get(user), ['reserve_pool_size']) ?? numAny(db, ['reserve_pool_size', 'reserve_pool']),
        utilisation: poolSize ? (serversActive / poolSize) * 100 : undefined,
        maxwaitSeconds: (num(r, 'maxwait') ?? 0) + (num(r, 'maxwait_us') ?? 0) / 1e6,
      };
    });
}

export function databaseStats(snapshot: Pick<Snapshot, 'stats'>): DatabaseStats[] {
  return snapshot.stats.rows
    .filter((r) => str(r, 'database') !== ADMIN_DB)
    .map((r: ConsoleRow) => ({
      database: str(r, 'database') ?? '',
      xactPerSecond: num(r, 'avg_xact_count') ?? 0,
      queriesPerSecond: num(r, 'avg_query_count') ?? 0,
      avgXactSeconds: (num(r, 'avg_xact_time') ?? 0) / 1e6,
      avgQuerySeconds: (num(r, 'avg_query_time') ?? 0) / 1e6,
      avgWaitSeconds: (num(r, 'avg_wait_time') ?? 0) / 1e6,
      totalXacts: num(r, 'total_xact_count') ?? 0,
      totalQueries: num(r, 'total_query_count') ?? 0,
    }));
}

/** Trims a number for humans and perfdata: no exponent, at most `digits` decimals. */
export function fmt(n: number, digits = 3): string {
  if (!Number.isFinite(n)) return String(n);
  const s = n.toFixed(digits);
  return s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
}
