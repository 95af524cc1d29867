/**
 * Console snapshots shaped exactly like pgbouncer 1.18.0 and 1.24.1 answered on this machine
 * (column names and order from SHOW POOLS / STATS / DATABASES / USERS / LISTS / CONFIG / VERSION).
 */
import type { ConsoleResult, ConsoleValue } from '../../../src/ops/console.js';
import type { Snapshot } from '../../../src/ops/pools.js';

export function result(columns: string[], rows: ConsoleValue[][]): ConsoleResult {
  return { columns, rows: rows.map((r) => Object.fromEntries(columns.map((c, i) => [c, r[i] ?? null]))) };
}

const POOLS_118 = ['database', 'user', 'cl_active', 'cl_waiting', 'cl_active_cancel_req', 'cl_waiting_cancel_req', 'sv_active', 'sv_active_cancel', 'sv_being_canceled', 'sv_idle', 'sv_used', 'sv_tested', 'sv_login', 'maxwait', 'maxwait_us', 'pool_mode'];
const POOLS_124 = [...POOLS_118, 'load_balance_hosts'];
const STATS_118 = ['database', 'total_xact_count', 'total_query_count', 'total_received', 'total_sent', 'total_xact_time', 'total_query_time', 'total_wait_time', 'avg_xact_count', 'avg_query_count', 'avg_recv', 'avg_sent', 'avg_xact_time', 'avg_query_time', 'avg_wait_time'];
const STATS_124 = ['database', 'total_server_assignment_count', 'total_xact_count', 'total_query_count', 'total_received', 'total_sent', 'total_xact_time', 'total_query_time', 'total_wait_time', 'total_client_parse_count', 'total_server_parse_count', 'total_bind_count', 'avg_server_assignment_count', 'avg_xact_count', 'avg_query_count', 'avg_recv', 'avg_sent', 'avg_xact_time', 'avg_query_time', 'avg_wait_time', 'avg_client_parse_count', 'avg_server_parse_count', 'avg_bind_count'];
const DBS_118 = ['name', 'host', 'port', 'database', 'force_user', 'pool_size', 'min_pool_size', 'reserve_pool', 'pool_mode', 'max_connections', 'current_connections', 'paused', 'disabled'];
const DBS_124 = ['name', 'host', 'port', 'database', 'force_user', 'pool_size', 'min_pool_size', 'reserve_pool_size', 'server_lifetime', 'pool_mode', 'load_balance_hosts', 'max_connections', 'current_connections', 'max_client_connections', 'current_client_connections', 'paused', 'disabled'];

export interface PoolState {
  database?: string;
  user?: string;
  clActive?: number;
  clWaiting?: number;
  svActive?: number;
  svIdle?: number;
  maxwait?: number;
  maxwaitUs?: number;
}

export function snapshot118(pools: PoolState[] = [{}], opts: { poolSize?: number; reserve?: number } = {}): Snapshot {
  return {
    version: result(['version'], [['PgBouncer 1.18.0']]),
    pools: result(POOLS_118, [
      ...pools.map((p) => [p.database ?? 'appdb', p.user ?? 'app_user', p.clActive ?? 0, p.clWaiting ?? 0, 0, 0, p.svActive ?? 0, 0, 0, p.svIdle ?? 0, 0, 0, 0, p.maxwait ?? 0, p.maxwaitUs ?? 0, 'transaction']),
      ['pgbouncer', 'pgbouncer', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'statement'],
    ]),
    stats: result(STATS_118, [
      ['appdb', 120, 240, 5000, 9000, 3_000_000, 2_000_000, 1_500_000, 40, 80, 100, 200, 25_000, 12_500, 300],
      ['pgbouncer', 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ]),
    databases: result(DBS_118, [
      ['appdb', '127.0.0.1', 5432, 'appdb', null, opts.poolSize ?? 2, 0, opts.reserve ?? 0, null, 10, 1, 0, 0],
      ['pgbouncer', null, 6432, 'pgbouncer', 'pgbouncer', 2, 0, 0, 'statement', 0, 0, 0, 0],
    ]),
    users: result(['name', 'pool_mode'], [['app_user', null], ['pgbouncer', null]]),
    lists: result(['list', 'items'], [['databases', 2], ['users', 2], ['pools', 2], ['free_clients', 48], ['used_clients', 2], ['login_clients', 0], ['free_servers', 49], ['used_servers', 1], ['dns_names', 0], ['dns_zones', 0], ['dns_queries', 0], ['dns_pending', 0]]),
    config: result(['key', 'value', 'default', 'changeable'], [['default_pool_size', '2', '20', 'yes'], ['max_client_conn', '50', '100', 'yes'], ['max_user_connections', '10', '0', 'yes'], ['stats_period', '60', '60', 'yes']]),
  };
}

export function snapshot124(pools: PoolState[] = [{}], opts: { poolSize?: number; reserve?: number; userPoolSize?: string } = {}): Snapshot {
  return {
    version: result(['version'], [['PgBouncer 1.24.1']]),
    pools: result(POOLS_124, [
      ...pools.map((p) => [p.database ?? 'appdb', p.user ?? 'app_user', p.clActive ?? 0, p.clWaiting ?? 0, 0, 0, p.svActive ?? 0, 0, 0, p.svIdle ?? 0, 0, 0, 0, p.maxwait ?? 0, p.maxwaitUs ?? 0, 'transaction', null]),
      ['pgbouncer', 'pgbouncer', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'statement', null],
    ]),
    stats: result(STATS_124, [
      ['appdb', 7, 120, 240, 5000, 9000, 3_000_000, 2_000_000, 1_500_000, 4, 5, 6, 1, 40, 80, 100, 200, 25_000, 12_500, 300, 0, 0, 0],
      ['pgbouncer', 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ]),
    databases: result(DBS_124, [
      ['appdb', '127.0.0.1', 5432, 'appdb', null, opts.poolSize ?? 2, 0, opts.reserve ?? 0, 3600, null, null, 10, 1, 0, 1, 0, 0],
      ['pgbouncer', null, 6432, 'pgbouncer', 'pgbouncer', 2, 0, 0, 3600, 'statement', null, 0, 0, 0, 1, 0, 0],
    ]),
    users: result(
      ['name', 'pool_size', 'reserve_pool_size', 'pool_mode', 'max_user_connections', 'current_connections', 'max_user_client_connections', 'current_client_connections'],
      [['app_user', opts.userPoolSize ?? '', '', null, 0, 1, 0, 2], ['pgbouncer', '', '', null, 0, 0, 0, 0]],
    ),
    lists: result(['list', 'items'], [['databases', 2], ['users', 2], ['peers', 0], ['pools', 2], ['peer_pools', 0], ['free_clients', 48], ['used_clients', 2], ['login_clients', 0], ['free_servers', 49], ['used_servers', 1], ['dns_names', 0], ['dns_zones', 0], ['dns_queries', 0], ['dns_pending', 0]]),
    config: result(['key', 'value', 'default', 'changeable'], [['default_pool_size', '2', '20', 'yes'], ['max_client_conn', '50', '100', 'yes'], ['max_user_connections', '10', '0', 'yes']]),
  };
}
