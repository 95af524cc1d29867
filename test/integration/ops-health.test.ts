/**
 * health, stats and size --from-stats against a real PostgreSQL 15 and a real pgbouncer, rendered
 * from the development profile with a tiny pool (default_pool_size 2), on 1.18 and the newer build
 * (their SHOW columns differ: the code reads them by name).
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import parsePrometheus from 'parse-prometheus-text-format';
import type pg from 'pg';
import { main } from '../../src/main.js';
import { runStats } from '../../src/app/stats.js';
import { captureContext } from '../helpers/context.js';
import { pgbouncerBinaries } from '../helpers/binaries.js';
import { connectThrough, profileFlags, settingsInside, startRenderedPgbouncer, type RunningPgbouncer } from '../helpers/pgbouncer.js';
import { pgbouncerVersion } from '../helpers/pgbouncer-binaries.js';
import { startPostgresWithAppDatabase, type PgCluster } from '../helpers/postgres.js';
import { freePort } from '../helpers/ports.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

const PASSWORD = 'health check pw 1';
let cluster: PgCluster;

beforeAll(async () => {
  cluster = await startPostgresWithAppDatabase();
});
afterAll(async () => {
  await cluster?.stop();
});

interface PrometheusFamily {
  name: string;
  help: string;
  type: string;
  metrics: { value: string; labels?: Record<string, string> }[];
}

describe.each(pgbouncerBinaries())('ops commands on pgbouncer $label', ({ binary, label }) => {
  let dir: TempDir;
  let bouncer: RunningPgbouncer;
  let profileArgs: string[];
  const env = () => ({ DBNAME: 'appdb', DBUSER: 'app_user', DBPASS: PASSWORD, DBHOST: '127.0.0.1', DBPORT: String(cluster.port) });
  const cli = async (args: string[], envOverride: Record<string, string> = {}) => {
    const ctx = captureContext({ env: { ...env(), ...envOverride } });
    const code = await main(['node', 'pgb-setup', ...args], ctx);
    return { code, out: ctx.out(), err: ctx.err() };
  };

  beforeAll(async () => {
    const version = (await pgbouncerVersion(binary)).match(/\d+\.\d+/)![0];
    dir = await makeTempDir(`ops-health-${label}`, { owner: 'postgres' });
    profileArgs = profileFlags(version, [...settingsInside(dir.path, await freePort()), 'default_pool_size=2', 'stats_period=1']);
    const r = await cli(['render', 'development', '--out', dir.path, ...profileArgs]);
    expect(r.err).not.toMatch(/pgb-setup:/);
    expect(r.code).toBe(0);
    bouncer = await startRenderedPgbouncer(cluster, dir.path, binary);
  });
  afterAll(async () => {
    await bouncer?.stop();
    await dir?.cleanup();
  });

  it('health: OK before any client and when the pool is idle (exit 0)', async () => {
    const first = await cli(['health', 'development', ...profileArgs]);
    expect(first.code).toBe(0);
    expect(first.out).toMatch(/^PGBOUNCER OK - no client pools yet/);
    // #11: an idle pgbouncer still gets perfdata (totals), so graphs have no holes.
    expect(first.out).toMatch(/ \| 'pools'=0;;;0 'clients'=0;;;0 'clients_waiting'=0;;;0 'servers'=0;;;0 'servers_active'=0;;;0( |\n)/);

    const c = await connectThrough(bouncer, { user: 'app_user', password: PASSWORD, database: 'appdb' });
    await c.query('select 1');
    await c.end();
    const r = await cli(['health', 'development', ...profileArgs]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out.split('\n').filter(Boolean)).toHaveLength(1);
    expect(r.out).toMatch(/^PGBOUNCER OK - 1 pool: appdb\/app_user 0\/2 servers busy \(0%\), 0 waiting, maxwait 0s \| /);
    expect(r.out).toContain("'appdb/app_user utilisation'=0%;80;100;0");
    expect(r.out).toContain("'appdb/app_user cl_waiting'=0;5;20;0");
    expect(r.out).toContain("'appdb/app_user sv_active'=0;;;0;2");
    expect(r.out).toContain("'pools'=1;;;0");
  });

  it('health: CRITICAL (exit 2) or WARNING (exit 1) while a pool of 2 is saturated by pg_sleep and clients wait', async () => {
    const clients: pg.Client[] = [];
    const running: Promise<unknown>[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const c = await connectThrough(bouncer, { user: 'app_user', password: PASSWORD, database: 'appdb' });
        clients.push(c);
        running.push(c.query('select pg_sleep(4)').catch(() => undefined));
      }
      await sleep(1500); // maxwait passes 1 s
      const crit = await cli(['health', 'development', ...profileArgs]);
      expect(crit.code).toBe(2);
      expect(crit.out).toMatch(/^PGBOUNCER CRITICAL - appdb\/app_user: 2\/2 servers busy \(100% >= 100%\), maxwait [\d.]+s \(>= 1s\) \| /);
      expect(crit.out).toMatch(/'appdb\/app_user cl_waiting'=2;5;20;0/);

      const warn = await cli(['health', 'development', ...profileArgs, '--crit-utilisation', '200', '--warn-waiting', '1', '--crit-waiting', '50', '--crit-maxwait', '60']);
      expect(warn.code).toBe(1);
      expect(warn.out).toMatch(/^PGBOUNCER WARNING - appdb\/app_user: 2\/2 servers busy \(100% >= 80%\), 2 clients waiting \(>= 1\), maxwait [\d.]+s \(>= 1s\)/);

      const json = await cli(['health', 'development', ...profileArgs, '--json']);
      expect(json.code).toBe(2);
      const parsed = JSON.parse(json.out);
      expect(parsed.status).toBe('CRITICAL');
      expect(parsed.pools[0]).toMatchObject({ database: 'appdb', user: 'app_user', servers_active: 2, clients_waiting: 2, pool_size: 2, pool_size_source: 'SHOW DATABASES', utilisation_percent: 100 });
      expect(parsed.pools[0].maxwait_seconds).toBeGreaterThanOrEqual(1);
    } finally {
      await Promise.all(running);
      for (const c of clients) await c.end().catch(() => {});
    }
  });

  it('size --from-stats reads avg_xact_count and avg_xact_time from SHOW STATS', async () => {
    const c = await connectThrough(bouncer, { user: 'app_user', password: PASSWORD, database: 'appdb' });
    const until = Date.now() + 2500; // two stats periods of 1 s
    while (Date.now() < until) await c.query('select pg_sleep(0.01)');
    await c.end();
    const r = await cli(['size', 'development', ...profileArgs, '--from-stats', '--json']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.out);
    expect(out.inputs.tps).toBeGreaterThan(10);
    expect(out.inputs.xactSeconds).toBeGreaterThan(0.009);
    expect(out.inputs.xactSeconds).toBeLessThan(0.5);
    expect(out.notes.join(' ')).toMatch(/--from-stats: database appdb .*avg_xact_count/);
    expect(out.recommended.default_pool_size).toBeGreaterThanOrEqual(1);
  });

  it('stats --format prometheus uses pgbouncer_exporter names, parsed by a real exposition parser', async () => {
    const c = await connectThrough(bouncer, { user: 'app_user', password: PASSWORD, database: 'appdb' });
    await c.query('select 1');
    const r = await cli(['stats', 'development', ...profileArgs, '--format', 'prometheus', '--legacy-stats-names']);
    await c.end();
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const families = parsePrometheus(r.out) as PrometheusFamily[];
    const fam = (name: string) => {
      const f = families.find((x) => x.name === name);
      if (!f) throw new Error(`metric ${name} missing from:\n${r.out}`);
      return f;
    };
    const sample = (name: string, labels: Record<string, string> = {}) => {
      const m = fam(name).metrics.find((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v));
      if (!m) throw new Error(`no ${name}${JSON.stringify(labels)}`);
      return Number(m.value);
    };
    // No family twice, every sample line well-formed.
    expect(new Set(families.map((f) => f.name)).size).toBe(families.length);
    for (const line of r.out.split('\n').filter((l) => l && !l.startsWith('#'))) {
      expect(line).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*",?)*\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$/);
    }

    expect(sample('pgbouncer_up')).toBe(1);
    expect(fam('pgbouncer_up').type).toBe('GAUGE');
    expect(fam('pgbouncer_version_info').metrics[0]!.labels!.version).toMatch(/^PgBouncer 1\.\d+/);
    const pool = { database: 'appdb', user: 'app_user' };
    expect(sample('pgbouncer_pools_client_active_connections', pool)).toBe(1);
    expect(sample('pgbouncer_pools_client_waiting_connections', pool)).toBe(0);
    expect(sample('pgbouncer_pools_server_active_connections', pool)).toBe(0);
    expect(sample('pgbouncer_pools_server_idle_connections', pool)).toBeGreaterThanOrEqual(1);
    expect(sample('pgbouncer_pools_client_maxwait_seconds', pool)).toBe(0);
    for (const n of ['server_used_connections', 'server_testing_connections', 'server_login_connections', 'client_active_cancel_connections', 'client_waiting_cancel_connections', 'server_active_cancel_connections', 'server_being_canceled_connections']) {
      expect(sample(`pgbouncer_pools_${n}`, pool)).toBe(0);
    }
    expect(Object.keys(fam('pgbouncer_pools_client_active_connections').metrics[0]!.labels!).sort()).toEqual(['database', 'user']);

    const db = { name: 'appdb', database: 'appdb', host: '127.0.0.1', port: String(cluster.port), force_user: '', pool_mode: '' };
    expect(sample('pgbouncer_databases_pool_size', db)).toBe(2);
    expect(sample('pgbouncer_databases_reserve_pool', db)).toBe(0);
    expect(sample('pgbouncer_databases_max_connections', db)).toBe(10);
    expect(sample('pgbouncer_databases_current_connections', db)).toBeGreaterThanOrEqual(1);
    expect(sample('pgbouncer_databases_paused', db)).toBe(0);
    expect(sample('pgbouncer_databases_disabled', db)).toBe(0);
    expect(Object.keys(fam('pgbouncer_databases_pool_size').metrics[0]!.labels!).sort()).toEqual(['database', 'force_user', 'host', 'name', 'pool_mode', 'port']);

    const stats = { database: 'appdb' };
    expect(fam('pgbouncer_stats_totals_queries_pooled_total').type).toBe('COUNTER');
    expect(sample('pgbouncer_stats_totals_queries_pooled_total', stats)).toBeGreaterThan(10);
    expect(sample('pgbouncer_stats_totals_sql_transactions_pooled_total', stats)).toBeGreaterThan(10);
    expect(sample('pgbouncer_stats_totals_queries_duration_seconds_total', stats)).toBeGreaterThan(0.05); // pg_sleeps above, in seconds
    expect(sample('pgbouncer_stats_totals_server_in_transaction_seconds_total', stats)).toBeGreaterThan(0.05);
    expect(sample('pgbouncer_stats_totals_received_bytes_total', stats)).toBeGreaterThan(0);
    expect(sample('pgbouncer_stats_totals_sent_bytes_total', stats)).toBeGreaterThan(0);
    expect(sample('pgbouncer_stats_totals_client_wait_seconds_total', stats)).toBeGreaterThan(1); // the saturation test made clients wait
    // exporter ≤ 0.10 names, with --legacy-stats-names
    expect(sample('pgbouncer_stats_queries_pooled_total', stats)).toBe(sample('pgbouncer_stats_totals_queries_pooled_total', stats));
    expect(sample('pgbouncer_stats_sql_transactions_pooled_total', stats)).toBeGreaterThan(10);
    if (label === 'new') {
      expect(sample('pgbouncer_stats_totals_server_assignments_total', stats)).toBeGreaterThan(0);
      expect(sample('pgbouncer_stats_totals_client_parses_total', stats)).toBe(0);
      expect(sample('pgbouncer_stats_totals_binds_total', stats)).toBe(0);
    } else {
      expect(families.find((f) => f.name === 'pgbouncer_stats_totals_server_assignments_total')).toBeUndefined();
    }

    expect(sample('pgbouncer_config_max_client_connections')).toBe(50);
    expect(sample('pgbouncer_config_max_user_connections')).toBe(10);
    expect(sample('pgbouncer_databases')).toBe(2);
    expect(sample('pgbouncer_pools')).toBeGreaterThanOrEqual(2);
    for (const n of ['users', 'free_clients', 'used_clients', 'login_clients', 'free_servers', 'used_servers', 'cached_dns_names', 'cached_dns_zones', 'in_flight_dns_queries']) {
      expect(Number.isFinite(sample(`pgbouncer_${n}`))).toBe(true);
    }
  });

  it('stats --format table and json read the same snapshot', async () => {
    const t = await cli(['stats', 'development', ...profileArgs]);
    expect(t.code).toBe(0);
    expect(t.out).toMatch(/^PgBouncer 1\.\d+\.\d+ at 127\.0\.0\.1:\d+, \d{4}-/);
    for (const section of ['POOLS', 'STATS (', 'DATABASES', 'LISTS']) expect(t.out).toContain(`\n${section}`);
    expect(t.out).toMatch(/\nappdb\s+app_user\s+\d+\s+0\s+/);
    const j = await cli(['stats', 'development', ...profileArgs, '--format', 'json']);
    expect(j.code).toBe(0);
    const snap = JSON.parse(j.out);
    expect(snap.pools.find((p: { database: string }) => p.database === 'appdb')).toMatchObject({ user: 'app_user', cl_waiting: 0 });
    expect(snap.databases.find((d: { name: string }) => d.name === 'appdb').pool_size).toBe(2);
    expect(snap.lists.pools).toBeGreaterThanOrEqual(2);
    expect(typeof snap.stats[0].total_query_count).toBe('number');
  });

  it('stats --serve answers /metrics with a fresh snapshot per scrape, and stops on abort', async () => {
    const ctx = captureContext({ env: env() });
    const stop = new AbortController();
    let address: { host: string; port: number } | undefined;
    const served = runStats('development', { ...parseOpts(profileArgs), serve: `127.0.0.1:${await freePort()}` }, ctx, { signal: stop.signal, onListening: (a) => (address = a) });
    while (!address) await sleep(20);
    const url = `http://127.0.0.1:${address.port}/metrics`;
    const scrape = async () => {
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      return parsePrometheus(await res.text()) as PrometheusFamily[];
    };
    const count = (f: PrometheusFamily[]) => Number(f.find((x) => x.name === 'pgbouncer_stats_totals_queries_pooled_total')!.metrics.find((m) => m.labels?.database === 'pgbouncer')!.value);
    const a = await scrape();
    const b = await scrape();
    expect(count(b)).toBeGreaterThan(count(a)); // each scrape's SHOW commands count on the admin db
    expect((await fetch(`http://127.0.0.1:${address.port}/nope`)).status).toBe(404);
    stop.abort();
    expect(await served).toBe(0);
    expect(ctx.err()).toMatch(/serving http:\/\/127\.0\.0\.1:\d+\/metrics/);
  });

  it('stats --serve as a process: serves until SIGTERM, then exits 0', async () => {
    const scriptDir = await makeTempDir('ops-serve');
    try {
      const script = join(scriptDir.path, 'run.ts');
      await writeFile(script, `import { main } from ${JSON.stringify(resolve('src/main.ts'))};\nmain(process.argv).then((code) => { process.exitCode = code; });\n`);
      const port = await freePort();
      const child = spawn(resolve('node_modules/.bin/vite-node'), [script, '--', 'stats', 'development', ...profileArgs, '--serve', `127.0.0.1:${port}`], {
        env: { ...process.env, ...env() },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
      const deadline = Date.now() + 30_000;
      while (!stderr.includes('serving http://') && Date.now() < deadline) await sleep(50);
      expect(stderr).toContain(`serving http://127.0.0.1:${port}/metrics`);
      const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(body).toContain('\npgbouncer_up 1\n');
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(stderr).toContain('stopped');
    } finally {
      await scriptDir.cleanup();
    }
  });

  it('health: UNKNOWN (exit 3) when the login is refused, and when pgbouncer is stopped', async () => {
    const refused = await cli(['health', 'development', ...profileArgs], { DBPASS: 'wrong password' });
    expect(refused.code).toBe(3);
    expect(refused.out).toMatch(/^PGBOUNCER UNKNOWN - login to the admin console at 127\.0\.0\.1:\d+ as app_user refused: /);

    await bouncer.stop();
    const down = await cli(['health', 'development', ...profileArgs]);
    expect(down.code).toBe(3);
    expect(down.out).toMatch(/^PGBOUNCER UNKNOWN - cannot connect to pgbouncer at 127\.0\.0\.1:\d+: .*ECONNREFUSED/);
    const json = await cli(['health', 'development', ...profileArgs, '--json']);
    expect(json.code).toBe(3);
    expect(JSON.parse(json.out).status).toBe('UNKNOWN');
    const metrics = await cli(['stats', 'development', ...profileArgs, '--format', 'prometheus']);
    expect(metrics.code).toBe(1);
    expect(metrics.out).toContain('pgbouncer_up 0');
  });
});

/** The --set/--pgbouncer-version argv as the options object commander would build. */
function parseOpts(args: string[]): { set: string[]; pgbouncerVersion: string } {
  const set: string[] = [];
  let pgbouncerVersion = '';
  for (let i = 0; i < args.length; i += 2) {
    if (args[i] === '--set') set.push(args[i + 1]!);
    if (args[i] === '--pgbouncer-version') pgbouncerVersion = args[i + 1]!;
  }
  return { set, pgbouncerVersion };
}
