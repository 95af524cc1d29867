import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/main.js';
import { parseUserlist } from '../../../src/auth/userlist.js';
import { authQuerySetting, buildAuthQuerySql } from '../../../src/credentials/auth-query.js';
import { captureContext } from '../../helpers/context.js';

async function cli(args: string[], env: Record<string, string> = {}) {
  const ctx = captureContext({ env });
  const code = await main(['node', 'pgb-setup', ...args], ctx);
  return { code, out: ctx.out(), err: ctx.err() };
}

describe('auth-query SQL', () => {
  const sql = buildAuthQuerySql({ authUser: 'pgbouncer_auth', schema: 'pgbouncer' });
  const fn = sql.slice(sql.indexOf('CREATE OR REPLACE FUNCTION'), sql.indexOf('$fn$;') + 5);

  it('a set-returning SQL function (RETURNS TABLE), SECURITY DEFINER, search_path pinned', () => {
    expect(fn).toMatch(/RETURNS TABLE \(uname pg_catalog\.text, phash pg_catalog\.text\)/);
    expect(fn).toMatch(/LANGUAGE sql STABLE STRICT SECURITY DEFINER/);
    expect(fn).toMatch(/SET search_path = pg_catalog, pg_temp/);
    expect(fn).not.toMatch(/plpgsql|OUT /);
  });

  it('refuses superusers, replication and NOLOGIN roles, honours VALID UNTIL', () => {
    for (const clause of ['AND a.rolcanlogin', 'AND NOT a.rolsuper', 'AND NOT a.rolreplication', 'AND a.rolpassword IS NOT NULL', '(a.rolvaliduntil IS NULL OR a.rolvaliduntil OPERATOR(pg_catalog.>) pg_catalog.now())']) {
      expect(fn).toContain(clause);
    }
  });

  it('schema-qualifies every table, function and operator in the body', () => {
    const body = fn.slice(fn.indexOf('AS $fn$'));
    expect(body).toMatch(/FROM pg_catalog\.pg_authid AS a/);
    expect(body.replace(/OPERATOR\(pg_catalog\.[=>]\)/g, '')).not.toMatch(/[=<>]/);
    expect(body).not.toMatch(/(?<!pg_catalog\.)now\(\)/);
  });

  it('REVOKE ALL FROM PUBLIC, GRANT EXECUTE to the auth role only, least-privileged role, in one transaction', () => {
    expect(sql).toContain('REVOKE ALL ON FUNCTION pgbouncer.user_lookup(pg_catalog.text) FROM PUBLIC;');
    expect(sql).toContain('GRANT EXECUTE ON FUNCTION pgbouncer.user_lookup(pg_catalog.text) TO pgbouncer_auth;');
    expect(sql).toContain('REVOKE ALL ON SCHEMA pgbouncer FROM PUBLIC;');
    expect(sql).toContain('ALTER ROLE pgbouncer_auth LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS;');
    expect(sql).toMatch(/RAISE EXCEPTION 'role pgbouncer_auth is a superuser or replication role/);
    expect(sql.trim().startsWith('BEGIN;')).toBe(true);
    expect(sql.trim().endsWith('COMMIT;')).toBe(true);
    expect(sql).not.toMatch(/PASSWORD/);
  });

  it('the auth_query setting is schema-qualified and has nothing pgbouncer.ini would cut', () => {
    expect(authQuerySetting({ authUser: 'x', schema: 'pgbouncer' })).toBe('SELECT uname, phash FROM pgbouncer.user_lookup($1)');
  });
});

describe('auth-query command', () => {
  it('prints the settings and the SQL; the settings are accepted as --set by render, whose userlist then keeps only auth_user', async () => {
    const r = await cli(['auth-query', '--dbname', 'appdb']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('--   auth_user = pgbouncer_auth\n--   auth_query = SELECT uname, phash FROM pgbouncer.user_lookup($1)\n--   auth_dbname = appdb\n');
    const setFlags = /--\s+or: pgb-setup render <environment> (.*)$/m.exec(r.out)![1]!;
    expect(setFlags).toBe("--set auth_user=pgbouncer_auth --set 'auth_query=SELECT uname, phash FROM pgbouncer.user_lookup($1)' --set auth_dbname=appdb");

    const dir = mkdtempSync(join(tmpdir(), 'pgb-auth-query-'));
    writeFileSync(join(dir, 'userlist.txt'), '"app_user" "SCRAM-old"\n"pgbouncer_auth" "plain auth pw"\n', { mode: 0o600 });
    const env = { DBNAME: 'appdb', DBUSER: 'app_user', DBHOST: '127.0.0.1', PATH: '/nonexistent' };
    const render = await cli(
      ['render', 'production', '--out', dir, '--pgbouncer-version', '1.24', '--set', 'auth_user=pgbouncer_auth', '--set', 'auth_query=SELECT uname, phash FROM pgbouncer.user_lookup($1)', '--set', 'auth_dbname=appdb'],
      env,
    );
    expect(render.err).not.toMatch(/pgb-setup:/);
    expect(render.code).toBe(0);
    const ini = readFileSync(join(dir, 'pgbouncer.ini'), 'utf8');
    expect(ini).toMatch(/^auth_user = pgbouncer_auth$/m);
    expect(ini).toMatch(/^auth_query = SELECT uname, phash FROM pgbouncer\.user_lookup\(\$1\)$/m);
    expect(ini).toMatch(/^auth_dbname = appdb$/m);
    expect(parseUserlist(readFileSync(join(dir, 'userlist.txt'), 'utf8')).entries.map((e) => [e.user, e.secret])).toEqual([['pgbouncer_auth', 'plain auth pw']]);
  });

  it('takes auth_user and auth_dbname from the profile', async () => {
    const r = await cli(['auth-query', 'production', '--pgbouncer-version', '1.24', '--set', 'auth_user=bouncer_lookup', '--set', 'auth_dbname=other'], { DBNAME: 'appdb', PATH: '/nonexistent' });
    expect(r.code).toBe(0);
    expect(r.out).toContain('--   auth_user = bouncer_lookup\n');
    expect(r.out).toContain('--   auth_dbname = other\n');
    expect(r.out).toContain('GRANT EXECUTE ON FUNCTION pgbouncer.user_lookup(pg_catalog.text) TO bouncer_lookup;');
  });

  it.each([
    [['auth-query', '--auth-user', 'Robert"); DROP'], /--auth-user: .* must be a lower-case SQL name/],
    [['auth-query', '--schema', 'public'], /--schema: "public" is reserved/],
    [['auth-query', '--auth-user', 'pg_monitor'], /reserved/],
    [['auth-query', '--userlist', '/tmp/x'], /go with --apply-server/],
    [['auth-query', '--apply-server'], /--dbname: name the database/],
  ])('%j is exit 2', async (args, message) => {
    const r = await cli(args as string[]);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(message);
  });
});

describe('auth-query: names printed into SQL comments and pgbouncer.ini lines (#11.1)', () => {
  it.each(['x\nDROP TABLE t; --', 'x\r', 'a\u2028b', 'a\u0085b', '\u001b[2J', ' x', 'x ', '', 'a'.repeat(64), 'x\0'])('--dbname %j: exit 2, nothing printed', async (db) => {
    const ctx = captureContext();
    expect(await main(['node', 'pgb-setup', 'auth-query', '--dbname', db], ctx)).toBe(2);
    expect(ctx.out()).toBe('');
    expect(ctx.err().trim().split('\n')).toHaveLength(1);
    expect(ctx.err()).toMatch(/^pgb-setup: --dbname: /);
  });

  it.each(["x; DROP TABLE t", "it's", 'é'])('--dbname %j stays inside its comment line', async (db) => {
    const ctx = captureContext();
    expect(await main(['node', 'pgb-setup', 'auth-query', '--dbname', db], ctx)).toBe(0);
    for (const line of ctx.out().split('\n').filter((l) => l.includes(db))) expect(line).toMatch(/^-- /);
  });

  it('buildAuthQuerySql refuses names that are not simple, whoever calls it', () => {
    expect(() => buildAuthQuerySql({ authUser: 'a$pgb$b', schema: 'pgbouncer' })).toThrow(/--auth-user: "a\$pgb\$b" must be a lower-case SQL name/);
    expect(() => buildAuthQuerySql({ authUser: 'ok', schema: 'x\ny' })).toThrow(/--schema: "x\\ny"/);
  });
});
