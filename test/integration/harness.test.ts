/**
 * Self-test of the real-system harness: PostgreSQL 15 + both pgbouncers (Debian 12's 1.18 and the
 * locally built 1.24.x), SCRAM end to end, transaction pooling, admin console.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgbouncerBinaries } from '../helpers/binaries.js';
import { adminQuery, connectThrough, startPgbouncer, userlistLine, writeTestPgbouncerConfig, type RunningPgbouncer } from '../helpers/pgbouncer.js';
import { freePort } from '../helpers/ports.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

const APP_PASSWORD = 'app-Pa55"word\'x';
const ADMIN_PASSWORD = 'admin-secret';

let pgc: PgCluster;
let appVerifier: string;
let adminVerifier: string;

beforeAll(async () => {
  pgc = await startPostgres({ passwordEncryption: 'scram-sha-256' });
  // SCRAM verifiers produced by PostgreSQL itself.
  appVerifier = (await pgc.createRole('app', APP_PASSWORD, { passwordEncryption: 'scram-sha-256' })).secret!;
  adminVerifier = (await pgc.createRole('pgb_admin', ADMIN_PASSWORD, { passwordEncryption: 'scram-sha-256' })).secret!;
  await pgc.createDatabase('appdb', 'app');
});

afterAll(async () => {
  await pgc?.stop();
});

describe('postgres harness', () => {
  it('stores SCRAM verifiers and accepts direct logins over TCP', async () => {
    expect(appVerifier).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    const rows = await pgc.query('select current_user as u, 1 as one', [], { user: 'app', password: APP_PASSWORD, database: 'appdb' });
    expect(rows).toEqual([{ u: 'app', one: 1 }]);
    const [v] = await pgc.query<{ server_version: string }>('show server_version');
    expect(v!.server_version).toMatch(/^15\./);
  });
});

describe.each(pgbouncerBinaries())('pgbouncer $label', ({ label, binary }) => {
  let dir: TempDir;
  let bouncer: RunningPgbouncer;

  beforeAll(async () => {
    dir = await makeTempDir(`harness-${label}`, { owner: 'postgres' });
    const cfg = await writeTestPgbouncerConfig(dir.path, {
      port: await freePort(),
      pgPort: pgc.port,
      dbname: 'appdb',
      authType: 'scram-sha-256',
      poolMode: 'transaction',
      adminUsers: ['pgb_admin'],
      userlist: [userlistLine('app', appVerifier), userlistLine('pgb_admin', adminVerifier)],
      extra: { default_pool_size: 5, max_client_conn: 50 },
    });
    bouncer = await startPgbouncer({ binary, iniPath: cfg.iniPath });
  });

  afterAll(async () => {
    await bouncer?.stop();
    expect(bouncer ? bouncer.alive() : false).toBe(false);
    await dir?.cleanup();
  });

  it('logs in with the plain password (SCRAM against the stored verifier) and runs select 1', async () => {
    const client = await connectThrough(bouncer, { user: 'app', password: APP_PASSWORD, database: 'appdb' });
    try {
      const res = await client.query('select 1 as one');
      expect(res.rows[0].one).toBe(1);
      const who = await client.query('select current_user as u, current_database() as d');
      expect(who.rows[0]).toEqual({ u: 'app', d: 'appdb' });
    } finally {
      await client.end();
    }
  });

  it('refuses a wrong password', async () => {
    await expect(connectThrough(bouncer, { user: 'app', password: 'wrong-password', database: 'appdb' })).rejects.toThrow(
      /password authentication failed|SASL authentication failed/i,
    );
    expect(await bouncer.logTail(50)).toMatch(/password authentication failed|SCRAM authentication failed|login failed/i);
  });

  it('admin console: SHOW POOLS reports pool_mode transaction, SHOW VERSION the right version', async () => {
    const admin = { user: 'pgb_admin', password: ADMIN_PASSWORD };
    const pools = await adminQuery(bouncer, admin, 'SHOW POOLS');
    const app = pools.find((p) => p.database === 'appdb' && p.user === 'app');
    expect(app, JSON.stringify(pools)).toBeDefined();
    expect(app!.pool_mode).toBe('transaction');

    const [ver] = await adminQuery(bouncer, admin, 'SHOW VERSION');
    expect(ver!.version).toMatch(label === '1.18' ? /^PgBouncer 1\.18\.\d+/ : /^PgBouncer 1\.24\.\d+/);
  });

  it('reload() applies a changed setting (SIGHUP)', async () => {
    const admin = { user: 'pgb_admin', password: ADMIN_PASSWORD };
    const before = await adminQuery(bouncer, admin, 'SHOW CONFIG');
    expect(before.find((r) => r.key === 'default_pool_size')!.value).toBe('5');
    const { readFile, writeFile } = await import('node:fs/promises');
    const ini = await readFile(bouncer.iniPath, 'utf8');
    await writeFile(bouncer.iniPath, ini.replace('default_pool_size = 5', 'default_pool_size = 7'));
    await bouncer.reload();
    const after = await adminQuery(bouncer, admin, 'SHOW CONFIG');
    expect(after.find((r) => r.key === 'default_pool_size')!.value).toBe('7');
  });
});
