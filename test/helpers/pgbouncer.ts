/**
 * Starts and stops real pgbouncer processes for tests (as the `postgres` OS user), plus a minimal
 * config writer for tests that need a pgbouncer without the product's renderer.
 * Processes are addressed by PID only.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { parseUserlist } from '../../src/auth/userlist.js';
import { canConnectUnix, waitForPort } from './ports.js';
import type { PgCluster } from './postgres.js';
import { asUser, isAlive, isRoot, listeningTcpPorts, lookupUser, run, signalPid, stopPid, waitForExit } from './proc.js';
import { trackProcess } from './registry.js';
import { lastLines, makeTempDir, tailFile } from './tmp.js';

export interface StartPgbouncerOptions {
  binary: string;
  iniPath: string;
  /**
   * 'postgres' (default): the process runs as the postgres OS user.
   * 'root': started as root with `-u postgres` (pgbouncer drops privileges itself, like Debian's init script).
   */
  runAs?: 'postgres' | 'root';
  /** true: `pgbouncer -d` (needs pidfile in the ini); default false: foreground child. */
  daemon?: boolean;
  /** Extra command-line flags (e.g. ['-v']). */
  args?: string[];
  /** How long to wait for the listen port (default 15 s). */
  timeoutMs?: number;
}

export interface StopOptions {
  /** How long to wait after SIGINT before forcing the exit (default 3000; 0 = stop immediately). */
  graceMs?: number;
}

export interface RunningPgbouncer {
  pid: number;
  /** TCP host to connect to (from listen_addr; '*' → 127.0.0.1), or undefined if it listens on a unix socket only. */
  host: string | undefined;
  port: number;
  /** Directory of the unix socket (`unix_socket_dir`), '' if disabled. */
  socketDir: string;
  iniPath: string;
  binary: string;
  /** `logfile` from the ini ('' if none). */
  logfile: string;
  /**
   * Ends only this PID and waits for its exit: SIGINT (safe shutdown), after `graceMs` (default 3 s)
   * SIGTERM (fast exit in 1.18 and 1.23+), then SIGKILL. Idempotent.
   */
  stop(opts?: StopOptions): Promise<void>;
  /**
   * Sends SIGHUP; resolves once the log shows the reload was processed (or after `timeoutMs`).
   */
  reload(timeoutMs?: number): Promise<void>;
  /** Last `n` lines of the logfile (or of the captured stderr when there is no logfile). */
  logTail(n?: number): Promise<string>;
  /** True while the process is alive. */
  alive(): boolean;
}

export type IniSections = Record<string, Record<string, string>>;

/**
 * Parses pgbouncer.ini the way pgbouncer does for the parts the harness needs: `[section]`,
 * `key = value` (value to end of line, trimmed, no inline comments), `;`/`#` comment lines.
 * `%include` is not followed.
 */
export function parsePgbouncerIni(text: string): IniSections {
  const out: IniSections = {};
  let section = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith(';') || line.startsWith('#') || line.startsWith('%')) continue;
    const sec = /^\[([^\]]+)\]$/.exec(line);
    if (sec?.[1]) {
      section = sec[1].trim().toLowerCase();
      out[section] ??= {};
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0 || !section) continue;
    const key = line.slice(0, eq).trim();
    (out[section] ??= {})[section === 'pgbouncer' ? key.toLowerCase() : key] = line.slice(eq + 1).trim();
  }
  return out;
}

function tcpHostFromListenAddr(listenAddr: string): string | undefined {
  const first = listenAddr.split(',')[0]?.trim() ?? '';
  if (!first) return undefined;
  if (first === '*' || first === '0.0.0.0' || first === 'localhost') return '127.0.0.1';
  if (first === '::' || first === '::1') return '::1';
  return first;
}

/** Last `n` lines written to `file` after byte offset `start` (whole tail if the file shrank). */
async function logSince(file: string, start: number, n: number): Promise<string> {
  if (!file) return '';
  const buf = await readFile(file).catch(() => Buffer.alloc(0));
  return lastLines(buf.subarray(buf.length >= start ? start : 0).toString('utf8'), n);
}

async function fileSize(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

export async function startPgbouncer(opts: StartPgbouncerOptions): Promise<RunningPgbouncer> {
  const runAs = opts.runAs ?? 'postgres';
  const iniPath = resolve(opts.iniPath);
  const ini = parsePgbouncerIni(await readFile(iniPath, 'utf8'));
  const cfg = ini.pgbouncer ?? {};
  const port = Number(cfg.listen_port ?? 6432);
  const host = tcpHostFromListenAddr(cfg.listen_addr ?? '');
  const socketDir = cfg.unix_socket_dir ?? '/tmp';
  // Relative paths in the ini are relative to pgbouncer's cwd; we start it in the ini's directory.
  const iniDir = dirname(iniPath);
  const abs = (p: string | undefined): string => (p ? (isAbsolute(p) ? p : join(iniDir, p)) : '');
  const logfile = abs(cfg.logfile);
  const pidfile = abs(cfg.pidfile);
  const timeoutMs = opts.timeoutMs ?? 15_000;
  if (!host && !socketDir) throw new Error(`${iniPath}: neither listen_addr nor unix_socket_dir is set`);
  if (opts.daemon && !pidfile) throw new Error(`${iniPath}: daemon mode needs pidfile`);

  const args = [...(opts.args ?? [])];
  if (runAs === 'root') {
    if (!isRoot()) throw new Error("runAs: 'root' needs the tests to run as root");
    if (!cfg.user) args.push('-u', 'postgres');
  }
  const spawnUser = runAs === 'postgres' ? asUser('postgres') : {};
  const pgUser = lookupUser('postgres');
  const env = { ...process.env, HOME: pgUser.home, USER: 'postgres', LOGNAME: 'postgres' };

  // The foreground child's stdout/stderr go to a file (no pipes that would keep the test process busy).
  const consoleDir = await makeTempDir('pgbouncer-console');
  const consoleFile = join(consoleDir.path, 'stderr.log');
  const logStart = await fileSize(logfile || consoleFile);

  let pid = 0;
  let exitInfo: string | undefined;
  if (opts.daemon) {
    // The daemon writes its pidfile after forking, possibly after `-d` returned: drop a stale one first
    // so we never read an old PID.
    const stale = Number((await readFile(pidfile, 'utf8').catch(() => '')).trim()) || 0;
    if (stale && !isAlive(stale)) await rm(pidfile, { force: true });
    const res = await run(opts.binary, ['-d', ...args, iniPath], {
      cwd: iniDir,
      env,
      check: false,
      timeoutMs,
      user: runAs === 'postgres' ? 'postgres' : undefined,
    });
    if (res.code !== 0) {
      const log = await logSince(logfile, logStart, 20);
      await consoleDir.cleanup();
      throw new Error(`pgbouncer -d exited with ${res.code ?? res.signal}\n${res.stderr}${res.stdout}\n${log}`.trim());
    }
    const deadline = Date.now() + timeoutMs;
    while (!pid) {
      pid = Number((await readFile(pidfile, 'utf8').catch(() => '')).trim()) || 0;
      if (pid) break;
      if (Date.now() > deadline) {
        await consoleDir.cleanup();
        throw new Error(`pgbouncer -d: no pidfile ${pidfile} after ${timeoutMs} ms\n${await tailFile(logfile, 20)}`);
      }
      await sleep(25);
    }
  } else {
    const fd = openSync(consoleFile, 'a');
    try {
      const child = spawn(opts.binary, [...args, iniPath], {
        cwd: iniDir,
        env,
        stdio: ['ignore', fd, fd],
        ...spawnUser,
      });
      await new Promise<void>((res, rej) => {
        child.once('spawn', () => res());
        child.once('error', rej);
      });
      pid = child.pid!;
      child.once('exit', (code, signal) => {
        exitInfo = `pgbouncer (pid ${pid}) exited with ${code ?? signal}`;
      });
      child.unref();
    } finally {
      closeSync(fd);
    }
  }
  const untrack = trackProcess({ kind: 'pgbouncer', pid, signal: 'SIGKILL', dirs: [consoleDir.path] });

  const logTail = async (n = 30): Promise<string> => {
    const fromLog = logfile ? await tailFile(logfile, n) : '';
    return fromLog || (await tailFile(consoleFile, n));
  };

  let stopped: Promise<void> | undefined;
  const stop = (o: StopOptions = {}): Promise<void> => {
    stopped ??= (async () => {
      // SIGINT = safe shutdown (waits for server connections to be released). Then SIGTERM: immediate
      // in 1.18 ("got SIGTERM, fast exit"), and "while shutting down, fast exit" in 1.23+. (Not SIGQUIT:
      // 1.18 has no handler for it and dies by the default action.) SIGKILL as the last resort.
      if (signalPid(pid, 'SIGINT') && !(await waitForExit(pid, o.graceMs ?? 3_000))) {
        await stopPid(pid, ['SIGTERM', 'SIGKILL'], 3_000);
      }
      untrack();
      await consoleDir.cleanup();
    })();
    return stopped;
  };

  try {
    const exited = (): string | undefined => (exitInfo ?? (isAlive(pid) ? undefined : `pgbouncer (pid ${pid}) exited`));
    if (host) {
      await waitForPort(host, port, timeoutMs, exited);
      // Something accepts connections — make sure it is this pgbouncer: 1.18 keeps running with only
      // its unix socket when the TCP bind fails ("WARNING cannot listen on …: Address already in use").
      const deadline = Date.now() + 2_000;
      while (!listeningTcpPorts(pid).has(port)) {
        const why = exited();
        if (why) throw new Error(why);
        if (Date.now() > deadline) {
          throw new Error(`pgbouncer (pid ${pid}) is not listening on ${host}:${port}; another process holds that port`);
        }
        await sleep(25);
      }
    } else {
      const sock = join(socketDir, `.s.PGSQL.${port}`);
      const deadline = Date.now() + timeoutMs;
      while (!(await canConnectUnix(sock))) {
        const why = exited();
        if (why) throw new Error(why);
        if (Date.now() > deadline) throw new Error(`nothing is listening on ${sock} after ${timeoutMs} ms`);
        await sleep(30);
      }
    }
  } catch (err) {
    const log = await logSince(logfile || consoleFile, logStart, 30);
    await stop({ graceMs: 0 });
    throw new Error(`pgbouncer did not start: ${(err as Error).message}\n--- log (${logfile || consoleFile}) ---\n${log}`);
  }

  return {
    pid,
    host,
    port,
    socketDir,
    iniPath,
    binary: opts.binary,
    logfile,
    stop,
    logTail,
    alive: () => isAlive(pid),
    async reload(waitMs = 5_000) {
      const file = logfile || consoleFile;
      const before = await fileSize(file);
      if (!isAlive(pid)) throw new Error(`pgbouncer (pid ${pid}) is not running`);
      process.kill(pid, 'SIGHUP');
      const deadline = Date.now() + waitMs;
      while (Date.now() < deadline) {
        const text = await readFile(file, 'utf8').catch(() => '');
        // pgbouncer logs "got SIGHUP, re-reading config" (plus the outcome) on every reload.
        if (text.length > before && /SIGHUP/.test(text.slice(before))) {
          await sleep(50); // let it finish applying the new config
          return;
        }
        await sleep(25);
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Minimal config writer

export type PoolMode = 'session' | 'transaction' | 'statement';
export type AuthType = 'scram-sha-256' | 'md5' | 'plain' | 'trust' | 'any' | 'hba' | 'cert';

export interface TestPgbouncerConfigOptions {
  /** pgbouncer listen_port (listen_addr is 127.0.0.1). */
  port: number;
  /** PostgreSQL port (and host, default 127.0.0.1). */
  pgPort: number;
  pgHost?: string;
  /** Database name clients use; maps to the same name on the server unless `serverDbname` is given. */
  dbname: string;
  serverDbname?: string;
  authType?: AuthType;
  auth_type?: AuthType;
  /** Raw userlist.txt lines, e.g. from `userlistLine(user, secret)`. */
  userlist?: string[];
  poolMode?: PoolMode;
  pool_mode?: PoolMode;
  adminUsers?: string[];
  admin_users?: string[] | string;
  statsUsers?: string[];
  /** More `[pgbouncer]` settings (written verbatim as `key = value`). */
  extra?: Record<string, string | number | boolean>;
  /** More `[databases]` lines (name → connection string). */
  databases?: Record<string, string>;
  /** `[users]` lines (name → settings). */
  users?: Record<string, string>;
}

export interface TestPgbouncerConfig {
  dir: string;
  iniPath: string;
  userlistPath: string;
  logfile: string;
  pidfile: string;
  port: number;
}

/** A userlist.txt line with pgbouncer's quoting (embedded `"` doubled). */
export function userlistLine(user: string, secret: string): string {
  const q = (s: string): string => `"${s.replace(/"/g, '""')}"`;
  return `${q(user)} ${q(secret)}`;
}

/**
 * Writes `<dir>/pgbouncer.ini` and `<dir>/userlist.txt` (plus an empty logfile), all owned by postgres
 * mode 0640, and makes `dir` itself owned by postgres (pgbouncer puts its unix socket and pidfile there).
 * Create `dir` with `makeTempDir(prefix, { owner: 'postgres' })`.
 */
export async function writeTestPgbouncerConfig(dir: string, o: TestPgbouncerConfigOptions): Promise<TestPgbouncerConfig> {
  const pgUser = lookupUser('postgres');
  const iniPath = join(dir, 'pgbouncer.ini');
  const userlistPath = join(dir, 'userlist.txt');
  const logfile = join(dir, 'pgbouncer.log');
  const pidfile = join(dir, 'pgbouncer.pid');
  const authType = o.authType ?? o.auth_type ?? 'scram-sha-256';
  const poolMode = o.poolMode ?? o.pool_mode ?? 'transaction';
  const admins = o.adminUsers ?? (typeof o.admin_users === 'string' ? o.admin_users.split(',') : o.admin_users) ?? [];
  const pgHost = o.pgHost ?? '127.0.0.1';

  const settings: Record<string, string | number | boolean> = {
    listen_addr: '127.0.0.1',
    listen_port: o.port,
    unix_socket_dir: dir,
    auth_type: authType,
    auth_file: userlistPath,
    pool_mode: poolMode,
    logfile,
    pidfile,
    ...(admins.length ? { admin_users: admins.map((s) => s.trim()).join(', ') } : {}),
    ...(o.statsUsers?.length ? { stats_users: o.statsUsers.join(', ') } : {}),
    ...o.extra,
  };
  for (const [k, v] of Object.entries(settings)) {
    if (/[\r\n]/.test(String(v))) throw new Error(`setting ${k} contains a newline`);
  }
  const dbLine = (name: string): string => (/^[A-Za-z0-9_.*-]+$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`);
  const lines = [
    '; written by test/helpers/pgbouncer.ts writeTestPgbouncerConfig',
    '[databases]',
    `${dbLine(o.dbname)} = host=${pgHost} port=${o.pgPort} dbname=${o.serverDbname ?? o.dbname}`,
    ...Object.entries(o.databases ?? {}).map(([k, v]) => `${dbLine(k)} = ${v}`),
    '',
    '[users]',
    ...Object.entries(o.users ?? {}).map(([k, v]) => `${dbLine(k)} = ${v}`),
    '',
    '[pgbouncer]',
    ...Object.entries(settings).map(([k, v]) => `${k} = ${typeof v === 'boolean' ? (v ? 1 : 0) : v}`),
    '',
  ];
  await chown(dir, pgUser.uid, pgUser.gid);
  for (const [file, text] of [
    [iniPath, lines.join('\n')],
    [userlistPath, (o.userlist ?? []).map((l) => `${l}\n`).join('')],
    [logfile, ''],
  ] as const) {
    await writeFile(file, text, { mode: 0o640, flag: file === logfile ? 'a' : 'w' });
    await chmod(file, 0o640);
    await chown(file, pgUser.uid, pgUser.gid);
  }
  return { dir, iniPath, userlistPath, logfile, pidfile, port: o.port };
}

// ---------------------------------------------------------------------------------------------
// Setups rendered by pgb-setup

/** `--set` values that keep a rendered pgbouncer inside `dir`, on `port`: its socket, pidfile, logfile and userlist. */
export function settingsInside(dir: string, port: number): string[] {
  return [
    `listen_port=${port}`,
    `unix_socket_dir=${dir}`,
    `pidfile=${join(dir, 'pgbouncer.pid')}`,
    `logfile=${join(dir, 'pgbouncer.log')}`,
    `auth_file=${join(dir, 'userlist.txt')}`,
  ];
}

/** The profile flags of a pgb-setup command: `--pgbouncer-version <version>`, then `--set <setting>` for each setting. */
export function profileFlags(version: string, settings: string[]): string[] {
  return ['--pgbouncer-version', version, ...settings.flatMap((s) => ['--set', s])];
}

/**
 * Starts pgbouncer on the pgbouncer.ini that `pgb-setup render --out dir` wrote: hands the ini and
 * userlist.txt to the postgres user and gives the cluster's app_user the rendered userlist's secret,
 * so logins through pgbouncer work.
 */
export async function startRenderedPgbouncer(cluster: Pick<PgCluster, 'query'>, dir: string, binary: string): Promise<RunningPgbouncer> {
  const [bouncer] = await startRendered(cluster, dir, binary, ['pgbouncer.ini']);
  return bouncer!;
}

/**
 * The same for a `render --processes N` group: pgbouncer-1.ini … pgbouncer-N.ini, each process with
 * its socket folder `dir/pgbouncer-<i>` (made here, owned by postgres). Returns the processes in order.
 */
export async function startRenderedPgbouncerGroup(
  cluster: Pick<PgCluster, 'query'>,
  dir: string,
  binary: string,
  processes: number,
): Promise<RunningPgbouncer[]> {
  const pgUser = lookupUser('postgres');
  const numbers = Array.from({ length: processes }, (_, i) => i + 1);
  for (const i of numbers) {
    await mkdir(join(dir, `pgbouncer-${i}`));
    await chown(join(dir, `pgbouncer-${i}`), pgUser.uid, pgUser.gid);
  }
  return startRendered(cluster, dir, binary, numbers.map((i) => `pgbouncer-${i}.ini`));
}

async function startRendered(cluster: Pick<PgCluster, 'query'>, dir: string, binary: string, inis: string[]): Promise<RunningPgbouncer[]> {
  const pgUser = lookupUser('postgres');
  for (const f of [...inis, 'userlist.txt']) await chown(join(dir, f), pgUser.uid, pgUser.gid);
  const secret = parseUserlist(await readFile(join(dir, 'userlist.txt'), 'utf8')).entries[0]!.secret;
  await cluster.query(`ALTER ROLE app_user PASSWORD '${secret}'`);
  const started: RunningPgbouncer[] = [];
  try {
    for (const ini of inis) started.push(await startPgbouncer({ binary, iniPath: join(dir, ini) }));
  } catch (err) {
    // The caller gets no handle on the processes already started: stop them here.
    for (const b of started) await b.stop();
    throw err;
  }
  return started;
}

// ---------------------------------------------------------------------------------------------
// Client helpers

export interface ClientLogin {
  user: string;
  password?: string;
  database?: string;
}

/** Opens a `pg.Client` through a running pgbouncer (TCP). Caller must `end()` it. */
export async function connectThrough(b: Pick<RunningPgbouncer, 'host' | 'port'>, login: ClientLogin): Promise<pg.Client> {
  if (!b.host) throw new Error('this pgbouncer has no TCP listener');
  const client = new pg.Client({
    host: b.host,
    port: b.port,
    user: login.user,
    password: login.password,
    database: login.database ?? login.user,
    connectionTimeoutMillis: 10_000,
  });
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw err;
  }
  client.on('error', () => {}); // server-side disconnects must not crash the test process
  return client;
}

/**
 * Runs one admin-console command (database `pgbouncer`, simple query protocol, no parameters) and
 * returns its rows (all values are strings or null).
 */
export async function adminQuery(
  b: Pick<RunningPgbouncer, 'host' | 'port'>,
  login: Omit<ClientLogin, 'database'>,
  command: string,
): Promise<Record<string, string | null>[]> {
  const client = await connectThrough(b, { ...login, database: 'pgbouncer' });
  try {
    const res = await client.query<Record<string, unknown>>(command);
    return res.rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v === null ? null : String(v)])));
  } finally {
    await client.end().catch(() => {});
  }
}
