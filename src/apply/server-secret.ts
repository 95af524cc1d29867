import { RuntimeError } from '../errors.js';
import type { Client } from 'pg';
import { verifyScramPassword } from '../auth/scram.js';
import { openClient } from '../pg/open-client.js';

/**
 * Reads the verifier PostgreSQL stores for a role (needs a superuser, from the usual PG* variables)
 * so userlist.txt can hold the identical one: a SCRAM secret in userlist lets pgbouncer log in to
 * the server only when both sides hold the same salt and iterations.
 */
export async function readServerVerifier(env: Readonly<Record<string, string | undefined>>, role: string, password: string): Promise<string> {
  let client: Client | undefined;
  try {
    client = await openClient({
      host: env['PGHOST'],
      port: env['PGPORT'] ? Number(env['PGPORT']) : undefined,
      user: env['PGUSER'],
      password: env['PGPASSWORD'],
      database: env['PGDATABASE'] ?? 'postgres',
    });
    const r = await client.query<{ rolpassword: string | null }>('SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = $1', [role]);
    const secret = r.rows[0]?.rolpassword;
    if (!secret) throw new RuntimeError(`--copy-server-secret: PostgreSQL has no password for role ${role}`);
    if (!secret.startsWith('SCRAM-SHA-256$') || !verifyScramPassword(secret, password)) {
      throw new RuntimeError(`--copy-server-secret: the secret PostgreSQL stores for ${role} does not match DBPASS (or is not SCRAM); set it with "pgb-setup hash-user ${role} --apply-server"`);
    }
    return secret;
  } catch (e) {
    if (e instanceof RuntimeError) throw e;
    throw new RuntimeError(`--copy-server-secret: cannot read pg_authid with the PG* admin credentials: ${(e as Error).message}`);
  } finally {
    await client?.end().catch(() => {});
  }
}
