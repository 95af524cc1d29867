import { describe, expect, it } from 'vitest';
import { main } from '../../../src/main.js';
import { computeSize, parseSizeInputs, type SizeFlags } from '../../../src/ops/size.js';
import { captureContext } from '../../helpers/context.js';

const size = (flags: SizeFlags, defaults = {}) => computeSize(parseSizeInputs(flags, defaults));

describe("size: Little's law, checked by hand", () => {
  it("errata #1: the guide's example (1000 users, 0.2 s, safety 1.5) worked correctly", () => {
    // The guide: pool = users / request_seconds × safety. 1000 / 0.2 × 1.5 = 7,500 (a rate times
    // a factor, not a count; the guide's "30" is not even that). Little's law with λ = 1000
    // transactions/s and W = 0.2 s held each: L = 200 busy connections; × 1.5 = 300.
    const r = size({ tps: '1000', xactSeconds: '0.2', headroom: '1.5' });
    expect(r.busy).toBe(200);
    expect(r.recommended).toEqual({ default_pool_size: 300, reserve_pool_size: 60, max_db_connections: 360 });
    expect(r.steps[0]!.working).toBe('1000 transactions/s × 0.2 s held each = 200 server connections busy on average at that rate');
    expect(r.steps[1]!.working).toBe('ceil(200 × 1.5) = 300 connections per pool');
    expect(r.recommended.default_pool_size).not.toBe(30);
    expect(r.recommended.default_pool_size).not.toBe(7500);
    expect(r.maxConnectionsNeeded).toBe(360 + 3 + 5);

    // On an 8-core PostgreSQL, 300 busy connections cannot run at once: 2 × 8 + 0 = 16.
    const capped = size({ tps: '1000', xactSeconds: '0.2', headroom: '1.5', cores: '8', maxConnections: '100' });
    expect(capped.recommended).toEqual({ default_pool_size: 16, reserve_pool_size: 4, max_db_connections: 20 });
    expect(capped.steps[2]!.working).toBe('2 × 8 + 0 = 16; 300 is more, so the pool is capped at 16');
    expect(capped.warnings[0]).toMatch(/^the load needs 300 busy connections per pool but PostgreSQL on 8 cores runs about 16 at once/);
  });

  it("the fact sheet's 800 tx/s × 25 ms = 20 busy connections", () => {
    const r = size({ tps: '800', xactSeconds: '0.025' });
    expect(r.busy).toBeCloseTo(20, 10);
    // default headroom 1.5 → 30; reserve ceil(30 × 0.2) = 6; 1 pool → 36.
    expect(r.recommended).toEqual({ default_pool_size: 30, reserve_pool_size: 6, max_db_connections: 36 });
    expect(r.warnings).toEqual([]);
  });

  it("the fact sheet's worked check: 4 hosts × 4 processes × 8 threads, 16 cached cores", () => {
    const r = size({ tps: '1000', xactSeconds: '0.025', headroom: '1.25', cores: '16', appHosts: '4', appProcesses: '4', appThreads: '8', maxConnections: '100' });
    // L = 25; ceil(25 × 1.25) = 32 ≤ 2 × 16 = 32; reserve ceil(6.4) = 7.
    expect(r.recommended).toEqual({ default_pool_size: 32, reserve_pool_size: 7, max_db_connections: 39, max_client_conn: 138 });
    expect(r.steps.find((s) => s.title === 'max_client_conn')!.working).toBe(
      '4 hosts × 4 processes × 8 threads = 128 persistent client connections (CONN_MAX_AGE > 0) + 10 for admin/monitoring = 138',
    );
    // pgbouncer's check_limits: max_client_conn + 10 + Σ pool_size.
    expect(r.fdEstimate).toBe(138 + 10 + 32);
    expect(r.warnings).toEqual([]);
  });

  it('lowers the pools and warns when their sum exceeds what PostgreSQL allows', () => {
    // 500 × 0.1 = 50 → 75 per pool + 15 reserve, 2 pools = 180 > 100 − 3 − 5 = 92.
    const r = size({ tps: '500', xactSeconds: '0.1', pools: '2', maxConnections: '100' });
    expect(r.recommended).toEqual({ default_pool_size: 46, reserve_pool_size: 0, max_db_connections: 92 });
    expect(r.serverConnections).toBe(92);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/^the pools would open 180 server connections but PostgreSQL allows 92 \(max_connections 100 − 3 superuser_reserved_connections − 5 direct connections\)/);
    expect(r.warnings[0]).toContain('raise max_connections to at least 188');

    // Room for the pools but not all of the reserve: the reserve shrinks first.
    const tight = size({ tps: '100', xactSeconds: '0.2', maxConnections: '40' });
    expect(tight.recommended).toEqual({ default_pool_size: 30, reserve_pool_size: 2, max_db_connections: 32 });
  });

  it('counts auth_user pools and several pools against the cores', () => {
    const r = size({ tps: '100', xactSeconds: '0.1', cores: '4', spindles: '2', pools: '3' }, { authUserConnections: 1 });
    // L = 10 → 15 per pool; 2 × 4 + 2 = 10 shared by 3 pools → 3 each.
    expect(r.recommended.default_pool_size).toBe(3);
    expect(r.recommended.reserve_pool_size).toBe(1);
    expect(r.serverConnections).toBe(3 * (3 + 1) + 1);
  });

  it('never recommends less than one connection', () => {
    const r = size({ tps: '0.5', xactSeconds: '0.01' });
    expect(r.busy).toBeCloseTo(0.005, 10);
    expect(r.recommended).toEqual({ default_pool_size: 1, reserve_pool_size: 1, max_db_connections: 2 });
  });

  it('warns when the app has fewer threads than transactions in flight', () => {
    const r = size({ tps: '2000', xactSeconds: '0.05', appHosts: '2', appProcesses: '4', appThreads: '4' });
    expect(r.warnings.some((w) => /^32 app threads cannot keep 100 transactions in flight/.test(w))).toBe(true);
  });
});

describe('size: refuses inputs that make no sense', () => {
  const cases: [SizeFlags, string][] = [
    [{ tps: '0', xactSeconds: '0.1' }, '--tps: must be more than 0 transactions per second (got 0)'],
    [{ tps: '-10', xactSeconds: '0.1' }, '--tps: -10 is negative; it must be more than 0'],
    [{ tps: 'lots', xactSeconds: '0.1' }, '--tps: "lots" is not a number'],
    [{ tps: '100', xactSeconds: '200' }, '--xact-seconds: 200 seconds per transaction is not plausible (more than 60); the unit is seconds: 200 ms is 0.2'],
    [{ tps: '100', xactSeconds: '0' }, '--xact-seconds: must be more than 0 seconds (got 0)'],
    [{ tps: '100', xactSeconds: '0.1', headroom: '0.5' }, '--headroom: must be at least 1 (got 0.5)'],
    [{ tps: '100', xactSeconds: '0.1', cores: '2.5' }, '--cores: 2.5 must be a whole number'],
    [{ tps: '100', xactSeconds: '0.1', cores: '0' }, '--cores: must be at least 1 core (got 0)'],
    [{ tps: '100', xactSeconds: '0.1', spindles: '2' }, '--spindles: needs --cores (the limit is 2 × cores + spindles)'],
    [{ tps: '100', xactSeconds: '0.1', appHosts: '3' }, '--app-processes: needed with --app-hosts (worker processes per app host)'],
    [{ xactSeconds: '0.1' }, '--tps: missing; give the peak transactions per second (or --from-stats to read them from a running pgbouncer)'],
  ];
  it.each(cases)('%o', (flags, message) => {
    expect(() => parseSizeInputs(flags)).toThrow(message);
  });

  it('rejects a max_connections that leaves no room', () => {
    expect(() => size({ tps: '10', xactSeconds: '0.1', maxConnections: '8' })).toThrow(
      '--max-connections: 8 leaves 0 connections after 3 superuser-reserved and 5 direct ones, not even one per pool (1); raise max_connections',
    );
  });

  it('checks measured rates like typed ones, naming where they came from', () => {
    expect(() => parseSizeInputs({}, { tps: 100, xactSeconds: 75, measuredBy: '--from-stats' })).toThrow(/^--from-stats \(xact-seconds\): 75 seconds per transaction is not plausible/);
  });

  it('exits 2 with one line naming the flag (CLI)', async () => {
    const ctx = captureContext();
    expect(await main(['node', 'pgb-setup', 'size', '--tps', '0', '--xact-seconds', '0.1'], ctx)).toBe(2);
    expect(ctx.err()).toBe('pgb-setup: --tps: must be more than 0 transactions per second (got 0)\n');
    expect(ctx.out()).toBe('');
    const ms = captureContext();
    expect(await main(['node', 'pgb-setup', 'size', '--tps', '800', '--xact-seconds', '25'], ms)).toBe(0); // 25 s is odd but possible
    const wrongUnit = captureContext();
    expect(await main(['node', 'pgb-setup', 'size', '--tps', '800', '--xact-seconds', '250'], wrongUnit)).toBe(2);
    expect(wrongUnit.err()).toBe('pgb-setup: --xact-seconds: 250 seconds per transaction is not plausible (more than 60); the unit is seconds: 200 ms is 0.2\n');
  });
});

describe('size: output', () => {
  it('shows the working step by step, the settings and the --set line', async () => {
    const ctx = captureContext();
    expect(await main(['node', 'pgb-setup', 'size', '--tps', '1000', '--xact-seconds', '0.2', '--cores', '8', '--max-connections', '100'], ctx)).toBe(0);
    const out = ctx.out();
    expect(out).toContain(" 1. Little's law L = λ × W");
    expect(out).toMatch(/ 6\. PostgreSQL budget\s+max_connections 100 − 3 superuser_reserved_connections − 5 direct connections = 92; 20 fit/);
    expect(out).toMatch(/\n {2}default_pool_size {3}16\n {2}reserve_pool_size {3}4\n {2}max_db_connections {2}20\n {2}max_client_conn {5}-\n/);
    expect(out).toContain('Apply with: pgb-setup apply <environment> --set default_pool_size=16 --set reserve_pool_size=4 --set max_db_connections=20');
    expect(out).toContain('warning: the load needs 300 busy connections');
  });

  it('compares with a profile and takes its pools and max_connections', async () => {
    const ctx = captureContext({ env: { DBNAME: 'app', DBUSER: 'app_user', DBPASS: 'x', DBHOST: '127.0.0.1' } });
    const code = await main(['node', 'pgb-setup', 'size', 'production', '--pgbouncer-version', '1.18', '--set', 'server.max_connections=60', '--tps', '800', '--xact-seconds', '0.025', '--json'], ctx);
    expect(ctx.err()).toBe('');
    expect(code).toBe(0);
    const out = JSON.parse(ctx.out());
    expect(out.inputs.maxConnections).toBe(60);
    expect(out.inputs.pools).toBe(1);
    expect(out.recommended).toEqual({ default_pool_size: 30, reserve_pool_size: 6, max_db_connections: 36 });
    expect(out.profile).toEqual({ environment: 'production', values: { default_pool_size: 25, reserve_pool_size: 5, max_db_connections: 100, max_client_conn: 500 } });
    expect(out.set_flags).toBe('--set default_pool_size=30 --set reserve_pool_size=6 --set max_db_connections=36');
  });
});
