/**
 * The main job's SCRAM alignment: pgbouncer can log in to PostgreSQL with a SCRAM secret from
 * userlist.txt only when PostgreSQL holds the identical verifier (same salt, iterations, StoredKey,
 * ServerKey). Instead of asking for admin credentials to read pg_authid, log in as DBUSER with
 * DBPASS: the server's first SCRAM message names the salt and iteration count, and a completed
 * exchange proves the keys derived from them are the ones PostgreSQL stores.
 */
import { isValidMd5Secret } from '../auth/md5.js';
import { scramSecretShape } from '../auth/scram.js';
import { InputError, RuntimeError } from '../text/errors.js';
import type { Context, Output } from '../system/context.js';
import type { SqlClient } from '../facts/pg-admin.js';
import { setting, type ResolvedConfig } from '../profile/resolve.js';
import type { ScramLoginResult, ScramLoginTarget, TlsMode } from '../system/scram-login.js';

type ScramLogin = (target: ScramLoginTarget) => Promise<ScramLoginResult>;

/** What pg_authid holds for the role, when pgb-setup can look (see roleStateByPeer). */
type RoleState = 'no-role' | 'no-password' | 'md5' | 'scram' | 'other';

interface AlignmentInput {
  config: ResolvedConfig;
  scramLogin: ScramLogin;
  warn: Output;
  /** After a refusal: what PostgreSQL stores for the role, if it can be read without a password. */
  roleState?: () => Promise<RoleState | undefined>;
}

function where(host: string, port: number): string {
  return host.startsWith('/') ? `${host}/.s.PGSQL.${port}` : `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Whether the main job should align at all: SCRAM userlist entries for DBUSER (not auth_query mode). */
export function needsAlignment(config: ResolvedConfig): boolean {
  const db = config.profile.database;
  const authUser = setting(config, 'auth_user');
  return config.profile.userlist.method === 'scram-sha-256' && !(typeof authUser === 'string' && authUser) && !!db.user && !!db.password && !!db.host;
}

function tlsFor(config: ResolvedConfig): { mode: TlsMode; caFile?: string } {
  const mode = setting(config, 'server_tls_sslmode');
  const ca = setting(config, 'server_tls_ca_file');
  const m: TlsMode = mode === 'disable' || mode === 'require' || mode === 'verify-ca' || mode === 'verify-full' ? mode : 'prefer';
  return { mode: m, ...(typeof ca === 'string' && ca ? { caFile: ca } : {}) };
}

/**
 * PostgreSQL's verifier of DBUSER, or undefined when there is none to align with (PostgreSQL lets
 * the role in without a password, or cannot be reached: said on stderr). Throws, before anything
 * is written, when PostgreSQL refuses DBPASS or does not use SCRAM for the role.
 */
export async function serverVerifierByLogin(input: AlignmentInput): Promise<string | undefined> {
  const db = input.config.profile.database;
  const user = db.user!;
  const at = where(db.host!, db.port);
  const result = await input.scramLogin({
    host: db.host!,
    port: db.port,
    user,
    database: db.name ?? user,
    password: db.password!.reveal(),
    tls: tlsFor(input.config),
  });
  const fix = `set a SCRAM password on PostgreSQL (psql: SET password_encryption = 'scram-sha-256'; \\password ${user}), or run "pgb-setup hash-user ${user} --apply-server"`;
  switch (result.kind) {
    case 'verifier':
      return result.verifier;
    case 'refused': {
      const state = await input.roleState?.().catch(() => undefined);
      const why = `PostgreSQL at ${at} refused the login of role ${user} (${result.message}${result.code ? `, SQLSTATE ${result.code}` : ''}); nothing was written`;
      if (state === 'no-role') throw new InputError(`DBUSER: ${why}: there is no role ${user}; create it (CREATE ROLE ${user} LOGIN PASSWORD '...') or fix DBUSER`, 'DBUSER');
      if (state === 'no-password') throw new InputError(`DBUSER: ${why}: the role has no password; ${fix}`, 'DBUSER');
      if (state === 'md5' || state === 'other') throw new InputError(`DBUSER: ${why}: PostgreSQL stores its password as ${state === 'md5' ? 'MD5' : 'something other than SCRAM'}, so no SCRAM verifier can match; ${fix}`, 'DBUSER');
      if (state === 'scram') throw new InputError(`DBPASS: the password was refused by PostgreSQL at ${at} for role ${user}: DBPASS is not its password (${result.message}); nothing was written`, 'DBPASS');
      throw new InputError(
        `DBPASS: the password was refused by PostgreSQL at ${at} for role ${user} (${result.message}${result.code ? `, SQLSTATE ${result.code}` : ''}); nothing was written. ` +
          `Check DBUSER and DBPASS; if they are right, the role has no SCRAM verifier there (one stored as MD5 or no password looks the same from outside): ${fix}`,
        'DBPASS',
      );
    }
    case 'other-method': {
      const asked = {
        md5: 'an MD5 password, so the role\'s password is stored as MD5',
        cleartext: 'a clear-text password (pg_hba.conf method "password")',
        gss: 'GSSAPI/Kerberos',
        sspi: 'SSPI',
        'sasl-without-scram': 'a SASL mechanism other than SCRAM-SHA-256',
        unknown: 'an authentication method pgb-setup does not know',
      }[result.method];
      const how = result.method === 'md5' ? fix : `make the pg_hba.conf line that matches ${user} say scram-sha-256`;
      throw new InputError(`DBUSER: PostgreSQL at ${at} asks role ${user} for ${asked}, not SCRAM-SHA-256, so there is no verifier for userlist.txt to match; nothing was written. Fix: ${how}`, 'DBUSER');
    }
    case 'no-password-asked':
      input.warn.write(`note: PostgreSQL at ${at} lets ${user} in without a password (pg_hba.conf trust/peer/cert), so userlist.txt keeps a SCRAM verifier of its own\n`);
      return undefined;
    case 'server-error':
      throw new RuntimeError(`PostgreSQL at ${at} refused role ${user} before asking for a password: ${result.message}${result.code ? ` (SQLSTATE ${result.code})` : ''}; nothing was written. Fix pg_hba.conf (or DBHOST/DBPORT/DBNAME) so that ${user} may connect`);
    case 'protocol':
      throw new RuntimeError(`logging in to PostgreSQL at ${at} as ${user} to take its SCRAM salt failed: ${result.message}; nothing was written`);
    case 'unreachable':
      input.warn.write(
        `warning: could not reach PostgreSQL at ${at} (${result.message}) to take ${user}'s SCRAM salt; userlist.txt gets a verifier of its own, which pgbouncer can use only if PostgreSQL holds the identical one\n`,
      );
      return undefined;
  }
}

/**
 * After PostgreSQL refused DBPASS (it does not say why): as root on the PostgreSQL host, with no
 * PG* credentials, read what pg_authid holds for the role as the local postgres account, so the
 * message can say which of "wrong password", "stored as MD5", "no password", "no such role" it is.
 * Never asks for a password; undefined when it cannot look.
 */
export async function roleStateByPeer(ctx: Context, config: ResolvedConfig, role: string): Promise<RoleState | undefined> {
  const { connectPg, localPeerTarget } = await import('../facts/pg-admin.js');
  const target = await localPeerTarget({}, ctx, config);
  if (!target) return undefined;
  let client: SqlClient | undefined;
  try {
    client = await connectPg(target, async () => {
      throw new Error('peer authentication only');
    });
    const r = await client.query<{ rolpassword: string | null }>('SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname::pg_catalog.text OPERATOR(pg_catalog.=) $1', [role]);
    const row = r.rows[0];
    if (!row) return 'no-role';
    if (row.rolpassword === null) return 'no-password';
    if (isValidMd5Secret(row.rolpassword)) return 'md5';
    return scramSecretShape(row.rolpassword) ? 'scram' : 'other';
  } catch {
    return undefined;
  } finally {
    await client?.end().catch(() => {});
  }
}
