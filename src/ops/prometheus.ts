/**
 * Prometheus text exposition (format 0.0.4) of one console snapshot, under the metric names and
 * labels of prometheus-community/pgbouncer_exporter (checked against its collector.go, release
 * 0.12.1), so dashboards built for the exporter keep working:
 *
 *   pgbouncer_up, pgbouncer_version_info{version}
 *   (for a --processes group every sample also carries process="<peer id>")
 *   SHOW LISTS     → pgbouncer_databases, _users, _pools, _free_clients, _used_clients, _login_clients,
 *                    _free_servers, _used_servers, _cached_dns_names, _cached_dns_zones, _in_flight_dns_queries
 *   SHOW CONFIG    → pgbouncer_config_max_client_connections, pgbouncer_config_max_user_connections
 *   SHOW DATABASES → pgbouncer_databases_<column>{name,host,port,database,force_user,pool_mode}
 *   SHOW POOLS     → pgbouncer_pools_<metric>{database,user}
 *   SHOW STATS     → pgbouncer_stats_totals_<metric>_total{database}   (exporter 0.11+ names)
 *                    and with legacyStatsNames also pgbouncer_stats_<metric>_total (exporter ≤ 0.10)
 *
 * Times the console reports in microseconds are exported in seconds, as the exporter does.
 */
import type { ConsoleResult, ConsoleRow } from './console.js';
import { num, numAny, str } from './console.js';
import type { Snapshot } from './pools.js';

type MetricType = 'gauge' | 'counter';

interface Sample {
  labels: [string, string][];
  value: number;
}

interface Family {
  name: string;
  help: string;
  type: MetricType;
  samples: Sample[];
}

/** SHOW LISTS `list` → exporter metric (no labels). */
const LIST_METRICS: Record<string, [string, string]> = {
  databases: ['pgbouncer_databases', 'Databases pgbouncer knows'],
  users: ['pgbouncer_users', 'Users pgbouncer knows'],
  pools: ['pgbouncer_pools', 'Pools (database, user pairs)'],
  free_clients: ['pgbouncer_free_clients', 'Client slots allocated but unused'],
  used_clients: ['pgbouncer_used_clients', 'Client slots in use'],
  login_clients: ['pgbouncer_login_clients', 'Clients still logging in'],
  free_servers: ['pgbouncer_free_servers', 'Server slots allocated but unused'],
  used_servers: ['pgbouncer_used_servers', 'Server slots in use'],
  dns_names: ['pgbouncer_cached_dns_names', 'DNS names in the cache'],
  dns_zones: ['pgbouncer_cached_dns_zones', 'DNS zones in the cache'],
  dns_queries: ['pgbouncer_in_flight_dns_queries', 'DNS queries in flight'],
};

const CONFIG_METRICS: Record<string, [string, string]> = {
  max_client_conn: ['pgbouncer_config_max_client_connections', 'max_client_conn: client connections pgbouncer accepts'],
  max_user_connections: ['pgbouncer_config_max_user_connections', 'max_user_connections: server connections per user'],
};

/** SHOW DATABASES column(s) → pgbouncer_databases_<suffix>. reserve_pool was renamed reserve_pool_size in 1.24. */
const DATABASE_METRICS: [string[], string, string][] = [
  [['pool_size'], 'pool_size', 'Server connections a pool of this database may open'],
  [['reserve_pool_size', 'reserve_pool'], 'reserve_pool', 'Extra server connections after reserve_pool_timeout'],
  [['max_connections'], 'max_connections', 'max_db_connections for this database (0 = no limit)'],
  [['current_connections'], 'current_connections', 'Server connections open to this database'],
  [['paused'], 'paused', '1 while the database is paused'],
  [['disabled'], 'disabled', '1 while the database is disabled'],
];
const DATABASE_LABELS = ['name', 'host', 'port', 'database', 'force_user', 'pool_mode'] as const;

/** SHOW POOLS column → pgbouncer_pools_<suffix>; `scale` applied to the value. */
const POOL_METRICS: [string, string, string][] = [
  ['cl_active', 'client_active_connections', 'Clients linked to a server or idle, able to run queries'],
  ['cl_active_cancel_req', 'client_active_cancel_connections', 'Clients that forwarded a cancel request and wait for the answer'],
  ['cl_waiting', 'client_waiting_connections', 'Clients waiting for a server connection'],
  ['cl_waiting_cancel_req', 'client_waiting_cancel_connections', 'Clients whose cancel request has not been forwarded yet'],
  ['sv_active', 'server_active_connections', 'Server connections linked to a client'],
  ['sv_active_cancel', 'server_active_cancel_connections', 'Server connections forwarding a cancel request'],
  ['sv_being_canceled', 'server_being_canceled_connections', 'Server connections waiting for in-flight cancel requests before going idle'],
  ['sv_idle', 'server_idle_connections', 'Server connections idle and ready'],
  ['sv_used', 'server_used_connections', 'Server connections idle longer than server_check_delay'],
  ['sv_tested', 'server_testing_connections', 'Server connections running server_reset_query or server_check_query'],
  ['sv_login', 'server_login_connections', 'Server connections logging in'],
];

/** SHOW STATS total_* column → metric suffix, microseconds-to-seconds, and whether exporter ≤ 0.10 had it. */
const STATS_METRICS: [string, string, boolean, boolean, string][] = [
  ['total_query_count', 'queries_pooled_total', false, true, 'SQL queries pooled'],
  ['total_query_time', 'queries_duration_seconds_total', true, true, 'Seconds spent connected to PostgreSQL running queries'],
  ['total_received', 'received_bytes_total', false, true, 'Bytes received from clients'],
  ['total_sent', 'sent_bytes_total', false, true, 'Bytes sent to clients'],
  ['total_wait_time', 'client_wait_seconds_total', true, true, 'Seconds clients spent waiting for a server'],
  ['total_xact_count', 'sql_transactions_pooled_total', false, true, 'SQL transactions pooled'],
  ['total_xact_time', 'server_in_transaction_seconds_total', true, true, 'Seconds spent connected to PostgreSQL in a transaction'],
  ['total_client_parse_count', 'client_parses_total', false, false, 'Parse messages received from clients (1.24+)'],
  ['total_server_parse_count', 'server_parses_total', false, false, 'Parse messages sent to PostgreSQL (1.24+)'],
  ['total_bind_count', 'binds_total', false, false, 'Bind messages for prepared statements (1.24+)'],
  ['total_server_assignment_count', 'server_assignments_total', false, false, 'Times a server connection was assigned to a client (1.23+)'],
];

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

export function renderExposition(families: readonly Family[]): string {
  const out: string[] = [];
  for (const f of families) {
    if (f.samples.length === 0) continue;
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = s.labels.length ? `{${s.labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}` : '';
      out.push(`${f.name}${labels} ${formatValue(s.value)}`);
    }
  }
  return `${out.join('\n')}\n`;
}

class Families {
  readonly list: Family[] = [];
  readonly #byName = new Map<string, Family>();
  add(name: string, type: MetricType, help: string, labels: [string, string][], value: number): void {
    let f = this.#byName.get(name);
    if (!f) {
      f = { name, type, help, samples: [] };
      this.#byName.set(name, f);
      this.list.push(f);
    }
    f.samples.push({ labels, value });
  }
}

const labelValue = (row: ConsoleRow, column: string): string => str(row, column) ?? '';

/** Metrics for a snapshot that succeeded. */
export function snapshotMetrics(snap: Snapshot, options: { legacyStatsNames?: boolean } = {}): string {
  const fam = new Families();
  addSnapshot(fam, snap, options, []);
  return renderExposition(fam.list);
}

/** One process of a --processes group: its snapshot, or undefined when it did not answer. */
interface ProcessSnapshot {
  process: number;
  snapshot: Snapshot | undefined;
}

/**
 * Metrics for every process of a group under the exporter's names, each sample with a `process`
 * label (its peer id), so `sum without (process)` gives the group. One HELP/TYPE per family.
 * A process that did not answer is `pgbouncer_up{process="N"} 0`.
 */
export function groupMetrics(processes: readonly ProcessSnapshot[], options: { legacyStatsNames?: boolean } = {}): string {
  const fam = new Families();
  for (const p of processes) {
    const extra: [string, string][] = [['process', String(p.process)]];
    if (p.snapshot) addSnapshot(fam, p.snapshot, options, extra);
    else fam.add('pgbouncer_up', 'gauge', UP_HELP, extra, 0);
  }
  return renderExposition(fam.list);
}

const UP_HELP = 'Whether the last scrape of the pgbouncer admin console succeeded';

function addSnapshot(fam: Families, snap: Snapshot, options: { legacyStatsNames?: boolean }, extra: [string, string][]): void {
  const add = (name: string, type: MetricType, help: string, labels: [string, string][], value: number) => fam.add(name, type, help, [...labels, ...extra], value);
  add('pgbouncer_up', 'gauge', UP_HELP, [], 1);
  const version = str(snap.version?.rows[0], 'version');
  if (version) add('pgbouncer_version_info', 'gauge', 'The pgbouncer version (SHOW VERSION)', [['version', version]], 1);

  for (const r of snap.lists?.rows ?? []) {
    const m = LIST_METRICS[str(r, 'list') ?? ''];
    const v = num(r, 'items');
    if (m && v !== undefined) add(m[0], 'gauge', m[1], [], v);
  }
  for (const r of snap.config?.rows ?? []) {
    const m = CONFIG_METRICS[str(r, 'key') ?? ''];
    const v = num(r, 'value');
    if (m && v !== undefined) add(m[0], 'gauge', m[1], [], v);
  }
  addRows(snap.databases, (row) => {
    const labels = DATABASE_LABELS.map((l) => [l, labelValue(row, l)] as [string, string]);
    for (const [columns, suffix, help] of DATABASE_METRICS) {
      if (!columns.some((c) => c in row)) continue;
      add(`pgbouncer_databases_${suffix}`, 'gauge', help, labels, numAny(row, columns) ?? NaN);
    }
  });
  addRows(snap.pools, (row) => {
    const labels: [string, string][] = [['database', labelValue(row, 'database')], ['user', labelValue(row, 'user')]];
    for (const [column, suffix, help] of POOL_METRICS) {
      if (column in row) add(`pgbouncer_pools_${suffix}`, 'gauge', help, labels, num(row, column) ?? NaN);
    }
    if ('maxwait' in row) {
      const seconds = (num(row, 'maxwait') ?? 0) + (num(row, 'maxwait_us') ?? 0) / 1e6;
      add('pgbouncer_pools_client_maxwait_seconds', 'gauge', 'Age of the oldest waiting client, seconds', labels, seconds);
    }
  });
  for (const prefix of options.legacyStatsNames ? ['pgbouncer_stats_totals_', 'pgbouncer_stats_'] : ['pgbouncer_stats_totals_']) {
    addRows(snap.stats, (row) => {
      const labels: [string, string][] = [['database', labelValue(row, 'database')]];
      for (const [column, suffix, micro, legacy, help] of STATS_METRICS) {
        if (!(column in row) || (prefix === 'pgbouncer_stats_' && !legacy)) continue;
        const v = num(row, column);
        add(`${prefix}${suffix}`, 'counter', help, labels, v === undefined ? NaN : micro ? v / 1e6 : v);
      }
    });
  }
}

function addRows(result: ConsoleResult | undefined, each: (row: ConsoleRow) => void): void {
  for (const row of result?.rows ?? []) each(row);
}

/** What a scrape says when the console did not answer: the exporter reports pgbouncer_up 0. */
export function downMetrics(): string {
  return renderExposition([{ name: 'pgbouncer_up', type: 'gauge', help: UP_HELP, samples: [{ labels: [], value: 0 }] }]);
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
