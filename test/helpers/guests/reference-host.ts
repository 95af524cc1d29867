/**
 * The user's own host (#12, #16.1), as a new user would meet it: a fresh Debian booted with systemd,
 * the distro's nodejs, npm and PostgreSQL, a role made with CREATE ROLE ... PASSWORD, the `npm pack`
 * tarball installed with the guest's npm, and only DBNAME, DBUSER, DBPASS and DBHOST given.
 * The steps run in order in one guest; each describes the state it expects from the one before.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DROP_IN_NAME } from '../../../src/plan/open-files.js';
import { CACHE, Guest, type RunResult, type Suite } from './guest.js';

const PACK_DIR = join(CACHE, 'pack');
// Quotes, $ and # : everything a shell, dotenv or SQL could bend (no ' : it is single-quoted below).
const PASSWORD = 'Pw $x "q" #1-ref';
const NEW_PASSWORD = 'Rotated $y #2-ref';
const DB_ENV = '/root/db.env';
const PG_ENV = '/root/pg.env';
const DROP_IN_DIR = '/etc/systemd/system/pgbouncer.service.d';

export interface Expectations {
  node: RegExp;
  pgbouncer: RegExp;
}

/** Figures worth keeping (printed at the end; bench reads them from the log). */
export const figures: Record<string, number> = {};

function ok(r: RunResult, what: string): RunResult {
  expect(r.code, `${what} failed (exit ${r.code}):\n${r.out}\n${r.err}`).toBe(0);
  return r;
}

export function describeReferenceHost(suite: Suite, want: Expectations): void {
  describe(`reference host: Debian ${suite} under systemd`, () => {
    let guest: Guest;
    const pgb = (args: string[], env = DB_ENV) => guest.run(['pgb-setup', ...args], { envFile: env, timeout: 300_000 });
    const psql = (port: number, sql: string, env = PG_ENV) =>
      guest.run(['psql', '-X', '-At', '-h', '127.0.0.1', '-p', String(port), '-U', 'app', '-d', 'appdb', '-c', sql], { envFile: env });
    const mainPid = async () => Number((await guest.run(['systemctl', 'show', '-p', 'MainPID', '--value', 'pgbouncer'])).out.trim());
    const softNofile = (pid: number) => {
      const m = /^Max open files\s+(\d+)\s+(\d+)/m.exec(guest.readFile(`/proc/${pid}/limits`));
      return { soft: Number(m?.[1]), hard: Number(m?.[2]) };
    };
    const plan = async (args: string[]) => JSON.parse(ok(await pgb(['production', '--dry-run', '--json', ...args]), 'dry-run').out) as { openFiles?: { planned: number | string }; steps: { kind: string; path?: string; action?: string }[]; changed: boolean };
    const apply = (args: string[] = []) => pgb(['production', '--yes', '--json', ...args]);

    beforeAll(async () => {
      // Services in the guest get systemd's default soft limit, 1024; the hard limit is what the shell
      // running the tests has (nspawn cannot raise it), which systemd clamps higher requests to.
      guest = await Guest.boot(suite);
      const tarball = readdirSync(PACK_DIR).find((f) => /^pgb-setup-.*\.tgz$/.test(f))!;
      guest.writeFile(`/root/${tarball}`, readFileSync(join(PACK_DIR, tarball)));
      ok(await guest.sh(`cd /root && npm install -g --no-audit --no-fund ./${tarball}`, { timeout: 300_000 }), 'npm install -g');
      guest.writeFile(DB_ENV, `DBNAME=appdb\nDBUSER=app\nDBPASS='${PASSWORD}'\nDBHOST=127.0.0.1\n`, 0o600);
      guest.writeFile(PG_ENV, `PGPASSWORD='${PASSWORD}'\n`, 0o600);
      // The usual way: as postgres over peer authentication, the password in SQL on stdin.
      ok(await guest.run(['runuser', '-u', 'postgres', '--', 'psql', '-X', '-v', 'ON_ERROR_STOP=1'], { input: `CREATE ROLE app LOGIN PASSWORD '${PASSWORD}';\nCREATE DATABASE appdb OWNER app;\n` }), 'CREATE ROLE');
    }, 600_000);

    afterAll(async () => {
      await guest?.stop();
    }, 120_000);

    it('has the distro Node.js, and pgbouncer only in the apt cache', async () => {
      expect(ok(await guest.run(['node', '--version']), 'node').out).toMatch(want.node);
      expect((await guest.run(['dpkg-query', '-W', '-f', '${Status}', 'pgbouncer'])).out).not.toMatch(/install ok installed/);
      expect((await guest.sh(`test -d ${DROP_IN_DIR}`)).code).not.toBe(0);
    });

    it("every module of the installed package links and loads under the guest's Node.js (no export missing)", async () => {
      // A named import the runtime lacks (util.parseEnv on Node.js 18) fails only when its chunk is
      // loaded, so load every chunk, not just the commands the other steps happen to run.
      const script = `import { readdirSync } from 'node:fs';
const dist = process.argv[1] + '/pgb-setup/dist';
const files = readdirSync(dist).filter((f) => f.endsWith('.js'));
for (const f of files) await import(dist + '/' + f);
console.log('loaded ' + files.length);`;
      const root = ok(await guest.run(['npm', 'root', '-g']), 'npm root -g').out.trim();
      const r = ok(await guest.run(['node', '--input-type=module', '-e', script, root]), 'loading every chunk');
      expect(r.out).toMatch(/^loaded \d+$/m);
    });

    it('pgb-setup production --yes: installs pgbouncer, enabled and running under systemd, logins through 6432', async () => {
      const planned = await plan([]);
      const r = await apply();
      ok(r, 'pgb-setup production');
      expect(JSON.parse(r.out).changed).toBe(true);
      expect(r.out + r.err).not.toContain(PASSWORD);
      expect(ok(await guest.run(['dpkg-query', '-W', '-f', '${Version}', 'pgbouncer']), 'dpkg-query').out).toMatch(want.pgbouncer);
      expect((await guest.run(['systemctl', 'is-enabled', 'pgbouncer'])).out.trim()).toBe('enabled');
      expect((await guest.run(['systemctl', 'is-active', 'pgbouncer'])).out.trim()).toBe('active');
      expect(ok(await psql(6432, 'select current_user'), 'psql via 6432').out.trim()).toBe('app');
      expect(softNofile(await mainPid()).soft).toBe(planned.openFiles?.planned);
    });

    it('the re-run says nothing to do', async () => {
      const r = await apply();
      ok(r, 're-run');
      expect(JSON.parse(r.out).changed).toBe(false);
      figures[`${suite}: no-change re-run, seconds`] = r.seconds;
      console.log(`[${suite}] no-change re-run of pgb-setup production: ${r.seconds.toFixed(3)} s`);
    });

    it('a reloadable change (default_pool_size) reloads: same PID, a session opened before still runs a query', async () => {
      const before = await mainPid();
      const session = guest.spawn(['psql', '-X', '-At', '-h', '127.0.0.1', '-p', '6432', '-U', 'app', '-d', 'appdb'], { envFile: PG_ENV });
      let out = '';
      session.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      const answer = async (tag: string) => {
        session.stdin!.write(`select '${tag}';\n`);
        for (let i = 0; i < 100 && !out.includes(tag); i++) await new Promise((res) => setTimeout(res, 100));
        return out.includes(tag);
      };
      try {
        expect(await answer('before-reload')).toBe(true);
        const r = ok(await apply(['--set', 'default_pool_size=30']), 'reloadable change');
        expect(JSON.parse(r.out).changed).toBe(true);
        expect(await mainPid()).toBe(before);
        expect(await answer('after-reload')).toBe(true);
      } finally {
        session.stdin!.end();
        session.kill();
      }
    });

    it('a restart-class change (listen_port) restarts, and the new port serves', async () => {
      const before = await mainPid();
      ok(await apply(['--set', 'listen_port=6433']), 'listen_port change');
      expect(await mainPid()).not.toBe(before);
      expect(ok(await psql(6433, 'select 1'), 'psql via 6433').out.trim()).toBe('1');
      expect((await psql(6432, 'select 1')).code).not.toBe(0);
    });

    it('a rejected override leaves the old config serving (refused as input, and refused by pgbouncer)', async () => {
      const before = await mainPid();
      const ini = guest.readFile('/etc/pgbouncer/pgbouncer.ini');
      const bad = await apply(['--set', 'listen_port=6433', '--set', 'default_pool_size=banana']);
      expect(bad.code).toBe(2);
      // Valid input pgbouncer cannot start with (TLS files that do not exist): the candidate check refuses it.
      const refused = await apply(['--set', 'listen_port=6433', '--set', 'client_tls_sslmode=require', '--set', 'client_tls_key_file=/etc/pgbouncer/missing.key', '--set', 'client_tls_cert_file=/etc/pgbouncer/missing.crt']);
      expect(refused.code, `${refused.out}\n${refused.err}`).toBe(1);
      expect(refused.err).toMatch(/candidate/);
      expect(guest.readFile('/etc/pgbouncer/pgbouncer.ini')).toBe(ini);
      expect(await mainPid()).toBe(before);
      expect(ok(await psql(6433, 'select 1'), 'psql via 6433').out.trim()).toBe('1');
    });

    it('rollback restores the config before the port change, and it serves', async () => {
      ok(await guest.run(['pgb-setup', 'rollback']), 'rollback');
      expect(guest.readFile('/etc/pgbouncer/pgbouncer.ini')).toMatch(/^listen_port = 6432$/m);
      expect(ok(await psql(6432, 'select 1'), 'psql via 6432 after rollback').out.trim()).toBe('1');
    });

    it('verify (all pass), health and stats', async () => {
      // Independent of the rollback step above: start from a pgbouncer that runs the config on disk.
      ok(await guest.run(['systemctl', 'restart', 'pgbouncer']), 'restart');
      ok(await apply(), 'back to the plain production config');
      const v = await pgb(['verify', 'production']);
      expect(v.code, `${v.out}\n${v.err}`).toBe(0);
      expect(v.out + v.err).not.toMatch(/\bFAIL\b/);
      const h = await pgb(['health', 'production']);
      expect(h.code, `${h.out}\n${h.err}`).toBe(0);
      expect(h.out).toMatch(/^PGBOUNCER OK/m);
      const s = await pgb(['stats', 'production', '--format', 'json']);
      expect(s.code, `${s.out}\n${s.err}`).toBe(0);
      expect(JSON.parse(s.out)).toBeTypeOf('object');
    });

    it('hash-user --apply-server --reload rotates the password without PG* credentials', async () => {
      const r = await guest.run(['pgb-setup', 'hash-user', 'app', 'production', '--userlist', '/etc/pgbouncer/userlist.txt', '--apply-server', '--reload', '--password-stdin'], { envFile: DB_ENV, input: `${NEW_PASSWORD}\n` });
      expect(r.code, `${r.out}\n${r.err}`).toBe(0);
      expect(r.out + r.err).not.toContain(NEW_PASSWORD);
      guest.writeFile(PG_ENV, `PGPASSWORD='${NEW_PASSWORD}'\n`, 0o600);
      guest.writeFile(DB_ENV, `DBNAME=appdb\nDBUSER=app\nDBPASS='${NEW_PASSWORD}'\nDBHOST=127.0.0.1\n`, 0o600);
      expect(ok(await psql(6432, 'select current_user'), 'psql via 6432 with the new password').out.trim()).toBe('app');
      expect(ok(await psql(5432, 'select current_user'), 'psql to PostgreSQL with the new password').out.trim()).toBe('app');
    });

    it('a need above the unit limit: the plan creates pgbouncer.service.d/ and the drop-in, /proc shows the planned limit', async () => {
      const args = ['--set', 'max_client_conn=2000'];
      const p = await plan(args);
      expect(p.steps).toContainEqual(expect.objectContaining({ kind: 'directory', path: DROP_IN_DIR, action: 'create' }));
      expect(p.openFiles?.planned).toBe(3072);
      const hardBefore = softNofile(await mainPid()).hard;
      ok(await apply(args), 'max_client_conn=2000');
      expect(guest.readFile(`${DROP_IN_DIR}/${DROP_IN_NAME}`)).toMatch(/^LimitNOFILE=3072:(\d+|infinity)$/m);
      const after = softNofile(await mainPid());
      expect(after.soft).toBe(3072);
      expect(after.hard).toBeGreaterThanOrEqual(hardBefore);
    });

    it("an admin's drop-in above the need: the limit stays, and nothing is rewritten", async () => {
      ok(await guest.run(['mkdir', '-p', DROP_IN_DIR]), 'mkdir');
      guest.writeFile(`${DROP_IN_DIR}/limits.conf`, '[Service]\nLimitNOFILE=8192\n');
      ok(await guest.run(['systemctl', 'daemon-reload']), 'daemon-reload');
      ok(await guest.run(['systemctl', 'restart', 'pgbouncer']), 'restart');
      const before = await mainPid();
      const r = ok(await apply(['--set', 'max_client_conn=2000']), 're-run with the admin drop-in');
      expect(JSON.parse(r.out).changed).toBe(false);
      expect(await mainPid()).toBe(before);
      expect(softNofile(before).soft).toBe(8192);
      // Less need later: still nothing to lower.
      ok(await apply(), 'back to the production need');
      expect(softNofile(await mainPid()).soft).toBe(8192);
    });

    it('systemctl --failed is empty at the end', async () => {
      expect(ok(await guest.run(['systemctl', '--failed', '--no-legend', '--plain']), 'systemctl --failed').out.trim()).toBe('');
    });
  });
}
