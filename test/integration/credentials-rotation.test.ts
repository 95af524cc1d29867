/**
 * Rotation under load, end to end: pgbench runs through a real pgbouncer (1.18 and 1.24) for ten
 * seconds as one user, with persistent connections and with a new connection per transaction,
 * while ANOTHER user's password is rotated with `hash-user --userlist --apply-server --reload`.
 * pgbench must report zero failed transactions; the rotated user logs in with the new password and
 * not with the old one, directly and through pgbouncer; a client of the rotated user that was
 * connected before keeps working. Every child process the command starts is recorded: no password
 * or verifier is on any argv, and stdout/stderr carry nothing secret but the userlist line itself.
 * 1.18 reloads through the admin console, 1.24 through SIGHUP to the pidfile's process.
 */
import { spawn } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/main.js';
import { parseUserlist } from '../../src/auth/userlist.js';
import { createNodeSystem } from '../../src/system/node-system.js';
import { captureContext } from '../helpers/context.js';
import { pgbouncerBinaries } from '../helpers/binaries.js';
import { PG_BIN_DIR } from '../helpers/pgbouncer-binaries.js';
import { connectThrough, startPgbouncer, writeTestPgbouncerConfig } from '../helpers/pgbouncer.js';
import { freePort } from '../helpers/ports.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { lookupUser, run } from '../helpers/proc.js';
import { makeTempDir } from '../helpers/tmp.js';

const BENCH_PW = 'bench-pw-7f3a';
const ADMIN_PW = 'console-admin-pw-91c2';
let cluster: PgCluster;

async function hashLine(user: string, password: string): Promise<string> {
  const ctx = captureContext({ readStdin: async () => password });
  expect(await main(['node', 'pgb-setup', 'hash-user', user, '--password-stdin'], ctx)).toBe(0);
  return ctx.out().trim();
}

const secretOf = (line: string) => parseUserlist(line).entries[0]!.secret;

interface PgbenchResult {
  code: number | null;
  out: string;
  processed: number;
  failed: number;
  tps: number;
}

/** pgbench as a child of the test (not of the command under test); its password via PGPASSWORD. */
function pgbench(port: number, args: string[]): Promise<PgbenchResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(PG_BIN_DIR, 'pgbench'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'bench', '-n', ...args, 'benchdb'], {
      env: { ...process.env, PGPASSWORD: BENCH_PW, PGPASSFILE: '/dev/null' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b) => (out += String(b)));
    child.stderr.on('data', (b) => (out += String(b)));
    child.on('error', reject);
    child.on('close', (code) => {
      const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
      resolve({
        code,
        out,
        processed: num(/number of transactions actually processed: (\d+)/),
        // pgbench 15 prints "number of failed transactions: 0 (0.000%)"
        failed: num(/number of failed transactions: (\d+)/),
        tps: num(/tps = ([\d.]+)/),
      });
    });
  });
}

beforeAll(async () => {
  cluster = await startPostgres({ passwordEncryption: 'scram-sha-256', maxConnections: 150 });
  await cluster.createRole('bench', BENCH_PW);
  await cluster.createDatabase('benchdb', 'bench');
  await run(join(PG_BIN_DIR, 'pgbench'), ['-i', '-s', '1', '-q', '-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'bench', 'benchdb'], {
    env: { PGPASSWORD: BENCH_PW, PGPASSFILE: '/dev/null' },
    timeoutMs: 120_000,
  });
});
afterAll(async () => {
  await cluster?.stop();
});

describe.each(pgbouncerBinaries())('rotation under load through pgbouncer $label', ({ label, binary }) => {
  it('pgbench as another user sees zero failed transactions; the rotated user has the new password only; no secret leaks', async () => {
    const rot = `rot_${label.replace('.', '')}`;
    const oldPw = `old-${rot}-pw-3b1e`;
    const newPw = `new-${rot}-pw-c04d "q" 'x'`;
    const admin = `pgb_admin_${label.replace('.', '')}`;
    const rotLine = await hashLine(rot, oldPw);
    await cluster.createRole(rot, secretOf(rotLine));
    const adminLine = await hashLine(admin, ADMIN_PW);
    const benchLine = await hashLine('bench', BENCH_PW);
    // pgbouncer needs bench's identical verifier on the server for SCRAM pass-through.
    await cluster.query(`ALTER ROLE bench PASSWORD '${secretOf(benchLine)}'`);

    const dir = await makeTempDir(`rotation-${label}`, { owner: 'postgres' });
    const cfg = await writeTestPgbouncerConfig(dir.path, {
      port: await freePort(),
      pgPort: cluster.port,
      dbname: 'benchdb',
      authType: 'scram-sha-256',
      poolMode: 'transaction',
      adminUsers: [admin],
      userlist: ['; managed by the rotation test', benchLine, rotLine, adminLine],
      extra: { default_pool_size: 10, max_client_conn: 200, log_connections: 0, log_disconnections: 0 },
    });
    const before = await readFile(cfg.userlistPath, 'utf8');
    const bouncer = await startPgbouncer({ binary, iniPath: cfg.iniPath });
    try {
      const oldClient = await connectThrough(bouncer, { user: rot, password: oldPw, database: 'benchdb' });
      await oldClient.query('select 1');

      const persistent = pgbench(bouncer.port, ['-c', '8', '-j', '2', '-T', '10']);
      const reconnecting = pgbench(bouncer.port, ['-C', '-c', '2', '-j', '1', '-T', '10']);
      await new Promise((r) => setTimeout(r, 3_000));

      const execs: string[][] = [];
      const useConsole = label === '1.18';
      const ctx = captureContext({
        system: createNodeSystem({ onExec: (cmd, args) => void execs.push([cmd, ...args]) }),
        readStdin: async () => newPw,
        env: {
          PGHOST: '127.0.0.1',
          PGPORT: String(cluster.port),
          PGUSER: 'postgres',
          PGPASSWORD: cluster.superuserPassword,
          ...(useConsole ? { PGBOUNCER_ADMIN_PASSWORD: ADMIN_PW } : {}),
        },
      });
      const started = Date.now();
      const code = await main(
        [
          'node', 'pgb-setup', 'hash-user', rot, '--password-stdin',
          '--userlist', cfg.userlistPath, '--apply-server', '--reload',
          '--pgbouncer-host', '127.0.0.1', '--pgbouncer-port', String(bouncer.port),
          '--admin-user', admin, '--pidfile', cfg.pidfile, '--login-db', 'benchdb',
        ],
        ctx,
      );
      const rotationMs = Date.now() - started;
      expect(ctx.err(), ctx.err()).not.toMatch(/pgb-setup:/);
      expect(code).toBe(0);
      expect(ctx.err()).toMatch(useConsole ? /pgbouncer reloaded: admin console RELOAD/ : /pgbouncer reloaded: SIGHUP to pgbouncer process \d+/);
      expect(ctx.err()).toMatch(/\[2\/4\] PostgreSQL .*pg_authid holds exactly the new verifier/);
      expect(ctx.err()).toMatch(/\[4\/4\] login through pgbouncer .* with the new password: ok/);

      const [p, r] = await Promise.all([persistent, reconnecting]);
      console.log(
        `[rotation ${label}] rotation took ${rotationMs} ms; pgbench persistent: ${p.processed} tx, ${p.tps} tps, failed ${p.failed}; ` +
          `reconnecting (-C): ${r.processed} tx, ${r.tps} tps, failed ${r.failed}`,
      );
      for (const b of [p, r]) {
        expect(b.code, b.out).toBe(0);
        expect(b.failed, b.out).toBe(0);
        expect(b.processed).toBeGreaterThan(0);
      }

      // The two sides agree, on the new password only.
      const after = await readFile(cfg.userlistPath, 'utf8');
      const newSecret = secretOf(ctx.out());
      expect(ctx.out()).toBe(`"${rot}" "${newSecret}"\n`);
      expect(await cluster.roleSecret(rot)).toBe(newSecret);
      expect(after).toBe(before.replace(rotLine, `"${rot}" "${newSecret}"`));
      const st = await stat(cfg.userlistPath);
      expect(st.mode & 0o777).toBe(0o600);
      expect(st.uid).toBe(lookupUser('postgres').uid);

      const fresh = await connectThrough(bouncer, { user: rot, password: newPw, database: 'benchdb' });
      await fresh.query('select 1');
      await fresh.end();
      await expect(connectThrough(bouncer, { user: rot, password: oldPw, database: 'benchdb' })).rejects.toThrow(/SASL authentication failed|password authentication failed/);
      expect(await cluster.query('select current_user as u', [], { user: rot, password: newPw, database: 'benchdb' })).toEqual([{ u: rot }]);
      await expect(cluster.query('select 1', [], { user: rot, password: oldPw, database: 'benchdb' })).rejects.toThrow(/password authentication failed/);
      // A client that logged in before the rotation keeps working (pooled, and new server
      // connections use the key cached from the new-password login the command made).
      await cluster.query('select pg_terminate_backend(pid) from pg_stat_activity where usename = $1', [rot]);
      await new Promise((res) => setTimeout(res, 200));
      await oldClient.query('select 1').catch(() => oldClient.query('select 1'));
      await oldClient.end();

      // Secrets stay secret.
      const secrets = [oldPw, newPw, ADMIN_PW, BENCH_PW, cluster.superuserPassword, newSecret, secretOf(rotLine)];
      const argv = execs.map((a) => a.join(' ')).join('\n');
      expect(execs.length).toBeGreaterThan(0);
      for (const s of secrets) expect(argv).not.toContain(s);
      for (const s of secrets) expect(ctx.err()).not.toContain(s);
      for (const s of secrets.filter((x) => x !== newSecret)) expect(ctx.out()).not.toContain(s);
      console.log(`[rotation ${label}] children started by the command: ${execs.map((a) => a.join(' ')).join(' | ')}`);
    } finally {
      await bouncer.stop();
      await dir.cleanup();
    }
  });

  it('fact: without a login with the new password after the reload, pgbouncer opens server connections with the old cached SCRAM key', async () => {
    const user = `cache_${label.replace('.', '')}`;
    const line = await hashLine(user, 'old-pw');
    await cluster.createRole(user, secretOf(line));
    const dir = await makeTempDir(`rotation-cache-${label}`, { owner: 'postgres' });
    const cfg = await writeTestPgbouncerConfig(dir.path, {
      port: await freePort(), pgPort: cluster.port, dbname: 'benchdb', authType: 'scram-sha-256', poolMode: 'transaction',
      userlist: [line], extra: { query_wait_timeout: 3, server_login_retry: 1 },
    });
    const bouncer = await startPgbouncer({ binary, iniPath: cfg.iniPath });
    try {
      const old = await connectThrough(bouncer, { user, password: 'old-pw', database: 'benchdb' });
      await old.query('select 1');
      const ctx = captureContext({
        readStdin: async () => 'new-pw',
        env: { PGHOST: '127.0.0.1', PGPORT: String(cluster.port), PGUSER: 'postgres', PGPASSWORD: cluster.superuserPassword },
      });
      // No --login-db and no console: the command cannot log in through pgbouncer, and says so.
      const code = await main(['node', 'pgb-setup', 'hash-user', user, '--password-stdin', '--userlist', cfg.userlistPath, '--apply-server', '--reload', '--pidfile', cfg.pidfile], ctx);
      expect(code).toBe(0);
      expect(ctx.err()).toMatch(/warning: no database to log in to through pgbouncer.*pgbouncer opens server connections with the old SCRAM key/);
      await cluster.query('select pg_terminate_backend(pid) from pg_stat_activity where usename = $1', [user]);
      await new Promise((res) => setTimeout(res, 300));
      // The client that logged in before needs a new server connection: made with the old key, refused.
      await expect(old.query('select 1')).rejects.toThrow(/password authentication failed|query_wait_timeout|server login/);
      await old.end().catch(() => {});
    } finally {
      await bouncer.stop();
      await dir.cleanup();
    }
  });
});
