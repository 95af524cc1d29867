/**
 * The PostgreSQL admin connection for --apply-server, `users check` and `auth-query`: flags, then
 * the usual PG* variables, then the profile. node-postgres runs in this process, so no password
 * ever reaches a child's argv; the admin password comes from PGPASSWORD or a hidden prompt, and
 * only when the server asks for one.
 */
import type { Socket } from 'node:net';
import type { Client } from 'pg';
import type { Context } from '../system/context.js';
import { InputError, RuntimeError } from '../text/errors.js';
import type { ResolvedConfig } from '../profile/resolve.js';
import { openClient } from '../system/pg-client.js';
import type { OsAccount } from '../system/os-user-socket.js';
import { askSecretOnStderr, type AskSecret } from '../system/password-input.js';
import { getentPasswd } from '../system/getent.js';
import { UNREACHABLE_CODES } from '../system/net.js';
import { parsePort } from '../settings/port.js';
import { printableLine } from '../text/printable.js';
import { isLoopbackHost } from '../settings/listen.js';

export interface PgAdminFlags {
  pgHost?: string;
  pgPort?: string;
  pgUser?: string;
  pgDatabase?: string;
}

export interface PgTarget {
  host: string;
  port: number;
  user: string;
  database: string;
  /** Connect over the unix socket in `host` as this OS account (peer authentication), see localPeerTarget. */
  osUser?: OsAccount;
}

/** The little of pg.Client the credential code uses (so tests can hand in a fake). */
export interface SqlClient {
  query<R extends Record<string, unknown> = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: R[] }>;
  end(): Promise<void>;
}

export type PasswordProvider = () => Promise<string | undefined>;
export type Connect = (target: PgTarget, password: PasswordProvider | string) => Promise<SqlClient>;

export function describePg(t: Pick<PgTarget, 'host' | 'port'> & Partial<PgTarget>): string {
  const where = t.host.startsWith('/') ? `${t.host}/.s.PGSQL.${t.port}` : `${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}`;
  return `${t.user ? `${t.user}@` : ''}${where}${t.database ? `/${t.database}` : ''}${t.osUser ? ` (as the ${t.osUser.name} OS account)` : ''}`;
}

function portFrom(flags: PgAdminFlags, ctx: Context, config?: ResolvedConfig): number {
  const portText = flags.pgPort ?? ctx.env['PGPORT'];
  return portText !== undefined ? parsePort(portText, flags.pgPort !== undefined ? '--pg-port' : 'PGPORT') : (config?.profile.database.port ?? 5432);
}

export function resolvePgTarget(flags: PgAdminFlags, ctx: Context, config?: ResolvedConfig): PgTarget {
  const env = ctx.env;
  const host = flags.pgHost ?? env['PGHOST'] ?? config?.profile.database.host ?? 'localhost';
  const port = portFrom(flags, ctx, config);
  const user = flags.pgUser ?? env['PGUSER'] ?? 'postgres';
  const database = flags.pgDatabase ?? env['PGDATABASE'] ?? 'postgres';
  return { host, port, user, database };
}

/** Where packaged PostgreSQL puts its unix socket: Debian/Ubuntu, RHEL/Fedora, upstream's default. */
const LOCAL_SOCKET_DIRS = ['/var/run/postgresql', '/run/postgresql', '/tmp'];

/** Whether the command line or the environment names an admin role or password (PG* credentials). */
export function adminCredentialsGiven(flags: PgAdminFlags, ctx: Context): boolean {
  const user = flags.pgUser ?? ctx.env['PGUSER'];
  return ctx.env['PGPASSWORD'] !== undefined || (user !== undefined && user !== 'postgres');
}

async function lookupAccount(ctx: Context, name: string): Promise<OsAccount | undefined> {
  const pw = await getentPasswd(ctx.system, name);
  return pw ? { name, uid: pw.uid, gid: pw.gid } : undefined;
}

/**
 * `sudo -u postgres psql`, for admin work as root on the PostgreSQL host: when pgb-setup runs as
 * root, no PG* credentials are given (no PGPASSWORD, PGUSER unset or postgres), and PostgreSQL is
 * local (PGHOST or --pg-host a socket folder, or the profile's DBHOST a loopback name or unset) with
 * its socket in a known folder, connect over that socket as the `postgres` OS account, which
 * pg_hba.conf's default `local all postgres peer` lets in without a password.
 */
export async function localPeerTarget(flags: PgAdminFlags, ctx: Context, config?: ResolvedConfig, isRoot = process.getuid?.() === 0): Promise<PgTarget | undefined> {
  if (!isRoot || adminCredentialsGiven(flags, ctx)) return undefined;
  const explicitHost = flags.pgHost ?? ctx.env['PGHOST'];
  const dbHost = config?.profile.database.host;
  let dirs: string[];
  if (explicitHost !== undefined) {
    if (!explicitHost.startsWith('/')) return undefined;
    dirs = [explicitHost];
  } else if (dbHost?.startsWith('/')) {
    dirs = [dbHost];
  } else if (dbHost === undefined || isLoopbackHost(dbHost)) {
    dirs = LOCAL_SOCKET_DIRS;
  } else {
    return undefined;
  }
  const port = portFrom(flags, ctx, config);
  let dir: string | undefined;
  for (const d of dirs) {
    if (await ctx.system.exists(`${d.replace(/\/+$/, '')}/.s.PGSQL.${port}`)) {
      dir = d.replace(/\/+$/, '') || '/';
      break;
    }
  }
  if (!dir) return undefined;
  const account = await lookupAccount(ctx, 'postgres');
  if (!account) return undefined;
  return { host: dir, port, user: 'postgres', database: flags.pgDatabase ?? ctx.env['PGDATABASE'] ?? 'postgres', osUser: account };
}

/** The admin connection: the local postgres account when localPeerTarget applies, else resolvePgTarget. */
export async function resolveAdminTarget(flags: PgAdminFlags, ctx: Context, config?: ResolvedConfig): Promise<PgTarget> {
  return (await localPeerTarget(flags, ctx, config)) ?? resolvePgTarget(flags, ctx, config);
}

/**
 * The admin password, asked for only when the server wants one: PGPASSWORD, else a hidden prompt
 * on a terminal, else an InputError naming PGPASSWORD.
 */
export function adminPassword(target: PgTarget, ctx: Context, ask: AskSecret = askSecretOnStderr): PasswordProvider {
  let cached: string | undefined;
  return async () => {
    const fromEnv = ctx.env['PGPASSWORD'];
    if (fromEnv !== undefined) return fromEnv;
    if (cached !== undefined) return cached;
    if (!ctx.isTTY) {
      const why = target.osUser ? `; its pg_hba.conf does not let the ${target.osUser.name} OS account in by peer` : '';
      throw new InputError(
        `PostgreSQL asks for a password for ${describePg(target)}${why}: set PGPASSWORD in the environment (no terminal to ask at; passwords are never taken as arguments, and ~/.pgpass is not read)`,
        'PGPASSWORD',
      );
    }
    cached = await ask(`PostgreSQL password for ${describePg(target)}:`);
    return cached;
  };
}

/** A PostgreSQL/pgbouncer error as one line, with its SQLSTATE when there is one. */
export function errorText(e: unknown): string {
  const err = e as { message?: string; code?: string };
  const msg = printableLine(err?.message ?? String(e));
  return err?.code && /^[0-9A-Z]{5}$/.test(err.code) ? `${msg} (SQLSTATE ${err.code})` : msg;
}

/** True for "the password (or user) was refused" as opposed to "could not get there". */
export function isAuthFailure(e: unknown): boolean {
  const code = (e as { code?: string })?.code;
  return code === '28P01' || code === '28000' || /password authentication failed|SASL authentication failed|no such user|not allowed/i.test((e as Error)?.message ?? '');
}

/** Connects with node-postgres. Failures become RuntimeError (exit 1) naming the target and the fix. */
export const connectPg: Connect = async (target, password) => {
  let client: Client;
  try {
    let stream: (() => Socket) | undefined;
    if (target.osUser) {
      const { asConnectedStream, connectAsOsUser } = await import('../system/os-user-socket.js');
      const socket = asConnectedStream(await connectAsOsUser(`${target.host}/.s.PGSQL.${target.port}`, target.osUser));
      stream = () => socket;
    }
    client = await openClient({
      host: target.host,
      port: target.port,
      user: target.user,
      database: target.database,
      password: password as string | (() => Promise<string>),
      ...(stream ? { stream, ssl: false } : {}),
    });
  } catch (e) {
    if (e instanceof InputError || e instanceof RuntimeError) throw e;
    throw connectError(e, target);
  }
  return client as unknown as SqlClient;
};

function connectError(e: unknown, target: PgTarget): RuntimeError {
  const code = (e as { code?: string })?.code;
  const where = describePg(target);
  let err: RuntimeError;
  if (code && UNREACHABLE_CODES.has(code)) {
    err = new RuntimeError(`cannot reach ${where}: ${errorText(e)}; set PGHOST/PGPORT (or --pg-host/--pg-port)`);
  } else if (isAuthFailure(e)) {
    err = new RuntimeError(`login refused at ${where}: ${errorText(e)}; check PGUSER and PGPASSWORD (or --pg-user)`);
  } else {
    err = new RuntimeError(`cannot connect to ${where}: ${errorText(e)}`);
  }
  err.cause = e;
  return err;
}

/** The driver's own error behind a RuntimeError from connectPg (for messages about other targets). */
export function rootCause(e: unknown): unknown {
  return (e as { cause?: unknown })?.cause ?? e;
}

/** `"name"` with embedded quotes doubled: a safe SQL identifier for any role name. */
export function quoteIdent(name: string): string {
  if (name.includes('\0')) throw new InputError('an identifier cannot contain a NUL character', 'identifier');
  return `"${name.replaceAll('"', '""')}"`;
}

/** A standard-conforming string literal (quotes doubled; backslashes are literal with standard_conforming_strings=on). */
export function quoteLiteral(text: string): string {
  if (text.includes('\0')) throw new InputError('a SQL string cannot contain a NUL character', 'literal');
  if (text.includes('\\')) return `E'${text.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
  return `'${text.replaceAll("'", "''")}'`;
}
