/**
 * --processes for health, stats, verify and bench, without a live pgbouncer: the group's targets
 * (one socket folder per process), the combined Nagios verdict, Prometheus samples with a process
 * label, verify's per-process file checks and pool shares, and bench's throwaway configs.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import parsePrometheus from 'parse-prometheus-text-format';
import { main } from '../../../src/main.js';
import { loadConfig } from '../../../src/app/load-config.js';
import { scramSecret } from '../../../src/auth/scram.js';
import { renderPgbouncerIni } from '../../../src/render/pgbouncer-ini.js';
import { splitIntoProcesses } from '../../../src/render/processes.js';
import { groupMembers, memberPath } from '../../../src/ops/group.js';
import { combineGroupHealth, processLabel } from '../../../src/ops/health/group.js';
import { evaluateHealth } from '../../../src/ops/health/evaluate.js';
import { formatNagios } from '../../../src/ops/health/output.js';
import { DEFAULT_THRESHOLDS } from '../../../src/ops/health/thresholds.js';
import { groupMetrics } from '../../../src/ops/prometheus.js';
import { shareFigures } from '../../../src/ops/verify/group.js';
import type { Check } from '../../../src/ops/verify/types.js';
import { verifyChecks } from '../../../src/app/verify.js';
import { formatProcesses, throwawayPlan, type ProcessesReport } from '../../../src/ops/bench-processes.js';
import { setting } from '../../../src/profile/resolve.js';
import { captureContext } from '../../helpers/context.js';
import { FakeSystem } from '../../helpers/fake-system.js';
import { result, snapshot124 } from './snapshots.js';

const ENV = { DBNAME: 'appdb', DBUSER: 'app_user', DBPASS: 's3cret pass', DBHOST: '127.0.0.1' };
const SETS = ['listen_port=6543', 'unix_socket_dir=/run/pgb', 'pidfile=/run/pgb/pgbouncer.pid', 'logfile=/var/log/pgb/pgbouncer.log'];
const config = () => loadConfig('development', { pgbouncerVersion: '1.24', set: SETS }, captureContext({ env: ENV }));

describe('group targets', () => {
  it('one console target per process, through <unix_socket_dir>/pgbouncer-<i> on the shared port', async () => {
    const ctx = captureContext({ env: ENV });
    const members = groupMembers(await config(), 3, {}, ctx);
    expect(members.map((m) => [m.id, m.target.host, m.target.port, m.target.user, m.target.passwordSource])).toEqual([
      [1, '/run/pgb/pgbouncer-1', 6543, 'app_user', 'DBPASS'],
      [2, '/run/pgb/pgbouncer-2', 6543, 'app_user', 'DBPASS'],
      [3, '/run/pgb/pgbouncer-3', 6543, 'app_user', 'DBPASS'],
    ]);
    // Each carries the share splitIntoProcesses promises (default_pool_size 5 → 2 + 2 + 1).
    expect(members.map((m) => setting(m.process!.config, 'default_pool_size'))).toEqual([2, 2, 1]);
  });

  it('--host DIR replaces the base socket folder; a TCP --host is refused; without a profile --host is required', async () => {
    const ctx = captureContext({ env: ENV });
    const cfg = await config();
    expect(groupMembers(cfg, 2, { host: '/tmp/other', port: '7000' }, ctx).map((m) => `${m.target.host}:${m.target.port}`)).toEqual(['/tmp/other/pgbouncer-1:7000', '/tmp/other/pgbouncer-2:7000']);
    expect(() => groupMembers(cfg, 2, { host: '127.0.0.1' }, ctx)).toThrow(/--host 127\.0\.0\.1: with --processes every process is reached through its own unix socket folder/);
    expect(() => groupMembers(undefined, 2, {}, ctx)).toThrow(/without an environment, pass --host/);
    expect(groupMembers(undefined, 2, { host: '/var/run/postgresql' }, ctx).map((m) => m.target.host)).toEqual(['/var/run/postgresql/pgbouncer-1', '/var/run/postgresql/pgbouncer-2']);
    expect(memberPath('/etc/pgbouncer/pgbouncer.ini', 2)).toBe('/etc/pgbouncer/pgbouncer-2.ini');
  });

  it('health: a bad --processes is UNKNOWN in the one-line format', async () => {
    const ctx = captureContext({ env: ENV });
    expect(await main(['node', 'pgb-setup', 'health', 'development', '--processes', '0', '--pgbouncer-version', '1.24'], ctx)).toBe(3);
    expect(ctx.out()).toBe('PGBOUNCER UNKNOWN - --processes 0: use a whole number from 1 to 64, or auto (one per core)\n');
  });
});

describe('health over a group', () => {
  const t = DEFAULT_THRESHOLDS;
  const judged = (id: number, pools: Parameters<typeof snapshot124>[0], poolSize: number) => ({
    id,
    target: `/run/pgb/pgbouncer-${id}/.s.PGSQL.6543`,
    result: evaluateHealth(snapshot124(pools, { poolSize }), t, `/run/pgb/pgbouncer-${id}/.s.PGSQL.6543`, { labelPrefix: processLabel(id) }),
  });

  it('OK: the busiest pool of any process, perfdata labelled per process', () => {
    const r = combineGroupHealth([judged(1, [{ clActive: 1, svActive: 1, svIdle: 1 }], 3), judged(2, [{ clActive: 1, svIdle: 1 }], 2)], t);
    expect(r.status).toBe('OK');
    expect(formatNagios(r.status, r.summary, r.perfdata)).toMatch(
      /^PGBOUNCER OK - 2 processes, 2 pools, busiest p1 appdb\/app_user 1\/3 servers busy \(33%\), 0 waiting, maxwait 0s \| 'p1 appdb\/app_user utilisation'=33\.333333%;80;100;0 .* 'p2 appdb\/app_user sv_active'=0;;;0;2 .*'p2 appdb avg_xact_time'=0\.025s;;;0\n$/,
    );
  });

  it('the worst process decides: one saturated process is CRITICAL however idle the other', () => {
    const r = combineGroupHealth([judged(1, [{ clActive: 1, svIdle: 1 }], 3), judged(2, [{ clActive: 3, clWaiting: 1, svActive: 2 }], 2)], t);
    expect(r.status).toBe('CRITICAL');
    expect(r.exitCode).toBe(2);
    expect(r.summary).toBe('p2 appdb/app_user: 2/2 servers busy (100% >= 100%); 1 other pool OK (of 2 processes)');
  });

  it('a process that does not answer makes it UNKNOWN, naming it; the others are still reported', () => {
    const r = combineGroupHealth([judged(1, [{ clActive: 3, clWaiting: 1, svActive: 3 }], 3), { id: 2, target: 'x', error: 'cannot connect to pgbouncer at /run/pgb/pgbouncer-2/.s.PGSQL.6543: connect ENOENT' }], t);
    expect(r.status).toBe('UNKNOWN');
    expect(r.exitCode).toBe(3);
    expect(r.summary).toBe('1 of 2 processes not answering: p2 cannot connect to pgbouncer at /run/pgb/pgbouncer-2/.s.PGSQL.6543: connect ENOENT; p1 CRITICAL: appdb/app_user: 3/3 servers busy (100% >= 100%)');
    expect(r.perfdata).toContain("'p1 appdb/app_user sv_active'=3;;;0;3");
    expect(r.perfdata).not.toContain("'p2 ");
  });
});

describe('Prometheus over a group', () => {
  it('every sample gets a process label, each family keeps one HELP/TYPE, a silent process is pgbouncer_up 0', () => {
    const text = groupMetrics([
      { process: 1, snapshot: snapshot124([{ clActive: 2 }], { poolSize: 3 }) },
      { process: 2, snapshot: snapshot124([{ clActive: 1 }], { poolSize: 2 }) },
      { process: 3, snapshot: undefined },
    ]);
    const fams = parsePrometheus(text) as { name: string; type: string; metrics: { value: string; labels?: Record<string, string> }[] }[];
    expect(new Set(fams.map((f) => f.name)).size).toBe(fams.length);
    expect(text.match(/^# HELP pgbouncer_up /gm)).toHaveLength(1);
    expect(text).toContain('pgbouncer_up{process="1"} 1\npgbouncer_up{process="2"} 1\npgbouncer_up{process="3"} 0\n');
    const pool = fams.find((f) => f.name === 'pgbouncer_databases_pool_size')!;
    expect(pool.metrics.filter((m) => m.labels?.name === 'appdb').map((m) => [m.labels!.process, m.value])).toEqual([['1', '3'], ['2', '2']]);
    expect(fams.find((f) => f.name === 'pgbouncer_pools_client_active_connections')!.metrics.find((m) => m.labels?.process === '1' && m.labels.database === 'appdb')!.value).toBe('2');
    for (const f of fams) for (const m of f.metrics) expect(m.labels?.process).toMatch(/^[123]$/);
  });
});

describe('verify over a group (fake host)', () => {
  const OS = readFileSync(new URL('../../fixtures/os-release/debian-12', import.meta.url), 'utf8');

  async function host(tamper?: (n: number, text: string) => string) {
    const cfg = await config();
    const fake = new FakeSystem()
      .file('/etc/os-release', OS)
      .file('/etc/pgbouncer/userlist.txt', `"app_user" "${scramSecret(ENV.DBPASS)}"\n`, 0o600, 101, 104)
      .on(/^getent passwd postgres$/, { stdout: 'postgres:x:101:104:PostgreSQL administrator:/var/lib/postgresql:/bin/bash\n' })
      .on(/^kill -0 /, { exitCode: 1 });
    for (const p of splitIntoProcesses(cfg, 2, '/etc/pgbouncer/pgbouncer.ini', { peers: true })) {
      const text = renderPgbouncerIni(p.config, p.group);
      fake.file(p.iniPath, tamper ? tamper(p.id, text) : text, 0o640, 101, 104);
    }
    const ctx = captureContext({ env: ENV, system: fake });
    const r = await verifyChecks('development', { pgbouncerVersion: '1.24', set: [...SETS, 'auth_file=/etc/pgbouncer/userlist.txt'], serviceUser: 'postgres', timeout: '1', processes: '2' }, ctx);
    return (id: string) => r.checks.find((c) => c.id === id) as Check;
  }

  it('checks each pgbouncer-<i>.ini against its own share, and each process live', async () => {
    const check = await host();
    expect(check('ini-parses@1')).toMatchObject({ status: 'pass', title: 'process 1: pgbouncer-1.ini parses', process: 1 });
    expect(check('ini-matches@2')).toMatchObject({ status: 'pass', title: 'process 2: pgbouncer-2.ini matches the profile' });
    expect(check('ini-mode@2')).toMatchObject({ status: 'pass', detail: '/etc/pgbouncer/pgbouncer-2.ini: mode 0640, owned by postgres' });
    expect(check('service@1')).toMatchObject({ status: 'fail', detail: 'no systemd; /run/pgb/pgbouncer-1.pid is missing or empty', fix: 'start it: pgbouncer -d -u postgres /etc/pgbouncer/pgbouncer-1.ini' });
    expect(check('listening@2')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/^nothing accepts connections on \/run\/pgb\/pgbouncer-2\/\.s\.PGSQL\.6543 \(ENOENT\)/) });
    expect(check('console@2').detail).toMatch(/pgbouncer-2\/\.s\.PGSQL\.6543/);
    expect(check('pool-budget')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/^process 1, 2 not answering/) });
    expect(check('userlist-secret').status).toBe('pass');
  });

  it("a file holding another process's share fails that process's ini check", async () => {
    const check = await host((n, text) => (n === 2 ? text.replace(/^default_pool_size = 2$/m, 'default_pool_size = 5') : text));
    expect(check('ini-matches@1').status).toBe('pass');
    expect(check('ini-matches@2')).toMatchObject({ status: 'fail', detail: '[pgbouncer] default_pool_size: file "5", profile "2"', fix: expect.stringMatching(/^pgb-setup apply development --processes 2 /) });
  });

  it('shareFigures: the promised share next to SHOW CONFIG and SHOW DATABASES', async () => {
    const p = splitIntoProcesses(await config(), 2, '/etc/pgbouncer/pgbouncer.ini', { peers: true })[1]!;
    const snap = {
      config: result(['key', 'value'], [['default_pool_size', '2'], ['min_pool_size', '0'], ['reserve_pool_size', '0'], ['max_db_connections', '5'], ['max_user_connections', '4']]),
      databases: result(['name', 'pool_size', 'max_connections'], [['appdb', 2, 5]]),
    };
    expect(shareFigures(p.config, snap)).toEqual([
      { name: 'default_pool_size', promised: 2, running: 2 },
      { name: 'max_db_connections', promised: 5, running: 5 },
      { name: 'max_user_connections', promised: 5, running: 4 },
      { name: 'appdb pool_size', promised: 2, running: 2 },
      { name: 'appdb max_db_connections', promised: 5, running: 5 },
    ]);
  });
});

describe('bench --processes: the throwaway configs', () => {
  it("the profile's config on loopback in a private folder; the group's with the split budget and [peers] there too", async () => {
    const cfg = await loadConfig('production', { pgbouncerVersion: '1.24', set: ['auth_user=pgbouncer_auth', 'auth_query=SELECT uname, phash FROM pgbouncer.user_lookup($1)', 'syslog=1'] }, captureContext({ env: ENV }));
    const [one, two] = throwawayPlan(cfg, 2, '/tmp/b', [7001, 7002], true);
    expect(one.members).toHaveLength(1);
    const single = one.members[0]!.text;
    for (const line of ['listen_addr = 127.0.0.1', 'listen_port = 7001', 'unix_socket_dir = /tmp/b/single', 'pidfile = /tmp/b/single/pgbouncer.pid', 'logfile = /tmp/b/single/pgbouncer.log', 'auth_file = /tmp/b/userlist.txt', 'syslog = 0', 'default_pool_size = 25']) {
      expect(single).toMatch(new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`, 'm'));
    }
    expect(single).toMatch(/^stats_users = .*app_user/m);
    expect(single).not.toMatch(/^auth_user|^auth_query/m);
    expect(two.members.map((m) => [m.iniPath, m.socketDir, m.pidfile])).toEqual([
      ['/tmp/b/group/pgbouncer-1.ini', '/tmp/b/group/pgbouncer-1', '/tmp/b/group/pgbouncer-1.pid'],
      ['/tmp/b/group/pgbouncer-2.ini', '/tmp/b/group/pgbouncer-2', '/tmp/b/group/pgbouncer-2.pid'],
    ]);
    const second = two.members[1]!.text;
    expect(second).toMatch(/^listen_port = 7002$/m);
    expect(second).toMatch(/^so_reuseport = 1$/m);
    expect(second).toMatch(/^peer_id = 2$/m);
    expect(second).toMatch(/^default_pool_size = 12$/m); // 25 split 13 + 12
    expect(second).toMatch(/^\[peers\]\n1 = host=\/tmp\/b\/group\/pgbouncer-1 port=7002\n2 = host=\/tmp\/b\/group\/pgbouncer-2 port=7002$/m);
  });

  it('refuses --processes 1 before touching anything (exit 2)', async () => {
    const ctx = captureContext({ env: ENV, system: new FakeSystem() });
    expect(await main(['node', 'pgb-setup', 'bench', 'development', '--processes', '1'], ctx)).toBe(2);
    expect(ctx.err()).toBe('pgb-setup: --processes 1: the comparison is 1 process against N; give N of 2 or more\n');
  });

  it('prints both figures and the ratio, and says when the kernel put the clients on one process', () => {
    const run = (processes: number, tps: number, perProcess: number[], poolSizes: number[]) => ({ processes, address: '127.0.0.1:1', tps, latencyMs: 0.2, transactions: 1000, failed: 0, connectMs: 1, poolSizes, perProcess });
    const report: ProcessesReport = {
      workload: 'select1', clients: 2, jobs: 2, seconds: 5, processes: 2, cores: 2, pgbench: 'pgbench', pgbenchVersion: 'pgbench (PostgreSQL) 15.20', pgbouncer: 'pgbouncer', pgbouncerVersion: '1.24.1', environment: 'development',
      runs: [run(1, 30000, [150000], [5]), run(2, 33000, [165000, 0], [3, 2])],
      ratio: 1.1,
    };
    const text = formatProcesses(report);
    expect(text).toMatch(/\n1 process\s+30,000 tps\s+0\.2 ms\s+5\n/);
    expect(text).toMatch(/\n2 processes \(so_reuseport\)\s+33,000 tps\s+0\.2 ms\s+3 \+ 2\n/);
    expect(text).toMatch(/\n2 processes ÷ 1\s+1\.1×/);
    expect(text).toContain('transactions per process with 2: p1 100%, p2 0%');
    expect(text).toContain('note: process 2 served 0% of the transactions: the kernel placed the 2 connections unevenly');
  });
});
