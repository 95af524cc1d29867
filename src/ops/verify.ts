/**
 * `pgb-setup verify <environment>`: checks an installed setup end to end and prints a checklist,
 * each failure with its fix. Exit 0 when nothing failed, 1 otherwise.
 *
 * File checks: the ini parses and matches what the profile renders (userlist salts are ignored:
 * each secret is verified against DBPASS instead), owners and modes (ini 0640, userlist 0600,
 * owned by the service user). Live checks (skipped with --root): the service runs (systemd when
 * the host booted with it, else pidfile + kill -0), the port listens, a login through pgbouncer
 * works, the admin console answers and runs with the file's settings. Django consistency: the
 * server-side cursor reminder for transaction pooling, client TLS vs Django's sslmode.
 */
import type { Client } from 'pg';
import { closeClient, openClient } from '../system/pg-client.js';
import { pgbouncerFromPidfile, pgbouncerProcess, pidFromFile } from '../system/pgbouncer-process.js';
import { resolve } from 'node:path';
import type { Context } from '../system/context.js';
import { InputError, PgbSetupError } from '../text/errors.js';
import { loadConfig, type ProfileOptions } from '../app/load-config.js';
import { detectServiceUser, resolveDistro, type DistroSpec, type ServiceUser } from '../facts/distro/index.js';
import { readOsRelease } from '../facts/os-release.js';
import { MAX_CONFIG_BYTES, MAX_USERLIST_BYTES } from '../facts/host-facts.js';
import { findUserlistSecret, parseUserlist } from '../auth/userlist.js';
import { isValidScramSecret, verifyScramPassword } from '../auth/scram.js';
import { isValidMd5Secret, verifyMd5Password } from '../auth/md5.js';
import { renderPgbouncerIni, type ProcessGroup } from '../render/pgbouncer-ini.js';
import { splitIntoProcesses } from '../render/processes.js';
import { poolBudget } from '../profile/pool-budget.js';
import { setting, type ResolvedConfig } from '../profile/resolve.js';
import { systemAt } from '../system/node-system.js';
import type { System } from '../system/system.js';
import { compareIni, parseIniFile, type IniFile } from './ini-file.js';
import { printable } from '../text/printable.js';
import { ConsoleError, consoleSnapshot, describeTarget, num, str, type ConsoleResult } from './console.js';
import { memberPath, processCount, tcpListenPorts } from './group.js';
import { getentPasswd } from '../system/getent.js';
import { probeConnect } from '../system/net.js';
import { listenTarget, parseTimeoutMs, resolveConsoleTarget } from './target.js';

export type CheckStatus = 'pass' | 'fail' | 'skip' | 'note';

export interface Check {
  id: string;
  title: string;
  status: CheckStatus;
  detail: string;
  fix?: string;
  /** The process of a --processes group this item is about (ids then end in `@<process>`). */
  process?: number;
}

export interface VerifyOptions extends ProfileOptions {
  root?: string;
  ini?: string;
  serviceUser?: string;
  timeout?: string;
  json?: boolean;
  /** `--processes N|auto`: check every process of the group (pgbouncer-<i>.ini next to --ini). */
  processes?: string;
  /** false with --no-peers (the group was installed without [peers]). */
  peers?: boolean;
}

const octal = (mode: number) => `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;

interface Paths {
  ini: string;
  userlist: string | undefined;
  pidfile: string | undefined;
}

interface Env {
  ctx: Context;
  config: ResolvedConfig;
  system: System;
  live: boolean;
  spec: DistroSpec | undefined;
  paths: Paths;
  timeoutMs: number;
  environment: string;
  /** Set for one process of a --processes group. */
  member?: Member;
}

/** One process of a --processes group, as splitIntoProcesses defines it. */
interface Member {
  id: number;
  count: number;
  group: ProcessGroup;
  socketDir: string;
  /** systemd template instance. */
  unit: string;
}

// ---- file checks ----------------------------------------------------------------------------

async function checkIni(env: Env, text: string | undefined): Promise<{ checks: Check[]; parsed?: IniFile }> {
  const { paths, config, environment } = env;
  const rerender = `pgb-setup apply ${environment}${env.member ? ` --processes ${env.member.count}` : ''} (writes the profile's config and reloads pgbouncer)`;
  if (text === undefined) {
    const first = memberPath(paths.ini, 1);
    const group = !env.member && (await env.system.exists(first));
    return {
      checks: [
        {
          id: 'ini-parses',
          title: 'pgbouncer.ini parses',
          status: 'fail',
          detail: `${paths.ini} does not exist${group ? ` (but ${first} does: a --processes group is installed here)` : ''}`,
          fix: group ? `pgb-setup verify ${environment} --processes N (N = the number of pgbouncer-<i>.ini files)` : `${rerender}; or pass --ini with the path pgbouncer is started with`,
        },
      ],
    };
  }
  const parsed = parseIniFile(text);
  const checks: Check[] = [];
  if (parsed.problems.length > 0) {
    checks.push({ id: 'ini-parses', title: 'pgbouncer.ini parses', status: 'fail', detail: `${paths.ini}: ${parsed.problems.slice(0, 3).join('; ')}`, fix: `fix those lines (pgbouncer refuses to start or reload with them), or ${rerender}` });
  } else {
    const count = parsed.sections.get('pgbouncer')?.size ?? 0;
    const dbs = parsed.sections.get('databases')?.size ?? 0;
    checks.push({ id: 'ini-parses', title: 'pgbouncer.ini parses', status: 'pass', detail: `${paths.ini}: ${dbs} [databases] entr${dbs === 1 ? 'y' : 'ies'}, ${count} settings` });
  }
  // pgbouncer reads an included file as if its lines stood here, so it can override anything this
  // file says (auth_type = trust); pgb-setup never writes %include, so any is someone else's.
  if (parsed.includes.length > 0) {
    const shown = parsed.includes.slice(0, 3).map((i) => `line ${i.line}: %include ${printable(i.path)}`);
    if (parsed.includes.length > 3) shown.push(`${parsed.includes.length - 3} more`);
    checks.push({
      id: 'ini-includes',
      title: 'pgbouncer.ini includes no other file',
      status: 'fail',
      detail: `${paths.ini}: ${shown.join('; ')}: pgbouncer applies the included settings too (they can change auth_type, auth_file, listen_addr...), and verify cannot vouch for them; pgb-setup never writes %include`,
      fix: `put what the included file sets into the profile (--profile/--set), remove the %include line, then ${rerender}`,
    });
  }
  const expected = parseIniFile(renderPgbouncerIni(config, env.member?.group));
  const diffs = compareIni(parsed, expected);
  if (diffs.length === 0) {
    const what = env.member ? ` as process ${env.member.id} of ${env.member.count} (its socket folder, pidfile, logfile${env.member.group.peers.length ? ', peer_id, [peers]' : ''} and pool share)` : '';
    checks.push({ id: 'ini-matches', title: 'pgbouncer.ini matches the profile', status: 'pass', detail: `every [databases] entry and setting is what profile ${environment} renders for pgbouncer ${config.target.version}${what}` });
  } else {
    const show = diffs.slice(0, 6).map((d) => `[${d.section}] ${d.key}: file ${d.disk === undefined ? '(missing)' : JSON.stringify(d.disk)}, profile ${d.profile === undefined ? '(not set)' : JSON.stringify(d.profile)}`);
    if (diffs.length > 6) show.push(`${diffs.length - 6} more`);
    checks.push({ id: 'ini-matches', title: 'pgbouncer.ini matches the profile', status: 'fail', detail: show.join('; '), fix: `${rerender}, or change the profile (--profile/--set) to what you want` });
  }
  return { checks, parsed };
}

function verifySecret(secret: string, user: string, password: string): boolean {
  if (secret.startsWith('SCRAM-SHA-256$')) return verifyScramPassword(secret, password);
  if (isValidMd5Secret(secret)) return verifyMd5Password(secret, user, password);
  return secret === password;
}

function checkUserlist(env: Env, text: string | undefined): Check {
  const { paths, config, environment } = env;
  const title = 'userlist.txt holds the right secret';
  const db = config.profile.database;
  if (!paths.userlist) return { id: 'userlist-secret', title, status: 'skip', detail: 'the profile sets no auth_file' };
  if (text === undefined) return { id: 'userlist-secret', title, status: 'fail', detail: `${paths.userlist} does not exist`, fix: `pgb-setup apply ${environment} writes it` };
  let list;
  try {
    list = parseUserlist(text, { name: paths.userlist });
  } catch (e) {
    return { id: 'userlist-secret', title, status: 'fail', detail: (e as Error).message, fix: `fix that line, or pgb-setup apply ${environment} to rewrite the file` };
  }
  const authUser = setting(config, 'auth_user');
  if (typeof authUser === 'string' && authUser) {
    // auth_query mode: PostgreSQL holds the users' verifiers; userlist.txt only auth_user's own password.
    if (findUserlistSecret(list, authUser) === undefined) {
      return { id: 'userlist-secret', title, status: 'fail', detail: `auth_query mode: ${paths.userlist} has no entry for auth_user ${authUser}, so pgbouncer cannot run auth_query`, fix: `pgb-setup auth-query ${environment} --apply-server --userlist ${paths.userlist}` };
    }
    return { id: 'userlist-secret', title, status: 'pass', detail: `auth_query mode: auth_user ${authUser} is listed; ${db.user ?? 'the app user'}'s secret is looked up in PostgreSQL (the login check below tries it)` };
  }
  if (!db.user) return { id: 'userlist-secret', title, status: 'skip', detail: 'DBUSER is not set, so there is no user to look for' };
  const secret = findUserlistSecret(list, db.user);
  if (secret === undefined) {
    return { id: 'userlist-secret', title, status: 'fail', detail: `${paths.userlist} has no entry for ${db.user}`, fix: `pgb-setup apply ${environment} adds it (with the same SCRAM verifier on the server)` };
  }
  if (!db.password) return { id: 'userlist-secret', title, status: 'skip', detail: `${db.user} is listed; DBPASS is not set, so the secret cannot be checked` };
  const method = config.profile.userlist.method;
  const kind = secret.startsWith('SCRAM-SHA-256$') ? (isValidScramSecret(secret) ? 'scram-sha-256' : 'malformed SCRAM') : isValidMd5Secret(secret) ? 'md5' : 'plain text';
  if (!verifySecret(secret, db.user, db.password.reveal())) {
    return { id: 'userlist-secret', title, status: 'fail', detail: `the ${kind} secret of ${db.user} in ${paths.userlist} does not match DBPASS`, fix: `pgb-setup apply ${environment} (writes a new verifier for DBPASS and sets it on the server), or fix DBPASS` };
  }
  const auth = String(setting(config, 'auth_type') ?? '');
  if (kind !== method) {
    const fatal = auth === 'scram-sha-256' && kind === 'md5';
    return {
      id: 'userlist-secret',
      title,
      status: fatal ? 'fail' : 'note',
      detail: `${db.user}'s secret matches DBPASS but is ${kind}, the profile asks for ${method}${fatal ? '; auth_type scram-sha-256 cannot use an md5 secret, so logins fail' : ''}`,
      fix: `pgb-setup apply ${environment} rewrites it as ${method}`,
    };
  }
  const others = list.entries.filter((e) => e.user !== db.user).length;
  return { id: 'userlist-secret', title, status: 'pass', detail: `${db.user}: ${kind} secret matches DBPASS (salt ignored)${others ? `; ${others} other entr${others === 1 ? 'y' : 'ies'} not checked` : ''}` };
}

async function checkOwnerMode(env: Env, id: string, title: string, path: string | undefined, maxMode: number, svc: ServiceUser | undefined): Promise<Check> {
  if (!path) return { id, title, status: 'skip', detail: 'no such file in the profile' };
  const st = await env.system.stat(path);
  if (!st) return { id, title, status: 'fail', detail: `${path} does not exist`, fix: `pgb-setup apply ${env.environment}` };
  const problems: string[] = [];
  const extra = st.mode & ~maxMode & 0o7777;
  if (extra) {
    const who = [extra & 0o700 ? 'the owner' : '', extra & 0o070 ? 'the group' : '', extra & 0o007 ? 'everyone' : ''].filter(Boolean).join(' and ');
    problems.push(`mode ${octal(st.mode)} gives ${who} more than ${octal(maxMode)}${extra & 0o004 ? ' (world-readable)' : ''}`);
  }
  if ((st.mode & 0o400) === 0) problems.push(`mode ${octal(st.mode)}: the owner cannot read it`);
  if (svc?.uid !== undefined && st.uid !== svc.uid) problems.push(`owned by uid ${st.uid}, not ${svc.user} (uid ${svc.uid}) that runs pgbouncer`);
  const owner = svc ? `${svc.user}:${svc.group}` : undefined;
  if (problems.length) {
    const fix = [owner && svc?.uid !== undefined && st.uid !== svc.uid ? `chown ${owner} ${path}` : '', `chmod ${octal(maxMode)} ${path}`].filter(Boolean).join(' && ');
    return { id, title, status: 'fail', detail: `${path}: ${problems.join('; ')}`, fix };
  }
  const ownerText = svc?.uid !== undefined ? `owned by ${svc.user}` : `owner uid ${st.uid} (service user unknown)`;
  return { id, title, status: 'pass', detail: `${path}: mode ${octal(st.mode)}, ${ownerText}` };
}

// ---- live checks ----------------------------------------------------------------------------

async function pidAlive(system: System, pid: number, ini: string): Promise<{ alive: boolean; notPgbouncer?: string }> {
  const found = await pgbouncerProcess(system, pid, ini);
  if (found.ok) return { alive: true };
  return found.gone ? { alive: false } : { alive: true, notPgbouncer: found.reason };
}

async function checkService(env: Env, svc: ServiceUser | undefined): Promise<Check> {
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

async function checkListening(env: Env): Promise<Check> {
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

async function checkLogin(env: Env): Promise<Check> {
  const { config, timeoutMs, environment } = env;
  const id = 'login';
  const title = 'an app login through pgbouncer works';
  const db = config.profile.database;
  const target = listenTarget(config);
  if (!db.name || !db.user || !db.password) return { id, title, status: 'skip', detail: 'DBNAME, DBUSER and DBPASS are needed to log in' };
  if (!target) return { id, title, status: 'skip', detail: 'no listen address in the profile' };
  let client: Client | undefined;
  try {
    client = await openClient({ host: target.host, port: target.port, user: db.user, password: db.password.reveal(), database: db.name, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs, application_name: 'pgb-setup verify' });
    await client.query('SELECT 1');
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

interface ConsoleOutcome {
  checks: Check[];
  /** SHOW CONFIG and SHOW DATABASES when the console answered. */
  snap?: { config: ConsoleResult; databases: ConsoleResult };
}

async function checkConsole(env: Env, ini: IniFile | undefined): Promise<ConsoleOutcome> {
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

// ---- a --processes group --------------------------------------------------------------------

/** The settings splitIntoProcesses divides between the processes (the totals stay the profile's). */
const SHARED_KEYS = ['default_pool_size', 'min_pool_size', 'reserve_pool_size', 'max_db_connections', 'max_user_connections'] as const;

/** One process's pool figures: what splitIntoProcesses promises, and what it runs with (undefined: not shown). */
export interface ShareFigure {
  name: string;
  promised: number;
  running: number | undefined;
}

/** The promised share of one process next to SHOW CONFIG and SHOW DATABASES (pool_size, max_connections per database). */
export function shareFigures(processConfig: ResolvedConfig, snap: { config: ConsoleResult; databases: ConsoleResult }): ShareFigure[] {
  const running = new Map(snap.config.rows.map((r) => [str(r, 'key') ?? '', r]));
  const out: ShareFigure[] = [];
  for (const key of SHARED_KEYS) {
    const v = setting(processConfig, key);
    if (typeof v !== 'number') continue;
    const live = num({ v: str(running.get(key), 'value') ?? null }, 'v');
    if (v === 0 && !live) continue; // nothing to share: min_pool_size 0, reserve_pool_size 0
    out.push({ name: key, promised: v, running: live });
  }
  const dbs = new Map(snap.databases.rows.map((r) => [str(r, 'name') ?? '', r]));
  for (const d of poolBudget(processConfig).databases) {
    const row = dbs.get(d.name);
    out.push({ name: `${d.name} pool_size`, promised: d.poolSize, running: num(row, 'pool_size') });
    if (d.cap > 0) out.push({ name: `${d.name} max_db_connections`, promised: d.cap, running: num(row, 'max_connections') });
  }
  return out;
}

function checkShare(env: Env, snap: ConsoleOutcome['snap']): Check {
  const m = env.member!;
  const id = 'pool-share';
  const title = 'pool share is what the split promises';
  if (!snap) return { id, title, status: 'skip', detail: 'the console did not answer (see above), so the running pool sizes are unknown' };
  const figures = shareFigures(env.config, snap);
  const off = figures.filter((f) => f.running !== f.promised);
  const list = (fs: ShareFigure[]) => fs.map((f) => `${f.name} ${f.running ?? '?'}`).join(', ');
  if (off.length) {
    return {
      id,
      title,
      status: 'fail',
      detail: `running ${off.map((f) => `${f.name} ${f.running ?? '(not shown)'}`).join(', ')}; share ${m.id} of ${m.count} is ${off.map((f) => `${f.name} ${f.promised}`).join(', ')}`,
      fix: `pgb-setup apply ${env.environment} --processes ${m.count} writes each process's share; then reload process ${m.id} (kill -HUP <pid>${env.spec ? ` or systemctl reload ${m.unit}` : ''})`,
    };
  }
  return { id, title, status: 'pass', detail: `${list(figures)} (share ${m.id} of ${m.count})` };
}

/** The running shares of all processes add up to what the split promises in total (the profile's budget). */
function checkBudget(config: ResolvedConfig, members: { id: number; config: ResolvedConfig; snap: ConsoleOutcome['snap'] }[]): Check {
  const id = 'pool-budget';
  const title = "the processes' shares add up to the profile's pools";
  const total = new Map<string, { promised: number; running: number; profile: number | undefined }>();
  const profileValue = (name: string): number | undefined => {
    const v = setting(config, name);
    if (typeof v === 'number') return v;
    const db = poolBudget(config).databases.find((d) => name === `${d.name} pool_size` || name === `${d.name} max_db_connections`);
    return db ? (name.endsWith('pool_size') ? db.poolSize : db.cap) : undefined;
  };
  const silent = members.filter((m) => !m.snap);
  for (const m of members) {
    const figures = m.snap ? shareFigures(m.config, m.snap) : shareFigures(m.config, { config: { columns: [], rows: [] }, databases: { columns: [], rows: [] } });
    for (const f of figures) {
      const t = total.get(f.name) ?? { promised: 0, running: 0, profile: profileValue(f.name) };
      t.promised += f.promised;
      t.running += f.running ?? 0;
      total.set(f.name, t);
    }
  }
  const text = [...total].map(([name, t]) => `${name} ${t.running}${t.running !== t.promised ? ` (promised ${t.promised})` : ''}${t.profile !== undefined && t.profile !== t.promised ? ` (profile ${t.profile}: each process needs at least 1)` : ''}`).join(', ');
  if (silent.length) {
    return {
      id,
      title,
      status: 'fail',
      detail: `process ${silent.map((m) => m.id).join(', ')} not answering, so the group runs with less than the profile's budget: ${text}`,
      fix: `start the missing process${silent.length === 1 ? '' : 'es'} (see the checks above)`,
    };
  }
  const off = [...total].filter(([, t]) => t.running !== t.promised);
  if (off.length) return { id, title, status: 'fail', detail: text, fix: 'see the pool share checks above' };
  return { id, title, status: 'pass', detail: `${members.length} processes together: ${text}` };
}

/** A process of the group: its socket answers, and it holds a listening socket on the shared TCP port (so_reuseport worked). */
async function checkMemberListening(env: Env): Promise<Check> {
  const m = env.member!;
  const id = 'listening';
  const title = 'pgbouncer listens';
  const port = Number(setting(env.config, 'listen_port') ?? 6432);
  const path = `${m.socketDir}/.s.PGSQL.${port}`;
  const err = await probeConnect({ path }, env.timeoutMs);
  if (err) {
    return { id, title, status: 'fail', detail: `nothing accepts connections on ${path} (${err})`, fix: `start process ${m.id}, or read its logfile for "Cannot listen"` };
  }
  const found = env.paths.pidfile ? await pgbouncerFromPidfile(env.system, env.paths.pidfile, env.paths.ini) : undefined;
  const pid = found?.ok ? found.pid : undefined;
  const ports = pid !== undefined ? await tcpListenPorts(env.system, pid) : undefined;
  if (ports === undefined) return { id, title, status: 'pass', detail: `accepts connections on ${path}` };
  if (!ports.has(port)) {
    return {
      id,
      title,
      status: 'fail',
      detail: `${path} answers, but pid ${pid} holds no listening TCP socket on port ${port}: its bind failed (another process holds the port without so_reuseport), so clients on the TCP port never reach it`,
      fix: `stop whatever holds port ${port} without so_reuseport (ss -ltnp 'sport = :${port}'), then restart process ${m.id}`,
    };
  }
  return { id, title, status: 'pass', detail: `accepts connections on ${path}; pid ${pid} listens on TCP port ${port} (so_reuseport)` };
}

/** A check about one process: id `<id>@<process>`, title prefixed with the process. */
function tag(c: Check, m: Member, iniName: string): Check {
  return { ...c, id: `${c.id}@${m.id}`, title: `process ${m.id}: ${c.title.replace('pgbouncer.ini', iniName)}`, process: m.id };
}

async function groupChecks(env: Env, n: number, peers: boolean, serviceUser: ServiceUser | undefined): Promise<{ files: Check[]; live: Check[] }> {
  const procs = splitIntoProcesses(env.config, n, env.paths.ini, { peers });
  const members = procs.map((p) => {
    const member: Member = { id: p.id, count: n, group: p.group, socketDir: p.socketDir, unit: `pgbouncer@${p.id}` };
    const menv: Env = { ...env, config: p.config, member, paths: { ...env.paths, ini: p.iniPath, pidfile: p.pidfile } };
    return { p, member, menv, name: p.iniPath.split('/').pop() ?? p.iniPath };
  });
  const files: Check[] = [];
  const parsed = new Map<number, IniFile | undefined>();
  for (const { menv, member, name } of members) {
    const ini = await checkIni(menv, await readManagedText(menv.system, menv.paths.ini));
    parsed.set(member.id, ini.parsed);
    files.push(...ini.checks.map((c) => tag(c, member, name)));
    files.push(tag(await checkOwnerMode(menv, 'ini-mode', 'pgbouncer.ini owner and mode', menv.paths.ini, 0o640, serviceUser), member, name));
  }
  const live: Check[] = [];
  if (!env.live) return { files, live };
  const answers: { id: number; config: ResolvedConfig; snap: ConsoleOutcome['snap'] }[] = [];
  for (const { menv, member, name } of members) {
    live.push(tag(await checkService(menv, serviceUser), member, name));
    live.push(tag(await checkMemberListening(menv), member, name));
    const outcome = await checkConsole(menv, parsed.get(member.id));
    live.push(...outcome.checks.map((c) => tag(c, member, name)));
    live.push(tag(checkShare(menv, outcome.snap), member, name));
    answers.push({ id: member.id, config: menv.config, snap: outcome.snap });
  }
  // The shared TCP port (any process answers) and a login through it; without listen_addr, through process 1's socket.
  const tcpTarget = listenTarget(env.config);
  if (tcpTarget && !tcpTarget.host.startsWith('/')) {
    const tcp = await checkListening({ ...env, config: { ...env.config, settings: env.config.settings.filter((s) => s.key !== 'unix_socket_dir') } });
    live.push({ ...tcp, id: 'listening-tcp', title: 'the shared TCP port listens' });
    live.push(await checkLogin(env));
  } else {
    live.push({ id: 'listening-tcp', title: 'the shared TCP port listens', status: 'skip', detail: 'the profile sets no listen_addr: the processes listen on their unix sockets only' });
    live.push(await checkLogin(members[0]!.menv));
  }
  live.push(checkBudget(env.config, answers));
  return { files, live };
}

// ---- Django consistency ---------------------------------------------------------------------

async function checkDjango(env: Env): Promise<Check[]> {
  const { config, system, environment } = env;
  const checks: Check[] = [];
  const poolMode = String(setting(config, 'pool_mode') ?? 'session');
  if (poolMode === 'transaction' || poolMode === 'statement') {
    checks.push({
      id: 'django-cursors',
      title: 'Django: server-side cursors',
      status: 'note',
      detail: `pool_mode ${poolMode}: Django must set DISABLE_SERVER_SIDE_CURSORS = True for this database, or QuerySet.iterator() fails with "cursor does not exist"`,
      fix: `pgb-setup print-django-settings ${environment} emits it`,
    });
  } else {
    checks.push({ id: 'django-cursors', title: 'Django: server-side cursors', status: 'pass', detail: `pool_mode ${poolMode}: server-side cursors work` });
  }

  const clientTls = String(setting(config, 'client_tls_sslmode') ?? 'disable');
  const sslmode = config.profile.django.sslmode ?? 'prefer';
  const title = 'Django sslmode vs pgbouncer client TLS';
  const needsTls = ['require', 'verify-ca', 'verify-full'].includes(sslmode);
  if (needsTls && clientTls === 'disable') {
    checks.push({
      id: 'django-tls',
      title,
      status: 'fail',
      detail: `Django connects with sslmode=${sslmode} but pgbouncer offers no TLS to clients (client_tls_sslmode = disable): every connection fails with "server does not support SSL, but SSL was required"`,
      fix: 'set client_tls_sslmode = require with client_tls_key_file and client_tls_cert_file, or django.sslmode = prefer on a trusted network',
    });
    return checks;
  }
  if (clientTls !== 'disable') {
    const files = ['client_tls_key_file', 'client_tls_cert_file'].map((k) => [k, setting(config, k)] as const);
    const unset = files.filter(([, v]) => typeof v !== 'string' || v === '').map(([k]) => k);
    if (unset.length) {
      checks.push({ id: 'django-tls', title, status: 'fail', detail: `client_tls_sslmode = ${clientTls} but ${unset.join(' and ')} ${unset.length === 1 ? 'is' : 'are'} not set: pgbouncer cannot offer TLS`, fix: `set ${unset.join(' and ')} (a key and certificate readable by the service user)` });
      return checks;
    }
    const missing: string[] = [];
    for (const [, v] of files) if (!(await system.exists(String(v)))) missing.push(String(v));
    if (missing.length) {
      checks.push({ id: 'django-tls', title, status: 'fail', detail: `${missing.join(', ')} ${missing.length === 1 ? 'does' : 'do'} not exist`, fix: 'create the key and certificate there, readable by the service user, then restart pgbouncer' });
      return checks;
    }
    if (sslmode === 'disable' && ['require', 'verify-ca', 'verify-full'].includes(clientTls)) {
      checks.push({ id: 'django-tls', title, status: 'fail', detail: `pgbouncer requires TLS from clients (client_tls_sslmode = ${clientTls}) but Django uses sslmode=disable`, fix: 'set django.sslmode = require (or verify-full with sslrootcert)' });
      return checks;
    }
  }
  checks.push({ id: 'django-tls', title, status: 'pass', detail: `Django sslmode=${sslmode}${config.profile.django.sslmode ? '' : ' (libpq default)'}, pgbouncer client_tls_sslmode = ${clientTls}: they agree` });
  return checks;
}

// ---- runner ---------------------------------------------------------------------------------

export async function verifyChecks(environment: string, opts: VerifyOptions, ctx: Context): Promise<{ checks: Check[]; serviceUser: ServiceUser | undefined; config: ResolvedConfig }> {
  const root = opts.root === undefined ? undefined : resolve(ctx.cwd, opts.root);
  if (root !== undefined && !(await ctx.system.stat(root))?.isDirectory) {
    throw new InputError(`--root: ${opts.root} is not a folder`, '--root');
  }
  const config = await loadConfig(environment, opts, ctx);
  const live = opts.root === undefined;
  const system = systemAt(ctx.system, root);
  let spec: DistroSpec | undefined;
  try {
    spec = resolveDistro(await readOsRelease(system));
  } catch (e) {
    if (!(opts.ini && opts.serviceUser) || !(e instanceof PgbSetupError)) throw e;
  }
  const authFile = setting(config, 'auth_file');
  const pidfile = setting(config, 'pidfile');
  const paths: Paths = {
    ini: opts.ini ?? spec!.iniPath,
    userlist: typeof authFile === 'string' && authFile ? authFile : spec?.userlistPath,
    pidfile: typeof pidfile === 'string' && pidfile ? pidfile : undefined,
  };
  const env: Env = { ctx, config, system, live, spec, paths, timeoutMs: parseTimeoutMs(opts.timeout, 5), environment };

  let serviceUser: ServiceUser | undefined;
  if (opts.serviceUser) {
    const pw = await getentPasswd(ctx.system, opts.serviceUser);
    serviceUser = {
      user: opts.serviceUser,
      group: opts.serviceUser,
      uid: pw?.uid,
      gid: pw?.gid,
      source: 'default',
      detail: '--service-user',
    };
  } else if (spec) {
    serviceUser = await detectServiceUser(system, spec, { live });
  }

  const checks: Check[] = [];
  const n = processCount(opts.processes);
  if (n > 1) {
    const group = await groupChecks(env, n, opts.peers !== false, serviceUser);
    checks.push(...group.files);
    checks.push(checkUserlist(env, paths.userlist ? await readManagedText(system, paths.userlist, MAX_USERLIST_BYTES) : undefined));
    checks.push(await checkOwnerMode(env, 'userlist-mode', 'userlist.txt owner and mode', paths.userlist, 0o600, serviceUser));
    checks.push(...group.live);
    if (!live) checks.push({ id: 'service', title: 'the processes run, listen and answer', status: 'skip', detail: `--root ${opts.root}: live checks skipped` });
    checks.push(...(await checkDjango(env)));
    return { checks, serviceUser, config };
  }
  const iniText = await readManagedText(system, paths.ini);
  const ini = await checkIni(env, iniText);
  checks.push(...ini.checks);
  checks.push(checkUserlist(env, paths.userlist ? await readManagedText(system, paths.userlist, MAX_USERLIST_BYTES) : undefined));
  checks.push(await checkOwnerMode(env, 'ini-mode', 'pgbouncer.ini owner and mode', paths.ini, 0o640, serviceUser));
  checks.push(await checkOwnerMode(env, 'userlist-mode', 'userlist.txt owner and mode', paths.userlist, 0o600, serviceUser));
  if (live) {
    checks.push(await checkService(env, serviceUser));
    checks.push(await checkListening(env));
    checks.push(await checkLogin(env));
    checks.push(...(await checkConsole(env, ini.parsed)).checks);
  } else {
    for (const [id, title] of [['service', 'pgbouncer is running'], ['listening', 'pgbouncer listens'], ['login', 'an app login through pgbouncer works'], ['console', 'admin console answers']]) {
      checks.push({ id: id!, title: title!, status: 'skip', detail: `--root ${opts.root}: live checks skipped` });
    }
  }
  checks.push(...(await checkDjango(env)));
  return { checks, serviceUser, config };
}

/** A managed file's text; a link, FIFO, directory or device there is refused before it is read. */
async function readManagedText(system: System, path: string, maxBytes = MAX_CONFIG_BYTES): Promise<string | undefined> {
  return (await system.readManaged(path, maxBytes))?.bytes.toString('utf8');
}

const MARK: Record<CheckStatus, string> = { pass: 'PASS', fail: 'FAIL', skip: 'SKIP', note: 'NOTE' };

export function formatChecklist(checks: readonly Check[], header: string): string {
  const width = Math.max(...checks.map((c) => c.title.length));
  const lines = [header, ''];
  for (const c of checks) {
    // Details quote what was found (file lines, SHOW CONFIG values, database names): the shared sanitiser.
    lines.push(`${MARK[c.status]}  ${c.title.padEnd(width)}  ${printable(c.detail)}`);
    if (c.fix && (c.status === 'fail' || c.status === 'note')) lines.push(`${' '.repeat(6 + width)}  fix: ${printable(c.fix)}`);
  }
  const count = (s: CheckStatus) => checks.filter((c) => c.status === s).length;
  lines.push('', `${checks.length} checks: ${count('pass')} passed, ${count('fail')} failed, ${count('skip')} skipped, ${count('note')} notes`);
  return `${lines.join('\n')}\n`;
}

export async function runVerify(environment: string, opts: VerifyOptions, ctx: Context): Promise<number> {
  const { checks, serviceUser, config } = await verifyChecks(environment, opts, ctx);
  const failed = checks.some((c) => c.status === 'fail');
  if (opts.json) {
    ctx.stdout.write(`${JSON.stringify({ environment, ok: !failed, pgbouncer_version: config.target.version, service_user: serviceUser?.user ?? null, checks }, null, 2)}\n`);
  } else {
    const svc = serviceUser ? `, service user ${serviceUser.user} (${serviceUser.detail})` : '';
    ctx.stdout.write(formatChecklist(checks, `pgb-setup verify ${environment}: pgbouncer ${config.target.version}${svc}${opts.root ? `, files under ${opts.root}` : ''}`));
  }
  return failed ? 1 : 0;
}
