/**
 * Where a password may go, across a full apply under --root, a password rotation through the main
 * job and one through `hash-user`, the plan (text and JSON), print-django-settings, config, verify,
 * health, stats and bench (the console and bench commands against a port where nothing listens), a
 * live-host apply (FakeSystem recording every command) and the candidate check with a real pgbouncer:
 *
 *  - never into a child's argv (every spawn of every pgb-setup process is recorded by the preload
 *    test/helpers/crash-preload.mjs; the live paths through createNodeSystem({ onExec }) / FakeSystem),
 *  - never onto stdout/stderr (hash-user's stdout is the one requested line: "user" "verifier"),
 *  - never into the plan, a file, a file name, a backup or a log under the root;
 *  - temp files and folders are private: the candidate check's folder 0700 and its files 0600 (as
 *    the service user), every atomic-write temp 0600 until its rename; userlist.txt backups 0600 in
 *    a 0700 folder.
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { checkCandidate } from '../../src/apply/candidate-check.js';
import { scramSecret, verifyScramPassword } from '../../src/auth/scram.js';
import { createNodeSystem } from '../../src/system/node-system.js';
import { readAuthFileLikePgbouncer } from '../helpers/pgbouncer-model.js';
import { snapshotTree } from '../helpers/tree.js';
import { FakeSystem } from '../helpers/fake-system.js';
import { buildCli, FIXTURES, makeRoot, recordFigures, runChild, runInProcess } from '../helpers/trust.js';
import { lookupUser } from '../helpers/proc.js';

const PASSWORDS = ['Zebra-Quartz-pw-0001', 'Yak-Onyx-pw-0002', 'Xerus-Opal-pw-0003'];
const BASE = { DBNAME: 'appdb', DBUSER: 'app_user', DBHOST: '10.0.0.20' };

let entry: string;
let root: string;
let trace: string;
const outputs: { what: string; text: string }[] = [];
const figures = { runs: 0, childProcessesRecorded: 0, filesScanned: 0, leaks: 0 };

beforeAll(async () => {
  entry = await buildCli();
  root = makeRoot('pgb-trust-secrets-');
  trace = `${root}.trace`;
}, 60_000);

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(trace, { force: true });
  recordFigures('secrets (integration/trust-secrets)', figures);
});

async function cli(what: string, args: string[], env: Record<string, string>, input?: string) {
  const r = await runChild(entry, args, { env, trace, ...(input !== undefined ? { input } : {}) });
  figures.runs++;
  outputs.push({ what: `${what} stdout`, text: r.stdout }, { what: `${what} stderr`, text: r.stderr });
  return r;
}

function leaksIn(text: string): string[] {
  return PASSWORDS.filter((p) => text.includes(p));
}

describe('a password never leaves as plain text', () => {
  it('apply under --root, the plan, a rotation by the main job and one by hash-user', async () => {
    const env1 = { ...BASE, DBPASS: PASSWORDS[0]! };
    expect((await cli('first apply', ['production', '--root', root, '--yes'], env1)).code).toBe(0);
    const env2 = { ...BASE, DBPASS: PASSWORDS[1]! };
    const planText = await cli('plan', ['production', '--root', root, '--dry-run'], env2);
    expect(planText.code).toBe(0);
    expect(planText.stdout).toMatch(/"app_user" "\*{8}"/);
    expect((await cli('plan json', ['production', '--root', root, '--dry-run', '--json'], env2)).code).toBe(0);
    expect((await cli('config --explain', ['config', 'production', '--explain'], env2)).code).toBe(0);
    expect((await cli('rotation by apply', ['production', '--root', root, '--yes'], env2)).code).toBe(0);
    // hash-user: password on stdin, the line upserted into the root's userlist.txt.
    const userlist = join(root, 'etc/pgbouncer/userlist.txt');
    const hu = await cli('hash-user', ['hash-user', 'app_user', '--password-stdin', '--userlist', userlist], {}, `${PASSWORDS[2]}\n`);
    expect(hu.code, hu.stderr).toBe(0);
    const printed = await cli('hash-user print', ['hash-user', 'app_user', '--password-stdin'], {}, `${PASSWORDS[2]}\n`);
    expect(printed.code, printed.stderr).toBe(0);
    // The one requested secret line: a verifier of the password, not the password.
    const line = printed.stdout.trimEnd();
    expect(line.split('\n')).toHaveLength(1);
    const entry0 = readAuthFileLikePgbouncer(line).entries[0]!;
    expect(entry0.user).toBe('app_user');
    expect(verifyScramPassword(entry0.secret, PASSWORDS[2]!)).toBe(true);
    const now = readAuthFileLikePgbouncer(readFileSync(userlist, 'utf8')).entries;
    expect(verifyScramPassword(now.find((e) => e.user === 'app_user')!.secret, PASSWORDS[2]!)).toBe(true);
    expect(statSync(userlist).mode & 0o7777).toBe(0o600);

    // The other commands that see passwords (print-django-settings, config, verify, and the console
    // and bench commands, here against a port where nothing listens): exit codes vary, leaks may not.
    const opsEnv = { ...BASE, DBPASS: PASSWORDS[2]!, PGPASSWORD: PASSWORDS[0]!, PGBOUNCER_ADMIN_PASSWORD: PASSWORDS[1]! };
    const closed = { ...opsEnv, DBHOST: '127.0.0.1', DBPORT: '1' };
    for (const [what, args, env] of [
      ['print-django-settings', ['print-django-settings', 'production'], opsEnv],
      ['print-django-settings env', ['print-django-settings', 'production', '--format', 'env'], opsEnv],
      ['config --json', ['config', 'production', '--json'], opsEnv],
      ['verify --root', ['verify', 'production', '--root', root], opsEnv],
      ['health', ['health', 'production', '--port', '1', '--timeout', '1'], opsEnv],
      ['stats', ['stats', 'production', '--port', '1', '--timeout', '1'], opsEnv],
      ['bench', ['bench', 'production', '--seconds', '1', '--clients', '1'], closed],
    ] as [string, string[], Record<string, string>][]) {
      const r = await cli(what, args, env);
      expect(r.code === 0 || r.code === 1 || r.code === 2 || r.code === 3, `${what}: ${r.stderr}`).toBe(true);
    }

    // 1. argv of every process any of those runs started.
    const execs = readFileSync(trace, 'utf8').split('\n').filter((l) => / exec /.test(l));
    figures.childProcessesRecorded += execs.length;
    expect(execs.length).toBeGreaterThan(0);
    for (const e of execs) expect(leaksIn(e), e).toEqual([]);
    // 2. stdout/stderr of every run.
    for (const o of outputs) expect(leaksIn(o.text), o.what).toEqual([]);
    // 3. every file and file name under the root, backups and logs included.
    const tree = snapshotTree(root);
    for (const [path, e] of Object.entries(tree)) {
      expect(leaksIn(path), path).toEqual([]);
      if (e.type !== 'file') continue;
      figures.filesScanned++;
      expect(leaksIn(readFileSync(join(root, path), 'utf8')), path).toEqual([]);
    }
    // 4. backups of userlist.txt: 0600, root's, in 0700 folders.
    const backups = Object.entries(tree).filter(([p]) => p.startsWith('var/backups/pgb-setup/') && p.endsWith('/userlist.txt'));
    expect(backups.length).toBeGreaterThan(0);
    for (const [p, e] of backups) {
      expect(e.mode, p).toBe('0600');
      expect(e.uid, p).toBe(0);
      const folder = tree[p.slice(0, p.lastIndexOf('/'))]!;
      expect(folder.mode, p).toBe('0700');
    }
    expect(tree['var/backups/pgb-setup']!.mode).toBe('0700');
  }, 60_000);

  it('a live-host apply: no password in any command or the output (the JSON plan shows each command with its env)', async () => {
    const sys = new FakeSystem()
      .file('/etc/os-release', readFileSync(join(FIXTURES, 'debian-12'), 'utf8'))
      .binary('ufw', '/usr/sbin/ufw')
      .on('systemctl cat pgbouncer', { exitCode: 1 })
      .on(/^getent passwd (postgres|pgbouncer|101)$/, (a) => (a[1] === 'pgbouncer' ? { exitCode: 2 } : { stdout: 'postgres:x:101:104::/var/lib/postgresql:/bin/bash\n' }))
      .on(/^getent group (104|postgres)$/, { stdout: 'postgres:x:104:\n' })
      .on('apt-cache policy pgbouncer', { stdout: 'pgbouncer:\n  Installed: (none)\n  Candidate: 1.18.0-1+deb12u1\n' })
      .on('sh -c ulimit -n', { stdout: '1048576\n' })
      .on('ufw status', { stdout: 'Status: active\n' })
      .on(/^ufw (allow|deny|prepend|limit|delete) /, { stdout: 'Rule added\n' })
      .on('apt-get -o DPkg::Lock::Timeout=300 update', {})
      .on(/^apt-get -o DPkg::Lock::Timeout=300 install /, () => {
        sys.binary('pgbouncer', '/usr/sbin/pgbouncer');
        return {};
      })
      .on('/usr/sbin/pgbouncer --version', { stdout: 'PgBouncer 1.18.0\n' });
    const env = { ...BASE, DBPASS: PASSWORDS[0]! };
    for (const args of [['--dry-run'], ['--dry-run', '--json'], ['--yes', '--skip-verify', '--skip-service']]) {
      const r = await runInProcess(['production', '--allow-from', '10.1.0.0/16', ...args], env, { system: sys });
      figures.runs++;
      expect(r.code, r.stderr).toBe(0);
      expect(leaksIn(r.stdout + r.stderr)).toEqual([]);
    }
    figures.childProcessesRecorded += sys.calls.length;
    expect(sys.calls.some((c) => c.cmd === 'ufw' && c.args[0] === 'allow')).toBe(true);
    expect(sys.calls.some((c) => /apt-get/.test(c.cmd))).toBe(true);
    for (const c of sys.calls) expect(leaksIn(JSON.stringify({ cmd: c.cmd, args: c.args })), c.cmd).toEqual([]);
    for (const [path, f] of sys.files) expect(leaksIn(f.content), path).toEqual([]);
    expect(sys.files.get('/etc/pgbouncer/userlist.txt')?.mode).toBe(0o600);
  });

  it('the candidate check: private folder and files, no password in argv or in its error', async () => {
    const binary = inject('pgbouncer118');
    const pg = lookupUser('postgres');
    const execs: string[] = [];
    const seen = new Map<string, number>();
    const watch = setInterval(() => {
      for (const name of readdirSync(tmpdir())) {
        if (!name.startsWith('pgb-setup-candidate-')) continue;
        const dir = join(tmpdir(), name);
        try {
          seen.set(dir, statSync(dir).mode & 0o7777);
          for (const f of readdirSync(dir)) {
            const st = statSync(join(dir, f));
            if (st.isFile()) seen.set(join(dir, f), st.mode & 0o7777);
          }
        } catch {
          // removed meanwhile
        }
      }
    }, 2);
    const ini = ['[databases]', 'appdb = host=127.0.0.1 port=1 dbname=appdb', '', '[pgbouncer]', 'listen_addr = 127.0.0.1', 'listen_port = 6432', 'auth_type = scram-sha-256', 'auth_file = /nonexistent', 'query_wait_timeout = 1', 'server_login_retry = 1', ''].join('\n');
    const password = PASSWORDS[1]!;
    let error = '';
    try {
      await checkCandidate({
        system: createNodeSystem({ onExec: (cmd, args) => execs.push(JSON.stringify([cmd, ...args])) }),
        binary,
        ini,
        userlist: `"app_user" "${scramSecret(password)}"\n`,
        user: pg.name,
        uid: pg.uid,
        gid: pg.gid,
        login: { user: 'app_user', password, database: 'appdb' },
      });
    } catch (e) {
      error = (e as Error).message;
    } finally {
      clearInterval(watch);
    }
    figures.runs++;
    figures.childProcessesRecorded += execs.length;
    // The server behind it does not exist: the login fails, and says so without the password.
    expect(error).toMatch(/login as app_user through the new config failed/);
    expect(leaksIn(error)).toEqual([]);
    expect(execs.some((e) => e.includes(binary))).toBe(true);
    for (const e of execs) expect(leaksIn(e), e).toEqual([]);
    const dirsSeen = [...seen].filter(([p]) => !p.slice(tmpdir().length + 1).includes('/'));
    expect(dirsSeen.length).toBeGreaterThan(0);
    // What pgb-setup writes there (ini, userlist, log) is 0600; pgbouncer's own pidfile (0644, no
    // secret) sits inside the 0700 folder.
    for (const [p, mode] of seen) if (!p.endsWith('/pgbouncer.pid')) expect(mode & 0o077, `${p} mode ${mode.toString(8)}`).toBe(0);
    expect([...seen.keys()].some((p) => p.endsWith('/userlist.txt'))).toBe(true);
    for (const [p] of dirsSeen) expect(existsSync(p), `${p} left behind`).toBe(false);
  }, 60_000);
});
