/**
 * hash-user against the real thing: the printed verifier, set on a role, lets psql and node-postgres
 * log in with the plain password directly and through a real pgbouncer (1.18 and 1.24) whose
 * userlist holds the very same line; a wrong password is refused in both places. MD5 secrets equal
 * what PostgreSQL stores itself with password_encryption = md5.
 */
import { readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/main.js';
import { parseUserlist } from '../../src/auth/userlist.js';
import { captureContext } from '../helpers/context.js';
import { pgbouncerBinaries } from '../helpers/binaries.js';
import { PG_BIN_DIR } from '../helpers/pgbouncer-binaries.js';
import { connectThrough, startPgbouncer, writeTestPgbouncerConfig } from '../helpers/pgbouncer.js';
import { freePort } from '../helpers/ports.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { run } from '../helpers/proc.js';
import { makeTempDir } from '../helpers/tmp.js';

let cluster: PgCluster;

beforeAll(async () => {
  cluster = await startPostgres({ passwordEncryption: 'scram-sha-256' });
  await cluster.createDatabase('appdb');
});
afterAll(async () => {
  await cluster?.stop();
});

/** `pgb-setup hash-user <user> --password-stdin [...]` in-process; returns the one printed line. */
async function hashUser(user: string, password: string, extra: string[] = []): Promise<string> {
  const ctx = captureContext({ readStdin: async () => password });
  const code = await main(['node', 'pgb-setup', 'hash-user', user, '--password-stdin', ...extra], ctx);
  expect(ctx.err()).toBe('');
  expect(code).toBe(0);
  const out = ctx.out();
  expect(out.endsWith('\n')).toBe(true);
  expect(out.split('\n')).toHaveLength(2);
  return out.slice(0, -1);
}

function secretOf(line: string): string {
  const { entries } = parseUserlist(line);
  expect(entries).toHaveLength(1);
  return entries[0]!.secret;
}

async function psqlLogin(host: string, port: number, user: string, password: string, db: string): Promise<{ ok: boolean; out: string }> {
  const r = await run(join(PG_BIN_DIR, 'psql'), ['-h', host, '-p', String(port), '-U', user, '-d', db, '-X', '-tAc', 'select current_user'], {
    env: { PGPASSWORD: password, PGCONNECT_TIMEOUT: '10', PGPASSFILE: '/dev/null' },
    check: false,
    timeoutMs: 30_000,
  });
  return { ok: r.code === 0 && r.stdout.trim() === user, out: `${r.stdout}${r.stderr}`.trim() };
}

async function pgLogin(host: string, port: number, user: string, password: string, db: string): Promise<string> {
  const c = new pg.Client({ host, port, user, password, database: db, connectionTimeoutMillis: 10_000 });
  c.on('error', () => {});
  try {
    await c.connect();
    const r = await c.query<{ u: string }>('select current_user as u');
    return r.rows[0]!.u;
  } finally {
    await c.end().catch(() => {});
  }
}

describe('hash-user verifiers on a real PostgreSQL 15', () => {
  it('SCRAM: the verifier is stored verbatim and psql and pg log in with the plain password; a wrong one is refused', async () => {
    const password = 'Tr0ub4dor&3 "quoted" \\ back';
    const line = await hashUser('hu_direct', password);
    const secret = secretOf(line);
    expect(secret).toMatch(/^SCRAM-SHA-256\$4096:/);
    const stored = await cluster.createRole('hu_direct', secret);
    expect(stored.secret).toBe(secret);

    expect(await psqlLogin('127.0.0.1', cluster.port, 'hu_direct', password, 'appdb')).toMatchObject({ ok: true });
    expect(await pgLogin('127.0.0.1', cluster.port, 'hu_direct', password, 'appdb')).toBe('hu_direct');
    const wrong = await psqlLogin('127.0.0.1', cluster.port, 'hu_direct', `${password}x`, 'appdb');
    expect(wrong.ok).toBe(false);
    expect(wrong.out).toMatch(/password authentication failed/);
    await expect(pgLogin('127.0.0.1', cluster.port, 'hu_direct', 'wrong', 'appdb')).rejects.toThrow(/password authentication failed/);
  });

  it('SCRAM with --iterations and a non-ASCII password (SASLprep) logs in too', async () => {
    const password = 'pa\u00A0ss-\u00E9t\u00E9';
    const secret = secretOf(await hashUser('hu_iter', password, ['--iterations', '10000']));
    expect(secret).toMatch(/^SCRAM-SHA-256\$10000:/);
    await cluster.createRole('hu_iter', secret);
    expect(await cluster.roleSecret('hu_iter')).toBe(secret);
    expect(await psqlLogin('127.0.0.1', cluster.port, 'hu_iter', password, 'appdb')).toMatchObject({ ok: true });
    // SASLprep maps U+00A0 to a plain space: both spellings are the same password.
    expect(await pgLogin('127.0.0.1', cluster.port, 'hu_iter', 'pa ss-\u00E9t\u00E9', 'appdb')).toBe('hu_iter');
  });

  it('md5: the secret is exactly what PostgreSQL stores itself with password_encryption = md5', async () => {
    const password = 'Tr0ub4dor&3';
    const role = await cluster.createRole('pgb_md5', password, { passwordEncryption: 'md5' });
    const line = await hashUser('pgb_md5', password, ['--method', 'md5']);
    expect(secretOf(line)).toBe(role.secret);
    expect(line).toBe('"pgb_md5" "md5fef380d29daf6b0a0fe92caf082670f6"');
  });
});

describe.each(pgbouncerBinaries())('hash-user line in a real pgbouncer $label', ({ label, binary }) => {
  it('back-to-back rotations within one second are all seen by the reload (atomic rename = new inode); an in-place same-size rewrite is not', async () => {
    const user = `hu_fast_${label.replace('.', '')}`;
    const first = await hashUser(user, 'pw-0');
    await cluster.createRole(user, secretOf(first));
    const dir = await makeTempDir(`hash-user-fast-${label}`, { owner: 'postgres' });
    const cfg = await writeTestPgbouncerConfig(dir.path, { port: await freePort(), pgPort: cluster.port, dbname: 'appdb', authType: 'scram-sha-256', userlist: [first] });
    const bouncer = await startPgbouncer({ binary, iniPath: cfg.iniPath });
    const env = { PGHOST: '127.0.0.1', PGPORT: String(cluster.port), PGUSER: 'postgres', PGPASSWORD: cluster.superuserPassword };
    try {
      const started = Date.now();
      for (const pw of ['pw-1', 'pw-2', 'pw-3']) {
        const ctx = captureContext({ env, readStdin: async () => pw });
        const code = await main(
          ['node', 'pgb-setup', 'hash-user', user, '--password-stdin', '--userlist', cfg.userlistPath, '--apply-server', '--reload',
            '--pgbouncer-port', String(bouncer.port), '--pidfile', cfg.pidfile, '--login-db', 'appdb'],
          ctx,
        );
        expect(ctx.err(), ctx.err()).not.toMatch(/pgb-setup:/);
        expect(code).toBe(0);
        expect(await pgLogin('127.0.0.1', bouncer.port, user, pw, 'appdb')).toBe(user);
      }
      console.log(`[hash-user ${label}] three rotations with SIGHUP reload and login check: ${Date.now() - started} ms`);

      // The pgbouncer fact behind the atomic write: it skips re-reading auth_file on RELOAD when
      // dev, inode, mode, owner, size and mtime in whole seconds are unchanged.
      const v4 = secretOf(await hashUser(user, 'pw-4'));
      await cluster.query(`ALTER ROLE ${user} PASSWORD '${v4}'`);
      const before = await stat(cfg.userlistPath);
      const text = await readFile(cfg.userlistPath, 'utf8');
      const rewritten = text.replace(/"SCRAM-SHA-256\$[^"]+"/, `"${v4}"`);
      expect(rewritten.length).toBe(text.length);
      await writeFile(cfg.userlistPath, rewritten);
      await utimes(cfg.userlistPath, before.atime, before.mtime);
      await bouncer.reload();
      await expect(pgLogin('127.0.0.1', bouncer.port, user, 'pw-4', 'appdb')).rejects.toThrow(/SASL authentication failed/);
      const later = new Date(before.mtimeMs + 2_000);
      await utimes(cfg.userlistPath, later, later);
      await bouncer.reload();
      expect(await pgLogin('127.0.0.1', bouncer.port, user, 'pw-4', 'appdb')).toBe(user);
    } finally {
      await bouncer.stop();
      await dir.cleanup();
    }
  });

  it('the same line in userlist.txt: pgbouncer checks the client and logs in to PostgreSQL with it; a wrong password is refused', async () => {
    const user = `hu_bouncer_${label.replace('.', '')}`;
    const password = `pw-${label}-'single' "double"`;
    const line = await hashUser(user, password);
    await cluster.createRole(user, secretOf(line));
    await cluster.query(`GRANT CONNECT ON DATABASE appdb TO ${user}`);

    const dir = await makeTempDir(`hash-user-${label}`, { owner: 'postgres' });
    const cfg = await writeTestPgbouncerConfig(dir.path, {
      port: await freePort(),
      pgPort: cluster.port,
      dbname: 'appdb',
      authType: 'scram-sha-256',
      userlist: [line],
    });
    const bouncer = await startPgbouncer({ binary, iniPath: cfg.iniPath });
    try {
      // psql and pg, directly and through pgbouncer.
      expect(await psqlLogin('127.0.0.1', cluster.port, user, password, 'appdb')).toMatchObject({ ok: true });
      expect(await psqlLogin('127.0.0.1', bouncer.port, user, password, 'appdb')).toMatchObject({ ok: true });
      expect(await pgLogin('127.0.0.1', bouncer.port, user, password, 'appdb')).toBe(user);
      const c = await connectThrough(bouncer, { user, password, database: 'appdb' });
      expect((await c.query('select 1 as one')).rows[0].one).toBe(1);
      await c.end();

      const wrong = await psqlLogin('127.0.0.1', bouncer.port, user, 'not-it', 'appdb');
      expect(wrong.ok).toBe(false);
      expect(wrong.out).toMatch(/SASL authentication failed|password authentication failed/);
      await expect(pgLogin('127.0.0.1', bouncer.port, user, 'not-it', 'appdb')).rejects.toThrow(/SASL authentication failed|password authentication failed/);
    } finally {
      await bouncer.stop();
      await dir.cleanup();
    }
  });
});
