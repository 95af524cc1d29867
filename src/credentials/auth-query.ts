/**
 * `pgb-setup auth-query [environment]`: pgbouncer's auth_query mode, done least-privileged.
 *
 * pgbouncer logs in as `auth_user` and runs `auth_query` to fetch a client's verifier from the
 * server, so userlist.txt holds only auth_user's own password. What this installs:
 *  - a LOGIN role with no other attributes (refused if it already exists as a superuser or
 *    replication role), allowed to EXECUTE one function and nothing else;
 *  - a SECURITY DEFINER lookup function owned by a superuser (only those can read pg_authid):
 *    a set-returning SQL function (RETURNS TABLE), so an unknown user gives zero rows and a clean
 *    login failure — the plpgsql OUT-parameter version from pgbouncer's docs returns one NULL row,
 *    which pgbouncer answers with "bouncer config error"; `search_path` pinned to
 *    `pg_catalog, pg_temp`; superusers, replication roles, NOLOGIN roles, roles without a
 *    password and roles past VALID UNTIL are not returned; REVOKE ALL FROM PUBLIC, GRANT EXECUTE
 *    to the auth role; every name schema-qualified (CVE-2025-12819);
 *  - auth_user's userlist entry is its PLAIN-TEXT password: pgbouncer can log in to the server with
 *    a SCRAM secret only using keys from a client's own SCRAM login, and no client logs in as
 *    auth_user ("password is SCRAM secret but client authentication did not provide SCRAM keys").
 */
import { randomBytes } from 'node:crypto';
import { scramSecret } from '../auth/scram.js';
import type { Context } from '../system/context.js';
import { InputError, RuntimeError } from '../text/errors.js';
import { setting, type ResolvedConfig } from '../profile/resolve.js';
import { askSecretOnStderr, readNewPassword, type AskSecret } from '../system/password-input.js';
import { adminPassword, connectPg, describePg, errorText, quoteIdent, resolveAdminTarget, type Connect, type PgAdminFlags, type SqlClient } from '../facts/pg-admin.js';
import { resolvePgbouncerTarget, type PgbouncerFlags } from './pgbouncer-target.js';
import { planReload, runReload, type ReloadPlan } from './reload.js';
import { currentRole, lookupRole, setRoleSecret } from './server-role.js';
import { readUserlistFile, upsertedText, userlistPathFrom, writeUserlistText, type UserlistFile } from './userlist-file.js';

export interface AuthQueryOptions extends PgAdminFlags, PgbouncerFlags {
  authUser?: string;
  schema?: string;
  dbname?: string[];
  applyServer?: boolean;
  userlist?: string | boolean;
  passwordStdin?: boolean;
  reload?: boolean;
}

interface AuthQuerySpec {
  authUser: string;
  schema: string;
}

const LOOKUP_FUNCTION = 'user_lookup';
const SIMPLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** A name as it may appear in a one-line error: JSON-quoted, line breaks and control characters escaped. */
function shown(name: string): string {
  return JSON.stringify(name.slice(0, 80)).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function validateSimpleName(name: string, flag: string): void {
  if (!SIMPLE_NAME.test(name)) {
    throw new InputError(`${flag}: ${shown(name)} must be a lower-case SQL name (a-z, 0-9, _; not starting with a digit; at most 63 bytes)`, flag);
  }
  if (name.startsWith('pg_') || name === 'public' || name === 'information_schema') {
    throw new InputError(`${flag}: ${shown(name)} is reserved or shared; choose a name of your own, e.g. pgbouncer_auth`, flag);
  }
}

// eslint-disable-next-line no-control-regex
const UNSAFE_IN_A_LINE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * A database name for --dbname (or the profile's auth_dbname / DBNAME): PostgreSQL allows almost
 * any text, but it is printed into SQL comments, pgbouncer.ini lines and a --set command, where a
 * line break would start live SQL or a new setting. So: no control or line-separator characters,
 * no surrounding spaces (pgbouncer.ini trims them), at most 63 bytes.
 */
function validateDbname(name: string, flag: string): void {
  if (name === '' || UNSAFE_IN_A_LINE.test(name) || name !== name.trim()) {
    throw new InputError(`${flag}: ${shown(name)} is not a database name pgb-setup can write safely (no line breaks, control characters or surrounding spaces); give the plain name`, flag);
  }
  if (Buffer.byteLength(name) > 63) throw new InputError(`${flag}: database names are at most 63 bytes (PostgreSQL truncates longer ones)`, flag);
}

function validateSpec(spec: AuthQuerySpec): void {
  validateSimpleName(spec.authUser, '--auth-user');
  validateSimpleName(spec.schema, '--schema');
}

/** The auth_query setting: schema-qualified, no semicolon or comment (pgbouncer.ini has no quoting). */
export function authQuerySetting(spec: AuthQuerySpec): string {
  return `SELECT uname, phash FROM ${spec.schema}.${LOOKUP_FUNCTION}($1)`;
}

/** The idempotent installation script for one database; run it as a superuser. */
export function buildAuthQuerySql(spec: AuthQuerySpec): string {
  // Names go into dollar-quoted DO blocks, where quoting cannot protect them: only simple names pass.
  validateSpec(spec);
  const { authUser: u, schema: s } = spec;
  const fn = `${s}.${LOOKUP_FUNCTION}(pg_catalog.text)`;
  return `BEGIN;

-- The function must be owned by a role that can read pg_authid: a superuser.
DO $pgb$
BEGIN
  IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER) THEN
    RAISE EXCEPTION 'run this as a superuser: the lookup function reads pg_catalog.pg_authid';
  END IF;
END
$pgb$;

-- The auth role: it can log in and run the lookup, nothing else.
DO $pgb$
DECLARE
  r record;
BEGIN
  SELECT rolsuper, rolreplication INTO r FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) '${u}';
  IF NOT FOUND THEN
    CREATE ROLE ${u} LOGIN;
  ELSIF r.rolsuper OR r.rolreplication THEN
    RAISE EXCEPTION 'role ${u} is a superuser or replication role; auth_user must be a dedicated, unprivileged role';
  END IF;
  EXECUTE pg_catalog.format('GRANT CONNECT ON DATABASE %I TO ${u}', pg_catalog.current_database());
END
$pgb$;
ALTER ROLE ${u} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS;

-- A schema only superusers own, so nobody else can replace the function.
DO $pgb$
BEGIN
  IF EXISTS (SELECT FROM pg_catalog.pg_namespace AS n JOIN pg_catalog.pg_roles AS o ON o.oid OPERATOR(pg_catalog.=) n.nspowner
             WHERE n.nspname OPERATOR(pg_catalog.=) '${s}' AND NOT o.rolsuper) THEN
    RAISE EXCEPTION 'schema ${s} exists and is owned by a non-superuser, who could replace the lookup function; choose another schema';
  END IF;
END
$pgb$;
CREATE SCHEMA IF NOT EXISTS ${s};
REVOKE ALL ON SCHEMA ${s} FROM PUBLIC;
GRANT USAGE ON SCHEMA ${s} TO ${u};

-- Set-returning SQL function: zero rows for an unknown, expired, superuser or replication role.
CREATE OR REPLACE FUNCTION ${s}.${LOOKUP_FUNCTION}(p_username pg_catalog.text)
  RETURNS TABLE (uname pg_catalog.text, phash pg_catalog.text)
  LANGUAGE sql STABLE STRICT SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $fn$
  SELECT a.rolname::pg_catalog.text, a.rolpassword
    FROM pg_catalog.pg_authid AS a
   WHERE a.rolname::pg_catalog.text OPERATOR(pg_catalog.=) p_username
     AND a.rolcanlogin
     AND NOT a.rolsuper
     AND NOT a.rolreplication
     AND a.rolpassword IS NOT NULL
     AND (a.rolvaliduntil IS NULL OR a.rolvaliduntil OPERATOR(pg_catalog.>) pg_catalog.now())
$fn$;
REVOKE ALL ON FUNCTION ${fn} FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ${fn} TO ${u};

COMMIT;
`;
}

/** pgbouncer.ini lines for this mode. */
function authQuerySettings(spec: AuthQuerySpec, dbnames: readonly string[]): string[] {
  const lines = [`auth_user = ${spec.authUser}`, `auth_query = ${authQuerySetting(spec)}`];
  if (dbnames.length === 1) lines.push(`auth_dbname = ${dbnames[0]}`);
  return lines;
}

function setFlags(spec: AuthQuerySpec, dbnames: readonly string[]): string {
  const parts = [`--set auth_user=${spec.authUser}`, `--set 'auth_query=${authQuerySetting(spec)}'`];
  if (dbnames.length === 1) parts.push(`--set auth_dbname=${dbnames[0]}`);
  return parts.join(' ');
}

function header(spec: AuthQuerySpec, dbnames: readonly string[]): string {
  validateSpec(spec);
  for (const db of dbnames) validateDbname(db, '--dbname');
  const where = dbnames.length ? dbnames.join(', ') : 'every database pgbouncer serves';
  const lines = [
    '-- Generated by pgb-setup auth-query. Idempotent; run it as a superuser in each database the lookup is used from:',
    `--   ${where}   (psql -v ON_ERROR_STOP=1 -d <db> -f this-file.sql)`,
    '-- pgbouncer.ini [pgbouncer]:',
    ...authQuerySettings(spec, dbnames).map((l) => `--   ${l}`),
    ...(dbnames.length === 1 ? ['--   (auth_dbname needs pgbouncer 1.19+; on 1.18 leave it out and install this in every database of [databases])'] : []),
    `--   or: pgb-setup render <environment> ${setFlags(spec, dbnames)}`,
    `-- userlist.txt must hold ${spec.authUser}'s password in PLAIN TEXT ("${spec.authUser}" "<password>"), because no client`,
    '-- logs in as auth_user to give pgbouncer SCRAM keys. pgb-setup auth-query --apply-server --userlist FILE sets a random one',
    '-- on both sides.',
    '',
  ];
  return lines.join('\n');
}

export interface AuthQueryDeps {
  ask: AskSecret;
  connect: Connect;
  randomPassword: () => string;
}

/** The auth_query SQL printed, or (--apply-server) installed and checked, with the profile's values (if any) as defaults. */
export async function authQuery(config: ResolvedConfig | undefined, opts: AuthQueryOptions, ctx: Context, deps: Partial<AuthQueryDeps> = {}): Promise<number> {
  const d: AuthQueryDeps = { ask: askSecretOnStderr, connect: connectPg, randomPassword: () => randomBytes(24).toString('base64url'), ...deps };
  const profileAuthUser = config ? setting(config, 'auth_user') : undefined;
  const spec: AuthQuerySpec = {
    authUser: opts.authUser ?? (typeof profileAuthUser === 'string' ? profileAuthUser : 'pgbouncer_auth'),
    schema: opts.schema ?? 'pgbouncer',
  };
  validateSpec(spec);
  const profileAuthDb = config ? setting(config, 'auth_dbname') : undefined;
  const fromFlag = opts.dbname && opts.dbname.length > 0;
  const dbnames = fromFlag
    ? opts.dbname!
    : typeof profileAuthDb === 'string' ? [profileAuthDb] : config?.profile.database.name ? [config.profile.database.name] : [];
  for (const db of dbnames) validateDbname(db, fromFlag ? '--dbname' : typeof profileAuthDb === 'string' ? 'pgbouncer.auth_dbname' : 'DBNAME');
  const sql = buildAuthQuerySql(spec);

  if (!opts.applyServer) {
    if (opts.userlist !== undefined || opts.reload || opts.passwordStdin) {
      throw new InputError('--userlist, --reload and --password-stdin go with --apply-server (without it, auth-query only prints the SQL)', '--apply-server');
    }
    ctx.stdout.write(`${header(spec, dbnames)}\n${sql}`);
    return 0;
  }

  // --- everything that can fail before a change ------------------------------------------------
  if (dbnames.length === 0) throw new InputError('--dbname: name the database(s) to install the lookup function in (the auth_dbname, or every database pgbouncer serves)', '--dbname');
  const userlistPath = userlistPathFrom(opts.userlist, config, ctx);
  if (opts.reload && !userlistPath) throw new InputError('--reload: add --userlist FILE (reloading only matters when userlist.txt changes)', '--reload');
  const file: UserlistFile | undefined = userlistPath ? await readUserlistFile(ctx.system, userlistPath) : undefined;
  const bouncer = opts.reload ? resolvePgbouncerTarget(opts, ctx, config) : undefined;
  let password: string | undefined;
  if (opts.passwordStdin) password = await readNewPassword(spec.authUser, opts, ctx, d.ask);
  else if (file) password = d.randomPassword();
  const baseTarget = await resolveAdminTarget(opts, ctx, config);
  const askAdmin = adminPassword(baseTarget, ctx, d.ask);
  let reloadPlan: ReloadPlan | undefined;
  if (bouncer) reloadPlan = await planReload(bouncer, ctx, d.connect);

  // --- install in each database ------------------------------------------------------------------
  for (const db of dbnames) {
    const target = { ...baseTarget, database: db };
    let client: SqlClient | undefined;
    try {
      client = await d.connect(target, askAdmin);
      const me = await currentRole(client);
      if (!me.superuser) {
        throw new RuntimeError(`${me.name} is not a superuser; the lookup function must be owned by one (only superusers read pg_authid). Connect as a superuser (PGUSER / --pg-user)`);
      }
      try {
        await client.query(sql);
      } catch (e) {
        throw new RuntimeError(`installing the auth_query function in ${describePg(target)} failed (rolled back): ${errorText(e)}`);
      }
      await checkInstalled(client, spec, me.name, target.database);
      ctx.stderr.write(`${describePg(target)}: role ${spec.authUser} and ${spec.schema}.${LOOKUP_FUNCTION}(text) installed; ${spec.authUser} cannot read pg_authid, PUBLIC cannot run the function, superusers are not returned\n`);
    } finally {
      await client?.end().catch(() => {});
    }
  }

  // --- the auth role's password: userlist (staged), then PostgreSQL, then reload ------------------
  if (password !== undefined) {
    const target = { ...baseTarget, database: dbnames[0]! };
    const client = await d.connect(target, askAdmin);
    try {
      const newText = file ? upsertedText(file, spec.authUser, password) : undefined;
      if (file && newText !== undefined && newText !== file.text) {
        await writeUserlistText(ctx.system, file, newText);
        ctx.stderr.write(`${file.path}: ${spec.authUser} written with its plain-text password (mode 0600)\n`);
      }
      try {
        await setRoleSecret(client, spec.authUser, scramSecret(password), true);
      } catch (e) {
        if (file && newText !== undefined && newText !== file.text) await writeUserlistText(ctx.system, file, file.text).catch(() => {});
        throw new RuntimeError(`${(e as Error).message}\nstate: the function is installed, but ${spec.authUser}'s password was not changed${file ? ` and ${file.path} was put back` : ''}`);
      }
      ctx.stderr.write(`${describePg(target)}: ${spec.authUser}'s password set (SCRAM-SHA-256 verifier, read back)${file ? '' : '; put the same password in plain text into userlist.txt'}\n`);
    } finally {
      await client.end().catch(() => {});
    }
  } else {
    const client = await d.connect({ ...baseTarget, database: dbnames[0]! }, askAdmin);
    try {
      const r = await client.query<{ has: boolean }>(
        'SELECT rolpassword IS NOT NULL AS has FROM pg_catalog.pg_authid WHERE rolname::pg_catalog.text OPERATOR(pg_catalog.=) $1',
        [spec.authUser],
      );
      if (!r.rows[0]?.has) {
        ctx.stderr.write(`warning: ${spec.authUser} has no password, so pgbouncer cannot log in as it; re-run with --userlist FILE (a random password is set on both sides) or --password-stdin\n`);
      }
    } finally {
      await client.end().catch(() => {});
    }
  }

  if (reloadPlan && bouncer) {
    try {
      const outcome = await runReload(reloadPlan);
      ctx.stderr.write(`pgbouncer reloaded: ${outcome.method}\n`);
    } catch (e) {
      throw new RuntimeError(`${(e as Error).message}\nstate: PostgreSQL and ${file!.path} have ${spec.authUser}'s new password, the running pgbouncer still has the old one; reload it (systemctl reload ${bouncer.service}, or kill -HUP its pid)`);
    }
  }

  ctx.stdout.write(`${authQuerySettings(spec, dbnames).join('\n')}\n`);
  ctx.stderr.write(
    `put the lines above into pgbouncer.ini [pgbouncer]${dbnames.length === 1 ? ' (auth_dbname needs pgbouncer 1.19+)' : ''}, or render with: ${setFlags(spec, dbnames)}\n`,
  );
  return 0;
}

/** After installing: the auth role cannot read pg_authid, PUBLIC cannot execute, superusers are hidden. */
async function checkInstalled(client: SqlClient, spec: AuthQuerySpec, superuser: string, db: string): Promise<void> {
  validateSpec(spec);
  const fn = `${quoteIdent(spec.schema)}.${quoteIdent(LOOKUP_FUNCTION)}(pg_catalog.text)`;
  const r = await client.query<{ authid: boolean; pub: boolean; mine: boolean }>(
    `SELECT pg_catalog.has_table_privilege($1, 'pg_catalog.pg_authid', 'SELECT') AS authid,
            pg_catalog.has_function_privilege('public', $2, 'EXECUTE') AS pub,
            pg_catalog.has_function_privilege($1, $2, 'EXECUTE') AS mine`,
    [spec.authUser, fn],
  );
  const row = r.rows[0];
  const problems: string[] = [];
  if (!row || row.authid) problems.push(`${spec.authUser} can read pg_authid`);
  if (!row || row.pub) problems.push('PUBLIC can execute the function');
  if (!row || !row.mine) problems.push(`${spec.authUser} cannot execute the function`);
  await client.query(`SET ROLE ${quoteIdent(spec.authUser)}`);
  try {
    const rows = await client.query<{ n: string }>(`SELECT pg_catalog.count(*) AS n FROM ${quoteIdent(spec.schema)}.${quoteIdent(LOOKUP_FUNCTION)}($1)`, [superuser]);
    if (Number(rows.rows[0]?.n) !== 0) problems.push(`the function returns superuser ${superuser}`);
  } finally {
    await client.query('RESET ROLE');
  }
  if (problems.length) throw new RuntimeError(`the auth_query function in ${db} is not safe: ${problems.join('; ')}`);
  const role = await lookupRole(client, spec.authUser);
  if (!role || role.superuser || role.replication || !role.canLogin) throw new RuntimeError(`role ${spec.authUser} is not a plain LOGIN role after installing`);
}
