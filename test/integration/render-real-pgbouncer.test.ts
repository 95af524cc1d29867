import { chown, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/main.js';
import { parseUserlist } from '../../src/auth/userlist.js';
import { captureContext } from '../helpers/context.js';
import { pgbouncerBinaries } from '../helpers/binaries.js';
import { adminQuery, connectThrough, startPgbouncer } from '../helpers/pgbouncer.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { freePort } from '../helpers/ports.js';
import { lookupUser } from '../helpers/proc.js';
import { makeTempDir } from '../helpers/tmp.js';
import { pgbouncerVersion } from '../helpers/pgbouncer-binaries.js';

const PASSWORD = 'correct horse battery staple';
let pg: PgCluster;

beforeAll(async () => {
  pg = await startPostgres({ passwordEncryption: 'scram-sha-256' });
  await pg.createRole('app_user', 'placeholder-replaced-below');
  await pg.createDatabase('appdb', 'app_user');
});
afterAll(async () => {
  await pg?.stop();
});

describe.each(pgbouncerBinaries())('rendered profiles run in a real pgbouncer $label', ({ binary }) => {
  it.each(['production', 'staging', 'development'])('%s: SCRAM login through it works and SHOW POOLS reports the pool_mode', async (environment) => {
    const version = (await pgbouncerVersion(binary)).match(/\d+\.\d+/)![0];
    const dir = await makeTempDir(`render-${environment}`, { owner: 'postgres' });
    const port = await freePort();
    const ctx = captureContext({
      env: { DBNAME: 'appdb', DBUSER: 'app_user', DBPASS: PASSWORD, DBHOST: '127.0.0.1', DBPORT: String(pg.port) },
    });
    const code = await main(
      [
        'node', 'pgb-setup', 'render', environment, '--out', dir.path, '--pgbouncer-version', version,
        '--set', `listen_port=${port}`,
        '--set', `unix_socket_dir=${dir.path}`,
        '--set', `pidfile=${join(dir.path, 'pgbouncer.pid')}`,
        '--set', `logfile=${join(dir.path, 'pgbouncer.log')}`,
        '--set', `auth_file=${join(dir.path, 'userlist.txt')}`,
      ],
      ctx,
    );
    expect(ctx.err()).not.toMatch(/pgb-setup:/);
    expect(code).toBe(0);
    const pgUser = lookupUser('postgres');
    for (const f of ['pgbouncer.ini', 'userlist.txt']) await chown(join(dir.path, f), pgUser.uid, pgUser.gid);

    // The server must hold the identical verifier (what `hash-user --apply-server` does).
    const secret = parseUserlist(await readFile(join(dir.path, 'userlist.txt'), 'utf8')).entries[0]!.secret;
    expect(secret).toMatch(/^SCRAM-SHA-256\$4096:/);
    await pg.query(`ALTER ROLE app_user PASSWORD '${secret}'`);
    expect(await pg.roleSecret('app_user')).toBe(secret);

    const bouncer = await startPgbouncer({ binary, iniPath: join(dir.path, 'pgbouncer.ini') });
    try {
      const client = await connectThrough(bouncer, { user: 'app_user', password: PASSWORD, database: 'appdb' });
      try {
        const res = await client.query('select 1 as one');
        expect(res.rows[0].one).toBe(1);
      } finally {
        await client.end();
      }
      await expect(connectThrough(bouncer, { user: 'app_user', password: 'wrong', database: 'appdb' })).rejects.toThrow(/password authentication failed|SASL|auth/i);
      const pools = await adminQuery(bouncer, { user: 'app_user', password: PASSWORD }, 'SHOW POOLS');
      const pool = pools.find((p) => p['database'] === 'appdb' && p['user'] === 'app_user');
      expect(pool?.['pool_mode']).toBe('transaction');
      const [v] = await adminQuery(bouncer, { user: 'app_user', password: PASSWORD }, 'SHOW VERSION');
      expect(v?.['version']).toContain(version);
    } finally {
      await bouncer.stop();
      await dir.cleanup();
    }
  });
});
