import { describe, expect, it } from 'vitest';
import { main } from '../../../src/main.js';
import { evaluateHealth } from '../../../src/ops/health/evaluate.js';
import { formatNagios } from '../../../src/ops/health/output.js';
import { DEFAULT_THRESHOLDS, parseThresholds } from '../../../src/ops/health/thresholds.js';
import { poolFigures } from '../../../src/ops/pools.js';
import { captureContext } from '../../helpers/context.js';
import { snapshot118, snapshot124 } from './snapshots.js';

describe('health: pools read by column name on 1.18 and 1.24', () => {
  it.each([
    ['1.18', snapshot118],
    ['1.24', snapshot124],
  ] as const)('%s: same figures from differently shaped SHOW results', (_v, snap) => {
    const pools = poolFigures(snap([{ clActive: 3, clWaiting: 1, svActive: 2, svIdle: 0, maxwait: 1, maxwaitUs: 250_000 }]));
    expect(pools).toEqual([
      {
        database: 'appdb',
        user: 'app_user',
        poolMode: 'transaction',
        clientsActive: 3,
        clientsWaiting: 1,
        serversActive: 2,
        serversIdle: 0,
        serversUsed: 0,
        poolSize: 2,
        poolSizeSource: 'SHOW DATABASES',
        unlimited: false,
        reservePool: 0,
        utilisation: 100,
        maxwaitSeconds: 1.25,
      },
    ]);
  });

  it('errata #3: index 9 of a 1.18 SHOW POOLS row is sv_idle, not maxwait', () => {
    const s = snapshot118([{ svIdle: 7, maxwait: 3 }]);
    expect(s.pools.columns[9]).toBe('sv_idle');
    expect(poolFigures(s)[0]!.maxwaitSeconds).toBe(3);
  });

  it('1.23+: a [users] pool_size (SHOW USERS) overrides the database one; pool_size 0 on 1.24 is unlimited', () => {
    const over = poolFigures(snapshot124([{ svActive: 3 }], { userPoolSize: '4' }))[0]!;
    expect(over).toMatchObject({ poolSize: 4, poolSizeSource: 'SHOW USERS', utilisation: 75 });
    const unlimited = poolFigures(snapshot124([{ svActive: 3 }], { poolSize: 0 }))[0]!;
    expect(unlimited).toMatchObject({ poolSize: undefined, unlimited: true, utilisation: undefined });
  });

  it('falls back to the profile, then SHOW CONFIG, for a database SHOW DATABASES does not list', () => {
    const s = snapshot118([{ database: 'other', svActive: 1 }]);
    expect(poolFigures(s, (db) => (db === 'other' ? 4 : undefined))[0]).toMatchObject({ poolSize: 4, poolSizeSource: 'profile', utilisation: 25 });
    expect(poolFigures(s)[0]).toMatchObject({ poolSize: 2, poolSizeSource: 'SHOW CONFIG', utilisation: 50 });
  });
});

describe('health: verdict, status line and perfdata', () => {
  const t = DEFAULT_THRESHOLDS;

  it('OK when idle', () => {
    const r = evaluateHealth(snapshot118([{ clActive: 1, svIdle: 1 }]), t, '127.0.0.1:6432');
    expect(r.status).toBe('OK');
    expect(r.exitCode).toBe(0);
    expect(formatNagios(r.status, r.summary, r.perfdata)).toBe(
      "PGBOUNCER OK - 1 pool: appdb/app_user 0/2 servers busy (0%), 0 waiting, maxwait 0s | 'appdb/app_user utilisation'=0%;80;100;0 'appdb/app_user cl_active'=1;;;0 " +
        "'appdb/app_user cl_waiting'=0;5;20;0 'appdb/app_user sv_active'=0;;;0;2 'appdb/app_user sv_idle'=1;;;0 'appdb/app_user maxwait'=0s;1;5;0 " +
        "'pools'=1;;;0 'clients'=1;;;0 'clients_waiting'=0;;;0 'servers'=1;;;0 'servers_active'=0;;;0 'appdb xact_per_s'=40;;;0 'appdb avg_xact_time'=0.025s;;;0\n",
    );
  });

  it('CRITICAL on a saturated pool, WARNING on waits alone, worst pool first', () => {
    const snap = snapshot124([
      { database: 'appdb', clActive: 2, clWaiting: 2, svActive: 2, maxwait: 1, maxwaitUs: 500_000 },
      { database: 'appdb', user: 'reporting', clActive: 1, clWaiting: 6, svActive: 1, maxwait: 0, maxwaitUs: 10 },
    ]);
    const r = evaluateHealth(snap, t, 'x');
    expect(r.status).toBe('CRITICAL');
    expect(r.exitCode).toBe(2);
    expect(r.summary).toBe('appdb/app_user: 2/2 servers busy (100% >= 100%), maxwait 1.5s (>= 1s); appdb/reporting: 6 clients waiting (>= 5)');
    const relaxed = evaluateHealth(snap, parseThresholds({ critUtilisation: '150', critMaxwait: '30' }), 'x');
    expect(relaxed.status).toBe('WARNING');
    expect(relaxed.exitCode).toBe(1);
  });

  it('the admin console pool is never judged, and --database narrows the check', () => {
    const r = evaluateHealth(snapshot118([]), t, 'x');
    expect(r.status).toBe('OK');
    expect(r.summary).toBe('no client pools yet (no client has connected since pgbouncer started)');
    // #11: totals even with no pool, so graphs have no holes.
    expect(r.perfdata).toMatch(/^'pools'=0;;;0 'clients'=0;;;0 'clients_waiting'=0;;;0 'servers'=0;;;0 'servers_active'=0;;;0( |$)/);
    const only = evaluateHealth(snapshot118([{ database: 'appdb', svActive: 2 }, { database: 'other', svActive: 0 }]), t, 'x', { database: 'other' });
    expect(only.pools.map((p) => p.pool.database)).toEqual(['other']);
    expect(only.status).toBe('OK');
  });

  it('quotes perfdata labels and keeps the status line one line', () => {
    const r = evaluateHealth(snapshot118([{ database: "we'ird=db\nx", svActive: 0 }]), t, 'x');
    const line = formatNagios(r.status, `${r.summary}\nsecond | line`, r.perfdata);
    expect(line.split('\n')).toHaveLength(2);
    expect(line.endsWith('\n')).toBe(true);
    expect(line).toContain("'we_ird_db\\x0ax/app_user cl_active'=0;;;0");
    expect(line.split(' | ')).toHaveLength(2);
  });

  it('threshold flags: numbers above 0, warning not above critical', () => {
    expect(parseThresholds({ warnUtilisation: '70', critUtilisation: '90' })).toMatchObject({ warnUtilisation: 70, critUtilisation: 90 });
    expect(() => parseThresholds({ warnUtilisation: '120' })).toThrow('--warn-utilisation: 120 is above --crit-utilisation 100; the warning level must not exceed the critical one');
    expect(() => parseThresholds({ warnWaiting: '1.5' })).toThrow('--warn-waiting: "1.5" must be a whole number of clients');
    expect(() => parseThresholds({ critMaxwait: '-1' })).toThrow('--crit-maxwait: "-1" must be a number greater than 0');
  });

  it('a bad flag is UNKNOWN (exit 3) on stdout, as Nagios expects, before any connection', async () => {
    const ctx = captureContext();
    expect(await main(['node', 'pgb-setup', 'health', '--warn-waiting', 'many'], ctx)).toBe(3);
    expect(ctx.out()).toBe('PGBOUNCER UNKNOWN - --warn-waiting: "many" must be a number greater than 0\n');
    const noUser = captureContext();
    expect(await main(['node', 'pgb-setup', 'health'], noUser)).toBe(3);
    expect(noUser.out()).toMatch(/^PGBOUNCER UNKNOWN - --user: no console user/);
  });

  it('runs no command at all (no systemctl): works the same with and without systemd', async () => {
    const calls: string[] = [];
    const ctx = captureContext({ env: { DBUSER: 'u', DBPASS: 'p' } });
    ctx.system.exec = async (cmd, args) => {
      calls.push([cmd, ...args].join(' '));
      return { exitCode: 1, stdout: '', stderr: '' };
    };
    // Port 1 on loopback: nothing listens there, so the login fails fast → UNKNOWN.
    expect(await main(['node', 'pgb-setup', 'health', '--port', '1', '--timeout', '2'], ctx)).toBe(3);
    expect(ctx.out()).toMatch(/^PGBOUNCER UNKNOWN - cannot connect to pgbouncer at 127\.0\.0\.1:1: /);
    expect(calls).toEqual([]);
  });
});
