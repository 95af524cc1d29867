/** Where the running pgbouncer is and how to reload it: flags, then the profile, then the environment. */
import { resolve } from 'node:path';
import { connectHostFor, settingList } from '../settings/listen.js';
import type { Context } from '../system/context.js';
import { InputError } from '../text/errors.js';
import { setting, type ResolvedConfig } from '../profile/resolve.js';
import { parsePort } from '../settings/port.js';

export interface PgbouncerFlags {
  pgbouncerHost?: string;
  pgbouncerPort?: string;
  adminUser?: string;
  service?: string;
  pidfile?: string;
  loginDb?: string;
}

export interface PgbouncerTarget {
  /** Address, or the unix socket directory. */
  host: string;
  port: number;
  /** Admin console login for RELOAD, when both user and password are known. */
  console: { user: string; password: string } | undefined;
  /** Why the console is not used (for the report), when it is not. */
  consoleMissing: string | undefined;
  service: string;
  pidfile: string | undefined;
  /** Database to test the new password through pgbouncer; undefined = no login check. */
  loginDb: string | undefined;
}

const ADMIN_PASSWORD_ENV = 'PGBOUNCER_ADMIN_PASSWORD';


export function resolvePgbouncerTarget(flags: PgbouncerFlags, ctx: Context, config?: ResolvedConfig): PgbouncerTarget {
  let host: string | undefined;
  let port: number | undefined;
  if (config) {
    host = connectHostFor(settingList(setting(config, 'listen_addr')));
    const dir = setting(config, 'unix_socket_dir');
    if (!host && typeof dir === 'string' && dir.startsWith('/')) host = dir;
    const p = setting(config, 'listen_port');
    if (p !== undefined) port = Number(p);
  } else {
    host = connectHostFor(ctx.env['PGBOUNCER_HOST'] ? [ctx.env['PGBOUNCER_HOST']] : []);
    if (ctx.env['PGBOUNCER_PORT']) port = parsePort(ctx.env['PGBOUNCER_PORT'], 'PGBOUNCER_PORT');
  }
  if (flags.pgbouncerHost) host = flags.pgbouncerHost;
  if (flags.pgbouncerPort) port = parsePort(flags.pgbouncerPort, '--pgbouncer-port');

  const user = flags.adminUser ?? (config ? settingList(setting(config, 'admin_users'))[0] : undefined);
  const password = ctx.env[ADMIN_PASSWORD_ENV];
  let consoleLogin: PgbouncerTarget['console'];
  let consoleMissing: string | undefined;
  if (!user) consoleMissing = 'no admin console user (--admin-user, or admin_users in the profile)';
  else if (password === undefined) consoleMissing = `no password for admin console user ${user} (set ${ADMIN_PASSWORD_ENV})`;
  else consoleLogin = { user, password };

  const pidSetting = config ? setting(config, 'pidfile') : undefined;
  const pidfile = flags.pidfile ? resolve(ctx.cwd, flags.pidfile) : typeof pidSetting === 'string' ? pidSetting : undefined;
  const loginDb = flags.loginDb ?? config?.profile.database.name ?? ctx.env['DBNAME'];
  const service = flags.service ?? 'pgbouncer';
  if (!/^[A-Za-z0-9@_.:-]+$/.test(service)) throw new InputError(`--service: "${service}" is not a systemd unit name`, '--service');
  return { host: host ?? '127.0.0.1', port: port ?? 6432, console: consoleLogin, consoleMissing, service, pidfile, loginDb };
}
