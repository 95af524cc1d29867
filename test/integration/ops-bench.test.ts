/**
 * bench with small bounds (2 clients, 2 s) against a real PostgreSQL 15 and pgbouncer: the table
 * has all four cells filled from real pgbench runs, the JSON and the SVG agree.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/main.js';
import { captureContext } from '../helpers/context.js';
import { pgbouncerNewBinary } from '../helpers/binaries.js';
import { profileFlags, settingsInside, startRenderedPgbouncer, type RunningPgbouncer } from '../helpers/pgbouncer.js';
import { pgbouncerVersion } from '../helpers/pgbouncer-binaries.js';
import { startPostgresWithAppDatabase, type PgCluster } from '../helpers/postgres.js';
import { freePort } from '../helpers/ports.js';
import { isAlive } from '../helpers/proc.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

const PASSWORD = 'bench pw';

describe('bench', () => {
  let cluster: PgCluster;
  let dir: TempDir;
  let bouncer: RunningPgbouncer;
  let profileArgs: string[];
  const env = () => ({ DBNAME: 'appdb', DBUSER: 'app_user', DBPASS: PASSWORD, DBHOST: '127.0.0.1', DBPORT: String(cluster.port) });

  beforeAll(async () => {
    cluster = await startPostgresWithAppDatabase();
    const binary = pgbouncerNewBinary();
    const version = (await pgbouncerVersion(binary)).match(/\d+\.\d+/)![0];
    dir = await makeTempDir('ops-bench', { owner: 'postgres' });
    profileArgs = profileFlags(version, settingsInside(dir.path, await freePort()));
    const ctx = captureContext({ env: env() });
    expect(await main(['node', 'pgb-setup', 'render', 'development', '--out', dir.path, ...profileArgs], ctx)).toBe(0);
    bouncer = await startRenderedPgbouncer(cluster, dir.path, binary);
  });
  afterAll(async () => {
    await bouncer?.stop();
    await dir?.cleanup();
    await cluster?.stop();
  });

  it('fills all four cells from real pgbench runs (2 clients, 2 s), with ratios, JSON and SVG', async () => {
    const svg = join(dir.path, 'bench.svg');
    const ctx = captureContext({ env: env() });
    const code = await main(['node', 'pgb-setup', 'bench', 'development', ...profileArgs, '--clients', '2', '--seconds', '2', '--json', '--svg', svg], ctx);
    expect(ctx.err()).not.toMatch(/pgb-setup:/);
    expect(code).toBe(0);
    // The password never reaches argv or the output.
    expect(ctx.out() + ctx.err()).not.toContain(PASSWORD);
    const report = JSON.parse(ctx.out());
    expect(report).toMatchObject({ workload: 'select1', clients: 2, seconds: 2 });
    expect(report.runs).toHaveLength(4);
    for (const target of ['direct', 'pgbouncer']) {
      for (const connections of ['new', 'persistent']) {
        const run = report.runs.find((r: { target: string; connections: string }) => r.target === target && r.connections === connections);
        expect(run, `${target}/${connections}`).toBeDefined();
        expect(run.tps).toBeGreaterThan(0);
        expect(run.transactions).toBeGreaterThan(0);
        expect(run.failed ?? 0).toBe(0);
        expect(run.latency_ms).toBeGreaterThan(0);
      }
    }
    const tps = (t: string, c: string) => report.runs.find((r: { target: string; connections: string }) => r.target === t && r.connections === c).tps;
    expect(report.ratios.pgbouncer_over_direct_new_connections).toBeCloseTo(tps('pgbouncer', 'new') / tps('direct', 'new'), 6);
    expect(report.ratios.pgbouncer_over_direct_persistent).toBeCloseTo(tps('pgbouncer', 'persistent') / tps('direct', 'persistent'), 6);
    // Persistent connections skip the SCRAM login per transaction: far faster on both paths.
    expect(tps('direct', 'persistent')).toBeGreaterThan(5 * tps('direct', 'new'));
    expect(tps('pgbouncer', 'persistent')).toBeGreaterThan(5 * tps('pgbouncer', 'new'));

    const chart = await readFile(svg, 'utf8');
    expect(chart).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(chart.match(/<rect x=/g)).toHaveLength(5); // background + 4 bars
    expect(chart).toContain('pgbouncer ÷ direct');
    console.log(`bench (2 clients, 2 s, SELECT 1, SCRAM): ${report.runs.map((r: { target: string; connections: string; tps: number }) => `${r.target}/${r.connections} ${r.tps.toFixed(1)} tps`).join(', ')}`);
  });

  it('prints the side-by-side table', async () => {
    const ctx = captureContext({ env: env() });
    const code = await main(['node', 'pgb-setup', 'bench', 'development', ...profileArgs, '--clients', '2', '--seconds', '1'], ctx);
    expect(code).toBe(0);
    const out = ctx.out();
    expect(out).toMatch(/^pgbench custom script "SELECT 1;", 2 clients, \d threads, 1 s per run/);
    expect(out).toMatch(/\nnew per transaction \(-C\)\s+[\d,.]+ tps, [\d.]+ ms\s+[\d,.]+ tps, [\d.]+ ms\s+[\d.]+×\n/);
    expect(out).toMatch(/\npersistent\s+[\d,.]+ tps, [\d.]+ ms\s+[\d,.]+ tps, [\d.]+ ms\s+[\d.]+×\n/);
    expect(out).toMatch(/\npersistent ÷ new\s+[\d.]+×\s+[\d.]+×/);
  });

  it('--processes 2: 1 process vs 2 in throwaway pgbouncers (2 clients, 1 s), both filled, the ratio printed, every PID stopped', async () => {
    const binary = pgbouncerNewBinary();
    const ctx = captureContext({ env: env() });
    const args = ['bench', 'development', ...profileArgs, '--processes', '2', '--pgbouncer-binary', binary, '--service-user', 'postgres', '--clients', '2', '--seconds', '1'];
    const code = await main(['node', 'pgb-setup', ...args, '--json'], ctx);
    expect(ctx.err()).not.toMatch(/pgb-setup:/);
    expect(code).toBe(0);
    expect(ctx.out() + ctx.err()).not.toContain(PASSWORD);
    const report = JSON.parse(ctx.out());
    expect(report).toMatchObject({ mode: 'processes', workload: 'select1', connections: 'persistent', clients: 2, seconds: 1, processes: 2 });
    expect(report.pgbouncer_version).toMatch(/^1\.2\d\.\d+$/);
    const [one, two] = report.runs;
    expect(one).toMatchObject({ processes: 1, pool_sizes: [5] });
    expect(two).toMatchObject({ processes: 2, pool_sizes: [3, 2] }); // development's default_pool_size 5, split
    for (const run of [one, two]) {
      expect(run.tps).toBeGreaterThan(0);
      expect(run.transactions).toBeGreaterThan(0);
      expect(run.failed ?? 0).toBe(0);
    }
    // Every transaction was counted by the process that served it.
    expect(two.transactions_per_process).toHaveLength(2);
    expect(two.transactions_per_process.reduce((a: number, b: number) => a + b, 0)).toBeGreaterThanOrEqual(two.transactions);
    expect(report.ratio).toBeCloseTo(two.tps / one.tps, 6);
    // Three throwaway daemons were started, and each of them stopped by its PID.
    const started = [...ctx.err().matchAll(/started throwaway pgbouncer pid (\d+)/g)].map((m) => Number(m[1]));
    const stopped = [...ctx.err().matchAll(/stopped pid (\d+)/g)].map((m) => Number(m[1]));
    expect(started).toHaveLength(3);
    expect(stopped.sort()).toEqual([...started].sort());
    for (const pid of started) expect(isAlive(pid)).toBe(false);
    console.log(`bench --processes 2 (2 clients, 1 s, SELECT 1): 1 process ${one.tps.toFixed(0)} tps, 2 processes ${two.tps.toFixed(0)} tps, ratio ${report.ratio.toFixed(2)} (per process ${two.transactions_per_process.join('/')})`);

    const table = captureContext({ env: env() });
    expect(await main(['node', 'pgb-setup', ...args], table)).toBe(0);
    expect(table.out()).toMatch(/^pgbench custom script "SELECT 1;", persistent connections, 2 clients, \d threads, 1 s per run, through throwaway pgbouncer 1\.2\d\.\d+ on loopback/);
    expect(table.out()).toMatch(/\n1 process\s+[\d,.]+ tps\s+[\d.]+ ms\s+5\n/);
    expect(table.out()).toMatch(/\n2 processes \(so_reuseport\)\s+[\d,.]+ tps\s+[\d.]+ ms\s+3 \+ 2\n/);
    expect(table.out()).toMatch(/\n2 processes ÷ 1\s+[\d.]+×/);
  });

  it('--processes: refuses 1, and a TCP-less comparison is still bounded (exit 2)', async () => {
    const ctx = captureContext({ env: env() });
    expect(await main(['node', 'pgb-setup', 'bench', 'development', ...profileArgs, '--processes', '1', '--pgbouncer-binary', pgbouncerNewBinary()], ctx)).toBe(2);
    expect(ctx.err()).toBe('pgb-setup: --processes 1: the comparison is 1 process against N; give N of 2 or more\n');
    const big = captureContext({ env: env() });
    expect(await main(['node', 'pgb-setup', 'bench', 'development', ...profileArgs, '--processes', '2', '--pgbouncer-binary', pgbouncerNewBinary(), '--clients', '64'], big)).toBe(2);
    expect(big.err()).toMatch(/^pgb-setup: --clients 64: the profile's max_client_conn is 50/);
  });

  it('refuses unbounded runs (exit 2)', async () => {
    for (const [flag, value, message] of [
      ['--clients', '65', '--clients: must be at most 64 clients (got 65)'],
      ['--seconds', '0', '--seconds: must be at least 1 seconds (got 0)'],
      ['--seconds', '600', '--seconds: must be at most 60 seconds (got 600)'],
    ] as const) {
      const ctx = captureContext({ env: env() });
      expect(await main(['node', 'pgb-setup', 'bench', 'development', ...profileArgs, flag, value], ctx)).toBe(2);
      expect(ctx.err()).toBe(`pgb-setup: ${message}\n`);
    }
  });
});
