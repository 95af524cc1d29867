/** Live checks (skipped with --root): the service runs, the port listens, a login works, the console answers with the file's settings. */
import type { Client } from 'pg';
import { closeClient, openClient } from '../../system/pg-client.js';
import { pgbouncerProcess, pidFromFile } from '../../system/pgbouncer-process.js';
import type { ServiceUser } from '../../facts/distro/index.js';
import { setting } from '../../profile/resolve.js';
import type { System } from '../../system/system.js';
import type { IniFile } from '../ini-file.js';
import { ConsoleError, consoleSnapshot, describeTarget, str, type ConsoleResult } from '../console.js';
import { listenTarget, resolveConsoleTarget } from '../target.js';
import type { Check, Env } from './types.js';
import { probeConnect } from '../../system/net.js';
import { SSL_REQUIRED } from '../tls-expiry.js';

// ---- live checks ----------------------------------------------------------------------------

async function pidAlive(system: System, pid: number, ini: string): Promise<{ alive: boolean; notPgbouncer?: string }> {
  const found = await pgbouncerProcess(system, pid, ini);
  if (found.ok) return { alive: true };
  return found.gone ? { alive: false } : { alive: true, notPgbouncer: found.reason };
}

export async function checkService(env: Env, svc: ServiceUser | undefined): Promise<Check> {
  const id = 'service';
  const title = 'pgbouncer is running';
  const { system, paths, spec } = env;
  const startCmd = `pgbouncer -d${svc ? ` -u ${svc.user}` : ''} ${paths.ini}`;
  let pidInfo: { pid: number; alive: boolean; notPgbouncer?: string } | undefined;
  if (paths.pidfile) {
    const pid = await pidFromFile(system, paths.pidfile);
    if (pid !== undefined) pidInfo = { pid, ...(await pidAlive(system, pid, paths.ini)) };
  }
  const pidOk = pidInfo?.alive && !pidInfo.notPgbouncer;
  const systemd = await system.exists('/run/systemd/system');
  if (systemd && spec) {
    const unit = env.member?.unit ?? spec.serviceName;
    const r = await system.exec('systemctl', ['is-active', unit]);
    const state = r.stdout.trim() || 'unknown';
    if (state === 'active') return { id, title, status: 'pass', detail: `systemd: ${unit} is active` };
    if (pidOk) return { id, title, status: 'pass', detail: `running as pid ${pidInfo!.pid} (${paths.pidfile}), outside systemd (${unit} is ${state})` };
    return { id, title, status: 'fail', detail: `systemd: ${unit} is ${state}`, fix: `systemctl start ${unit}; journalctl -u ${unit} -n 50 shows why it stopped` };
  }
  if (!paths.pidfile) return { id, title, status: 'fail', detail: 'no systemd and the profile sets no pidfile, so the process cannot be found', fix: 'set pidfile in the profile and restart pgbouncer with it' };
  if (!pidInfo) {
    return { id, title, status: 'fail', detail: `no systemd; ${paths.pidfile} is missing or empty`, fix: `start it: ${startCmd}${spec?.family === 'debian' && !env.member ? ' (or /etc/init.d/pgbouncer start)' : ''}` };
  }
  if (!pidInfo.alive) return { id, title, status: 'fail', detail: `pid ${pidInfo.pid} from ${paths.pidfile} is not running (stale pidfile)`, fix: `start it: ${startCmd}` };
  if (!pidOk) return { id, title, status: 'fail', detail: `${pidInfo.notPgbouncer} (from ${paths.pidfile}: stale pidfile, pid reused)`, fix: `remove ${paths.pidfile} and start it: ${startCmd}` };
  return { id, title, status: 'pass', detail: `pid ${pidInfo.pid} from ${paths.pidfile} is alive (kill -0)` };
}

export async function checkListening(env: Env): Promise<Check> {
  const { config, timeoutMs } = env;
  const port = Number(setting(config, 'listen_port') ?? 6432);
  const ok: string[] = [];
  const bad: string[] = [];
  const tcp = listenTarget(config);
  if (tcp && !tcp.host.startsWith('/')) {
    const err = await probeConnect(tcp, timeoutMs);
    (err ? bad : ok).push(`${describeTarget(tcp)}${err ? ` (${err})` : ''}`);
  }
  const dir = setting(config, 'unix_socket_dir');
  if (typeof dir === 'string' && dir.startsWith('/')) {
    const path = `${dir}/.s.PGSQL.${port}`;
    const err = await probeConnect({ path }, timeoutMs);
    (err ? bad : ok).push(`${path}${err ? ` (${err})` : ''}`);
  }
  if (ok.length === 0 && bad.length === 0) return { id: 'listening', title: 'pgbouncer listens', status: 'fail', detail: 'the profile sets neither listen_addr nor unix_socket_dir', fix: 'set listen_addr (and listen_port) in the profile' };
  if (bad.length) {
    const logfile = setting(config, 'logfile');
    return {
      id: 'listening',
      title: 'pgbouncer listens',
      status: 'fail',
      detail: `nothing accepts connections on ${bad.join(', ')}${ok.length ? `; ${ok.join(', ')} answers` : ''}`,
      fix: `start pgbouncer, or read ${typeof logfile === 'string' && logfile ? logfile : 'its log'} for "Cannot listen"; listen_addr/listen_port changes need a restart, not a reload`,
    };
  }
  return { id: 'listening', title: 'pgbouncer listens', status: 'pass', detail: `accepts connections on ${ok.join(', ')}` };
}

export async function checkLogin(env: Env): Promise<Check> {
  const { config, timeoutMs, environment } = env;
  const id = 'login';
  const title = 'an app login through pgbouncer works';
  const db = config.profile.database;
  const target = listenTarget(config);
  if (!db.name || !db.user || !db.password) return { id, title, status: 'skip', detail: 'DBNAME, DBUSER and DBPASS are needed to log in' };
  if (!target) return { id, title, status: 'skip', detail: 'no listen address in the profile' };
  let client: Client | undefined;
  try {
    const login = { host: target.host, port: target.port, user: db.user, password: db.password.reveal(), database: db.name, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs, application_name: 'pgb-setup verify' };
    // pgbouncer requires TLS on TCP (--tls): log in over TLS, as the app does (a login check, not a trust decision).
    const opened: Client = await openClient(login).catch((e: Error) => (SSL_REQUIRED.test(e.message) ? openClient({ ...login, ssl: { rejectUnauthorized: false } }) : Promise.reject(e)));
    client = opened;
    await opened.query('SELECT 1');
    return { id, title, status: 'pass', detail: `${db.user} logged in to ${db.name} at ${describeTarget(target)} and ran SELECT 1` };
  } catch (e) {
    const msg = ((e as Error).message ?? String(e)).replace(/\s+/g, ' ');
    const logfile = setting(config, 'logfile');
    let fix = `read ${typeof logfile === 'string' && logfile ? logfile : "pgbouncer's log"} for the reason`;
    if (/password authentication failed|SASL|auth/i.test(msg)) fix = `the secret in userlist.txt and PostgreSQL's verifier for ${db.user} differ, or DBPASS is wrong: pgb-setup apply ${environment} sets the same SCRAM verifier on both`;
    else if (/server login failed|wrong password type/i.test(msg)) fix = `pgbouncer cannot log in to PostgreSQL as ${db.user}: PostgreSQL must hold the identical SCRAM verifier as userlist.txt (pgb-setup apply ${environment})`;
    else if (/no such database|does not exist/i.test(msg)) fix = `check DBNAME and the [databases] entry (dbname=) against the databases on ${db.host}`;
    else if (/ECONNREFUSED|ENOENT|timeout/i.test(msg)) fix = 'pgbouncer is not listening there; see the checks above';
    return { id, title, status: 'fail', detail: `${db.user} to ${db.name} at ${describeTarget(target)}: ${msg}`, fix };
  } finally {
    if (client) await closeClient(client);
  }
}

/** Settings worth comparing between the file and SHOW CONFIG (values that print identically). */
const RUNNING_KEYS = ['pool_mode', 'default_pool_size', 'min_pool_size', 'reserve_pool_size', 'max_client_conn', 'max_db_connections', 'max_user_connections', 'listen_port', 'auth_type', 'client_tls_sslmode', 'server_tls_sslmode'];

export interface ConsoleOutcome {
  checks: Check[];
  /** SHOW CONFIG and SHOW DATABASES when the console answered. */
  snap?: { config: ConsoleResult; databases: ConsoleResult };
}

export async function checkConsole(env: Env, ini: IniFile | undefined): Promise<ConsoleOutcome> {
  const { config, ctx, timeoutMs, spec } = env;
  let target;
  try {
    // A process of a group is reached through its own socket folder: the shared port lands on any of them.
    target = resolveConsoleTarget(config, { timeout: String(timeoutMs / 1000), ...(env.member ? { host: env.member.socketDir } : {}) }, ctx);
  } catch (e) {
    return { checks: [{ id: 'console', title: 'admin console answers', status: 'fail', detail: (e as Error).message, fix: 'list a user in stats_users or admin_users (the profile), with its password in DBPASS or PGPASSWORD' }] };
  }
  const where = describeTarget(target);
  let snap;
  try {
    snap = await consoleSnapshot(target, { version: 'SHOW VERSION', config: 'SHOW CONFIG', databases: 'SHOW DATABASES' });
  } catch (e) {
    const unreachable = e instanceof ConsoleError && e.kind === 'unreachable';
    return {
      checks: [
        {
          id: 'console',
          title: 'admin console answers',
          status: 'fail',
          detail: (e as Error).message,
          fix: unreachable
            ? 'pgbouncer is not answering there; see the checks above'
            : `the console is database "pgbouncer" on pgbouncer's port; ${target.user} must be in stats_users or admin_users and in userlist.txt (password from ${target.passwordSource})`,
        },
      ],
    };
  }
  const checks: Check[] = [{ id: 'console', title: 'admin console answers', status: 'pass', detail: `${str(snap.version.rows[0], 'version') ?? 'SHOW VERSION'} at ${where} as ${target.user}` }];
  const fileSettings = ini?.sections.get('pgbouncer');
  if (!fileSettings) return { checks, snap };
  const running = new Map(snap.config.rows.map((r) => [str(r, 'key') ?? '', str(r, 'value') ?? '']));
  const stale: string[] = [];
  for (const key of RUNNING_KEYS) {
    const inFile = fileSettings.get(key);
    const live = running.get(key);
    if (inFile === undefined || live === undefined) continue;
    if (inFile.trim().toLowerCase() !== live.trim().toLowerCase()) stale.push(`${key}: file ${inFile}, running ${live}`);
  }
  const unit = env.member ? `pgbouncer@${env.member.id}` : spec?.serviceName;
  const reload = spec ? `systemctl reload ${unit}, or ` : '';
  checks.push(
    stale.length
      ? { id: 'running-config', title: 'running settings match the file', status: 'fail', detail: stale.join('; '), fix: `reload pgbouncer (${reload}kill -HUP <pid>, or RELOAD on the console); listen_port and other non-reloadable settings need a restart` }
      : { id: 'running-config', title: 'running settings match the file', status: 'pass', detail: `${RUNNING_KEYS.filter((k) => fileSettings.has(k) && running.has(k)).length} pooling and auth settings agree (SHOW CONFIG)` },
  );
  return { checks, snap };
}
