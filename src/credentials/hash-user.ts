/**
 * `pgb-setup hash-user <username> [environment]`: one userlist line for a password, optionally
 * upserted into userlist.txt, set on PostgreSQL and made live in pgbouncer (a rotation).
 *
 * Rotation order, and why. pgbouncer checks a client against the userlist secret and then logs in
 * to PostgreSQL with keys taken from that client's SCRAM exchange, which only work when the server
 * holds the identical verifier. So the two sides must switch together:
 *
 *   0. everything that can fail without changing anything: read and parse userlist.txt, get the
 *      password, connect as the admin, find the role, find a way to reload pgbouncer;
 *   1. write userlist.txt (atomic). pgbouncer 1.17+ reads it only on reload, so this is staged:
 *      nothing live has changed yet, and it can be put back byte for byte;
 *   2. ALTER ROLE, with the stored verifier read back in the same transaction (rolled back unless
 *      identical). If this fails, step 1 is undone: nothing changed anywhere;
 *   3. reload pgbouncer right away. Between 2 and 3 (milliseconds) pgbouncer still has the old
 *      secret while PostgreSQL has the new one: pooled server connections keep working, only a new
 *      server login for this one user can fail; other users are not affected (pools are per user);
 *   4. log in through pgbouncer with the new password. This proves both sides agree, and it is
 *      needed: pgbouncer (1.18 and 1.24 alike) opens server connections with the SCRAM ClientKey
 *      cached from the last client that logged in as that user, and a reload does not clear it.
 *      Until a client logs in with the new password, every new server connection for the user is
 *      made with the old key and refused by PostgreSQL, after which the pool refuses even clients
 *      with the new password for server_login_retry seconds ("server login has been failing").
 *
 * Every step is reported on stderr; at the first failure the command stops and says which side
 * holds which secret and what to run.
 */
import { md5Secret } from '../auth/md5.js';
import { iterationsInRange, SCRAM_ITERATIONS_RANGE, scramSecret } from '../auth/scram.js';
import { formatUserlistEntry, validateUsername } from '../auth/userlist.js';
import type { Context } from '../system/context.js';
import { InputError, RuntimeError } from '../text/errors.js';
import { setting, type ResolvedConfig } from '../profile/resolve.js';
import { identifierProblem } from '../settings/values.js';
import { askSecretOnStderr, readNewPassword, type AskSecret } from '../system/password-input.js';
import type { ScramLoginResult, ScramLoginTarget } from '../system/scram-login.js';
import {
  adminCredentialsGiven,
  adminPassword,
  connectPg,
  describePg,
  errorText,
  isAuthFailure,
  localPeerTarget,
  resolvePgTarget,
  rootCause,
  type Connect,
  type PgAdminFlags,
  type PgTarget,
  type SqlClient,
} from '../facts/pg-admin.js';
import { resolvePgbouncerTarget, type PgbouncerFlags, type PgbouncerTarget } from './pgbouncer-target.js';
import { planReload, ReloadFailed, runReload, type ReloadPlan } from './reload.js';
import { canReadAuthid, lookupRole, setRoleSecret } from './server-role.js';
import { readUserlistFile, upsertedText, userlistPathFrom, writeUserlistText, type UserlistFile } from './userlist-file.js';

export type SecretMethod = 'scram-sha-256' | 'md5';

export interface HashUserOptions extends PgAdminFlags, PgbouncerFlags {
  method?: SecretMethod;
  iterations?: string;
  passwordStdin?: boolean;
  currentPasswordStdin?: boolean;
  userlist?: string | boolean;
  applyServer?: boolean;
  reload?: boolean;
}

/** Seams for tests: the prompt, the PostgreSQL/pgbouncer connections, the login-check timing. */
export interface HashUserDeps {
  ask: AskSecret;
  connect: Connect;
  loginTimeoutMs: number;
  sleep: (ms: number) => Promise<void>;
  /** Whether this process may act as the local postgres account (root). */
  isRoot: boolean;
  scramLogin: (target: ScramLoginTarget) => Promise<ScramLoginResult>;
}

const DEFAULT_DEPS: HashUserDeps = {
  ask: askSecretOnStderr,
  connect: connectPg,
  isRoot: process.getuid?.() === 0,
  scramLogin: async (t) => (await import('../system/scram-login.js')).scramLogin(t),
  loginTimeoutMs: 30_000,
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

/** PostgreSQL truncates longer role names (NAMEDATALEN - 1). */
const MAX_ROLE_BYTES = 63;

export function validateRoleName(name: string): void {
  validateUsername(name);
  if (Buffer.byteLength(name) > MAX_ROLE_BYTES) {
    throw new InputError(`user name is ${Buffer.byteLength(name)} bytes; PostgreSQL role names are at most ${MAX_ROLE_BYTES} bytes (longer ones are truncated)`, 'username');
  }
  // The same rule as database.user in a profile (ESC, U+0085, U+FFFD, edge spaces ...).
  const problem = identifierProblem(name);
  if (problem) throw new InputError(`user name ${problem}`, 'username');
}

function parseIterations(text: string | undefined): number {
  const t = text ?? '4096';
  if (!/^\d{1,10}$/.test(t) || !iterationsInRange(Number(t))) {
    throw new InputError(
      `--iterations: "${t.slice(0, 20)}" must be a whole number ${SCRAM_ITERATIONS_RANGE} (PostgreSQL's default is 4096; every login pays the rounds)`,
      '--iterations',
    );
  }
  return Number(t);
}

function makeSecret(user: string, password: string, method: SecretMethod, iterations: number): string {
  return method === 'md5' ? md5Secret(user, password) : scramSecret(password, { iterations });
}

/** Step lines on stderr: `[2/4] ...`. */
class Steps {
  private n = 0;
  constructor(private readonly total: number, private readonly ctx: Context) {}
  say(text: string): void {
    this.n++;
    this.ctx.stderr.write(`[${this.n}/${this.total}] ${text}\n`);
  }
}

function reloadHint(target: PgbouncerTarget): string {
  const ways = [`systemctl reload ${target.service}`];
  if (target.pidfile) ways.push(`kill -HUP "$(cat ${target.pidfile})"`);
  ways.push(`RELOAD on the admin console (psql -h ${target.host} -p ${target.port} -U <admin> pgbouncer -c RELOAD)`);
  return ways.join(', or ');
}

/** The secret's kind and cost, from the flags: checked before any profile is loaded. */
interface HashUserRequest {
  method: SecretMethod;
  iterations: number;
}

export function hashUserRequest(username: string, opts: HashUserOptions): HashUserRequest {
  // --- 0. everything that can fail before anything changes ---------------------------------
  validateRoleName(username);
  const method: SecretMethod = opts.method ?? 'scram-sha-256';
  if (method !== 'scram-sha-256' && method !== 'md5') throw new InputError(`--method: "${String(method)}" must be scram-sha-256 or md5`, '--method');
  const iterations = parseIterations(opts.iterations);
  if (method === 'md5' && opts.iterations !== undefined && opts.iterations !== '4096') {
    throw new InputError('--iterations applies to scram-sha-256 only; an MD5 secret has no iteration count', '--iterations');
  }
  return { method, iterations };
}

/** The userlist line printed, or written into userlist.txt and/or set on PostgreSQL (then reloaded and checked). */
export async function hashUser(username: string, config: ResolvedConfig | undefined, request: HashUserRequest, opts: HashUserOptions, ctx: Context, deps: Partial<HashUserDeps> = {}): Promise<number> {
  const d: HashUserDeps = { ...DEFAULT_DEPS, ...deps };
  const { method, iterations } = request;
  if (config && method === 'md5' && setting(config, 'auth_type') === 'scram-sha-256') {
    throw new InputError(
      `--method md5: the ${config.environment} profile has auth_type scram-sha-256, which cannot use MD5 secrets (pgbouncer: "user has MD5 secret"); keep the default scram-sha-256`,
      '--method',
    );
  }
  const userlistPath = userlistPathFrom(opts.userlist, config, ctx);
  if (opts.reload && !userlistPath) {
    throw new InputError('--reload: reloading pgbouncer only matters when userlist.txt changes; add --userlist FILE', '--reload');
  }
  const file: UserlistFile | undefined = userlistPath ? await readUserlistFile(ctx.system, userlistPath) : undefined;
  const bouncer = opts.reload || (opts.applyServer && userlistPath) ? resolvePgbouncerTarget(opts, ctx, config) : undefined;
  if (opts.currentPasswordStdin && !opts.applyServer) {
    throw new InputError('--current-password-stdin goes with --apply-server (it is the password hash-user logs in to PostgreSQL with)', '--current-password-stdin');
  }
  const server = opts.applyServer ? await serverConnection(username, opts, ctx, config, d) : undefined;
  const pgTarget: PgTarget | undefined = server?.target;
  const loginPassword = server?.mode === 'self' ? await readCurrentPassword(username, server.target, opts, ctx, d.ask) : undefined;

  const password = await readNewPassword(username, opts, ctx, d.ask);
  const secret = makeSecret(username, password, method, iterations);
  const line = formatUserlistEntry(username, secret);
  const newText = file ? upsertedText(file, username, secret) : undefined;

  if (!file && !opts.applyServer) {
    ctx.stdout.write(`${line}\n`);
    return 0;
  }

  let admin: SqlClient | undefined;
  try {
    let readable = false;
    if (pgTarget) {
      if (loginPassword !== undefined) {
        try {
          admin = await d.connect(pgTarget, loginPassword);
        } catch (e) {
          if (isAuthFailure(rootCause(e))) {
            throw new InputError(`PostgreSQL ${describePg(pgTarget)} refused the current password of ${username} (${errorText(rootCause(e))}); nothing was changed`, 'current password');
          }
          throw e;
        }
      } else {
        admin = await d.connect(pgTarget, adminPassword(pgTarget, ctx, d.ask));
      }
      const role = await lookupRole(admin, username);
      if (!role) {
        throw new RuntimeError(`role ${username} does not exist on PostgreSQL ${describePg(pgTarget)}; create it first (CREATE ROLE ... LOGIN); nothing was changed`);
      }
      if (!role.canLogin) ctx.stderr.write(`warning: role ${username} is NOLOGIN on PostgreSQL: it cannot log in with any password\n`);
      readable = await canReadAuthid(admin);
      if (method === 'md5') {
        ctx.stderr.write(`warning: an MD5 secret logs in only where pg_hba.conf says md5 (PostgreSQL 14+ defaults to scram-sha-256, and PostgreSQL 18 deprecates MD5 passwords)\n`);
      }
    }
    let reloadPlan: ReloadPlan | undefined;
    if (opts.reload && bouncer) reloadPlan = await planReload(bouncer, ctx, d.connect);
    if (reloadPlan && bouncer && pgTarget && !bouncer.loginDb) bouncer.loginDb = await discoverLoginDb(bouncer, d.connect);

    const total = (file ? 1 : 0) + (pgTarget ? 1 : 0) + (reloadPlan ? 1 : 0) + (reloadPlan && pgTarget && bouncer?.loginDb ? 1 : 0);
    const steps = new Steps(total, ctx);

    // --- 1. stage userlist.txt --------------------------------------------------------------
    const existed = file?.parsed.entries.some((e) => e.user === username) ?? false;
    if (file && newText !== undefined) {
      if (newText === file.text) {
        steps.say(`${file.path}: ${username} already has exactly this secret`);
      } else {
        await writeUserlistText(ctx.system, file, newText);
        const modeNote = file.stat.mode !== 0o600 ? ` (mode ${file.stat.mode.toString(8).padStart(4, '0')} -> 0600)` : '';
        steps.say(`${file.path}: ${username} ${existed ? 'replaced' : 'added'}${modeNote}${pgTarget || reloadPlan ? '; pgbouncer reads it at its next reload' : ''}`);
      }
    }

    // --- 2. PostgreSQL ------------------------------------------------------------------------
    if (pgTarget && admin) {
      try {
        const r = await setRoleSecret(admin, username, secret, readable);
        steps.say(
          r.check === 'read-back'
            ? `PostgreSQL ${describePg(pgTarget)}: ALTER ROLE ${username}; pg_authid holds exactly the new verifier`
            : `PostgreSQL ${describePg(pgTarget)}: ALTER ROLE ${username}${server?.mode === 'self' ? ` as ${username} itself` : ''} (${pgTarget.user} cannot read pg_authid to compare; checking with a login instead)`,
        );
        if (r.check === 'unverified') {
          if (method === 'scram-sha-256') await checkStoredByLogin(pgTarget, username, password, secret, ctx, d);
          else await checkDirectLogin(pgTarget, username, password, ctx, d);
        }
      } catch (e) {
        throw await undoStagedUserlist(e, file, newText, username, ctx);
      }
    }

    // --- 3. reload pgbouncer --------------------------------------------------------------------
    if (reloadPlan && bouncer) {
      let how: string;
      try {
        const outcome = await runReload(reloadPlan);
        how = outcome.method;
        steps.say(`pgbouncer reloaded: ${how}`);
      } catch (e) {
        throw new RuntimeError(
          `${(e as Error).message}\n` +
            `state: ${pgTarget ? 'PostgreSQL and ' : ''}${file!.path} ${pgTarget ? 'both have' : 'has'} the NEW secret of ${username}, but the running pgbouncer ${e instanceof ReloadFailed && e.unconfirmed ? 'may still have the OLD one (its reload is unconfirmed)' : 'still has the OLD one'}` +
            `${pgTarget ? ` (clients with the new password are refused, new server connections for ${username} fail)` : ''}; reload pgbouncer now: ${reloadHint(bouncer)}`,
        );
      }
      // --- 4. log in through pgbouncer ------------------------------------------------------------
      if (bouncer.loginDb && pgTarget) {
        const where = describePg({ host: bouncer.host, port: bouncer.port, user: username, database: bouncer.loginDb });
        const err = await loginThroughPgbouncer(bouncer, username, password, d);
        if (err) {
          throw new RuntimeError(
            `logging in through pgbouncer as ${where} with the new password failed: ${err}\n` +
              `state: ${pgTarget ? 'PostgreSQL and ' : ''}${file!.path} have the NEW secret of ${username} and pgbouncer was reloaded (${how}); ` +
              `check that this pgbouncer's auth_file is ${file!.path} and that ${username} may connect to ${bouncer.loginDb}`,
          );
        }
        steps.say(`login through pgbouncer ${where} with the new password: ok`);
      } else if (pgTarget) {
        ctx.stderr.write(
          `warning: no database to log in to through pgbouncer (--login-db, or DBNAME), so the new password was not tried there. ` +
            `Until a client logs in as ${username} with the new password, pgbouncer opens server connections with the old SCRAM key, and they fail\n`,
        );
      }
    }

    // --- what is still out of step, said out loud ---------------------------------------------------
    if (file && pgTarget && !reloadPlan) {
      ctx.stderr.write(
        `warning: PostgreSQL and ${file.path} have the NEW secret of ${username}, but pgbouncer has not been reloaded and still checks the OLD one; ` +
          `new server connections for ${username} fail until it is. Reload it now${bouncer ? `: ${reloadHint(bouncer)}` : ''} (or re-run with --reload)\n`,
      );
    } else if (file && !pgTarget) {
      ctx.stderr.write(
        `${reloadPlan ? 'warning' : 'note'}: PostgreSQL still has its own password for ${username}; pgbouncer can log in to the server with a SCRAM secret from userlist.txt only when PostgreSQL holds the identical verifier: set it with --apply-server\n`,
      );
    } else if (!file && pgTarget) {
      ctx.stderr.write(`note: if a pgbouncer has ${username} in its userlist.txt, update it too (--userlist FILE --reload), or its logins for ${username} fail\n`);
    }
  } finally {
    await admin?.end().catch(() => {});
  }
  ctx.stdout.write(`${line}\n`);
  return 0;
}

/** A database to log in to through pgbouncer, from the admin console's SHOW DATABASES. */
async function discoverLoginDb(bouncer: PgbouncerTarget, connect: Connect): Promise<string | undefined> {
  if (!bouncer.console) return undefined;
  try {
    const c = await connect({ host: bouncer.host, port: bouncer.port, user: bouncer.console.user, database: 'pgbouncer' }, bouncer.console.password);
    try {
      const r = await c.query<{ name: string }>('SHOW DATABASES');
      return r.rows.map((row) => row.name).find((n) => n && n !== 'pgbouncer');
    } finally {
      await c.end().catch(() => {});
    }
  } catch {
    return undefined;
  }
}

/** After a failed ALTER: put the staged userlist back, and say exactly what state things are in. */
async function undoStagedUserlist(e: unknown, file: UserlistFile | undefined, newText: string | undefined, user: string, ctx: Context): Promise<Error> {
  const why = e instanceof Error ? e.message : String(e);
  if (!file || newText === undefined || newText === file.text) {
    return new RuntimeError(`${why}\nstate: nothing changed; PostgreSQL keeps the old password of ${user}`);
  }
  try {
    await writeUserlistText(ctx.system, file, file.text);
  } catch (restoreError) {
    return new RuntimeError(
      `${why}\nstate: ${file.path} has the NEW secret of ${user} but PostgreSQL still has the OLD one, and putting the old file back failed (${(restoreError as Error).message}); ` +
        `do NOT reload pgbouncer until they agree: re-run this command once PostgreSQL accepts it, or put ${user}'s previous line back into ${file.path}`,
    );
  }
  return new RuntimeError(`${why}\nstate: nothing changed; PostgreSQL keeps the old password of ${user} and ${file.path} was put back as it was`);
}

type ServerMode = 'admin' | 'peer' | 'self';

/**
 * Who hash-user --apply-server logs in to PostgreSQL as:
 *  - admin: PG* credentials were given (PGUSER/--pg-user, PGPASSWORD); as before;
 *  - peer:  as root on the PostgreSQL host with none given, the local postgres account (no password);
 *  - self:  otherwise, or with --current-password-stdin, the role itself with its current password
 *           (PostgreSQL lets a role set its own password), so rotation needs no superuser password.
 */
async function serverConnection(username: string, opts: HashUserOptions, ctx: Context, config: ResolvedConfig | undefined, d: HashUserDeps): Promise<{ mode: ServerMode; target: PgTarget }> {
  const explicitUser = opts.pgUser ?? ctx.env['PGUSER'];
  if (opts.currentPasswordStdin) {
    if (adminCredentialsGiven(opts, ctx) || explicitUser !== undefined) {
      throw new InputError('--current-password-stdin logs in as the role itself; leave out PGUSER/--pg-user and PGPASSWORD (they name an admin login)', '--current-password-stdin');
    }
  } else {
    if (adminCredentialsGiven(opts, ctx)) return { mode: 'admin', target: resolvePgTarget(opts, ctx, config) };
    const peer = await localPeerTarget(opts, ctx, config, d.isRoot);
    if (peer) return { mode: 'peer', target: peer };
    if (explicitUser !== undefined) return { mode: 'admin', target: resolvePgTarget(opts, ctx, config) };
  }
  const base = resolvePgTarget(opts, ctx, config);
  return { mode: 'self', target: { ...base, user: username, database: opts.pgDatabase ?? ctx.env['PGDATABASE'] ?? config?.profile.database.name ?? 'postgres' } };
}

async function readCurrentPassword(username: string, target: PgTarget, opts: HashUserOptions, ctx: Context, ask: AskSecret): Promise<string> {
  if (opts.currentPasswordStdin) {
    const line = await ctx.readStdin();
    if (line === '') {
      throw new InputError(`--current-password-stdin: standard input was empty; pipe ${username}'s current password as the first line (and the new one as the second with --password-stdin)`, '--current-password-stdin');
    }
    return line;
  }
  if (!ctx.isTTY) {
    throw new InputError(
      `--apply-server without admin credentials logs in to PostgreSQL ${describePg(target)} as ${username} with its current password, and there is no terminal to ask at: ` +
        `pipe it with --current-password-stdin (printf '%s\\n%s\\n' "$CURRENT" "$NEW" | pgb-setup hash-user ${username} --apply-server --current-password-stdin --password-stdin), ` +
        'or run as root on the PostgreSQL host (the local postgres account needs no password), or set PGUSER and PGPASSWORD of an admin role',
      '--current-password-stdin',
    );
  }
  return ask(`Current password of ${username} on PostgreSQL ${describePg(target)}:`);
}

/**
 * When pg_authid is not readable and the secret is SCRAM: log in as the user with the new
 * password over SCRAM; a completed exchange with the new salt and count proves PostgreSQL stores
 * exactly the verifier we sent, as a read-back would.
 */
async function checkStoredByLogin(pgTarget: PgTarget, user: string, password: string, secret: string, ctx: Context, d: HashUserDeps): Promise<void> {
  const r = await d.scramLogin({ host: pgTarget.host, port: pgTarget.port, user, database: pgTarget.database, password });
  if (r.kind === 'verifier' && r.verifier === secret) {
    ctx.stderr.write(`PostgreSQL ${describePg({ ...pgTarget, user })}: a SCRAM login with the new password proves it holds exactly the new verifier
`);
    return;
  }
  if (r.kind === 'verifier' || r.kind === 'refused') {
    throw new RuntimeError(`PostgreSQL does not hold the verifier that was sent for ${user} after ALTER ROLE (a login with the new password ${r.kind === 'refused' ? 'was refused' : 'showed another salt'}); this should not happen with a well-formed verifier`);
  }
  ctx.stderr.write(`warning: could not check the new verifier by logging in to ${describePg({ ...pgTarget, user })}: ${r.kind === 'other-method' ? `the server asks for ${r.method}` : r.kind === 'no-password-asked' ? 'the server asks for no password' : r.message}
`);
}

/** When pg_authid is not readable: prove the new password works by logging in as the user. */
async function checkDirectLogin(pgTarget: PgTarget, user: string, password: string, ctx: Context, d: HashUserDeps): Promise<void> {
  const target = { ...pgTarget, user };
  try {
    const c = await d.connect(target, password);
    await c.end().catch(() => {});
  } catch (e) {
    const cause = rootCause(e);
    if (isAuthFailure(cause)) {
      throw new RuntimeError(`PostgreSQL refuses the new password for ${user} after ALTER ROLE (${errorText(cause)}); this should not happen with a well-formed verifier`);
    }
    ctx.stderr.write(`warning: could not check the new password by logging in to ${describePg(target)}: ${errorText(cause)}\n`);
  }
}

/**
 * Logs in through pgbouncer with the new password, retrying while the reload is still being
 * processed (a signal is only delivered, not acknowledged). Returns undefined or the last error.
 */
async function loginThroughPgbouncer(bouncer: PgbouncerTarget, user: string, password: string, d: HashUserDeps): Promise<string | undefined> {
  const deadline = Date.now() + d.loginTimeoutMs;
  let last = '';
  for (;;) {
    try {
      const c = await d.connect({ host: bouncer.host, port: bouncer.port, user, database: bouncer.loginDb! }, password);
      try {
        await c.query('SELECT 1');
      } finally {
        await c.end().catch(() => {});
      }
      return undefined;
    } catch (e) {
      last = errorText(rootCause(e));
    }
    if (Date.now() >= deadline) return last;
    await d.sleep(200);
  }
}
