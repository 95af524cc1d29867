/**
 * Throwaway PostgreSQL 15 clusters for real-system tests: initdb into a fresh temp dir (owned by
 * the `postgres` OS user), listen on 127.0.0.1 only, on a free port, with a private unix socket dir.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { chmod, chown, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { ensureSystemPackages, PG_BIN_DIR } from './pgbouncer-binaries.js';
import { freePort } from './ports.js';
import { asUser, isAlive, lookupUser, run, stopPid } from './proc.js';
import { trackProcess } from './registry.js';
import { makeTempDir, tailFile } from './tmp.js';

export type PasswordEncryption = 'scram-sha-256' | 'md5';

export interface StartPostgresOptions {
  /** `password_encryption` and the pg_hba method for TCP (default scram-sha-256). */
  passwordEncryption?: PasswordEncryption;
  /** `max_connections` (default 100). */
  maxConnections?: number;
  /** Extra settings written verbatim as `key = value` (quote string values yourself: `"'64MB'"`). */
  settings?: Record<string, string | number>;
}

export interface CreateRoleOptions {
  login?: boolean; // default true
  superuser?: boolean;
  createdb?: boolean;
  connectionLimit?: number;
  /** `VALID UNTIL` timestamp literal, e.g. '2000-01-01'. */
  validUntil?: string;
  /** `password_encryption` for this statement when `password` is plain text (default: the cluster's). */
  passwordEncryption?: PasswordEncryption;
}

export interface RoleInfo {
  name: string;
  /** `pg_authid.rolpassword` as stored (SCRAM verifier / md5 hash), or null. */
  secret: string | null;
}

export interface QueryOptions {
  database?: string;
  user?: string;
  password?: string;
}

export interface PgCluster {
  host: '127.0.0.1';
  port: number;
  socketDir: string;
  dataDir: string;
  /** Parent temp dir (data dir, socket dir, log file live inside it). */
  baseDir: string;
  logfile: string;
  superuser: 'postgres';
  superuserPassword: string;
  passwordEncryption: PasswordEncryption;
  /** PID of the postmaster. */
  pid: number;
  /** Runs `sql` over TCP as the superuser (or opts.user) and returns the rows. */
  query<R extends Record<string, unknown> = Record<string, any>>(
    sql: string,
    params?: unknown[],
    opts?: QueryOptions,
  ): Promise<R[]>;
  /** A connected `pg.Client` (caller must `end()` it). Defaults: superuser, database `postgres`. */
  connect(opts?: QueryOptions): Promise<pg.Client>;
  /**
   * CREATE ROLE with a password; `password` may be plain text or a ready SCRAM/md5 verifier (stored
   * verbatim by PostgreSQL if well-formed). Returns what pg_authid stored.
   */
  createRole(name: string, password: string | null, opts?: CreateRoleOptions): Promise<RoleInfo>;
  createDatabase(name: string, owner?: string): Promise<void>;
  /** `pg_authid.rolpassword` of a role. */
  roleSecret(name: string): Promise<string | null>;
  /** Last `n` lines of the server log. */
  logTail(n?: number): Promise<string>;
  /** Stops this postmaster by PID (SIGINT = fast shutdown, escalating) and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

function ident(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

function literal(s: string): string {
  // standard_conforming_strings is on: only quotes need doubling; use E'' when backslashes are present.
  const q = `'${s.replace(/'/g, "''")}'`;
  return s.includes('\\') ? `E${q.replace(/\\/g, '\\\\')}` : q;
}

async function spawnPostmaster(
  dataDir: string,
  cwd: string,
  logfile: string,
): Promise<{ pid: number; exited: () => string | undefined }> {
  const u = lookupUser('postgres');
  const fd = openSync(logfile, 'a');
  try {
    const child = spawn(join(PG_BIN_DIR, 'postgres'), ['-D', dataDir], {
      cwd,
      env: { ...process.env, HOME: u.home, USER: u.name, LOGNAME: u.name, PGDATA: undefined, PGPORT: undefined },
      stdio: ['ignore', fd, fd],
      ...asUser('postgres'),
    });
    await new Promise<void>((res, rej) => {
      child.once('spawn', () => res());
      child.once('error', rej);
    });
    let exitInfo: string | undefined;
    child.once('exit', (code, signal) => {
      exitInfo = `postmaster exited with ${code ?? signal}`;
    });
    child.unref();
    return { pid: child.pid!, exited: () => exitInfo ?? (isAlive(child.pid!) ? undefined : 'postmaster exited') };
  } finally {
    closeSync(fd);
  }
}

/** Waits until postmaster.pid says "ready" (what pg_ctl -w checks). Returns true or the failure reason. */
async function waitReady(
  dataDir: string,
  pid: number,
  exited: () => string | undefined,
  timeoutMs: number,
): Promise<true | string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const why = exited();
    if (why) return why;
    const lines = (await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '')).split('\n');
    if (Number(lines[0]) === pid && lines[7]?.trim() === 'ready') return true;
    if (Date.now() > deadline) return `not ready after ${timeoutMs} ms`;
    await sleep(25);
  }
}

export async function startPostgres(opts: StartPostgresOptions = {}): Promise<PgCluster> {
  await ensureSystemPackages();
  const enc: PasswordEncryption = opts.passwordEncryption ?? 'scram-sha-256';
  const pgUser = lookupUser('postgres');
  const tmp = await makeTempDir('pg', { owner: 'postgres', mode: 0o755 });
  const baseDir = tmp.path;
  const dataDir = join(baseDir, 'data');
  const socketDir = join(baseDir, 'sock');
  const logfile = join(baseDir, 'postgres.log');
  const superuserPassword = randomBytes(18).toString('base64url');
  let pid = 0;
  let port = 0;
  let untrack: () => void = () => {};

  try {
    // Password via a 0600 file owned by postgres, never on argv.
    const pwfile = join(baseDir, 'pwfile');
    await writeFile(pwfile, `${superuserPassword}\n`, { mode: 0o600 });
    await chown(pwfile, pgUser.uid, pgUser.gid);
    await run(join(PG_BIN_DIR, 'initdb'), [
      '-D', dataDir, '-U', 'postgres', `--pwfile=${pwfile}`, '-E', 'UTF8', '--locale=C',
      `--auth-host=${enc}`, '--auth-local=peer', '--no-sync', '--no-instructions',
    ], { user: 'postgres' });
    await rm(pwfile, { force: true });

    await run('mkdir', ['-m', '0755', socketDir], { user: 'postgres' });
    await writeFile(join(dataDir, 'pg_hba.conf'), [
      '# written by test/helpers/postgres.ts',
      'local   all   postgres                 peer',
      `local   all   all                      ${enc}`,
      `host    all   all        127.0.0.1/32  ${enc}`,
      '',
    ].join('\n'));
    await chown(join(dataDir, 'pg_hba.conf'), pgUser.uid, pgUser.gid);
    await chmod(join(dataDir, 'pg_hba.conf'), 0o600);
    await writeFile(logfile, '', { flag: 'a' });
    await chown(logfile, pgUser.uid, pgUser.gid);

    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      const conf: Record<string, string | number> = {
        listen_addresses: "'127.0.0.1'",
        port,
        unix_socket_directories: literal(socketDir),
        max_connections: opts.maxConnections ?? 100,
        password_encryption: `'${enc}'`,
        fsync: 'off',
        synchronous_commit: 'off',
        full_page_writes: 'off',
        shared_buffers: "'32MB'",
        logging_collector: 'off',
        log_line_prefix: "'%m [%p] %q%u@%d '",
        ...opts.settings,
      };
      // postgresql.auto.conf is read last, so rewriting it on a retry replaces the port.
      await writeFile(
        join(dataDir, 'postgresql.auto.conf'),
        `# written by test/helpers/postgres.ts\n${Object.entries(conf).map(([k, v]) => `${k} = ${v}`).join('\n')}\n`,
      );
      await chown(join(dataDir, 'postgresql.auto.conf'), pgUser.uid, pgUser.gid);
      // The postmaster runs as our direct child (not via pg_ctl), so we reap it when it stops.
      const started = await spawnPostmaster(dataDir, baseDir, logfile);
      pid = started.pid;
      untrack = trackProcess({ kind: 'postgres', pid, signal: 'SIGQUIT', dirs: [baseDir] });
      const ready = await waitReady(dataDir, pid, started.exited, 60_000);
      if (ready === true) break;
      untrack();
      await stopPid(pid, ['SIGQUIT', 'SIGKILL'], 3_000);
      const log = await tailFile(logfile, 20);
      if (attempt < 3 && /could not bind|Address already in use|could not create any TCP/i.test(log)) continue;
      throw new Error(`PostgreSQL failed to start (${ready}):\n${log}`);
    }
  } catch (err) {
    await tmp.cleanup();
    throw err;
  }

  const connect = async (o: QueryOptions = {}): Promise<pg.Client> => {
    const client = new pg.Client({
      host: '127.0.0.1',
      port,
      user: o.user ?? 'postgres',
      password: o.password ?? (o.user && o.user !== 'postgres' ? undefined : superuserPassword),
      database: o.database ?? 'postgres',
      connectionTimeoutMillis: 10_000,
    });
    await client.connect();
    return client;
  };

  const query = async <R extends Record<string, unknown>>(
    sql: string,
    params?: unknown[],
    o?: QueryOptions,
  ): Promise<R[]> => {
    const client = await connect(o);
    try {
      const res = await client.query<R>(sql, params);
      return res.rows;
    } finally {
      await client.end().catch(() => {});
    }
  };

  const roleSecret = async (name: string): Promise<string | null> => {
    const rows = await query<{ rolpassword: string | null }>(
      'SELECT rolpassword FROM pg_authid WHERE rolname = $1',
      [name],
    );
    if (!rows[0]) throw new Error(`role ${name} does not exist`);
    return rows[0].rolpassword;
  };

  let stopped: Promise<void> | undefined;
  const cluster: PgCluster = {
    host: '127.0.0.1',
    port,
    socketDir,
    dataDir,
    baseDir,
    logfile,
    superuser: 'postgres',
    superuserPassword,
    passwordEncryption: enc,
    pid,
    query,
    connect,
    roleSecret,
    async createRole(name, password, o = {}) {
      const parts = [o.login === false ? 'NOLOGIN' : 'LOGIN'];
      if (o.superuser) parts.push('SUPERUSER');
      if (o.createdb) parts.push('CREATEDB');
      if (o.connectionLimit !== undefined) parts.push(`CONNECTION LIMIT ${Math.trunc(o.connectionLimit)}`);
      if (o.validUntil) parts.push(`VALID UNTIL ${literal(o.validUntil)}`);
      if (password !== null) parts.push(`PASSWORD ${literal(password)}`);
      const client = await connect();
      try {
        // Same session, so SET applies to the CREATE ROLE.
        if (o.passwordEncryption) await client.query(`SET password_encryption = ${literal(o.passwordEncryption)}`);
        await client.query(`CREATE ROLE ${ident(name)} ${parts.join(' ')}`);
      } finally {
        await client.end().catch(() => {});
      }
      return { name, secret: await roleSecret(name) };
    },
    async createDatabase(name, owner) {
      await query(`CREATE DATABASE ${ident(name)}${owner ? ` OWNER ${ident(owner)}` : ''}`);
    },
    logTail: (n = 30) => tailFile(logfile, n),
    stop() {
      stopped ??= (async () => {
        // SIGINT = fast shutdown; SIGQUIT = immediate; SIGKILL last. Only this postmaster's PID.
        await stopPid(pid, ['SIGINT', 'SIGQUIT', 'SIGKILL'], 15_000);
        untrack();
        await tmp.cleanup();
      })();
      return stopped;
    },
  };
  return cluster;
}

/**
 * The cluster a rendered development or production setup connects to: login role `app_user` owning
 * database `appdb`. The role's password is a placeholder until `startRenderedPgbouncer` (pgbouncer.ts)
 * gives it the secret of the rendered userlist.
 */
export async function startPostgresWithAppDatabase(): Promise<PgCluster> {
  const cluster = await startPostgres({ passwordEncryption: 'scram-sha-256' });
  try {
    await cluster.createRole('app_user', 'placeholder');
    await cluster.createDatabase('appdb', 'app_user');
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}
