/**
 * Where the admin console is and who logs in to it, from the resolved profile, the flags and the
 * environment. Passwords never come from argv: DBPASS when the console user is DBUSER, else the
 * environment variable named by --password-env (default PGPASSWORD).
 */
import type { Context } from '../system/context.js';
import { connectHostFor, settingList } from '../settings/listen.js';
import { InputError } from '../text/errors.js';
import { setting, type ResolvedConfig } from '../profile/resolve.js';
import { parsePort } from '../settings/port.js';
import type { ConsoleTarget } from './console.js';

export interface ConsoleFlags {
  host?: string;
  port?: string;
  user?: string;
  passwordEnv?: string;
  timeout?: string;
}

export interface ResolvedTarget extends ConsoleTarget {
  /** Where the password came from (for messages); never the password. */
  passwordSource: string;
  /** Where host/port/user came from (for messages). */
  source: string;
}

export function parseTimeoutMs(value: string | undefined, fallbackSeconds: number): number {
  if (value === undefined) return fallbackSeconds * 1000;
  const n = /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isFinite(n) || n < 0.1 || n > 300) throw new InputError(`--timeout: "${value}" must be a number of seconds from 0.1 to 300`, '--timeout');
  return Math.round(n * 1000);
}

/** Where pgbouncer listens according to the profile: TCP first, else the unix socket. */
export function listenTarget(config: ResolvedConfig): { host: string; port: number } | undefined {
  const port = Number(setting(config, 'listen_port') ?? 6432);
  const tcp = connectHostFor(settingList(setting(config, 'listen_addr')));
  if (tcp) return { host: tcp, port };
  const dir = setting(config, 'unix_socket_dir');
  if (typeof dir === 'string' && dir.startsWith('/')) return { host: dir, port };
  return undefined;
}

/** The users the profile lets read the console, read-only ones first (least privilege). */
export function consoleUserCandidates(config: ResolvedConfig): string[] {
  return [...new Set([...settingList(setting(config, 'stats_users')), ...settingList(setting(config, 'admin_users'))])];
}

function passwordFor(user: string, config: ResolvedConfig | undefined, flags: ConsoleFlags, ctx: Context): { password: string | undefined; source: string } {
  const dbUser = config ? config.profile.database.user : ctx.env['DBUSER'];
  if (dbUser && user === dbUser) {
    const pw = config ? config.profile.database.password?.reveal() : ctx.env['DBPASS'];
    if (pw !== undefined) return { password: pw, source: 'DBPASS' };
  }
  const envName = flags.passwordEnv ?? 'PGPASSWORD';
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(envName)) throw new InputError(`--password-env: "${envName}" is not an environment variable name`, '--password-env');
  const pw = ctx.env[envName];
  return pw !== undefined ? { password: pw, source: envName } : { password: undefined, source: `none (${envName} is not set)` };
}

/**
 * The console target. With a profile: its listen address and its stats_users/admin_users (the
 * first one we have a password for). Without: --host/--port, PGBOUNCER_HOST/PGBOUNCER_PORT, DBUSER.
 */
export function resolveConsoleTarget(config: ResolvedConfig | undefined, flags: ConsoleFlags, ctx: Context, defaultTimeoutSeconds = 5): ResolvedTarget {
  const timeoutMs = parseTimeoutMs(flags.timeout, defaultTimeoutSeconds);
  let host: string | undefined;
  let port: number | undefined;
  let source: string;
  if (config) {
    const listen = listenTarget(config);
    host = listen?.host;
    port = listen?.port;
    source = `profile ${config.environment}`;
  } else {
    host = ctx.env['PGBOUNCER_HOST'] ? connectHostFor([ctx.env['PGBOUNCER_HOST']]) : '127.0.0.1';
    port = ctx.env['PGBOUNCER_PORT'] ? parsePort(ctx.env['PGBOUNCER_PORT'], 'PGBOUNCER_PORT') : 6432;
    source = 'environment';
  }
  if (flags.host) host = flags.host;
  if (flags.port) port = parsePort(flags.port, '--port');
  if (!host || port === undefined) {
    throw new InputError('--host: the profile has neither listen_addr nor unix_socket_dir; pass --host (an address, or the socket directory)', '--host');
  }

  let user = flags.user;
  if (!user) {
    const candidates = config ? consoleUserCandidates(config) : [];
    if (!config && ctx.env['DBUSER']) candidates.push(ctx.env['DBUSER']);
    user = candidates.find((u) => passwordFor(u, config, flags, ctx).password !== undefined) ?? candidates[0];
  }
  if (!user) {
    throw new InputError('--user: no console user: the profile lists no stats_users or admin_users; pass --user (and its password in PGPASSWORD)', '--user');
  }
  const pw = passwordFor(user, config, flags, ctx);
  const socketDir = config ? setting(config, 'unix_socket_dir') : undefined;
  const socketFallback = !flags.host && !host.startsWith('/') && typeof socketDir === 'string' && socketDir.startsWith('/') ? socketDir : undefined;
  return { host, port, user, password: pw.password, passwordSource: pw.source, timeoutMs, source, ...(socketFallback ? { socketFallback } : {}) };
}
