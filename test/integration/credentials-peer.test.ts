/**
 * #12 "Rotation and admin tasks without inventing a superuser password", against a real
 * PostgreSQL 15 whose pg_hba.conf says `local all postgres peer` (Debian's default):
 *  - as root with no PG* credentials, users check, auth-query --apply-server, hash-user
 *    --apply-server and the main job's --copy-server-secret connect over the unix socket as the
 *    postgres OS account, like `sudo -u postgres psql`;
 *  - hash-user --apply-server --current-password-stdin changes a role's password while logged in
 *    as that role with its current password, no admin at all.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/main.js';
import { parseUserlist, formatUserlistEntry } from '../../src/auth/userlist.js';
import { verifyScramPassword } from '../../src/auth/scram.js';
import { scramLogin } from '../../src/system/scram-login.js';
import { captureContext } from '../helpers/context.js';
import { FakeSystem } from '../helpers/fake-system.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { lookupUser } from '../helpers/proc.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { buildCli, runChild } from '../helpers/trust.js';

const asRoot = process.getuid?.() === 0;
let cluster: PgCluster;
let dir: TempDir;

beforeAll(async () => {
  cluster = await startPostgres();
  dir = await makeTempDir('creds-peer');
  await cluster.createDatabase('appdb');
});
afterAll(async () => {
  await cluster?.stop();
  await dir?.cleanup();
});

/** No PGUSER, no PGPASSWORD: only where PostgreSQL's socket is (not a credential). */
const peerEnv = () => ({ PGHOST: cluster.socketDir, PGPORT: String(cluster.port) });

async function cli(args: string[], env: Record<string, string>, stdin: string[] = []) {
  const queue = [...stdin];
  const ctx = captureContext({ env, readStdin: async () => queue.shift() ?? '' });
  const code = await main(['node', 'pgb-setup', ...args], ctx);
  return { code, out: ctx.out(), err: ctx.err() };
}

/** Backends of this cluster and who they were for (the peer login shows up as postgres on a socket). */
async function sessionsOf(user: string): Promise<number> {
  const rows = await cluster.query<{ n: string }>("SELECT count(*) AS n FROM pg_stat_activity WHERE usename = $1 AND application_name = 'pgb-setup'", [user]);
  return Number(rows[0]!.n);
}

describe.skipIf(!asRoot)('as root on the PostgreSQL host, no PG* credentials: the postgres account over the socket', () => {
  it('users check reads pg_authid through peer authentication', async () => {
    const { secret } = await cluster.createRole('peer_uc', 'uc-pw');
    const userlist = join(dir.path, 'uc.txt');
    await writeFile(userlist, `${formatUserlistEntry('peer_uc', secret!)}\n`, { mode: 0o600 });
    const r = await cli(['users', 'check', '--userlist', userlist], peerEnv());
    expect(r.err).toMatch(new RegExp(`1 user\\(s\\) in .* match PostgreSQL postgres@${cluster.socketDir.replaceAll('/', '\\/')}\\/\\.s\\.PGSQL\\.${cluster.port}\\/postgres \\(as the postgres OS account\\)`));
    expect(r.code).toBe(0);
  });

  it('hash-user --apply-server rotates with a read-back, no password asked', async () => {
    await cluster.createRole('peer_rot', 'old-rot-pw');
    const r = await cli(['hash-user', 'peer_rot', '--apply-server', '--password-stdin'], peerEnv(), ['new-rot-pw']);
    expect(r.err).not.toMatch(/pgb-setup:/);
    expect(r.code).toBe(0);
    const printed = parseUserlist(r.out).entries[0]!.secret;
    expect(await cluster.roleSecret('peer_rot')).toBe(printed);
    expect(r.err).toMatch(/ALTER ROLE peer_rot; pg_authid holds exactly the new verifier/);
    expect(r.err + r.out).not.toContain('new-rot-pw');
  });

  it('auth-query --apply-server installs the lookup function as the postgres account', async () => {
    const r = await cli(['auth-query', '--apply-server', '--dbname', 'appdb', '--auth-user', 'peer_auth'], peerEnv());
    expect(r.err).not.toMatch(/pgb-setup:/);
    expect(r.code).toBe(0);
    const rows = await cluster.query<{ n: string }>("SELECT count(*) AS n FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'pgbouncer' AND p.proname = 'user_lookup'", [], { database: 'appdb' });
    expect(Number(rows[0]!.n)).toBe(1);
  });

  it('the main job\'s --copy-server-secret reads pg_authid as the postgres account', async () => {
    const { secret } = await cluster.createRole('peer_copy', 'copy-pw');
    const pg = lookupUser('postgres');
    const host = new FakeSystem()
      .file('/etc/os-release', readFileSync(join(import.meta.dirname, '../fixtures/os-release/debian-12'), 'utf8'))
      .file(`${cluster.socketDir}/.s.PGSQL.${cluster.port}`, '')
      .binary('pgbouncer', '/usr/sbin/pgbouncer')
      .on('/usr/sbin/pgbouncer --version', { stdout: 'PgBouncer 1.18.0\n' })
      .on('systemctl cat pgbouncer', { exitCode: 1 })
      .on(/^getent passwd (postgres|101|\d+)$/, { stdout: `postgres:x:${pg.uid}:${pg.gid}::/var/lib/postgresql:/bin/bash\n` })
      .on(/^getent group \S+$/, { stdout: `postgres:x:${pg.gid}:\n` })
      .on('apt-cache policy pgbouncer', { stdout: 'pgbouncer:\n  Installed: 1.18.0-1+deb12u1\n  Candidate: 1.18.0-1+deb12u1\n' })
      .on('sh -c ulimit -n', { stdout: '1048576\n' });
    const env = { ...peerEnv(), DBNAME: 'appdb', DBUSER: 'peer_copy', DBPASS: 'copy-pw', DBHOST: '127.0.0.1', DBPORT: String(cluster.port) };
    const ctx = captureContext({ system: host, env });
    const code = await main(['node', 'pgb-setup', 'production', '--copy-server-secret', '--yes', '--skip-install', '--skip-service', '--skip-firewall', '--skip-verify'], ctx);
    expect(ctx.err()).not.toMatch(/pgb-setup:/);
    expect(code).toBe(0);
    expect(parseUserlist(host.files.get('/etc/pgbouncer/userlist.txt')!.content).entries.find((e) => e.user === 'peer_copy')!.secret).toBe(secret);
  });

  it('the bundled CLI as its own process does the same (the helper child runs as postgres)', async () => {
    const entry = await buildCli();
    const r = await runChild(entry, ['users', 'check', '--userlist', join(dir.path, 'uc.txt')], { env: peerEnv() });
    expect(r.stderr).toMatch(/1 user\(s\) in .* match PostgreSQL postgres@.*\(as the postgres OS account\)/);
    expect(r.code).toBe(0);
  });

  it('a pg_authid verifier with 2147483647 iterations (#17.7): users check and --copy-server-secret report it, never compute it', async () => {
    const { secret } = await cluster.createRole('peer_huge', 'huge-pw');
    const huge = secret!.replace(/^SCRAM-SHA-256\$4096:/, 'SCRAM-SHA-256$2147483647:');
    // Not ALTER ROLE ... PASSWORD: PostgreSQL itself would run the rounds (its empty-password check).
    await cluster.query('UPDATE pg_catalog.pg_authid SET rolpassword = $1 WHERE rolname = $2', [huge, 'peer_huge']);
    const userlist = join(dir.path, 'huge.txt');
    await writeFile(userlist, `${formatUserlistEntry('peer_huge', 'huge-pw')}\n`, { mode: 0o600 });
    const r = await cli(['users', 'check', '--userlist', userlist, '--json'], peerEnv());
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out).users).toEqual([
      { user: 'peer_huge', status: 'differs', line: 1, detail: expect.stringMatching(/^PostgreSQL has an out-of-range SCRAM-SHA-256 \(2147483647 iterations; pgb-setup handles from 1 to 100000/) },
    ]);
  });

  it('no pgb-setup session is left open on the server', async () => {
    expect(await sessionsOf('postgres')).toBe(0);
  });

  it('a pg_hba.conf without peer for postgres: exit 2 naming PGPASSWORD, said to be about peer', async () => {
    const hba = join(cluster.dataDir, 'pg_hba.conf');
    const before = readFileSync(hba, 'utf8');
    await writeFile(hba, before.replace(/^local\s+all\s+postgres\s+peer$/m, 'local   all   postgres   scram-sha-256'));
    await cluster.query('SELECT pg_reload_conf()');
    try {
      const r = await cli(['users', 'check', '--userlist', join(dir.path, 'uc.txt')], peerEnv());
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/PostgreSQL asks for a password for postgres@.*\(as the postgres OS account\); its pg_hba\.conf does not let the postgres OS account in by peer: set PGPASSWORD/);
    } finally {
      await writeFile(hba, before);
      await cluster.query('SELECT pg_reload_conf()');
    }
  });
});

describe('hash-user --apply-server as the role itself, with its current password', () => {
  const tcpEnv = () => ({ PGHOST: '127.0.0.1', PGPORT: String(cluster.port) });

  it('rotates: PostgreSQL stores exactly the printed verifier; the old password stops working', async () => {
    await cluster.createRole('self_rot', 'current-self-pw');
    const r = await cli(['hash-user', 'self_rot', '--apply-server', '--current-password-stdin', '--password-stdin'], tcpEnv(), ['current-self-pw', 'next-self-pw']);
    expect(r.err).not.toMatch(/pgb-setup:/);
    expect(r.code).toBe(0);
    const printed = parseUserlist(r.out).entries[0]!.secret;
    expect(await cluster.roleSecret('self_rot')).toBe(printed);
    expect(verifyScramPassword(printed, 'next-self-pw')).toBe(true);
    expect(r.err).toMatch(/ALTER ROLE self_rot as self_rot itself/);
    expect(r.err).toMatch(/a SCRAM login with the new password proves it holds exactly the new verifier/);
    const old = await scramLogin({ host: '127.0.0.1', port: cluster.port, user: 'self_rot', database: 'postgres', password: 'current-self-pw' });
    expect(old.kind).toBe('refused');
    expect(r.err + r.out).not.toMatch(/current-self-pw|next-self-pw/);
  });

  it('a wrong current password: exit 2, PostgreSQL keeps the old verifier', async () => {
    const { secret } = await cluster.createRole('self_wrong', 'real-pw');
    const r = await cli(['hash-user', 'self_wrong', '--apply-server', '--current-password-stdin', '--password-stdin'], tcpEnv(), ['guess', 'next']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/refused the current password of self_wrong .*nothing was changed/);
    expect(await cluster.roleSecret('self_wrong')).toBe(secret);
  });
});
