/**
 * `pgb-setup users check [environment]`: drift between userlist.txt and PostgreSQL. For every user
 * in the userlist, compares its secret with pg_authid.rolpassword and says match / differs /
 * missing, never printing a secret. Reading pg_authid needs a superuser, or on PostgreSQL 14+ a
 * role granted pg_read_all_data.
 */
import { isValidMd5Secret, verifyMd5Password } from '../auth/md5.js';
import { parseScramSecret, SCRAM_ITERATIONS_RANGE, scramSecretShape, verifyScramPassword } from '../auth/scram.js';
import type { ResolvedConfig } from '../profile/resolve.js';
import { formatTable } from '../text/output.js';
import type { Context } from '../system/context.js';
import { InputError, RuntimeError } from '../text/errors.js';
import { askSecretOnStderr, type AskSecret } from '../system/password-input.js';
import { adminPassword, connectPg, describePg, resolveAdminTarget, type Connect, type PgAdminFlags, type SqlClient } from '../facts/pg-admin.js';
import { canReadAuthid, readStoredSecrets } from './server-role.js';
import { readUserlistFile, userlistPathFrom } from './userlist-file.js';

export interface UsersCheckOptions extends PgAdminFlags {
  userlist?: string;
  json?: boolean;
}

type DriftStatus = 'match' | 'differs' | 'missing';

interface DriftResult {
  user: string;
  status: DriftStatus;
  /** Why, in words; never contains a secret. */
  detail: string;
  /** Line of the entry pgbouncer uses (the last one for the user). */
  line: number;
}

interface StoredRole {
  password: string | null;
  canLogin: boolean;
  validUntil: Date | null;
}

/** What kind of secret this is, without revealing it. */
export function describeSecret(secret: string): string {
  const shape = scramSecretShape(secret);
  if (shape?.iterationsOk) return `SCRAM-SHA-256 (${shape.iterationsText} iterations)`;
  // PostgreSQL's parser takes these as SCRAM (strtol, no range check): not plain text, and not computed here.
  if (shape) return `out-of-range SCRAM-SHA-256 (${shape.iterationsText.slice(0, 14)} iterations; pgb-setup handles ${SCRAM_ITERATIONS_RANGE}, set a new one with hash-user)`;
  if (isValidMd5Secret(secret)) return 'MD5';
  if (secret.startsWith('SCRAM-SHA-256$')) return 'malformed SCRAM-SHA-256 (taken as plain text)';
  return 'plain text';
}

/** Compares one userlist secret with what PostgreSQL stores for that role. Pure. */
export function compareSecret(user: string, listed: string, stored: StoredRole | undefined, now: Date = new Date()): Omit<DriftResult, 'line'> {
  if (!stored) return { user, status: 'missing', detail: 'no such role on PostgreSQL' };
  if (stored.password === null) return { user, status: 'missing', detail: 'the role has no password on PostgreSQL' };
  const server = stored.password;
  const notes: string[] = [];
  if (!stored.canLogin) notes.push('role is NOLOGIN');
  if (stored.validUntil && stored.validUntil.getTime() < now.getTime()) notes.push(`password expired (VALID UNTIL ${stored.validUntil.toISOString()})`);
  const note = notes.length ? `; ${notes.join('; ')}` : '';
  const listedKind = describeSecret(listed);
  const serverKind = describeSecret(server);

  if (listed === server) return { user, status: 'match', detail: `identical ${listedKind}${note}` };
  if (listedKind === 'plain text' && serverKind.startsWith('out-of-range')) {
    return { user, status: 'differs', detail: `PostgreSQL has an ${serverKind}; the plain-text password in userlist was not compared${note}` };
  }
  if (listedKind === 'plain text') {
    const ok = parseScramSecret(server) ? verifyScramPassword(server, listed) : isValidMd5Secret(server) ? verifyMd5Password(server, user, listed) : false;
    return ok
      ? { user, status: 'match', detail: `plain-text password in userlist matches the ${serverKind} on PostgreSQL${note}` }
      : { user, status: 'differs', detail: `plain-text password in userlist does not match the ${serverKind} on PostgreSQL${note}` };
  }
  if (listedKind === serverKind) {
    const why = parseScramSecret(listed) ? ' (another salt or password: pgbouncer cannot log in to the server with it)' : '';
    return { user, status: 'differs', detail: `different ${listedKind} verifier${why}${note}` };
  }
  return { user, status: 'differs', detail: `userlist has ${listedKind}, PostgreSQL has ${serverKind}${note}` };
}

/** A user name safe to print on a terminal (the one sanitiser every output uses). */
export { printable } from '../text/printable.js';
import { printable } from '../text/printable.js';

export interface UsersCheckDeps {
  ask: AskSecret;
  connect: Connect;
}

/** Every userlist.txt secret compared with PostgreSQL's; true when all match (none differs or is missing). */
export async function checkUsers(config: ResolvedConfig | undefined, opts: UsersCheckOptions, ctx: Context, deps: Partial<UsersCheckDeps> = {}): Promise<boolean> {
  const d: UsersCheckDeps = { ask: askSecretOnStderr, connect: connectPg, ...deps };
  const path = userlistPathFrom(opts.userlist ?? (config ? true : undefined), config, ctx);
  if (!path) throw new InputError('users check: give --userlist FILE, or an environment whose profile names the auth_file', '--userlist');
  const file = await readUserlistFile(ctx.system, path);
  // pgbouncer keeps the last entry of a user.
  const last = new Map<string, { secret: string; line: number }>();
  for (const e of file.parsed.entries) last.set(e.user, { secret: e.secret, line: e.line });

  const target = await resolveAdminTarget(opts, ctx, config);
  let client: SqlClient | undefined;
  let stored: Map<string, StoredRole>;
  try {
    client = await d.connect(target, adminPassword(target, ctx, d.ask));
    if (!(await canReadAuthid(client))) {
      throw new RuntimeError(
        `${target.user} cannot read pg_catalog.pg_authid, where PostgreSQL keeps the verifiers; connect as a superuser, or (PostgreSQL 14+) GRANT pg_read_all_data TO ${target.user}`,
      );
    }
    stored = await readStoredSecrets(client, [...last.keys()]);
  } finally {
    await client?.end().catch(() => {});
  }

  const results: DriftResult[] = [...last.entries()].map(([user, e]) => ({ ...compareSecret(user, e.secret, stored.get(user)), line: e.line }));
  const dupes = file.parsed.entries.length - last.size;
  if (opts.json) {
    ctx.stdout.write(`${JSON.stringify({ version: 1, userlist: path, server: describePg(target), users: results }, null, 2)}\n`);
  } else if (results.length === 0) {
    ctx.stderr.write(`${path} has no users\n`);
  } else {
    ctx.stdout.write(formatTable([['USER', 'STATUS', 'DETAIL'], ...results.map((r) => [printable(r.user), r.status, r.detail])]));
  }
  if (dupes > 0) ctx.stderr.write(`note: ${path} lists some users more than once; pgbouncer uses the last line of each, which is what was compared\n`);
  const bad = results.filter((r) => r.status !== 'match');
  ctx.stderr.write(
    bad.length === 0
      ? `${results.length} user(s) in ${path} match PostgreSQL ${describePg(target)}\n`
      : `${bad.length} of ${results.length} user(s) in ${path} do not match PostgreSQL ${describePg(target)}; set both sides with: pgb-setup hash-user <user> --userlist ${path} --apply-server --reload\n`,
  );
  return bad.length === 0;
}
