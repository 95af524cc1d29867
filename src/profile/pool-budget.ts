import type { ResolvedConfig } from './types.js';

interface DatabaseBudget {
  name: string;
  /** Pools of this database: one per (database, user). */
  pools: number;
  poolSize: number;
  reservePoolSize: number;
  /** What the pools could open together, before max_db_connections caps it. */
  demand: number;
  /** max_db_connections for this database (0 = no cap). */
  cap: number;
  /** What can really reach PostgreSQL from this database's pools. */
  effective: number;
}

interface PoolBudget {
  databases: DatabaseBudget[];
  /** Extra pool that auth_query opens per database as auth_user (1 connection is enough, but it is a pool). */
  authUserConnections: number;
  serverConnections: number;
  /** pgbouncer's own estimate of file descriptors it may need (src/main.c check_limits). */
  fdEstimate: number;
}

function num(config: ResolvedConfig, key: string, fallback: number): number {
  const v = config.settings.find((s) => s.key === key)?.value;
  return typeof v === 'number' ? v : fallback;
}

/** How many server connections the profile allows, per database and in total. */
export function poolBudget(config: ResolvedConfig): PoolBudget {
  const p = config.profile;
  const defaultPool = num(config, 'default_pool_size', 20);
  const defaultReserve = num(config, 'reserve_pool_size', 0);
  const globalCap = num(config, 'max_db_connections', 0);
  const users = p.database.user ? 1 : 0;
  const entries: { name: string; pool_size?: number; reserve_pool_size?: number; max_db_connections?: number }[] = [];
  if (p.database.name) entries.push({ name: p.database.name });
  for (const [name, e] of Object.entries(p.databases)) entries.push({ name, ...e });
  const databases = entries.map((e) => {
    const poolSize = e.pool_size ?? defaultPool;
    const reservePoolSize = e.reserve_pool_size ?? defaultReserve;
    const pools = Math.max(users, 1);
    const demand = pools * (poolSize + reservePoolSize);
    const cap = e.max_db_connections ?? globalCap;
    return { name: e.name, pools, poolSize, reservePoolSize, demand, cap, effective: cap > 0 ? Math.min(cap, demand) : demand };
  });
  const authUserConnections = config.settings.some((s) => s.key === 'auth_user') ? databases.length : 0;
  const serverConnections = databases.reduce((a, d) => a + d.effective, 0) + authUserConnections;
  const maxClient = num(config, 'max_client_conn', 100);
  const fdEstimate = maxClient + 10 + databases.reduce((a, d) => a + d.poolSize * d.pools, 0) + authUserConnections;
  return { databases, authUserConnections, serverConnections, fdEstimate };
}
