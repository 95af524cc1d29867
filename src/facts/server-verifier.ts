import { RuntimeError } from '../text/errors.js';
import type { Context } from '../system/context.js';
import { scramSecretShape, SCRAM_ITERATIONS_RANGE, verifyScramPassword } from '../auth/scram.js';
import type { ResolvedConfig } from '../profile/resolve.js';
import { adminPassword, connectPg, describePg, errorText, resolveAdminTarget, rootCause, type SqlClient } from './pg-admin.js';

/**
 * --copy-server-secret: reads the verifier PostgreSQL stores for a role from pg_authid so
 * userlist.txt can hold the identical one. Needs a role that may read pg_authid: the PG* admin
 * credentials, or, as root on the PostgreSQL host with none given, the local postgres account (peer).
 * The main job does not need this: it takes the verifier by logging in as the role (server-alignment.ts).
 */
export async function readServerVerifier(ctx: Context, config: ResolvedConfig, role: string, password: string): Promise<string> {
  let client: SqlClient | undefined;
  const target = await resolveAdminTarget({}, ctx, config);
  try {
    try {
      client = await connectPg(target, adminPassword(target, ctx));
    } catch (e) {
      if (e instanceof RuntimeError) throw new RuntimeError(`--copy-server-secret: ${e.message}`);
      throw e;
    }
    const r = await client.query<{ rolpassword: string | null }>('SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname::pg_catalog.text OPERATOR(pg_catalog.=) $1', [role]);
    const secret = r.rows[0]?.rolpassword;
    if (!secret) throw new RuntimeError(`--copy-server-secret: PostgreSQL ${describePg(target)} has no password for role ${role}`);
    const shape = scramSecretShape(secret);
    if (shape && !shape.iterationsOk) {
      throw new RuntimeError(
        `--copy-server-secret: the SCRAM verifier PostgreSQL stores for ${role} has ${shape.iterationsText.slice(0, 14)} iterations, outside ${SCRAM_ITERATIONS_RANGE}; set a new one with "pgb-setup hash-user ${role} --apply-server"`,
      );
    }
    if (!shape || !verifyScramPassword(secret, password)) {
      throw new RuntimeError(`--copy-server-secret: the secret PostgreSQL stores for ${role} does not match DBPASS (or is not SCRAM); set it with "pgb-setup hash-user ${role} --apply-server"`);
    }
    return secret;
  } catch (e) {
    if (e instanceof RuntimeError || (e as { exitCode?: number }).exitCode !== undefined) throw e;
    throw new RuntimeError(`--copy-server-secret: cannot read pg_authid at ${describePg(target)}: ${errorText(rootCause(e))}`);
  } finally {
    await client?.end().catch(() => {});
  }
}
