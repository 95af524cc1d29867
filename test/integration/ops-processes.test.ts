/**
 * health, stats and verify over a --processes 2 group: two real pgbouncer 1.24 processes on one
 * port (so_reuseport + [peers]), rendered from the development profile (default_pool_size 5 split
 * 3 + 2), each reached through its own socket folder <dir>/pgbouncer-<i>. Every process is
 * reported; one saturated process is CRITICAL however idle the other; a stopped process makes
 * health UNKNOWN, stats report pgbouncer_up{process="2"} 0, and verify fail on that process.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import parsePrometheus from 'parse-prometheus-text-format';
import { main } from '../../src/main.js';
import { runStats } from '../../src/app/stats.js';
import { captureContext } from '../helpers/context.js';
import { pgbouncerNewBinary } from '../helpers/binaries.js';
import { profileFlags, settingsInside, startRenderedPgbouncerGroup, type RunningPgbouncer } from '../helpers/pgbouncer.js';
import { pgbouncerVersion } from '../helpers/pgbouncer-binaries.js';
import { startPostgresWithAppDatabase, type PgCluster } from '../helpers/postgres.js';
import { freePort } from '../helpers/ports.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

const PASSWORD = 'group health pw';
let cluster: PgCluster;
let dir: TempDir;
let port: number;
let profileArgs: string[];
const bouncers: RunningPgbouncer[] = [];

const env = () => ({ DBNAME: 'appdb', DBUSER: 'app_user', DBPASS: PASSWORD, DBHOST: '127.0.0.1', DBPORT: String(cluster.port) });
async function cli(args: string[]) {
  const ctx = captureContext({ env: env() });
  const code = await main(['node', 'pgb-setup', ...args], ctx);
  return { code, out: ctx.out(), err: ctx.err() };
}

/** A client of process `i` itself, through its socket folder (the TCP port would pick a process). */
async function clientOf(i: number): Promise<pg.Client> {
  const c = new pg.Client({ host: join(dir.path, `pgbouncer-${i}`), port, user: 'app_user', password: PASSWORD, database: 'appdb', connectionTimeoutMillis: 5000 });
  c.on('error', () => {});
  await c.connect();
  return c;
}

interface PrometheusFamily {
  name: string;
  type: string;
  metrics: { value: string; labels?: Record<string, string> }[];
}

beforeAll(async () => {
  cluster = await startPostgresWithAppDatabase();
  dir = await makeTempDir('ops-processes', { owner: 'postgres' });
  port = await freePort();
  const version = (await pgbouncerVersion(pgbouncerNewBinary())).match(/\d+\.\d+\.\d+/)![0];
  profileArgs = profileFlags(version, settingsInside(dir.path, port));
  const r = await cli(['render', 'development', '--out', dir.path, '--processes', '2', ...profileArgs]);
  expect(r.err).not.toMatch(/pgb-setup:/);
  expect(r.code).toBe(0);
  bouncers.push(...(await startRenderedPgbouncerGroup(cluster, dir.path, pgbouncerNewBinary(), 2)));
});

afterAll(async () => {
  for (const b of bouncers) await b.stop();
  await cluster?.stop();
  await dir?.cleanup();
});

describe('ops commands over a 2-process group (pgbouncer 1.24)', () => {
  it('health --processes 2: one line for both processes, perfdata per process and pool (exit 0)', async () => {
    const empty = await cli(['health', 'development', '--processes', '2', ...profileArgs]);
    expect(empty.code).toBe(0);
    expect(empty.out).toMatch(/^PGBOUNCER OK - 2 processes, no client pools yet/);

    for (const i of [1, 2]) {
      const c = await clientOf(i);
      await c.query('select 1');
      await c.end();
    }
    const r = await cli(['health', 'development', '--processes', '2', ...profileArgs]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out.split('\n').filter(Boolean)).toHaveLength(1);
    expect(r.out).toMatch(/^PGBOUNCER OK - 2 processes, 2 pools, busiest p[12] appdb\/app_user 0\/[23] servers busy \(0%\), 0 waiting, maxwait 0s \| /);
    // Each process is judged against its own share of default_pool_size 5: 3 and 2.
    expect(r.out).toContain("'p1 appdb/app_user utilisation'=0%;80;100;0");
    expect(r.out).toContain("'p1 appdb/app_user sv_active'=0;;;0;3");
    expect(r.out).toContain("'p2 appdb/app_user sv_active'=0;;;0;2");
    expect(r.out).toContain("'p2 appdb xact_per_s'=");

    const json = JSON.parse((await cli(['health', 'development', '--processes', '2', ...profileArgs, '--json'])).out);
    expect(json.status).toBe('OK');
    expect(json.processes.map((p: { process: number; target: string }) => [p.process, p.target])).toEqual([
      [1, `${dir.path}/pgbouncer-1/.s.PGSQL.${port}`],
      [2, `${dir.path}/pgbouncer-2/.s.PGSQL.${port}`],
    ]);
    expect(json.processes[1].pools[0]).toMatchObject({ database: 'appdb', user: 'app_user', pool_size: 2, status: 'OK' });
  });

  it('health --processes 2: a saturated process is CRITICAL even though the other is idle (exit 2)', async () => {
    const clients: pg.Client[] = [];
    const running: Promise<unknown>[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const c = await clientOf(2); // process 2's share is 2 server connections
        clients.push(c);
        running.push(c.query('select pg_sleep(3)').catch(() => undefined));
      }
      await sleep(500);
      const r = await cli(['health', 'development', '--processes', '2', ...profileArgs]);
      expect(r.code).toBe(2);
      expect(r.out).toMatch(/^PGBOUNCER CRITICAL - p2 appdb\/app_user: 2\/2 servers busy \(100% >= 100%\); 1 other pool OK \(of 2 processes\) \| /);
      expect(r.out).toContain("'p2 appdb/app_user cl_waiting'=1;5;20;0");
      expect(r.out).toContain("'p1 appdb/app_user sv_active'=0;;;0;3");
    } finally {
      await Promise.all(running);
      for (const c of clients) await c.end().catch(() => {});
    }
  });

  it('stats --processes 2: Prometheus samples carry a process label, one HELP/TYPE per family; table and JSON per process', async () => {
    const r = await cli(['stats', 'development', '--processes', '2', ...profileArgs, '--format', 'prometheus']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const families = parsePrometheus(r.out) as PrometheusFamily[];
    expect(new Set(families.map((f) => f.name)).size).toBe(families.length);
    expect(r.out.match(/^# TYPE pgbouncer_up gauge$/gm)).toHaveLength(1);
    const sample = (name: string, labels: Record<string, string>) => {
      const m = families.find((f) => f.name === name)?.metrics.find((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v));
      if (!m) throw new Error(`no ${name}${JSON.stringify(labels)} in:\n${r.out}`);
      return Number(m.value);
    };
    for (const process of ['1', '2']) {
      expect(sample('pgbouncer_up', { process })).toBe(1);
      expect(sample('pgbouncer_version_info', { process })).toBe(1);
      expect(sample('pgbouncer_pools_client_waiting_connections', { database: 'appdb', user: 'app_user', process })).toBe(0);
      expect(sample('pgbouncer_stats_totals_sql_transactions_pooled_total', { database: 'appdb', process })).toBeGreaterThan(0);
      expect(sample('pgbouncer_config_max_client_connections', { process })).toBe(50);
    }
    // The pool budget split: 3 + 2 = the profile's 5; max_db_connections 5 + 5 = 10.
    expect(sample('pgbouncer_databases_pool_size', { name: 'appdb', process: '1' })).toBe(3);
    expect(sample('pgbouncer_databases_pool_size', { name: 'appdb', process: '2' })).toBe(2);
    expect(sample('pgbouncer_databases_max_connections', { name: 'appdb', process: '2' })).toBe(5);
    expect(Object.keys(families.find((f) => f.name === 'pgbouncer_pools_client_active_connections')!.metrics[0]!.labels!).sort()).toEqual(['database', 'process', 'user']);

    const json = JSON.parse((await cli(['stats', 'development', '--processes', '2', ...profileArgs, '--format', 'json'])).out);
    expect(json.processes).toHaveLength(2);
    expect(json.processes.map((p: { process: number; config: Record<string, string> }) => [p.process, p.config['peer_id'], p.config['default_pool_size']])).toEqual([
      [1, '1', '3'],
      [2, '2', '2'],
    ]);
    const table = await cli(['stats', 'development', '--processes', '2', ...profileArgs]);
    expect(table.code).toBe(0);
    expect(table.out).toMatch(/^== process 1 of 2 ==\nPgBouncer 1\.\d+\.\d+ at \/.*pgbouncer-1\/\.s\.PGSQL\.\d+, /);
    expect(table.out).toMatch(/\n== process 2 of 2 ==\nPgBouncer 1\.\d+\.\d+ at \/.*pgbouncer-2\/\.s\.PGSQL\.\d+, /);
  });

  it('stats --processes 2 --serve: each scrape asks every process', async () => {
    const ctx = captureContext({ env: env() });
    const stop = new AbortController();
    let address: { host: string; port: number } | undefined;
    const set = profileArgs.filter((_, i) => profileArgs[i - 1] === '--set');
    const served = runStats('development', { set, pgbouncerVersion: profileArgs[1]!, processes: '2', serve: `127.0.0.1:${await freePort()}` }, ctx, { signal: stop.signal, onListening: (a) => (address = a) });
    while (!address) await sleep(20);
    const body = await (await fetch(`http://127.0.0.1:${address.port}/metrics`)).text();
    stop.abort();
    expect(await served).toBe(0);
    expect(body).toContain('pgbouncer_up{process="1"} 1\npgbouncer_up{process="2"} 1\n');
    expect(body).toMatch(/^pgbouncer_databases_pool_size\{name="appdb",.*,process="2"\} 2$/m);
  });

  it('verify --processes 2: every item per process passes, shares and their totals included (exit 0)', async () => {
    const ini = join(dir.path, 'pgbouncer.ini');
    const r = await cli(['verify', 'development', '--processes', '2', '--ini', ini, '--service-user', 'postgres', ...profileArgs, '--json']);
    expect(r.err).toBe('');
    const out = JSON.parse(r.out);
    const failed = out.checks.filter((c: { status: string }) => c.status === 'fail');
    expect(failed).toEqual([]);
    expect(r.code).toBe(0);
    const check = (id: string) => {
      const c = out.checks.find((x: { id: string }) => x.id === id);
      if (!c) throw new Error(`no check ${id} in ${out.checks.map((x: { id: string }) => x.id).join(', ')}`);
      return c as { status: string; title: string; detail: string; process?: number };
    };
    for (const i of [1, 2]) {
      expect(check(`ini-parses@${i}`)).toMatchObject({ status: 'pass', title: `process ${i}: pgbouncer-${i}.ini parses`, process: i });
      expect(check(`ini-matches@${i}`).detail).toContain(`as process ${i} of 2 (its socket folder, pidfile, logfile, peer_id, [peers] and pool share)`);
      expect(check(`ini-mode@${i}`).status).toBe('pass');
      expect(check(`service@${i}`).detail).toMatch(new RegExp(`pid ${bouncers[i - 1]!.pid} from .*pgbouncer-${i}\\.pid is alive`));
      expect(check(`listening@${i}`).detail).toBe(`accepts connections on ${dir.path}/pgbouncer-${i}/.s.PGSQL.${port}; pid ${bouncers[i - 1]!.pid} listens on TCP port ${port} (so_reuseport)`);
      expect(check(`console@${i}`).detail).toMatch(new RegExp(`^PgBouncer 1\\.\\d+\\.\\d+ at ${dir.path}/pgbouncer-${i}/`));
      expect(check(`running-config@${i}`).status).toBe('pass');
    }
    expect(check('pool-share@1').detail).toBe('default_pool_size 3, max_db_connections 5, max_user_connections 5, appdb pool_size 3, appdb max_db_connections 5 (share 1 of 2)');
    expect(check('pool-share@2').detail).toBe('default_pool_size 2, max_db_connections 5, max_user_connections 5, appdb pool_size 2, appdb max_db_connections 5 (share 2 of 2)');
    expect(check('pool-budget').detail).toBe('2 processes together: default_pool_size 5, max_db_connections 10, max_user_connections 10, appdb pool_size 5, appdb max_db_connections 10');
    expect(check('listening-tcp').status).toBe('pass');
    expect(check('login').status).toBe('pass');
    expect(check('userlist-secret').status).toBe('pass');

    // Without --processes, verify points at the group it finds.
    const single = await cli(['verify', 'development', '--ini', ini, '--service-user', 'postgres', ...profileArgs]);
    expect(single.code).toBe(1);
    expect(single.out).toMatch(/FAIL {2}pgbouncer\.ini parses\s+.*pgbouncer\.ini does not exist \(but .*pgbouncer-1\.ini does: a --processes group is installed here\)\n\s+fix: pgb-setup verify development --processes N/);
  });

  it('one process stopped: health UNKNOWN (exit 3), stats pgbouncer_up{process="2"} 0 (exit 1), verify fails on process 2', async () => {
    await bouncers[1]!.stop();
    const h = await cli(['health', 'development', '--processes', '2', ...profileArgs]);
    expect(h.code).toBe(3);
    expect(h.out).toMatch(/^PGBOUNCER UNKNOWN - 1 of 2 processes not answering: p2 cannot connect to pgbouncer at .*pgbouncer-2\/\.s\.PGSQL\.\d+: .*; p1 OK: 1 pool: appdb\/app_user 0\/3 servers busy/);
    expect(h.out).toContain("'p1 appdb/app_user sv_active'=0;;;0;3"); // what is known is still reported
    expect(h.out).not.toContain("'p2 ");
    const hj = JSON.parse((await cli(['health', 'development', '--processes', '2', ...profileArgs, '--json'])).out);
    expect(hj.status).toBe('UNKNOWN');
    expect(hj.processes.map((p: { status: string }) => p.status)).toEqual(['OK', 'UNKNOWN']);

    const m = await cli(['stats', 'development', '--processes', '2', ...profileArgs, '--format', 'prometheus']);
    expect(m.code).toBe(1);
    expect(m.out).toContain('pgbouncer_up{process="1"} 1\npgbouncer_up{process="2"} 0\n');
    expect(m.err).toMatch(/^pgb-setup: process 2: cannot connect to pgbouncer at /);

    const v = await cli(['verify', 'development', '--processes', '2', '--ini', join(dir.path, 'pgbouncer.ini'), '--service-user', 'postgres', ...profileArgs, '--json']);
    expect(v.code).toBe(1);
    const checks = JSON.parse(v.out).checks as { id: string; status: string; detail: string; fix?: string }[];
    const failed = checks.filter((c) => c.status === 'fail').map((c) => c.id);
    expect(failed).toEqual(['service@2', 'listening@2', 'console@2', 'pool-budget']);
    expect(checks.find((c) => c.id === 'pool-share@2')!.status).toBe('skip');
    expect(checks.find((c) => c.id === 'service@2')!.fix).toContain(`pgbouncer -d -u postgres ${join(dir.path, 'pgbouncer-2.ini')}`);
    expect(checks.find((c) => c.id === 'pool-budget')!.detail).toBe(
      "process 2 not answering, so the group runs with less than the profile's budget: default_pool_size 3 (promised 5), max_db_connections 5 (promised 10), max_user_connections 5 (promised 10), appdb pool_size 3 (promised 5), appdb max_db_connections 5 (promised 10)",
    );
    // The shared port still answers (process 1), and logins through it work.
    expect(checks.find((c) => c.id === 'listening-tcp')!.status).toBe('pass');
    expect(checks.find((c) => c.id === 'login')!.status).toBe('pass');
  });
});
