import { describe, expect, it } from 'vitest';
import { benchSvg, formatBench, parsePgbenchOutput, type BenchReport } from '../../../src/ops/bench.js';
import { compareIni, parseIniFile } from '../../../src/ops/ini-file.js';

// pgbench 15.20 output captured on this machine (SELECT 1 script, 2 clients, 2 s).
const PERSISTENT = `pgbench (15.20 (Debian 15.20-0+deb12u1))
transaction type: /tmp/s.sql
scaling factor: 1
query mode: simple
number of clients: 2
number of threads: 2
maximum number of tries: 1
duration: 2 s
number of transactions actually processed: 236101
number of failed transactions: 0 (0.000%)
latency average = 0.017 ms
initial connection time = 9.460 ms
tps = 118471.250647 (without initial connection time)
`;
const RECONNECT = `pgbench (15.20 (Debian 15.20-0+deb12u1))
transaction type: /tmp/s.sql
number of transactions actually processed: 301
number of failed transactions: 0 (0.000%)
latency average = 13.378 ms
average connection time = 13.089 ms
tps = 149.499104 (including reconnection times)
`;
// PostgreSQL 13 and older print two tps lines.
const OLD = `number of transactions actually processed: 1000
latency average = 2.000 ms
tps = 400.000000 (including connections establishing)
tps = 500.000000 (excluding connections establishing)
`;

describe('pgbench output', () => {
  it('reads tps, latency, transactions, failures and connection time', () => {
    expect(parsePgbenchOutput(PERSISTENT)).toEqual({ tps: 118471.250647, latencyMs: 0.017, transactions: 236101, failed: 0, connectMs: 9.46 });
    expect(parsePgbenchOutput(RECONNECT, true)).toEqual({ tps: 149.499104, latencyMs: 13.378, transactions: 301, failed: 0, connectMs: 13.089 });
  });

  it('old two-line output: including connections with -C, excluding otherwise', () => {
    expect(parsePgbenchOutput(OLD, true).tps).toBe(400);
    expect(parsePgbenchOutput(OLD, false).tps).toBe(500);
  });

  it('says what pgbench printed when there is no tps line', () => {
    expect(() => parsePgbenchOutput('pgbench: error: connection to server failed\n')).toThrow(/pgbench printed no tps line:\npgbench: error: connection/);
  });
});

const report: BenchReport = {
  workload: 'select1',
  clients: 2,
  jobs: 2,
  seconds: 2,
  pgbench: '/usr/lib/postgresql/15/bin/pgbench',
  pgbenchVersion: 'pgbench (PostgreSQL) 15.20',
  runs: [
    { target: 'direct', connections: 'new', address: '127.0.0.1:5432', tps: 150, latencyMs: 13.3, transactions: 300, failed: 0, connectMs: 13 },
    { target: 'pgbouncer', connections: 'new', address: '127.0.0.1:6432', tps: 240, latencyMs: 8.3, transactions: 480, failed: 0, connectMs: 8 },
    { target: 'direct', connections: 'persistent', address: '127.0.0.1:5432', tps: 100000, latencyMs: 0.02, transactions: 200000, failed: 0, connectMs: 9 },
    { target: 'pgbouncer', connections: 'persistent', address: '127.0.0.1:6432', tps: 25000, latencyMs: 0.08, transactions: 50000, failed: 0, connectMs: 9 },
  ],
  ratios: { new: 1.6, persistent: 0.25 },
};

describe('bench output', () => {
  it('side-by-side table with ratios', () => {
    expect(formatBench(report)).toBe(
      'pgbench custom script "SELECT 1;", 2 clients, 2 threads, 2 s per run (pgbench (PostgreSQL) 15.20)\n\n' +
        'connections               direct PostgreSQL (127.0.0.1:5432)  through pgbouncer (127.0.0.1:6432)  pgbouncer ÷ direct\n' +
        'new per transaction (-C)  150 tps, 13.3 ms                    240 tps, 8.3 ms                     1.6×\n' +
        'persistent                100,000 tps, 0.02 ms                25,000 tps, 0.08 ms                 0.25×\n' +
        'persistent ÷ new          666.7×                              104.2×                              \n' +
        '\ntps and mean latency per transaction; with -C every transaction includes a full login (SCRAM costs both sides CPU).\n',
    );
  });

  it('SVG: two panels, four bars scaled per panel, text escaped', () => {
    const svg = benchSvg({ ...report, runs: report.runs.map((r) => ({ ...r })) });
    expect(svg).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="760" height="410"/);
    const heights = [...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="90" height="(\d+)"/g)].map((m) => Number(m[1]));
    expect(heights).toEqual([150, 240, 240, 60]); // 150/240 and 100000 vs 25000, 240 px for the tallest in each panel
    expect(svg).toContain('pgbouncer ÷ direct: 1.6×');
    expect(svg).toContain('100,000 tps');
    expect(svg).not.toMatch(/<[^>]*[<][^>]*>/); // no stray markup inside tags
  });
});

describe('pgbouncer.ini as pgbouncer reads it', () => {
  it('sections, quoted database names, comments, no inline comments', () => {
    const ini = parseIniFile(['; c', '# c', '[databases]', '"my ""db""" = host=h dbname=x', 'app=host=a', '', '[PGBOUNCER]', 'Listen_Port = 6432 ; not a comment', '%include /etc/extra.ini'].join('\n'));
    expect(ini.problems).toEqual([]);
    expect(ini.includes).toEqual([{ line: 9, path: '/etc/extra.ini' }]);
    expect(ini.sections.get('databases')).toEqual(new Map([['my "db"', 'host=h dbname=x'], ['app', 'host=a']]));
    expect(ini.sections.get('pgbouncer')!.get('listen_port')).toBe('6432 ; not a comment');
  });

  it('reports what pgbouncer refuses', () => {
    expect(parseIniFile('pool_mode = session\n[pgbouncer]\njust words\n[nonsense]\n').problems).toEqual([
      'line 1: pool_mode is outside any [section]',
      'line 3: not "key = value": just words',
      'line 4: unknown section [nonsense]',
    ]);
  });

  it('compares loosely where pgbouncer is loose, strictly elsewhere', () => {
    const disk = parseIniFile('[pgbouncer]\nadmin_users = a,  b\npool_mode = Transaction\ndefault_pool_size = 20\nextra = 1\n');
    const want = parseIniFile('[pgbouncer]\nadmin_users = a, b\npool_mode = transaction\ndefault_pool_size = 25\n');
    expect(compareIni(disk, want)).toEqual([
      { section: 'pgbouncer', key: 'default_pool_size', disk: '20', profile: '25' },
      { section: 'pgbouncer', key: 'extra', disk: '1', profile: undefined },
    ]);
  });
});
