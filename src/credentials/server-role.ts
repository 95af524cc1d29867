/**
 * The server side of a credential: does the role exist, may we read pg_authid, and setting a
 * verifier so that PostgreSQL provably stores exactly that string.
 *
 * PostgreSQL's trap: `ALTER ROLE r PASSWORD '<malformed verifier>'` does not fail; the string is
 * taken as a plain-text password and hashed again with a random salt. So the verifier is checked
 * before it is sent, and when pg_authid is readable the ALTER and a read-back run in one
 * transaction that is rolled back unless the stored value is byte-identical.
 */
import { isValidMd5Secret } from '../auth/md5.js';
import { isValidScramSecret } from '../auth/scram.js';
import { InputError, RuntimeError } from '../text/errors.js';
import { errorText, quoteIdent, quoteLiteral, type SqlClient } from '../facts/pg-admin.js';

interface RoleState {
  name: string;
  canLogin: boolean;
  superuser: boolean;
  replication: boolean;
  validUntil: Date | null;
}

export async function lookupRole(client: SqlClient, role: string): Promise<RoleState | undefined> {
  const r = await client.query<{ rolname: string; rolcanlogin: boolean; rolsuper: boolean; rolreplication: boolean; rolvaliduntil: Date | null }>(
    'SELECT rolname, rolcanlogin, rolsuper, rolreplication, rolvaliduntil FROM pg_catalog.pg_roles WHERE rolname::pg_catalog.text OPERATOR(pg_catalog.=) $1',
    [role],
  );
  const row = r.rows[0];
  if (!row) return undefined;
  return { name: row.rolname, canLogin: row.rolcanlogin, superuser: row.rolsuper, replication: row.rolreplication, validUntil: row.rolvaliduntil };
}

/** Whether the connected role may SELECT pg_authid (superuser, or pg_read_all_data on PostgreSQL 14+). */
export async function canReadAuthid(client: SqlClient): Promise<boolean> {
  const r = await client.query<{ ok: boolean }>("SELECT pg_catalog.has_table_privilege('pg_catalog.pg_authid', 'SELECT') AS ok");
  return r.rows[0]?.ok === true;
}

export async function currentRole(client: SqlClient): Promise<{ name: string; superuser: boolean }> {
  const r = await client.query<{ name: string; superuser: boolean }>(
    'SELECT r.rolname AS name, r.rolsuper AS superuser FROM pg_catalog.pg_roles AS r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER',
  );
  const row = r.rows[0];
  if (!row) throw new RuntimeError('cannot find the connected role in pg_roles');
  return row;
}

/** The only characters a well-formed SCRAM or MD5 verifier has (so it is safe inside '...'). */
const VERIFIER_CHARS = /^[A-Za-z0-9+/=$:-]+$/;

function assertSendableVerifier(secret: string): void {
  const ok = (isValidScramSecret(secret) || isValidMd5Secret(secret)) && VERIFIER_CHARS.test(secret);
  if (!ok) {
    throw new InputError(
      'refusing to send this secret to PostgreSQL: it is not a well-formed SCRAM-SHA-256 or MD5 verifier, and PostgreSQL would silently store it as a plain-text password',
      'secret',
    );
  }
}

interface SetSecretResult {
  /** 'read-back': pg_authid holds exactly the secret. 'unverified': pg_authid was not readable. */
  check: 'read-back' | 'unverified';
}

/**
 * `ALTER ROLE <role> PASSWORD '<secret>'`, in a transaction with a read-back when pg_authid is
 * readable; rolled back (and a RuntimeError thrown) unless PostgreSQL stored the identical string.
 */
export async function setRoleSecret(client: SqlClient, role: string, secret: string, readable: boolean): Promise<SetSecretResult> {
  assertSendableVerifier(secret);
  const alter = `ALTER ROLE ${quoteIdent(role)} PASSWORD ${quoteLiteral(secret)}`;
  if (!readable) {
    try {
      await client.query(alter);
    } catch (e) {
      throw new RuntimeError(`ALTER ROLE ${role} failed: ${errorText(e)}`);
    }
    return { check: 'unverified' };
  }
  await client.query('BEGIN');
  let committed = false;
  try {
    try {
      await client.query(alter);
    } catch (e) {
      throw new RuntimeError(`ALTER ROLE ${role} failed: ${errorText(e)}`);
    }
    const r = await client.query<{ rolpassword: string | null }>(
      'SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname::pg_catalog.text OPERATOR(pg_catalog.=) $1',
      [role],
    );
    if (r.rows[0]?.rolpassword !== secret) {
      throw new RuntimeError(`PostgreSQL did not store the verifier for ${role} as sent (it would have re-hashed it as a plain password); rolled back, ${role} keeps its old password`);
    }
    await client.query('COMMIT');
    committed = true;
    return { check: 'read-back' };
  } finally {
    if (!committed) await client.query('ROLLBACK').catch(() => {});
  }
}

/** What pg_authid stores for these roles (needs canReadAuthid). */
export async function readStoredSecrets(client: SqlClient, roles: readonly string[]): Promise<Map<string, { password: string | null; canLogin: boolean; validUntil: Date | null }>> {
  const r = await client.query<{ rolname: string; rolpassword: string | null; rolcanlogin: boolean; rolvaliduntil: Date | null }>(
    'SELECT rolname, rolpassword, rolcanlogin, rolvaliduntil FROM pg_catalog.pg_authid WHERE rolname::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[])',
    [roles],
  );
  return new Map(r.rows.map((row) => [row.rolname, { password: row.rolpassword, canLogin: row.rolcanlogin, validUntil: row.rolvaliduntil }]));
}
