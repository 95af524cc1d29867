/**
 * #12 "SCRAM alignment with no extra flag and no admin credentials", against real PostgreSQL 15:
 * the main job logs in as DBUSER with DBPASS, takes the salt and iteration count from the server's
 * first SCRAM message, and writes pg_authid's verifier byte for byte to userlist.txt. The host is
 * an in-memory Debian 12 (files, commands) whose network login is the real one.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/main.js';
import { parseUserlist } from '../../src/auth/userlist.js';
import { scramSecret } from '../../src/auth/scram.js';
import { scramLogin } from '../../src/system/scram-login.js';
import { captureContext } from '../helpers/context.js';
import { FakeSystem } from '../helpers/fake-system.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { lookupUser } from '../helpers/proc.js';

const OS = readFileSync(join(import.meta.dirname, '../fixtures/os-release/debian-12'), 'utf8');
let scram: PgCluster;
let md5: PgCluster;

beforeAll(async () => {
  [scram, md5] = await Promise.all([startPostgres(), startPostgres({ passwordEncryption: 'md5' })]);
  await scram.createDatabase('appdb');
});

afterAll(async () => {
  await Promise.all([scram?.stop(), md5?.stop()]);
});

/** Debian 12 with pgbouncer 1.18 installed and nothing configured; its network login is real. */
function debianHost(): FakeSystem {
  const sys = new FakeSystem()
    .file('/etc/os-release', OS)
    .binary('pgbouncer', '/usr/sbin/pgbouncer')
    .on('/usr/sbin/pgbouncer --version', { stdout: 'PgBouncer 1.18.0\n' })
    .on('systemctl cat pgbouncer', { exitCode: 1, stderr: 'No files found for pgbouncer.service.' })
    .on('getent passwd postgres', { stdout: 'postgres:x:101:104:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash\n' })
    .on(/^getent passwd (pgbouncer|101)$/, (args) => (args[1] === '101' ? { stdout: 'postgres:x:101:104::/var/lib/postgresql:/bin/bash\n' } : { exitCode: 2 }))
    .on(/^getent group (104|postgres)$/, { stdout: 'postgres:x:104:\n' })
    .on('apt-cache policy pgbouncer', { stdout: 'pgbouncer:\n  Installed: 1.18.0-1+deb12u1\n  Candidate: 1.18.0-1+deb12u1\n' })
    .on('sh -c ulimit -n', { stdout: '1048576\n' });
  return Object.assign(sys, { scramLogin });
}

const APPLY = ['production', '--yes', '--skip-install', '--skip-service', '--skip-firewall', '--skip-verify'];

async function apply(cluster: PgCluster, user: string, password: string, system = debianHost(), args = APPLY) {
  const env = { DBNAME: 'appdb', DBUSER: user, DBPASS: password, DBHOST: '127.0.0.1', DBPORT: String(cluster.port) };
  const ctx = captureContext({ system, env });
  const code = await main(['node', 'pgb-setup', ...args], ctx);
  const userlist = system.files.get('/etc/pgbouncer/userlist.txt')?.content;
  return { code, err: ctx.err(), out: ctx.out(), userlist, system };
}

const secretIn = (userlist: string | undefined, user: string) => parseUserlist(userlist ?? '').entries.find((e) => e.user === user)?.secret;

describe('scramLogin against PostgreSQL 15', () => {
  it.each([
    ['ascii', 'Tr0ub4dor&3'],
    ['SASLprep maps U+00A0 to a space', 'pa\u00a0ss'],
    ['SASLprep NFKC (trademark sign)', '\u2122x'],
    ['emoji (SASLprep prohibits nothing here)', 'pw\ud83d\ude00'],
    ['quote and backslash', `it's a \\ test`],
    ['SASLprep fails (private use), so PostgreSQL hashes the raw text, ligature included', '\ufb01x\ue000'],
  ])('derives exactly what pg_authid stores: %s', async (_name, password) => {
    const role = `sl_${Math.random().toString(36).slice(2, 8)}`;
    const { secret } = await scram.createRole(role, password);
    const r = await scramLogin({ host: '127.0.0.1', port: scram.port, user: role, database: 'postgres', password });
    expect(r).toEqual({ kind: 'verifier', verifier: secret });
  });

  it('over the unix socket as well', async () => {
    const { secret } = await scram.createRole('sl_socket', 'sock-pw');
    expect(await scramLogin({ host: scram.socketDir, port: scram.port, user: 'sl_socket', database: 'postgres', password: 'sock-pw' })).toEqual({ kind: 'verifier', verifier: secret });
  });

  it('a wrong password, a role without a password and a missing role are all "refused" (PostgreSQL hides which)', async () => {
    await scram.createRole('sl_wrong', 'right-pw');
    await scram.createRole('sl_nopw', null);
    for (const [user, pw] of [['sl_wrong', 'wrong-pw'], ['sl_nopw', 'x'], ['sl_missing', 'x']] as const) {
      expect(await scramLogin({ host: '127.0.0.1', port: scram.port, user, database: 'postgres', password: pw })).toMatchObject({ kind: 'refused', code: '28P01' });
    }
  });

  it('an MD5 role under pg_hba md5 is asked for an MD5 password; a SCRAM role there still does SCRAM', async () => {
    await md5.createRole('sl_md5', 'md5-pw');
    expect(await scramLogin({ host: '127.0.0.1', port: md5.port, user: 'sl_md5', database: 'postgres', password: 'md5-pw' })).toEqual({ kind: 'other-method', method: 'md5' });
    const { secret } = await md5.createRole('sl_scram_in_md5', 'pw-s', { passwordEncryption: 'scram-sha-256' });
    expect(await scramLogin({ host: '127.0.0.1', port: md5.port, user: 'sl_scram_in_md5', database: 'postgres', password: 'pw-s' })).toEqual({ kind: 'verifier', verifier: secret });
  });

  it('a stored verifier with 2147483647 iterations is refused before any work (#17.7)', async () => {
    const huge = scramSecret('pw').replace(/^SCRAM-SHA-256\$4096:/, 'SCRAM-SHA-256$2147483647:');
    // Not CREATE ROLE ... PASSWORD: PostgreSQL itself would then run the 2^31 rounds (its empty-password check).
    await scram.createRole('sl_huge', 'pw');
    await scram.query('UPDATE pg_catalog.pg_authid SET rolpassword = $1 WHERE rolname = $2', [huge, 'sl_huge']);
    expect(await scram.roleSecret('sl_huge')).toBe(huge);
    const r = await scramLogin({ host: '127.0.0.1', port: scram.port, user: 'sl_huge', database: 'postgres', password: 'pw' });
    expect(r).toEqual({ kind: 'protocol', message: "the role's SCRAM verifier uses 2147483647 iterations; pgb-setup works with from 1 to 100000 (every login pays them)" });
  });
});

describe('the main job aligns userlist.txt with PostgreSQL, no admin credentials', () => {
  it('writes pg_authid\'s verifier byte for byte; the re-run changes nothing', async () => {
    const { secret } = await scram.createRole('app_align', 'Align-pw 1');
    const first = await apply(scram, 'app_align', 'Align-pw 1');
    expect(first.code, first.err).toBe(0);
    expect(secretIn(first.userlist, 'app_align')).toBe(secret);
    expect(first.err).not.toContain('Align-pw 1');
    const again = await apply(scram, 'app_align', 'Align-pw 1', first.system);
    expect(again.code, again.err).toBe(0);
    expect(again.err).toContain('nothing to do');
  });

  it('replaces a userlist verifier of the same password but another salt', async () => {
    const { secret } = await scram.createRole('app_resalt', 'resalt-pw');
    const host = debianHost();
    const mine = scramSecret('resalt-pw');
    host.file('/etc/pgbouncer/userlist.txt', `"app_resalt" "${mine}"\n"other" "kept-as-is"\n`, 0o600, 101, 104);
    const r = await apply(scram, 'app_resalt', 'resalt-pw', host);
    expect(r.code, r.err).toBe(0);
    expect(secretIn(r.userlist, 'app_resalt')).toBe(secret);
    expect(secretIn(r.userlist, 'other')).toBe('kept-as-is');
  });

  it('an app entry with 2147483647 iterations in userlist.txt is replaced by PostgreSQL\'s verifier, not computed (#17.7)', async () => {
    const { secret } = await scram.createRole('app_hugeul', 'hugeul-pw');
    const host = debianHost();
    const huge = scramSecret('hugeul-pw').replace(/^SCRAM-SHA-256\$4096:/, 'SCRAM-SHA-256$2147483647:');
    host.file('/etc/pgbouncer/userlist.txt', `"app_hugeul" "${huge}"\n`, 0o600, 101, 104);
    const r = await apply(scram, 'app_hugeul', 'hugeul-pw', host);
    expect(r.code, r.err).toBe(0);
    expect(secretIn(r.userlist, 'app_hugeul')).toBe(secret);
  });

  it('wrong DBPASS: exit 2, nothing written, says PostgreSQL refused the password', async () => {
    await scram.createRole('app_wrongpw', 'the-right-one');
    const r = await apply(scram, 'app_wrongpw', 'not-the-right-one');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/DBPASS: the password was refused by PostgreSQL at 127\.0\.0\.1:\d+ for role app_wrongpw .*nothing was written/);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.userlist).toBeUndefined();
    expect(r.err).not.toContain('not-the-right-one');
  });

  it('the same in --dry-run: the plan is not shown for a password PostgreSQL refuses', async () => {
    const r = await apply(scram, 'app_wrongpw', 'nope', debianHost(), ['production', '--dry-run']);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
  });

  it('a role stored as MD5 (pg_hba md5): exit 2 naming the fix', async () => {
    await md5.createRole('app_md5', 'md5-pass');
    const r = await apply(md5, 'app_md5', 'md5-pass');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/DBUSER: PostgreSQL at 127\.0\.0\.1:\d+ asks role app_md5 for an MD5 password, so the role's password is stored as MD5.*Fix: set a SCRAM password on PostgreSQL/);
    expect(r.userlist).toBeUndefined();
  });

  it('PostgreSQL not reachable: a warning, and a verifier of its own', async () => {
    const r = await apply({ ...scram, port: 1 } as PgCluster, 'app_x', 'pw-x');
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/warning: could not reach PostgreSQL at 127\.0\.0\.1:1 .* to take app_x's SCRAM salt/);
    expect(secretIn(r.userlist, 'app_x')).toMatch(/^SCRAM-SHA-256\$4096:/);
  });
});

describe.skipIf(process.getuid?.() !== 0)('as root on the PostgreSQL host: why PostgreSQL refused DBPASS, read as the postgres account', () => {
  /** The fake host sees the cluster's socket and the real postgres account; PGHOST names the socket folder (not a credential). */
  function localHost(): FakeSystem {
    const pg = lookupUser('postgres');
    return debianHost()
      .file(`${scram.socketDir}/.s.PGSQL.${scram.port}`, '')
      .on('getent passwd postgres', { stdout: `postgres:x:${pg.uid}:${pg.gid}::/var/lib/postgresql:/bin/bash\n` });
  }

  async function refused(user: string, password: string) {
    const system = localHost();
    const env = { PGHOST: scram.socketDir, DBNAME: 'appdb', DBUSER: user, DBPASS: password, DBHOST: '127.0.0.1', DBPORT: String(scram.port) };
    const ctx = captureContext({ system, env });
    const code = await main(['node', 'pgb-setup', ...APPLY], ctx);
    expect(system.files.get('/etc/pgbouncer/userlist.txt')).toBeUndefined();
    return { code, err: ctx.err() };
  }

  it.each([
    ['a role stored as MD5', 'dx_md5', async () => scram.createRole('dx_md5', 'md5-pw', { passwordEncryption: 'md5' }), 'md5-pw', /DBUSER: .*: PostgreSQL stores its password as MD5, so no SCRAM verifier can match; set a SCRAM password on PostgreSQL/],
    ['a role without a password', 'dx_nopw', async () => scram.createRole('dx_nopw', null), 'any', /DBUSER: .*: the role has no password; set a SCRAM password/],
    ['no such role', 'dx_missing', async () => undefined, 'any', /DBUSER: .*: there is no role dx_missing; create it/],
    ['a wrong DBPASS', 'dx_wrong', async () => scram.createRole('dx_wrong', 'right'), 'wrong', /DBPASS: the password was refused by PostgreSQL at 127\.0\.0\.1:\d+ for role dx_wrong: DBPASS is not its password/],
  ])('%s: exit 2 with the exact reason', async (_name, user, create, password, message) => {
    await create();
    const r = await refused(user, password);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.err.trim().split('\n')).toHaveLength(1);
  });
});
