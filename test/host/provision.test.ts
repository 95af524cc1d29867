/**
 * The main job end to end on this Debian machine, for real: apt, /etc/pgbouncer, pgbouncer started
 * without systemd on port 6432, a temp PostgreSQL 15 behind it. Runs in the `host` project, alone.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { canConnect } from '../helpers/ports.js';
import { isAlive, lookupUser, run, stopPid, type RunResult } from '../helpers/proc.js';

const BIN = join(import.meta.dirname, '../../bin/pgb-setup.js');
const PASSWORD = 'app-password-for-host-test';
const INI = '/etc/pgbouncer/pgbouncer.ini';
const USERLIST = '/etc/pgbouncer/userlist.txt';
const PIDFILE = '/var/run/postgresql/pgbouncer.pid';

let cluster: PgCluster;
let env: Record<string, string>;

function cli(args: string[], extraEnv: Record<string, string> = {}): Promise<RunResult> {
  return run(process.execPath, [BIN, ...args], { env: { ...env, ...extraEnv }, timeoutMs: 280_000, check: false });
}

function runningPid(): number | undefined {
  if (!existsSync(PIDFILE)) return undefined;
  const pid = Number(readFileSync(PIDFILE, 'utf8').trim());
  return Number.isInteger(pid) && isAlive(pid) ? pid : undefined;
}

async function login(password = PASSWORD, ssl?: pg.ClientConfig['ssl']): Promise<number> {
  const client = new pg.Client({ host: '127.0.0.1', port: 6432, user: 'app_user', password, database: 'appdb', connectionTimeoutMillis: 5000, ...(ssl ? { ssl } : {}) });
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query('select 1 as one')).rows[0].one as number;
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  if (await canConnect('127.0.0.1', 6432)) {
    const pid = runningPid();
    if (!pid) throw new Error('port 6432 is taken by a process this test did not start; free it first');
  }
  const leftover = runningPid();
  if (leftover) await stopPid(leftover, ['SIGINT', 'SIGKILL']); // a pgbouncer an earlier run of this test started
  cluster = await startPostgres({ passwordEncryption: 'scram-sha-256' });
  await cluster.createRole('app_user', PASSWORD);
  await cluster.createDatabase('appdb', 'app_user');
  env = {
    DBNAME: 'appdb', DBUSER: 'app_user', DBPASS: PASSWORD, DBHOST: '127.0.0.1', DBPORT: String(cluster.port),
    PGHOST: '127.0.0.1', PGPORT: String(cluster.port), PGUSER: 'postgres', PGPASSWORD: cluster.superuserPassword,
  };
  // Start from a host without pgbouncer, as a new server would be.
  await run('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'purge', '-y', '-q', 'pgbouncer'], { env: { DEBIAN_FRONTEND: 'noninteractive' } });
  expect(existsSync('/usr/sbin/pgbouncer')).toBe(false);
});

afterAll(async () => {
  const pid = runningPid();
  if (pid) await stopPid(pid, ['SIGINT', 'SIGKILL']);
  await cluster?.stop();
});

describe('sudo pgb-setup development --yes on a real Debian 12 host without systemd', () => {
  it('installs pgbouncer, writes the files with the right owner and modes, starts it, and a login works', async () => {
    const r = await cli(['development', '--yes', '--copy-server-secret']);
    expect(r.stderr).toMatch(/done: pgbouncer is configured and verified/);
    expect(r.code).toBe(0);
    expect(existsSync('/usr/sbin/pgbouncer')).toBe(true);
    const postgres = lookupUser('postgres');
    for (const [path, mode] of [[INI, 0o640], [USERLIST, 0o600]] as const) {
      const st = statSync(path);
      expect({ path, mode: st.mode & 0o777, uid: st.uid, gid: st.gid }).toEqual({ path, mode, uid: postgres.uid, gid: postgres.gid });
    }
    expect(readFileSync(USERLIST, 'utf8')).not.toContain(PASSWORD);
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
    expect(runningPid()).toBeDefined();
    expect(await login()).toBe(1);
    await expect(login('wrong')).rejects.toThrow();
  });

  it('a second run changes nothing: no file rewritten, no reload', async () => {
    const before = [INI, USERLIST].map((p) => statSync(p).mtimeMs);
    const pid = runningPid();
    const r = await cli(['development', '--yes', '--copy-server-secret', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ changed: false });
    expect([INI, USERLIST].map((p) => statSync(p).mtimeMs)).toEqual(before);
    expect(runningPid()).toBe(pid);
  });

  it('an override pgbouncer rejects leaves the previous config in place and serving', async () => {
    const ini = readFileSync(INI, 'utf8');
    const pid = runningPid();
    const r = await cli(['development', '--yes', '--copy-server-secret', '--set', 'client_tls_sslmode=require', '--set', 'client_tls_key_file=/nonexistent/key.pem', '--set', 'client_tls_cert_file=/nonexistent/cert.pem']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/pgbouncer refused the new config, nothing was changed: .*(key|cert|TLS|tls)/i);
    expect(readFileSync(INI, 'utf8')).toBe(ini);
    expect(runningPid()).toBe(pid);
    expect(await login()).toBe(1);
  });

  it('bad input is exit 2 with the field named, and nothing changes', async () => {
    const ini = readFileSync(INI, 'utf8');
    const r = await cli(['development', '--yes', '--set', 'default_pool_size=lots']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('pgb-setup: pgbouncer.default_pool_size: must be a whole number (from --set)');
    expect(readFileSync(INI, 'utf8')).toBe(ini);
  });

  it('a reloadable change reloads the same process; rollback brings the previous files back', async () => {
    const ini = readFileSync(INI, 'utf8');
    const pid = runningPid();
    const r = await cli(['development', '--yes', '--copy-server-secret', '--set', 'default_pool_size=7']);
    expect(r.stderr).toMatch(/service reload/);
    expect(r.code).toBe(0);
    expect(readFileSync(INI, 'utf8')).toMatch(/^default_pool_size = 7$/m);
    expect(runningPid()).toBe(pid);
    const list = await cli(['rollback', '--list', '--json']);
    expect(JSON.parse(list.stdout)[0]).toMatchObject({ restored: false, files: [INI] });
    const back = await cli(['rollback']);
    expect(back.code).toBe(0);
    expect(back.stderr).toMatch(/reloaded pgbouncer/);
    expect(readFileSync(INI, 'utf8')).toBe(ini);
    expect(await login()).toBe(1);
  });

  it('a listen_port change restarts pgbouncer on the new port', async () => {
    const pid = runningPid();
    const r = await cli(['development', '--yes', '--copy-server-secret'], { PGBOUNCER_PORT: '6433' });
    expect(r.stderr).toMatch(/service restart \(daemon\): a reload cannot apply listen_port/);
    expect(r.code).toBe(0);
    expect(runningPid()).not.toBe(pid);
    expect(await canConnect('127.0.0.1', 6433)).toBe(true);
    const again = await cli(['development', '--yes', '--copy-server-secret']);
    expect(again.code).toBe(0);
    expect(await login()).toBe(1);
  });

  it('--processes 2 replaces the single pgbouncer by two on the same port, and back', async () => {
    const single = runningPid();
    const r = await cli(['development', '--yes', '--copy-server-secret', '--processes', '2', '--no-peers']);
    expect(r.stderr).not.toMatch(/pgb-setup:/);
    expect(r.code).toBe(0);
    expect(single === undefined || !isAlive(single)).toBe(true);
    const pids = [1, 2].map((i) => Number(readFileSync(`/var/run/postgresql/pgbouncer-${i}.pid`, 'utf8').trim()));
    expect(pids.every((p) => isAlive(p))).toBe(true);
    for (const i of [1, 2]) {
      expect(readFileSync(`/etc/pgbouncer/pgbouncer-${i}.ini`, 'utf8')).toMatch(/^so_reuseport = 1$/m);
      expect(statSync(`/var/run/postgresql/pgbouncer-${i}`).isDirectory()).toBe(true);
    }
    for (let i = 0; i < 6; i++) expect(await login()).toBe(1);
    const again = await cli(['development', '--yes', '--copy-server-secret', '--processes', '2', '--no-peers', '--json']);
    expect(JSON.parse(again.stdout)).toMatchObject({ changed: false });
    // Back to one process: the group gives the port back.
    const back = await cli(['development', '--yes', '--copy-server-secret']);
    expect(back.code).toBe(0);
    expect(pids.some((p) => isAlive(p))).toBe(false);
    expect(runningPid()).toBeDefined();
    expect(await login()).toBe(1);
  });

  it('--processes 2 on pgbouncer 1.18 without --no-peers is refused with the reason, nothing changed', async () => {
    const ini = readFileSync(INI, 'utf8');
    const r = await cli(['development', '--yes', '--processes', '2']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--processes 2: several processes on one port need \[peers\] \(pgbouncer 1\.19\+\)/);
    expect(readFileSync(INI, 'utf8')).toBe(ini);
  });

  // --skip-firewall: this machine's own firewall is never changed; pgbouncer's HBA file holds the rule.
  it('--tls self-signed live: candidate check, switch and reload; verify-full with the CA logs in, plain text is refused; a re-run keeps TLS, --no-tls turns it off', async () => {
    const pid = runningPid();
    const r = await cli(['development', '--yes', '--copy-server-secret', '--skip-firewall', '--tls', 'self-signed', '--allow-from', '127.0.0.1/32']);
    expect(r.code, r.stderr).toBe(0);
    expect(runningPid()).toBe(pid);
    const key = statSync('/etc/pgbouncer/tls/server.key');
    const postgres = lookupUser('postgres');
    expect({ mode: key.mode & 0o777, uid: key.uid }).toEqual({ mode: 0o600, uid: postgres.uid });
    const ca = readFileSync('/etc/pgbouncer/tls/ca.crt', 'utf8');
    expect(await login(PASSWORD, { ca, rejectUnauthorized: true })).toBe(1);
    await expect(login()).rejects.toThrow();
    const again = await cli(['development', '--yes', '--copy-server-secret', '--skip-firewall', '--allow-from', '127.0.0.1/32', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('keeping the installed client TLS (self-signed)');
    expect(JSON.parse(again.stdout)).toMatchObject({ changed: false });
    const off = await cli(['development', '--yes', '--copy-server-secret', '--skip-firewall', '--no-tls']);
    expect(off.code, off.stderr).toBe(0);
    expect(off.stderr).toMatch(/client TLS is switched OFF by this run/);
    expect(runningPid()).toBe(pid);
    expect(await login()).toBe(1);
  });
});
