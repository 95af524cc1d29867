/**
 * health, stats and size --from-stats against a fake console (test/helpers/fake-console.ts) that
 * answers what no healthy pgbouncer would: stalls, a server that never closes after Terminate,
 * rows too big or too many, NULLs, negatives, hexadecimal, absurd numbers, missing columns.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../../src/main.js';
import { captureContext } from '../../helpers/context.js';
import { healthyScript, poolRow, POOL_COLUMNS, startFakeConsole, type FakeConsole, type FakeConsoleScript } from '../../helpers/fake-console.js';

let fake: FakeConsole | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function run(command: string[], script: FakeConsoleScript, timeout = '1') {
  fake = await startFakeConsole(script);
  const ctx = captureContext({ env: { PGPASSWORD: 'x' } });
  const started = Date.now();
  const code = await main(['node', 'pgb-setup', ...command, '--host', fake.host, '--port', String(fake.port), '--user', 'stats', '--timeout', timeout], ctx);
  return { code, out: ctx.out(), err: ctx.err(), seconds: (Date.now() - started) / 1000 };
}

const health = (script: FakeConsoleScript, timeout?: string) => run(['health'], script, timeout);

describe('fake console: a healthy answer', () => {
  it('health OK, with totals in the perfdata', async () => {
    const r = await health(healthyScript());
    expect(r.out).toMatch(/^PGBOUNCER OK - 1 pool: appdb\/app_user 1\/10 servers busy/);
    expect(r.out).toContain("'pools'=1;;;0 'clients'=1;;;0");
    expect(r.code).toBe(0);
  });
});

describe('#17.8: every wait, the close included, ends within --timeout', () => {
  const bounded = (r: { seconds: number }) => expect(r.seconds).toBeLessThan(1 + 1.5);

  it('a console that never closes after Terminate: health still answers, within the timeout', async () => {
    const r = await health({ ...healthyScript(), onTerminate: 'ignore' });
    expect(r.code).toBe(0);
    bounded(r);
  });

  it.each([
    ['the login', { ...healthyScript(), login: 'stall' as const }],
    ['SHOW POOLS', healthyScript({ 'SHOW POOLS': { stall: true } })],
    ['the middle of the rows', healthyScript({ 'SHOW POOLS': { stallAfter: { columns: POOL_COLUMNS, rows: [] }, rowsFirst: 0 } })],
  ])('a stall at %s is UNKNOWN (exit 3) within the timeout', async (_what, script) => {
    const r = await health({ ...script, onTerminate: 'ignore' });
    expect(r.out).toMatch(/^PGBOUNCER UNKNOWN - no answer from pgbouncer at 127\.0\.0\.1:\d+ within --timeout 1s\n$/);
    expect(r.code).toBe(3);
    bounded(r);
  });

  it('stats and size --from-stats: a stalled answer is an error within the timeout', async () => {
    const s = await run(['stats', '--format', 'json'], healthyScript({ 'SHOW LISTS': { stall: true } }));
    expect(s.err).toContain('within --timeout 1s');
    expect(s.code).toBe(1);
    bounded(s);
    await fake!.close();
    const z = await run(['size', '--from-stats'], { ...healthyScript({ 'SHOW CONFIG': { stall: true } }), onTerminate: 'ignore' });
    expect(z.err).toContain('within --timeout 1s');
    expect(z.code).toBe(1);
    bounded(z);
  });
});

describe('#17.9: rows and row sizes from the console are capped', () => {
  it('a DataRow announcing 2 GB: UNKNOWN, and nothing near 2 GB is allocated', async () => {
    const before = process.memoryUsage().rss;
    const r = await health(healthyScript({ 'SHOW POOLS': { hugeRow: 2 * 1024 ** 3 - 1, columns: ['database'] } }), '5');
    const grown = (process.memoryUsage().rss - before) / 1024 / 1024;
    expect(r.out).toMatch(/^PGBOUNCER UNKNOWN - pgbouncer at 127\.0\.0\.1:\d+: the console announced a row of 2048 MB, over the 1 MB cap\n$/);
    expect(r.code).toBe(3);
    expect(grown).toBeLessThan(100);
  });

  it('100,000 pools: stats fails with the row cap, health is UNKNOWN', async () => {
    const many = healthyScript({ 'SHOW POOLS': { columns: POOL_COLUMNS, generate: { count: 100_000, row: (i) => poolRow({ database: `db${i}` }) } } });
    const s = await run(['stats', '--format', 'prometheus'], many, '10');
    expect(s.err).toMatch(/more than 10,000 rows in one answer \(cap\)/);
    expect(s.out).toBe('# HELP pgbouncer_up Whether the last scrape of the pgbouncer admin console succeeded\n# TYPE pgbouncer_up gauge\npgbouncer_up 0\n');
    expect(s.code).toBe(1);
    await fake!.close();
    const h = await health(many, '10');
    expect(h.out).toMatch(/^PGBOUNCER UNKNOWN - .*more than 10,000 rows/);
    expect(h.code).toBe(3);
  });
});

describe('#17.11: an answer health cannot trust is UNKNOWN (exit 3), one line', () => {
  const pools = (...rows: (string | null)[][]) => healthyScript({ 'SHOW POOLS': { columns: POOL_COLUMNS, rows } });
  it.each([
    ['a NULL row', pools(POOL_COLUMNS.map(() => null)), /database or user is NULL/],
    ['a NULL count', pools(poolRow({ cl_waiting: null })), /cl_waiting is NULL, not a count/],
    ['negative counts', pools(poolRow({ cl_waiting: '-5', maxwait: '-100' })), /cl_waiting is "-5", not a count/],
    ['a negative maxwait', pools(poolRow({ maxwait: '-100' })), /maxwait is "-100"|maxwait is -100/],
    ['hexadecimal', pools(poolRow({ cl_waiting: '0x10' })), /cl_waiting is "0x10", not a count/],
    ['an exponent', pools(poolRow({ sv_active: '1e+26' })), /sv_active is "1e\+26", not a count/],
    ['a huge maxwait', pools(poolRow({ maxwait: '9'.repeat(400) })), /maxwait is "9{20,}/],
    ['absurd STATS', healthyScript({ 'SHOW STATS': { columns: ['database', { name: 'avg_xact_count', type: 'numeric' }, { name: 'avg_xact_time', type: 'numeric' }], rows: [['appdb', '1e+26', '5']] } }), /avg_xact_count is "1e\+26"/],
    ['SHOW POOLS without the count columns', healthyScript({ 'SHOW POOLS': { columns: ['database', 'user', 'pool_mode'], rows: [['appdb', 'app_user', 'transaction']] } }), /SHOW POOLS has no cl_active, cl_waiting, sv_active, sv_idle, maxwait columns/],
    ['a negative pool_size', healthyScript({ 'SHOW DATABASES': { columns: ['name', { name: 'pool_size', type: 'int4' }], rows: [['appdb', '-3']] } }), /pool_size is "-3"/],
  ])('%s', async (_what, script, why) => {
    const r = await health(script);
    expect(r.out).toMatch(/^PGBOUNCER UNKNOWN - pgbouncer at 127\.0\.0\.1:\d+ sent an answer health cannot trust: /);
    expect(r.out).toMatch(why);
    expect(r.out.split('\n')).toHaveLength(2);
    expect(r.code).toBe(3);
  });

  it('an ErrorResponse is UNKNOWN', async () => {
    const r = await health(healthyScript({ 'SHOW STATS': { error: 'boom' } }));
    expect(r.out).toMatch(/^PGBOUNCER UNKNOWN - admin console: SHOW STATS: boom\n$/);
    expect(r.code).toBe(3);
  });
});

describe('#17.14: one sanitiser for every human-readable output', () => {
  const evil = 'db\x1b]0;owned\x07\x1b[2J';
  const script = () =>
    healthyScript({
      'SHOW POOLS': { columns: POOL_COLUMNS, rows: [poolRow({ database: evil })] },
      'SHOW STATS': { columns: ['database', { name: 'avg_xact_count', type: 'numeric' }, { name: 'avg_xact_time', type: 'numeric' }], rows: [[evil, '50', '2000']] },
      'SHOW DATABASES': { columns: ['name', { name: 'pool_size', type: 'int4' }], rows: [[evil, '10']] },
    });
  it.each([
    ['health', ['health']],
    ['stats --format table', ['stats', '--format', 'table']],
    ['size --from-stats notes', ['size', '--from-stats', '--database', evil]],
  ])('%s prints no ESC or BEL from a database name', async (_what, command) => {
    const r = await run(command, script());
    expect(r.out + r.err).not.toMatch(/[\x07\x1b]/);
    expect(r.out + r.err).toContain('db\\x1b]0;owned\\x07\\x1b[2J');
  });
});

describe('#17.15: size --from-stats notes name the database and the period as pgbouncer gave them', () => {
  it('a NULL database and a stats_period that is not a number', async () => {
    const r = await run(
      ['size', '--from-stats'],
      healthyScript({
        'SHOW STATS': { columns: ['database', { name: 'avg_xact_count', type: 'numeric' }, { name: 'avg_xact_time', type: 'numeric' }], rows: [[null, '50', '2000']] },
        'SHOW CONFIG': { columns: ['key', 'value'], rows: [['stats_period', 'abc']] },
      }),
    );
    expect(r.out + r.err).not.toContain('undefined');
    expect(r.out + r.err).not.toContain('(abc s)');
  });
});
