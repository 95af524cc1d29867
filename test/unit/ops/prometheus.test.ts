import { describe, expect, it } from 'vitest';
import parsePrometheus from 'parse-prometheus-text-format';
import { downMetrics, renderExposition, snapshotMetrics } from '../../../src/ops/prometheus.js';
import { result, snapshot118, snapshot124 } from './snapshots.js';

interface Family {
  name: string;
  type: string;
  metrics: { value: string; labels?: Record<string, string> }[];
}

const parse = (text: string) => parsePrometheus(text) as Family[];
const value = (fams: Family[], name: string, labels: Record<string, string> = {}) =>
  Number(fams.find((f) => f.name === name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))?.value);

/** Metric names pgbouncer_exporter 0.12.1 emits (collector.go), excluding SHOW CLIENTS' pgbouncer_client_connections. */
const EXPORTER_NAMES = [
  'pgbouncer_up', 'pgbouncer_version_info',
  'pgbouncer_databases', 'pgbouncer_users', 'pgbouncer_pools', 'pgbouncer_free_clients', 'pgbouncer_used_clients', 'pgbouncer_login_clients',
  'pgbouncer_free_servers', 'pgbouncer_used_servers', 'pgbouncer_cached_dns_names', 'pgbouncer_cached_dns_zones', 'pgbouncer_in_flight_dns_queries',
  'pgbouncer_config_max_client_connections', 'pgbouncer_config_max_user_connections',
  'pgbouncer_databases_pool_size', 'pgbouncer_databases_reserve_pool', 'pgbouncer_databases_max_connections', 'pgbouncer_databases_current_connections',
  'pgbouncer_databases_paused', 'pgbouncer_databases_disabled',
  'pgbouncer_pools_client_active_connections', 'pgbouncer_pools_client_active_cancel_connections', 'pgbouncer_pools_client_waiting_connections',
  'pgbouncer_pools_client_waiting_cancel_connections', 'pgbouncer_pools_server_active_connections', 'pgbouncer_pools_server_active_cancel_connections',
  'pgbouncer_pools_server_being_canceled_connections', 'pgbouncer_pools_server_idle_connections', 'pgbouncer_pools_server_used_connections',
  'pgbouncer_pools_server_testing_connections', 'pgbouncer_pools_server_login_connections', 'pgbouncer_pools_client_maxwait_seconds',
  'pgbouncer_stats_totals_queries_pooled_total', 'pgbouncer_stats_totals_queries_duration_seconds_total', 'pgbouncer_stats_totals_received_bytes_total',
  'pgbouncer_stats_totals_sent_bytes_total', 'pgbouncer_stats_totals_client_wait_seconds_total', 'pgbouncer_stats_totals_sql_transactions_pooled_total',
  'pgbouncer_stats_totals_server_in_transaction_seconds_total',
];
const NEW_IN_124 = ['pgbouncer_stats_totals_client_parses_total', 'pgbouncer_stats_totals_server_parses_total', 'pgbouncer_stats_totals_binds_total', 'pgbouncer_stats_totals_server_assignments_total'];

describe('prometheus exposition with pgbouncer_exporter names', () => {
  it.each([
    ['1.18', snapshot118, []],
    ['1.24', snapshot124, NEW_IN_124],
  ] as const)('%s: every exporter metric the version can feed, typed and labelled like the exporter', (_v, snap, extra) => {
    const text = snapshotMetrics(snap([{ clActive: 2, clWaiting: 1, svActive: 2, maxwait: 2, maxwaitUs: 500_000 }]));
    const fams = parse(text);
    expect(fams.map((f) => f.name).sort()).toEqual([...EXPORTER_NAMES, ...extra].sort());
    for (const f of fams) expect(f.type).toBe(f.name.endsWith('_total') ? 'COUNTER' : 'GAUGE');

    const pool = { database: 'appdb', user: 'app_user' };
    expect(value(fams, 'pgbouncer_pools_client_active_connections', pool)).toBe(2);
    expect(value(fams, 'pgbouncer_pools_client_waiting_connections', pool)).toBe(1);
    expect(value(fams, 'pgbouncer_pools_client_maxwait_seconds', pool)).toBe(2.5);
    // The exporter exports the admin console's own rows too.
    expect(value(fams, 'pgbouncer_pools_client_active_connections', { database: 'pgbouncer', user: 'pgbouncer' })).toBe(1);

    // SHOW DATABASES: reserve_pool (1.18) and reserve_pool_size (1.24) both feed pgbouncer_databases_reserve_pool.
    const db = { name: 'appdb', host: '127.0.0.1', port: '5432', database: 'appdb', force_user: '', pool_mode: '' };
    expect(value(fams, 'pgbouncer_databases_pool_size', db)).toBe(2);
    expect(value(fams, 'pgbouncer_databases_reserve_pool', db)).toBe(0);
    expect(value(fams, 'pgbouncer_databases_max_connections', db)).toBe(10);
    expect(value(fams, 'pgbouncer_databases_pool_size', { name: 'pgbouncer', host: '', force_user: 'pgbouncer', pool_mode: 'statement' })).toBe(2);

    // µs → s, as the exporter does.
    const stats = { database: 'appdb' };
    expect(value(fams, 'pgbouncer_stats_totals_sql_transactions_pooled_total', stats)).toBe(120);
    expect(value(fams, 'pgbouncer_stats_totals_queries_pooled_total', stats)).toBe(240);
    expect(value(fams, 'pgbouncer_stats_totals_server_in_transaction_seconds_total', stats)).toBe(3);
    expect(value(fams, 'pgbouncer_stats_totals_queries_duration_seconds_total', stats)).toBe(2);
    expect(value(fams, 'pgbouncer_stats_totals_client_wait_seconds_total', stats)).toBe(1.5);
    expect(value(fams, 'pgbouncer_stats_totals_received_bytes_total', stats)).toBe(5000);

    expect(value(fams, 'pgbouncer_config_max_client_connections')).toBe(50);
    expect(value(fams, 'pgbouncer_databases')).toBe(2);
    expect(value(fams, 'pgbouncer_in_flight_dns_queries')).toBe(0);
    expect(fams.find((f) => f.name === 'pgbouncer_version_info')!.metrics[0]!.labels).toEqual({ version: _v === '1.18' ? 'PgBouncer 1.18.0' : 'PgBouncer 1.24.1' });
  });

  it('--legacy-stats-names adds the exporter <= 0.10 names for the same counters', () => {
    const fams = parse(snapshotMetrics(snapshot124(), { legacyStatsNames: true }));
    expect(value(fams, 'pgbouncer_stats_queries_pooled_total', { database: 'appdb' })).toBe(240);
    expect(value(fams, 'pgbouncer_stats_client_wait_seconds_total', { database: 'appdb' })).toBe(1.5);
    // Counters 0.10 never had stay under the new prefix only.
    expect(fams.find((f) => f.name === 'pgbouncer_stats_binds_total')).toBeUndefined();
  });

  it('escapes label values and help text', () => {
    const text = renderExposition([{ name: 'm', type: 'gauge', help: 'a \\ b\nc', samples: [{ labels: [['database', 'we"ird\\db\nx']], value: NaN }] }]);
    expect(text).toBe('# HELP m a \\\\ b\\nc\n# TYPE m gauge\nm{database="we\\"ird\\\\db\\nx"} NaN\n');
    expect(parse(text)[0]!.metrics[0]!.labels!.database).toBe('we"ird\\db\nx');
  });

  it('a failed scrape says pgbouncer_up 0, like the exporter', () => {
    expect(downMetrics()).toBe('# HELP pgbouncer_up Whether the last scrape of the pgbouncer admin console succeeded\n# TYPE pgbouncer_up gauge\npgbouncer_up 0\n');
  });

  it('tolerates columns a future version adds and ones it drops', () => {
    const snap = snapshot124();
    snap.pools = result([...snap.pools.columns, 'sv_future'], snap.pools.rows.map((r) => [...Object.values(r), 9]));
    const fams = parse(snapshotMetrics(snap));
    expect(fams.some((f) => f.name.includes('future'))).toBe(false);
    const dropped = snapshot118();
    dropped.pools = result(['database', 'user', 'cl_active'], [['appdb', 'app_user', 4]]);
    const f2 = parse(snapshotMetrics(dropped));
    expect(value(f2, 'pgbouncer_pools_client_active_connections', { database: 'appdb' })).toBe(4);
    expect(f2.find((f) => f.name === 'pgbouncer_pools_client_maxwait_seconds')).toBeUndefined();
  });
});
