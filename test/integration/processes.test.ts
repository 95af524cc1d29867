/**
 * --processes: two pgbouncer 1.24 processes on one port (so_reuseport + [peers]) in front of a real
 * PostgreSQL. Logins work through the shared port, a client cancel reaches the process that runs
 * the query whichever process the cancel lands on, and each process holds its share of the pools.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { main } from '../../src/main.js';
import { captureContext } from '../helpers/context.js';
import { pgbouncerNewBinary } from '../helpers/binaries.js';
import { profileFlags, settingsInside, startRenderedPgbouncerGroup, type RunningPgbouncer } from '../helpers/pgbouncer.js';
import { pgbouncerVersion } from '../helpers/pgbouncer-binaries.js';
import { startPostgresWithAppDatabase, type PgCluster } from '../helpers/postgres.js';
import { freePort } from '../helpers/ports.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

const PASSWORD = 'two-processes-one-port';
let cluster: PgCluster;
let dir: TempDir;
let port: number;
const bouncers: RunningPgbouncer[] = [];

/** What the cancel test uses of pg.Client's insides: in pg's Client, not in @types/pg. */
type CancellingClient = pg.Client & { activeQuery: unknown; cancel(client: pg.Client, query: unknown): void };

function client(host: string, database = 'appdb'): pg.Client {
  const c = new pg.Client({ host, port, user: 'app_user', password: PASSWORD, database, connectionTimeoutMillis: 5000 });
  c.on('error', () => {});
  return c;
}

beforeAll(async () => {
  cluster = await startPostgresWithAppDatabase();
  dir = await makeTempDir('processes', { owner: 'postgres' });
  port = await freePort();
  const version = (await pgbouncerVersion(pgbouncerNewBinary())).match(/\d+\.\d+\.\d+/)![0];
  const ctx = captureContext({ env: { DBNAME: 'appdb', DBUSER: 'app_user', DBPASS: PASSWORD, DBHOST: '127.0.0.1', DBPORT: String(cluster.port) } });
  const code = await main(
    [
      'node', 'pgb-setup', 'render', 'production', '--out', dir.path, '--processes', '2',
      ...profileFlags(version, [...settingsInside(dir.path, port), 'verbose=2']),
    ],
    ctx,
  );
  expect(ctx.err()).not.toMatch(/pgb-setup:/);
  expect(code).toBe(0);
  bouncers.push(...(await startRenderedPgbouncerGroup(cluster, dir.path, pgbouncerNewBinary(), 2)));
});

afterAll(async () => {
  for (const b of bouncers) await b.stop();
  await cluster?.stop();
  await dir?.cleanup();
});

describe('two pgbouncer processes on one port', () => {
  it('both run and logins through the shared port work', async () => {
    expect(bouncers.every((b) => b.alive())).toBe(true);
    for (let i = 0; i < 8; i++) {
      const c = client('127.0.0.1');
      await c.connect();
      expect((await c.query('select 1 as one')).rows[0].one).toBe(1);
      await c.end();
    }
  });

  it('a client cancel is delivered whichever process it lands on', async () => {
    const trials = 10;
    for (let i = 0; i < trials; i++) {
      const c = client('127.0.0.1');
      await c.connect();
      const started = Date.now();
      const running = c.query('select pg_sleep(30)');
      const outcome = running.then(() => 'finished', (e: Error) => e.message);
      await new Promise((r) => setTimeout(r, 300));
      const canceller = client('127.0.0.1');
      (canceller as CancellingClient).cancel(c, (c as CancellingClient).activeQuery);
      expect(await outcome).toMatch(/canceling statement due to user request/);
      expect(Date.now() - started).toBeLessThan(10_000);
      await c.end();
    }
    const logs = (await Promise.all(bouncers.map((b) => b.logTail(2000)))).join('\n');
    // With so_reuseport the kernel spreads the cancel connections; some must have crossed to the peer.
    expect(logs).toMatch(/forwarding cancellation request to peer [12]/);
  });

  it("each process holds its share of the production pool budget", async () => {
    const shares = [];
    for (const i of [1, 2]) {
      const admin = client(join(dir.path, `pgbouncer-${i}`), 'pgbouncer');
      await admin.connect();
      const dbs = (await admin.query('SHOW DATABASES')).rows as Record<string, unknown>[];
      const cfg = (await admin.query('SHOW CONFIG')).rows as { key: string; value: string }[];
      await admin.end();
      const app = dbs.find((d) => d['name'] === 'appdb')!;
      shares.push({
        peer_id: cfg.find((r) => r.key === 'peer_id')?.value,
        default_pool_size: Number(cfg.find((r) => r.key === 'default_pool_size')?.value),
        max_db_connections: Number(cfg.find((r) => r.key === 'max_db_connections')?.value),
        pool_size: Number(app['pool_size']),
      });
    }
    expect(shares).toEqual([
      { peer_id: '1', default_pool_size: 13, max_db_connections: 50, pool_size: 13 },
      { peer_id: '2', default_pool_size: 12, max_db_connections: 50, pool_size: 12 },
    ]);
    // Together: production's 25 connections per pool and 100 per database, as one process had.
    expect(shares[0]!.default_pool_size + shares[1]!.default_pool_size).toBe(25);
    expect(shares[0]!.max_db_connections + shares[1]!.max_db_connections).toBe(100);
  });
});
