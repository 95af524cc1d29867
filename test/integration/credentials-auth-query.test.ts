/**
 * auth_query mode against the real thing. `auth-query` prints SQL that psql runs (twice: it is
 * idempotent); `auth-query --apply-server --userlist` installs the role and function and writes the
 * auth role's plain password; `render --set auth_user=... --set auth_query=...` keeps only that line
 * in userlist.txt; a real pgbouncer (1.18 and 1.24) in that mode lets an ordinary role in and
 * refuses an expired (VALID UNTIL in the past), a superuser and a replication role, and an unknown
 * user gets a clean refusal (not "bouncer config error"). Also pinned here: why auth_user's entry
 * must be plain text.
 */
import { chown, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/main.js';
import { parseUserlist } from '../../src/auth/userlist.js';
import { captureContext } from '../helpers/context.js';
import { pgbouncerBinaries } from '../helpers/binaries.js';
import { PG_BIN_DIR, pgbouncerVersion } from '../helpers/pgbouncer-binaries.js';
import { connectThrough, startPgbouncer, userlistLine, writeTestPgbouncerConfig } from '../helpers/pgbouncer.js';
import { freePort } from '../helpers/ports.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { lookupUser, run } from '../helpers/proc.js';
import { makeTempDir } from '../helpers/tmp.js';

const AUTH_QUERY = 'SELECT uname, phash FROM pgbouncer.user_lookup($1)';
let cluster: PgCluster;
let adminEnv: Record<string, string>;

beforeAll(async () => {
  cluster = await startPostgres({ passwordEncryption: 'scram-sha-256' });
  await cluster.createDatabase('appdb');
  await cluster.createRole('aq_app', 'app-pw');
  await cluster.createRole('aq_expired', 'expired-pw', { validUntil: '2000-01-01' });
  await cluster.createRole('aq_super', 'super-pw', { superuser: true });
  await cluster.query(`CREATE ROLE aq_repl LOGIN REPLICATION PASSWORD 'repl-pw'`);
  adminEnv = { PGHOST: '127.0.0.1', PGPORT: String(cluster.port), PGUSER: 'postgres', PGPASSWORD: cluster.superuserPassword };
});
afterAll(async () => {
  await cluster?.stop();
});

async function login(b: { host: string | undefined; port: number }, user: string, password: string): Promise<string> {
  try {
    const c = await connectThrough(b, { user, password, database: 'appdb' });
    const r = await c.query<{ u: string }>('select current_user as u');
    await c.end();
    return `ok ${r.rows[0]!.u}`;
  } catch (e) {
    return (e as Error).message;
  }
}

describe('auth-query SQL', () => {
  it('psql runs the printed script as a superuser, twice; the lookup hides superusers, replication and expired roles', async () => {
    const ctx = captureContext();
    expect(await main(['node', 'pgb-setup', 'auth-query', '--dbname', 'appdb'], ctx)).toBe(0);
    const sql = ctx.out();
    expect(sql).toMatch(/^-- {3}auth_query = SELECT uname, phash FROM pgbouncer\.user_lookup\(\$1\)$/m);
    const dir = await makeTempDir('auth-query-sql');
    try {
      await writeFile(join(dir.path, 'auth.sql'), sql);
      for (let i = 0; i < 2; i++) {
        const r = await run(join(PG_BIN_DIR, 'psql'), ['-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'postgres', '-d', 'appdb', '-X', '-v', 'ON_ERROR_STOP=1', '-f', join(dir.path, 'auth.sql')], {
          env: { PGPASSWORD: cluster.superuserPassword, PGPASSFILE: '/dev/null' },
          check: false,
        });
        expect(r.code, r.stderr).toBe(0);
      }
    } finally {
      await dir.cleanup();
    }
    const client = await cluster.connect({ database: 'appdb' });
    try {
      await client.query('SET ROLE pgbouncer_auth');
      const lookup = async (u: string) => (await client.query('SELECT uname, phash FROM pgbouncer.user_lookup($1)', [u])).rows;
      expect(await lookup('aq_app')).toEqual([{ uname: 'aq_app', phash: await cluster.roleSecret('aq_app') }]);
      for (const u of ['aq_expired', 'aq_super', 'aq_repl', 'postgres', 'no_such_role']) expect(await lookup(u)).toEqual([]);
      await expect(client.query('SELECT rolpassword FROM pg_catalog.pg_authid')).rejects.toThrow(/permission denied/);
      await client.query('RESET ROLE');
      const [fn] = (await client.query(`SELECT p.prosecdef, p.proconfig, p.proretset, pg_catalog.pg_get_userbyid(p.proowner) AS owner,
        pg_catalog.has_function_privilege('public', p.oid, 'EXECUTE') AS public_exec
        FROM pg_catalog.pg_proc p WHERE p.proname = 'user_lookup'`)).rows;
      expect(fn).toEqual({ prosecdef: true, proconfig: ['search_path=pg_catalog, pg_temp'], proretset: true, owner: 'postgres', public_exec: false });
      const [role] = (await client.query(`SELECT rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolcanlogin FROM pg_catalog.pg_roles WHERE rolname = 'pgbouncer_auth'`)).rows;
      expect(role).toEqual({ rolsuper: false, rolinherit: false, rolcreaterole: false, rolcreatedb: false, rolreplication: false, rolbypassrls: false, rolcanlogin: true });
    } finally {
      await client.end();
    }
  });

  it('--apply-server refuses a non-superuser admin, and an auth user that is a superuser', async () => {
    await cluster.createRole('aq_creator', 'creator-pw', { createdb: true });
    const ctx = captureContext({ env: { ...adminEnv, PGUSER: 'aq_creator', PGPASSWORD: 'creator-pw' } });
    expect(await main(['node', 'pgb-setup', 'auth-query', '--apply-server', '--dbname', 'appdb'], ctx)).toBe(1);
    expect(ctx.err()).toMatch(/aq_creator is not a superuser/);
    const ctx2 = captureContext({ env: adminEnv });
    expect(await main(['node', 'pgb-setup', 'auth-query', '--apply-server', '--dbname', 'appdb', '--auth-user', 'aq_super_auth'], ctx2)).toBe(0);
    await cluster.query('ALTER ROLE aq_super_auth SUPERUSER');
    const ctx3 = captureContext({ env: adminEnv });
    expect(await main(['node', 'pgb-setup', 'auth-query', '--apply-server', '--dbname', 'appdb', '--auth-user', 'aq_super_auth'], ctx3)).toBe(1);
    expect(ctx3.err()).toMatch(/aq_super_auth is a superuser or replication role/);
    const [r] = await cluster.query(`SELECT rolsuper FROM pg_roles WHERE rolname = 'aq_super_auth'`);
    expect(r!.rolsuper).toBe(true); // rolled back, not silently demoted
  });
});

describe.each(pgbouncerBinaries())('auth_query mode in a real pgbouncer $label', ({ label, binary }) => {
  it('apply + render: an ordinary role logs in; expired, superuser, replication and unknown roles are refused', async () => {
    const version = (await pgbouncerVersion(binary)).match(/^\d+\.\d+/)![0];
    const hasAuthDbname = Number(version.split('.')[1]) >= 19;
    const dir = await makeTempDir(`auth-query-${label}`, { owner: 'postgres' });
    const userlistPath = join(dir.path, 'userlist.txt');
    await writeFile(userlistPath, '', { mode: 0o600 });
    try {
      // 1. install role + function, random password on both sides, plain text into userlist.
      const apply = captureContext({ env: adminEnv });
      expect(await main(['node', 'pgb-setup', 'auth-query', '--apply-server', '--dbname', 'appdb', '--userlist', userlistPath], apply)).toBe(0);
      expect(apply.out()).toBe(`auth_user = pgbouncer_auth\nauth_query = ${AUTH_QUERY}\nauth_dbname = appdb\n`);
      const authEntry = parseUserlist(await readFile(userlistPath, 'utf8')).entries;
      expect(authEntry.map((e) => e.user)).toEqual(['pgbouncer_auth']);
      expect(authEntry[0]!.secret).not.toMatch(/^(SCRAM|md5)/);
      expect(apply.err()).not.toContain(authEntry[0]!.secret);

      // 2. render the profile in auth_query mode: userlist keeps only auth_user's line.
      const port = await freePort();
      const render = captureContext({ env: { DBNAME: 'appdb', DBUSER: 'aq_app', DBHOST: '127.0.0.1', DBPORT: String(cluster.port) } });
      const code = await main(
        [
          'node', 'pgb-setup', 'render', 'development', '--out', dir.path, '--pgbouncer-version', version,
          '--set', `listen_port=${port}`, '--set', `unix_socket_dir=${dir.path}`,
          '--set', `pidfile=${join(dir.path, 'pgbouncer.pid')}`, '--set', `logfile=${join(dir.path, 'pgbouncer.log')}`,
          '--set', `auth_file=${userlistPath}`,
          '--set', 'auth_user=pgbouncer_auth', '--set', `auth_query=${AUTH_QUERY}`,
          ...(hasAuthDbname ? ['--set', 'auth_dbname=appdb'] : []),
        ],
        render,
      );
      expect(render.err()).not.toMatch(/pgb-setup:/);
      expect(code).toBe(0);
      const rendered = parseUserlist(await readFile(userlistPath, 'utf8')).entries;
      expect(rendered).toEqual([{ ...authEntry[0]!, line: expect.any(Number) }]);
      const ini = await readFile(join(dir.path, 'pgbouncer.ini'), 'utf8');
      expect(ini).toContain(`auth_query = ${AUTH_QUERY}`);
      const pgUser = lookupUser('postgres');
      for (const f of ['pgbouncer.ini', 'userlist.txt']) await chown(join(dir.path, f), pgUser.uid, pgUser.gid);

      // 3. the real pgbouncer.
      const bouncer = await startPgbouncer({ binary, iniPath: join(dir.path, 'pgbouncer.ini') });
      try {
        expect(await login(bouncer, 'aq_app', 'app-pw')).toBe('ok aq_app');
        expect(await login(bouncer, 'aq_app', 'wrong')).toMatch(/SASL authentication failed|password authentication failed/);
        // Zero rows from the lookup: pgbouncer answers "no such user", the same for all of these
        // (the plpgsql OUT-parameter function would give "bouncer config error" instead).
        for (const [u, pw] of [['aq_expired', 'expired-pw'], ['aq_super', 'super-pw'], ['aq_repl', 'repl-pw'], ['aq_nobody', 'x']]) {
          expect(await login(bouncer, u!, pw!)).toBe('no such user');
        }
        // The same roles log in directly: the refusals come from the lookup, not from PostgreSQL.
        expect(await cluster.query('select 1 as one', [], { user: 'aq_super', password: 'super-pw' })).toEqual([{ one: 1 }]);
        expect(await login(bouncer, 'aq_app', 'app-pw')).toBe('ok aq_app');
      } finally {
        await bouncer.stop();
      }

      // 4. users check sees the auth role's plain password as matching PostgreSQL's verifier.
      const check = captureContext({ env: adminEnv });
      expect(await main(['node', 'pgb-setup', 'users', 'check', '--userlist', userlistPath], check)).toBe(0);
      expect(check.out()).toMatch(/pgbouncer_auth\s+match\s+plain-text password in userlist matches/);
    } finally {
      await dir.cleanup();
    }
  });

  it('fact: auth_user with a SCRAM verifier (even the identical one) in userlist cannot log in to the server', async () => {
    const dir = await makeTempDir(`auth-query-scram-${label}`, { owner: 'postgres' });
    const cfg = await writeTestPgbouncerConfig(dir.path, {
      port: await freePort(),
      pgPort: cluster.port,
      dbname: 'appdb',
      authType: 'scram-sha-256',
      userlist: [userlistLine('pgbouncer_auth', (await cluster.roleSecret('pgbouncer_auth'))!)],
      extra: { auth_user: 'pgbouncer_auth', auth_query: AUTH_QUERY, query_wait_timeout: 3 },
    });
    const bouncer = await startPgbouncer({ binary, iniPath: cfg.iniPath });
    try {
      const r = await login(bouncer, 'aq_app', 'app-pw');
      expect(r).not.toMatch(/^ok/);
      expect(await bouncer.logTail(40)).toMatch(/password is SCRAM secret but client authentication did not provide SCRAM keys/);
    } finally {
      await bouncer.stop();
      await dir.cleanup();
    }
  });
});
