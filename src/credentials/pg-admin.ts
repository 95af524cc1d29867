/**
 * The PostgreSQL admin connection for --apply-server, `users check` and `auth-query`: flags, then
 * the usual PG* variables, then the profile. node-postgres runs in this process, so no password
 * ever reaches a child's argv; the admin password comes from PGPASSWORD or a hidden prompt, and
 * only when the server asks for one.
 */
import type { Client } from 'pg';
import type { Context } from '../context.js';
import { InputError, RuntimeError } from '../errors.js';
import type { ResolvedConfig } from '../profile/resolve.js';
import { openClient } from '../pg/open-client.js';
import { askSecretOnStderr, type AskSecret } from './password-input.js';

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
}

/** The little of pg.Client the credential code uses (so tests can hand in a fake). */
export interface SqlClient {
  query<R extends Record<string, unknown> = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: R[] }>;
  end(): Promise<void>;
}

export type PasswordProvider = () => Promise<string | undefined>;
export type Connect = (target: PgTarget, password: PasswordProvider | string) => Promise<SqlClient>;

export function parsePort(value: string, what: string): number {
  if (!/^\d{1,5}$/.test(value.trim()) || Number(value) < 1 || Number(value) > 65535) {
    throw new InputError(`${what}: "${value}" is not a port (1-65535)`, what);
  }
  return Number(value);
}

export function describePg(t: Pick<PgTarget, 'host' | 'port'> & Partial<PgTarget>): string {
  const where = t.host.startsWith('/') ? `${t.host}/.s.PGSQL.${t.port}` : `${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}`;
  return `${t.user ? `${t.user}@` : ''}${where}${t.database ? `/${t.database}` : ''}`;
}

export function resolvePgTarget(flags: PgAdminFlags, ctx: Context, config?: ResolvedConfig): PgTarget {
  const env = ctx.env;
  const host = flags.pgHost ?? env['PGHOST'] ?? config?.profile.database.host ?? 'localhost';
  const portText = flags.pgPort ?? env['PGPORT'];
  const port = portText !== undefined ? parsePort(portText, flags.pgPort !== undefined ? '--pg-port' : 'PGPORT') : (config?.profile.database.port ?? 5432);
  const user = flags.pgUser ?? env['PGUSER'] ?? 'postgres';
  const database = flags.pgDatabase ?? env['PGDATABASE'] ?? 'postgres';
  return { host, port, user, database };
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
      throw new InputError(
        `PostgreSQL asks for a password for ${describePg(target)}: set PGPASSWORD in the environment (no terminal to ask at; passwords are never taken as arguments)`,
        'PGPASSWORD',
      );
    }
    cached = await ask(`PostgreSQL password for ${describePg(target)}:`);
    return cached;
  };
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOENT', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN']);

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

/** A PostgreSQL/pgbouncer error as one line, with its SQLSTATE when there is one. */
export function errorText(e: unknown): string {
  const err = e as { message?: string; code?: string };
  const msg = oneLine(err?.message ?? String(e));
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
    client = await openClient({
      host: target.host,
      port: target.port,
      user: target.user,
      database: target.database,
      password: password as string | (() => Promise<string>),
    });
  } catch (e) {
    if (e instanceof InputError || e instanceof RuntimeError) throw e;
    throw connectError(e, target);
  }
  return client as unknown as SqlClient;
};

export function connectError(e: unknown, target: PgTarget): RuntimeError {
  const code = (e as { code?: string })?.code;
  const where = describePg(target);
  let err: RuntimeError;
  if (code && UNREACHABLE.has(code)) {
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
