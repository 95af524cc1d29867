/**
 * What pgb-setup finds on disk (#17 items 1-4, 10, 12, 13, 15; #11.13, #11.14; #12.5; #16.5), run
 * for real under --root in-process: bytes of other users, symlinks out of the root, FIFOs and
 * directories where files are expected, hostile backup folders and manifests.
 */
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Plan } from '../../../src/plan/types.js';
import { lookupUser } from '../../helpers/proc.js';
import { snapshotTree } from '../../helpers/tree.js';
import { buildCli, makeRoot, runInProcess } from '../../helpers/trust.js';

const ENV = { DBNAME: 'appdb', DBUSER: 'app_user', DBPASS: 'disk-Pass-1', DBHOST: '10.0.0.20' };
const FLAGS = ['--skip-install', '--skip-service', '--skip-firewall'];
const INI = 'etc/pgbouncer/pgbouncer.ini';
const USERLIST = 'etc/pgbouncer/userlist.txt';
const BACKUPS = 'var/backups/pgb-setup';
const asRoot = process.getuid?.() === 0;
const hasPostgres = existsSync('/etc/passwd') && /^postgres:/m.test(readFileSync('/etc/passwd', 'utf8'));

const cleanup: string[] = [];
afterEach(() => {
  for (const d of cleanup.splice(0)) rmSync(d, { recursive: true, force: true });
});

function root(): string {
  const r = makeRoot('pgb-disk-');
  cleanup.push(r);
  return r;
}

function outside(): string {
  const d = mkdtempSync(join(tmpdir(), 'pgb-disk-outside-'));
  cleanup.push(d);
  return d;
}

const apply = (r: string, env: Record<string, string> = ENV, extra: string[] = []) => runInProcess(['production', '--root', r, '--yes', ...FLAGS, ...extra], env);
const dryRun = (r: string, env: Record<string, string> = ENV, extra: string[] = []) => runInProcess(['production', '--root', r, '--dry-run', ...FLAGS, ...extra], env);
const rollback = (r: string, extra: string[] = []) => runInProcess(['rollback', '--root', r, ...extra]);

function backupDirs(r: string): string[] {
  return existsSync(join(r, BACKUPS)) ? readdirSync(join(r, BACKUPS)).sort() : [];
}

function oneLine(stderr: string): void {
  expect(stderr).not.toMatch(/internal error|\n\s+at /);
}

describe('#17.1 bytes of other users are kept; backups are byte copies', () => {
  it('a Latin-1 user line survives a change of the app user, in the new file and in the backup', async () => {
    const r = root();
    expect((await apply(r)).code).toBe(0);
    const latin1 = Buffer.from('"caf\xe9" "otherpw"  ; \xff\xfe stray bytes\n', 'latin1');
    const before = Buffer.concat([readFileSync(join(r, USERLIST)), latin1]);
    writeFileSync(join(r, USERLIST), before);
    const res = await apply(r, { ...ENV, DBPASS: 'a-new-Password-2' });
    expect(res.code, res.stderr).toBe(0);
    const after = readFileSync(join(r, USERLIST));
    expect(after.includes(latin1), 'the Latin-1 line is not in the new userlist byte for byte').toBe(true);
    expect(after.includes(Buffer.from('\uFFFD', 'utf8'))).toBe(false);
    const [stamp] = backupDirs(r);
    expect(readFileSync(join(r, BACKUPS, stamp!, 'userlist.txt')).equals(before), 'the backup is not a byte copy').toBe(true);
    // And rollback puts exactly those bytes back.
    expect((await rollback(r)).code).toBe(0);
    expect(readFileSync(join(r, USERLIST)).equals(before)).toBe(true);
  });

  it('hash-user --userlist keeps a Latin-1 line byte for byte too', async () => {
    const dir = outside();
    const file = join(dir, 'userlist.txt');
    const latin1 = Buffer.from('"caf\xe9" "otherpw"\n;\xff comment\n"zed" "old"\n', 'latin1');
    writeFileSync(file, latin1, { mode: 0o600 });
    const res = await runInProcess(['hash-user', 'zed', '--userlist', file, '--password-stdin'], {}, { readStdin: async () => 'zeds-New-pass' });
    expect(res.code, res.stderr).toBe(0);
    const after = readFileSync(file);
    expect(after.subarray(0, latin1.indexOf('"zed"')).equals(latin1.subarray(0, latin1.indexOf('"zed"')))).toBe(true);
    expect(after.toString('latin1')).toMatch(/^"zed" "SCRAM-SHA-256\$4096:/m);
  });

  it('a binary 64 KiB pgbouncer.ini is backed up with identical bytes', async () => {
    const r = root();
    mkdirSync(join(r, 'etc/pgbouncer'), { recursive: true });
    const binary = randomBytes(64 * 1024);
    writeFileSync(join(r, INI), binary, { mode: 0o640 });
    const res = await apply(r);
    expect(res.code, res.stderr).toBe(0);
    const [stamp] = backupDirs(r);
    const copy = readFileSync(join(r, BACKUPS, stamp!, 'pgbouncer.ini'));
    expect(copy.length).toBe(64 * 1024);
    expect(copy.equals(binary)).toBe(true);
  });
});

describe.skipIf(!asRoot || !hasPostgres)('#17.2 the service user never comes from a file owner', () => {
  it('pgbouncer.ini owned by nobody: the plan says so, secrets stay with postgres', async () => {
    const r = root();
    expect((await apply(r)).code).toBe(0);
    const nobody = lookupUser('nobody');
    chownSync(join(r, INI), nobody.uid, nobody.gid);
    const plan = await runInProcess(['production', '--root', r, '--dry-run', '--json', ...FLAGS], { ...ENV, DBPASS: 'other-Pass-3' });
    expect(plan.code, plan.stderr).toBe(0);
    const p = JSON.parse(plan.stdout) as Plan;
    expect(p.host.serviceUser).toMatch(/^postgres:postgres/);
    expect(p.notes.join('\n')).toMatch(new RegExp(`/etc/pgbouncer/pgbouncer\\.ini is owned by uid ${nobody.uid}, but pgbouncer runs as postgres`));
    const res = await apply(r, { ...ENV, DBPASS: 'other-Pass-3' });
    expect(res.code, res.stderr).toBe(0);
    const pg = lookupUser('postgres');
    for (const f of [USERLIST, INI, 'var/log/postgresql/pgbouncer.log']) expect(statSync(join(r, f)).uid, f).toBe(pg.uid);
  });
});

describe('#17.3 / #11.13 / #12.5 rollback trusts no backup folder and no manifest', () => {
  async function withBackup(): Promise<{ r: string; dir: string }> {
    const r = root();
    expect((await apply(r)).code).toBe(0);
    expect((await apply(r, { ...ENV, DBPASS: 'second-Pass-4' })).code).toBe(0);
    const [stamp] = backupDirs(r);
    return { r, dir: join(r, BACKUPS, stamp!) };
  }

  it('a manifest entry pointing out of the root, setuid, owned by nobody: refused, nothing written', async () => {
    const { r, dir } = await withBackup();
    const out = outside();
    writeFileSync(join(dir, 'PWNED'), 'chosen by an attacker\n');
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    m.files.push({ name: 'PWNED', path: `/../${out.split('/').pop()}/PWNED`, mode: 0o6755, uid: 65534, gid: 65534 });
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
    const before = snapshotTree(r);
    const res = await rollback(r);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/not a file pgb-setup manages; nothing restored/);
    oneLine(res.stderr);
    expect(existsSync(join(out, 'PWNED'))).toBe(false);
    expect(existsSync(join(r, out.split('/').pop()!, 'PWNED'))).toBe(false);
    expect(snapshotTree(r)).toEqual(before);
  });

  it('a version-1 manifest with mode 4777 and uid nobody: the file gets its planned mode and owner', async () => {
    const { r, dir } = await withBackup();
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ version: 1, files: [{ name: 'userlist.txt', path: '/etc/pgbouncer/userlist.txt', mode: 0o4777, uid: 65534, gid: 65534 }] }));
    const owner = statSync(join(r, USERLIST));
    const res = await rollback(r);
    expect(res.code, res.stderr).toBe(0);
    const st = statSync(join(r, USERLIST));
    expect(st.mode & 0o7777).toBe(0o600);
    expect(st.uid).toBe(owner.uid);
    expect(st.uid).not.toBe(65534);
  });

  it.each([
    ['a 0777 backups folder', (r: string) => chmodSync(join(r, BACKUPS), 0o777), /is writable by every user \(mode 0777\)/],
    ['a group-writable backup', (r: string) => chmodSync(join(r, BACKUPS, backupDirs(r)[0]!), 0o770), /is writable by its group/],
    ['a backups folder owned by nobody', (r: string) => chownSync(join(r, BACKUPS), 65534, 65534), /is owned by uid 65534, not root/],
    ['a backups folder that is a symlink', (r: string) => {
      const out = outside();
      rmSync(join(r, BACKUPS), { recursive: true });
      symlinkSync(out, join(r, BACKUPS));
    }, /is a symbolic link, not a folder/],
  ])('%s is refused, saying why', async (_name, spoil, why) => {
    if (!asRoot && /owned by nobody/.test(String(_name))) return;
    const { r } = await withBackup();
    spoil(r);
    const before = readFileSync(join(r, USERLIST));
    const res = await rollback(r);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(why);
    expect(res.stderr).toMatch(/refusing (the backups|backup \S+:)/);
    oneLine(res.stderr);
    expect(readFileSync(join(r, USERLIST)).equals(before)).toBe(true);
  });

  it('restores the systemd drop-in the run changed, and removes one the run created (#12.5)', async () => {
    const { r, dir } = await withBackup();
    const dropIn = 'etc/systemd/system/pgbouncer.service.d/00-pgb-setup-limits.conf';
    const target = '/etc/systemd/system/pgbouncer-group.target';
    mkdirSync(join(r, 'etc/systemd/system/pgbouncer.service.d'), { recursive: true });
    writeFileSync(join(r, dropIn), '[Service]\nLimitNOFILE=4096\n', { mode: 0o600 });
    writeFileSync(join(r, target), '[Unit]\n');
    const old = Buffer.from('[Service]\nLimitNOFILE=2048\n');
    writeFileSync(join(dir, 'pgb-setup.conf'), old, { mode: 0o600 });
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    m.files.push({ name: 'pgb-setup.conf', path: `/${dropIn}` }, { path: target, created: true });
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
    const res = await rollback(r);
    expect(res.code, res.stderr).toBe(0);
    expect(readFileSync(join(r, dropIn)).equals(old)).toBe(true);
    expect(statSync(join(r, dropIn)).mode & 0o7777).toBe(0o644);
    expect(existsSync(join(r, target))).toBe(false);
    expect(res.stderr).toContain(`removed ${target}`);
  });
});

describe('#17.4 symlinks are never followed for managed files', () => {
  it.each([[INI], [USERLIST]])('%s linked to a file outside the root: refused before any diff or backup', async (file) => {
    const r = root();
    expect((await apply(r)).code).toBe(0);
    const out = outside();
    const secret = 'TOP-SECRET-CONTENT-17-4\n[pgbouncer]\nauth_type = trust\n';
    writeFileSync(join(out, 'secret.txt'), secret);
    rmSync(join(r, file));
    symlinkSync(join(out, 'secret.txt'), join(r, file));
    for (const run of [() => dryRun(r), () => apply(r, { ...ENV, DBPASS: 'other-Pass-5' }), () => runInProcess(['verify', 'production', '--root', r], ENV)]) {
      const res = await run();
      expect(res.code).toBe(1);
      expect(res.stdout + res.stderr).not.toContain('TOP-SECRET');
      expect(res.stderr).toMatch(/is a symbolic link, not a regular file/);
      oneLine(res.stderr);
    }
    expect(backupDirs(r)).toEqual([]);
    expect(readFileSync(join(out, 'secret.txt'), 'utf8')).toBe(secret);
  });

  it('a folder on the way that leads out of the root: nothing read or written through it', async () => {
    const r = root();
    const out = outside();
    writeFileSync(join(out, 'pgbouncer.ini'), 'TOP-SECRET-DIR\n');
    mkdirSync(join(r, 'etc'), { recursive: true });
    symlinkSync(out, join(r, 'etc/pgbouncer'));
    const res = await apply(r);
    expect(res.code).toBe(1);
    expect(res.stdout + res.stderr).not.toContain('TOP-SECRET');
    expect(res.stderr).toMatch(/leads out of --root/);
    expect(readdirSync(out)).toEqual(['pgbouncer.ini']);
  });
});

describe('#17.10 / #17.12 FIFOs, directories and devices where a file is expected', () => {
  const kinds = {
    fifo: (p: string) => execFileSync('mkfifo', [p]),
    directory: (p: string) => mkdirSync(p),
    device: (p: string) => symlinkSync('/dev/zero', p),
  };
  for (const [kind, make] of Object.entries(kinds)) {
    it.each([[INI], [USERLIST]])(`${kind} as %s: one line, exit 1, no hang`, async (file) => {
      const r = root();
      mkdirSync(join(r, 'etc/pgbouncer'), { recursive: true });
      make(join(r, file));
      for (const run of [() => dryRun(r), () => apply(r), () => runInProcess(['verify', 'production', '--root', r], ENV)]) {
        const res = await run();
        expect(res.code, res.stderr).toBe(1);
        expect(res.stderr).toMatch(new RegExp(`/${file.replaceAll('.', '\\.')} is a `));
        oneLine(res.stderr);
      }
      expect(backupDirs(r)).toEqual([]);
    }, 20_000);
  }

  it.each([['fifo'], ['directory']])('a %s as the lock: refused with the reason, no hang', async (kind) => {
    const r = root();
    const lock = join(r, '.pgb-setup.lock');
    if (kind === 'fifo') execFileSync('mkfifo', [lock]);
    else mkdirSync(lock);
    const res = await apply(r);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(kind === 'fifo' ? /the lock .*: it is a FIFO/ : /the lock .*: it is a folder/);
    oneLine(res.stderr);
  }, 20_000);

  it('a dangling-symlink lock is taken over (#17.15)', async () => {
    const r = root();
    symlinkSync(join(r, 'nowhere', 'gone'), join(r, '.pgb-setup.lock'));
    const res = await apply(r);
    expect(res.code, res.stderr).toBe(0);
    expect(existsSync(join(r, '.pgb-setup.lock'))).toBe(false);
  });

  it.each([
    ['a FIFO', (p: string) => execFileSync('mkfifo', [p]), /manifest\.json is a FIFO/],
    ['a directory', (p: string) => mkdirSync(p), /manifest\.json is a directory/],
    ['{}', (p: string) => writeFileSync(p, '{}'), /not a pgb-setup manifest/],
    ['"files": [null]', (p: string) => writeFileSync(p, '{"version":1,"files":[null]}'), /not a pgb-setup manifest/],
    ['not JSON', (p: string) => writeFileSync(p, '{"version":'), /not valid JSON/],
  ])('manifest.json that is %s: rollback and rollback --list say so in one line (#17.15: never skipped silently)', async (_n, make, why) => {
    const r = root();
    expect((await apply(r)).code).toBe(0);
    expect((await apply(r, { ...ENV, DBPASS: 'second-Pass-6' })).code).toBe(0);
    expect((await apply(r, { ...ENV, DBPASS: 'third-Pass-7' })).code).toBe(0);
    const [older, newest] = backupDirs(r);
    expect(older).toBeDefined();
    rmSync(join(r, BACKUPS, newest!, 'manifest.json'));
    make(join(r, BACKUPS, newest!, 'manifest.json'));
    const before = readFileSync(join(r, USERLIST));
    const list = await rollback(r, ['--list']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(why);
    const res = await rollback(r);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(new RegExp(`the newest backup ${newest} cannot be used: .*nothing restored`));
    expect(res.stderr).toMatch(why);
    oneLine(res.stderr);
    expect(readFileSync(join(r, USERLIST)).equals(before)).toBe(true);
  }, 20_000);
});

describe('#17.12 large inputs', () => {
  it('a pgbouncer.ini of 150,000 lines: the plan is printed (diff summarised), no RangeError', async () => {
    const r = root();
    mkdirSync(join(r, 'etc/pgbouncer'), { recursive: true });
    writeFileSync(join(r, INI), `[pgbouncer]\n${Array.from({ length: 150_000 }, (_, i) => `; line ${i}`).join('\n')}\n`);
    const res = await dryRun(r);
    expect(res.code, res.stderr.slice(0, 500)).toBe(0);
    expect(res.stdout).toMatch(/too large to diff here/);
    expect(res.stdout.split('\n').length).toBeLessThan(1000);
    const applied = await apply(r);
    expect(applied.code, applied.stderr.slice(0, 500)).toBe(0);
  }, 60_000);

  it('a userlist.txt over 64 MiB is refused in one line before it is read', async () => {
    const r = root();
    mkdirSync(join(r, 'etc/pgbouncer'), { recursive: true });
    execFileSync('truncate', ['-s', '100M', join(r, USERLIST)]);
    const res = await dryRun(r);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/userlist\.txt is 100 MiB, more than the 64 MiB pgb-setup reads there/);
    oneLine(res.stderr);
  });

  it('1,100 backup folders under ulimit -n 1024: rollback --list and rollback work (no EMFILE)', async () => {
    const r = root();
    expect((await apply(r)).code).toBe(0);
    expect((await apply(r, { ...ENV, DBPASS: 'second-Pass-8' })).code).toBe(0);
    const [stamp] = backupDirs(r);
    const src = join(r, BACKUPS, stamp!);
    for (let i = 0; i < 1100; i++) {
      const d = join(r, BACKUPS, `2020-01-01T00-00-${String(i).padStart(4, '0')}Z`);
      mkdirSync(d, { mode: 0o700 });
      writeFileSync(join(d, 'manifest.json'), readFileSync(join(src, 'manifest.json')));
      writeFileSync(join(d, 'userlist.txt'), readFileSync(join(src, 'userlist.txt')), { mode: 0o600 });
    }
    const entry = await buildCli();
    const run = (args: string[]) =>
      new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
        const child = spawn('sh', ['-c', 'ulimit -n 1024 && exec "$0" "$@"', process.execPath, entry, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        child.stdout.on('data', (b: Buffer) => (out += b));
        child.stderr.on('data', (b: Buffer) => (err += b));
        child.on('close', (code) => resolve({ code, out, err }));
      });
    const list = await run(['rollback', '--root', r, '--list']);
    expect(list.code, list.err).toBe(0);
    expect(list.out.split('\n').filter((l) => / available /.test(l)).length).toBe(1101);
    const res = await run(['rollback', '--root', r]);
    expect(res.code, res.err).toBe(0);
    expect(res.err).toContain(`restored /etc/pgbouncer/userlist.txt from ${stamp}`);
  }, 120_000);
});

describe('rollback twice', () => {
  it('the second rollback restores the backup before the one already restored', async () => {
    const r = root();
    expect((await apply(r)).code).toBe(0);
    const v1 = readFileSync(join(r, USERLIST));
    expect((await apply(r, { ...ENV, DBPASS: 'second-Pass-12' })).code).toBe(0);
    const v2 = readFileSync(join(r, USERLIST));
    expect((await apply(r, { ...ENV, DBPASS: 'third-Pass-13' })).code).toBe(0);
    expect((await rollback(r)).code).toBe(0);
    expect(readFileSync(join(r, USERLIST)).equals(v2)).toBe(true);
    const again = await rollback(r);
    expect(again.code, again.stderr).toBe(0);
    expect(readFileSync(join(r, USERLIST)).equals(v1)).toBe(true);
  });
});

describe('#17.13 rollback is all or nothing', () => {
  it('a backup that lacks one of its files restores nothing and stays available', async () => {
    const r = root();
    expect((await apply(r)).code).toBe(0);
    // Change both files in one run: the backup holds both.
    const res2 = await apply(r, { ...ENV, DBPASS: 'second-Pass-9' }, ['--set', 'default_pool_size=33']);
    expect(res2.code, res2.stderr).toBe(0);
    const [stamp] = backupDirs(r);
    const m = JSON.parse(readFileSync(join(r, BACKUPS, stamp!, 'manifest.json'), 'utf8'));
    expect(m.files.map((f: { path: string }) => f.path).sort()).toEqual(['/etc/pgbouncer/pgbouncer.ini', '/etc/pgbouncer/userlist.txt']);
    rmSync(join(r, BACKUPS, stamp!, 'userlist.txt'));
    const before = snapshotTree(r);
    const res = await rollback(r);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/lacks userlist\.txt .*; nothing restored/);
    expect(res.stderr).not.toMatch(/✓ restored/);
    expect(snapshotTree(r)).toEqual(before);
    expect((await rollback(r, ['--list'])).stdout).toMatch(new RegExp(`${stamp}\\s+available`));
  });

  it('a managed file that is now a symlink out of the root: nothing restored, nothing written through it', async () => {
    const r = root();
    expect((await apply(r)).code).toBe(0);
    expect((await apply(r, { ...ENV, DBPASS: 'second-Pass-14' })).code).toBe(0);
    const out = outside();
    writeFileSync(join(out, 'victim'), 'victim content\n');
    rmSync(join(r, USERLIST));
    symlinkSync(join(out, 'victim'), join(r, USERLIST));
    const res = await rollback(r);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/cannot be restored over what is there now: .*is a symbolic link.*; nothing restored/);
    expect(readFileSync(join(out, 'victim'), 'utf8')).toBe('victim content\n');
    oneLine(res.stderr);
  });

  it('a backed-up copy whose bytes changed since the backup (checksum) restores nothing', async () => {
    const r = root();
    expect((await apply(r)).code).toBe(0);
    expect((await apply(r, { ...ENV, DBPASS: 'second-Pass-10' })).code).toBe(0);
    const [stamp] = backupDirs(r);
    writeFileSync(join(r, BACKUPS, stamp!, 'userlist.txt'), '"evil" "planted"\n', { mode: 0o600 });
    const before = readFileSync(join(r, USERLIST));
    const res = await rollback(r);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/not what was backed up/);
    expect(readFileSync(join(r, USERLIST)).equals(before)).toBe(true);
  });
});

describe('#11.14 a userlist others could write to', () => {
  it.each([[0o666, /WRITABLE by every user/], [0o620, /WRITABLE by group \d+, which is not the service user's group/]])('mode %o: a loud warning listing the users pgb-setup did not put there', async (mode, who) => {
    const r = root();
    expect((await apply(r)).code).toBe(0);
    writeFileSync(join(r, USERLIST), `${readFileSync(join(r, USERLIST), 'utf8')}"attacker" "planted-plaintext-pw"\n`);
    chmodSync(join(r, USERLIST), mode);
    if (mode === 0o620) chownSync(join(r, USERLIST), statSync(join(r, USERLIST)).uid, 65534);
    const res = await runInProcess(['production', '--root', r, '--dry-run', '--json', ...FLAGS], ENV);
    expect(res.code, res.stderr).toBe(0);
    const p = JSON.parse(res.stdout) as Plan;
    const w = p.warnings.find((x) => /WRITABLE/.test(x));
    expect(w).toMatch(who);
    expect(w).toContain('users pgb-setup did not put there: "attacker"');
    expect(w).not.toContain('app_user');
    expect(w).not.toContain('planted-plaintext-pw');
  });
});

describe('#16.5 shared system folders are never created or re-owned', () => {
  it.each([['debian-12'], ['rocky-9']])('%s root without /tmp and /run: no directory step for them, a note when missing', async (fixture) => {
    const r = root();
    writeFileSync(join(r, 'etc/os-release'), readFileSync(join(import.meta.dirname, '../../fixtures/os-release', fixture), 'utf8'));
    const res = await runInProcess(['production', '--root', r, '--dry-run', '--json', ...FLAGS, '--set', 'unix_socket_dir=/tmp'], ENV);
    expect(res.code, res.stderr).toBe(0);
    const p = JSON.parse(res.stdout) as Plan;
    const dirs = p.steps.filter((s) => s.kind === 'directory').map((s) => (s as { path: string }).path);
    for (const shared of ['/tmp', '/run', '/var/run', '/var/tmp', '/var/log', '/etc']) expect(dirs).not.toContain(shared);
    expect(p.notes.join('\n')).toMatch(/\/tmp does not exist under --root: it is a system folder .* left to the system/);
    const applied = await apply(r, ENV, ['--set', 'unix_socket_dir=/tmp']);
    expect(applied.code, applied.stderr).toBe(0);
    expect(existsSync(join(r, 'tmp'))).toBe(false);
  });
});

describe('#17.15 a failed apply leaves no backup folder behind', () => {
  it.skipIf(!asRoot)('the write of userlist.txt fails after the backup: files restored, this run’s backup removed', async (ctx) => {
    const r = root();
    expect((await apply(r)).code).toBe(0);
    // An immutable userlist.txt makes its write fail after the backup and the ini were written.
    const ul = join(r, USERLIST);
    const before = readFileSync(ul);
    try {
      execFileSync('chattr', ['+i', ul], { stdio: 'ignore' });
    } catch {
      ctx.skip(); // a filesystem without immutable files (tmpfs)
    }
    try {
      const res = await apply(r, { ...ENV, DBPASS: 'second-Pass-11' }, ['--set', 'default_pool_size=34']);
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/removed this run's backup/);
      expect(backupDirs(r)).toEqual([]);
      expect(readFileSync(ul).equals(before)).toBe(true);
    } finally {
      execFileSync('chattr', ['-i', ul], { stdio: 'ignore' });
    }
  });
});

