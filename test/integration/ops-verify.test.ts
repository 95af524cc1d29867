/**
 * verify against a rendered development setup in a temp folder, served by a real pgbouncer:
 * all checks pass; a world-readable userlist and a stopped pgbouncer are reported with their fix.
 * And the --root form (files under a folder, live checks skipped).
 */
import { chmod, chown, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/main.js';
import { captureContext } from '../helpers/context.js';
import { pgbouncerBinaries } from '../helpers/binaries.js';
import { connectThrough, profileFlags, settingsInside, startRenderedPgbouncer, type RunningPgbouncer } from '../helpers/pgbouncer.js';
import { pgbouncerVersion } from '../helpers/pgbouncer-binaries.js';
import { startPostgresWithAppDatabase, type PgCluster } from '../helpers/postgres.js';
import { freePort } from '../helpers/ports.js';
import { lookupUser, signalPid } from '../helpers/proc.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

const PASSWORD = 'verify me 42';
let cluster: PgCluster;

beforeAll(async () => {
  cluster = await startPostgresWithAppDatabase();
});
afterAll(async () => {
  await cluster?.stop();
});

const env = () => ({ DBNAME: 'appdb', DBUSER: 'app_user', DBPASS: PASSWORD, DBHOST: '127.0.0.1', DBPORT: String(cluster.port) });
async function cli(args: string[]) {
  const ctx = captureContext({ env: env() });
  const code = await main(['node', 'pgb-setup', ...args], ctx);
  return { code, out: ctx.out(), err: ctx.err() };
}

function line(out: string, title: string): string {
  const i = out.split('\n').findIndex((l) => l.includes(title));
  if (i < 0) throw new Error(`no "${title}" in:\n${out}`);
  const lines = out.split('\n');
  return [lines[i], lines[i + 1]?.trim().startsWith('fix:') ? lines[i + 1] : ''].join('\n');
}

describe.each(pgbouncerBinaries())('verify on pgbouncer $label', ({ binary, label }) => {
  let dir: TempDir;
  let bouncer: RunningPgbouncer;
  let profileArgs: string[];
  let ini: string;
  let userlist: string;

  beforeAll(async () => {
    const version = (await pgbouncerVersion(binary)).match(/\d+\.\d+/)![0];
    dir = await makeTempDir(`ops-verify-${label}`, { owner: 'postgres' });
    ini = join(dir.path, 'pgbouncer.ini');
    userlist = join(dir.path, 'userlist.txt');
    profileArgs = profileFlags(version, settingsInside(dir.path, await freePort()));
    const r = await cli(['render', 'development', '--out', dir.path, ...profileArgs]);
    expect(r.code).toBe(0);
    bouncer = await startRenderedPgbouncer(cluster, dir.path, binary);
  });
  afterAll(async () => {
    await bouncer?.stop();
    await dir?.cleanup();
  });

  it('passes on a correctly set-up layout (exit 0)', async () => {
    const r = await cli(['verify', 'development', '--ini', ini, '--service-user', 'postgres', ...profileArgs]);
    expect(r.err).toBe('');
    expect(r.out).not.toMatch(/^FAIL/m);
    expect(r.code).toBe(0);
    for (const title of ['pgbouncer.ini parses', 'pgbouncer.ini matches the profile', 'userlist.txt holds the right secret', 'pgbouncer.ini owner and mode', 'userlist.txt owner and mode', 'pgbouncer is running', 'pgbouncer listens', 'an app login through pgbouncer works', 'admin console answers', 'running settings match the file', 'Django sslmode vs pgbouncer client TLS']) {
      expect(line(r.out, title)).toMatch(/^PASS/);
    }
    expect(line(r.out, 'userlist.txt holds the right secret')).toContain('scram-sha-256 secret matches DBPASS (salt ignored)');
    expect(line(r.out, 'pgbouncer is running')).toMatch(new RegExp(`pid ${bouncer.pid} from .*pgbouncer\\.pid is alive`));
    expect(line(r.out, 'Django: server-side cursors')).toMatch(/^NOTE .*DISABLE_SERVER_SIDE_CURSORS = True/);
    expect(r.out).toMatch(/checks: \d+ passed, 0 failed, 0 skipped, 1 notes/);
  });

  it('reports a world-readable userlist.txt with the fix (exit 1)', async () => {
    await chmod(userlist, 0o644);
    try {
      const r = await cli(['verify', 'development', '--ini', ini, '--service-user', 'postgres', ...profileArgs]);
      expect(r.code).toBe(1);
      const item = line(r.out, 'userlist.txt owner and mode');
      expect(item).toMatch(/^FAIL .*mode 0644 gives the group and everyone more than 0600 \(world-readable\)/);
      expect(item).toContain(`fix: chmod 0600 ${userlist}`);
      expect(r.out.match(/^FAIL/gm)).toHaveLength(1);
    } finally {
      await chmod(userlist, 0o600);
    }
  });

  it('reports a profile change not applied to the file, and a running value not reloaded', async () => {
    const r = await cli(['verify', 'development', '--ini', ini, '--service-user', 'postgres', ...profileArgs, '--set', 'default_pool_size=7', '--json']);
    expect(r.code).toBe(1);
    const checks = JSON.parse(r.out).checks as { id: string; status: string; detail: string; fix?: string }[];
    const matches = checks.find((c) => c.id === 'ini-matches')!;
    expect(matches.status).toBe('fail');
    expect(matches.detail).toContain('[pgbouncer] default_pool_size: file "5", profile "7"');
    expect(matches.fix).toMatch(/^pgb-setup apply development/);
    expect(checks.find((c) => c.id === 'running-config')!.status).toBe('pass');
  });

  it('#17.5: a %include granting trust is honoured by pgbouncer, and verify fails on it (exit 1)', async () => {
    const original = await readFile(ini, 'utf8');
    const override = join(dir.path, 'override.ini');
    // Whether a wrong password logs in: the effect of auth_type = trust, seen from a client.
    const wrongPasswordWorks = async () => {
      try {
        await (await connectThrough(bouncer, { user: 'app_user', password: 'not the password', database: 'appdb' })).end();
        return true;
      } catch {
        return false;
      }
    };
    const reload = async (trust: boolean) => {
      signalPid(bouncer.pid, 'SIGHUP');
      for (let i = 0; i < 100 && (await wrongPasswordWorks()) !== trust; i++) await sleep(50);
      expect(await wrongPasswordWorks()).toBe(trust);
    };
    try {
      await writeFile(override, '[pgbouncer]\nauth_type = trust\n');
      await writeFile(ini, `${original}%include ${override}\n`);
      expect(await wrongPasswordWorks()).toBe(false);
      // The real pgbouncer takes the include on reload: a wrong password logs in.
      await reload(true);

      const r = await cli(['verify', 'development', '--ini', ini, '--service-user', 'postgres', ...profileArgs]);
      expect(r.code).toBe(1);
      expect(line(r.out, 'pgbouncer.ini includes no other file')).toMatch(new RegExp(`^FAIL .*line \\d+: %include ${override.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: pgbouncer applies the included settings too`));
      expect(line(r.out, 'pgbouncer.ini includes no other file')).toMatch(/fix: .*remove the %include line/);
    } finally {
      await writeFile(ini, original);
      await reload(false);
    }
  });

  it('reports a stopped pgbouncer with the fix (exit 1)', async () => {
    await bouncer.stop();
    const r = await cli(['verify', 'development', '--ini', ini, '--service-user', 'postgres', ...profileArgs]);
    expect(r.code).toBe(1);
    const item = line(r.out, 'pgbouncer is running');
    expect(item).toMatch(/^FAIL .*pgbouncer\.pid is missing or empty|^FAIL .*is not running \(stale pidfile\)/);
    expect(item).toContain(`fix: start it: pgbouncer -d -u postgres ${ini}`);
    expect(line(r.out, 'pgbouncer listens')).toMatch(/^FAIL .*ECONNREFUSED/);
    expect(line(r.out, 'admin console answers')).toMatch(/^FAIL .*cannot connect/);
    // The file checks still pass.
    expect(line(r.out, 'pgbouncer.ini matches the profile')).toMatch(/^PASS/);
  });
});

describe('verify --root', () => {
  it('checks the files under the folder with the detected service user, and skips the live checks', async () => {
    const root = await makeTempDir('ops-verify-root');
    try {
      await mkdir(join(root.path, 'etc/pgbouncer'), { recursive: true });
      await copyFile('/etc/os-release', join(root.path, 'etc/os-release'));
      const args = ['--pgbouncer-version', '1.18'];
      // Rendered with the Debian paths (auth_file /etc/pgbouncer/userlist.txt), as on a real host.
      expect((await cli(['render', 'production', '--out', join(root.path, 'etc/pgbouncer'), ...args])).code).toBe(0);
      const pgUser = lookupUser('postgres');
      for (const f of ['pgbouncer.ini', 'userlist.txt']) await chown(join(root.path, 'etc/pgbouncer', f), pgUser.uid, pgUser.gid);

      const ok = await cli(['verify', 'production', '--root', root.path, ...args]);
      expect(ok.err).toBe('');
      expect(ok.code).toBe(0);
      // From the unit or the distribution, never from a file's owner (#17.2).
      expect(ok.out).toMatch(/service user postgres \(account postgres exists \(getent passwd\)\)/);
      expect(line(ok.out, 'pgbouncer.ini owner and mode')).toMatch(/^PASS {2}.*\/etc\/pgbouncer\/pgbouncer\.ini: mode 0640, owned by postgres/);
      expect(line(ok.out, 'userlist.txt owner and mode')).toMatch(/^PASS .*mode 0600, owned by postgres/);
      expect(line(ok.out, 'pgbouncer is running')).toMatch(/^SKIP .*live checks skipped/);

      await chown(join(root.path, 'etc/pgbouncer/userlist.txt'), 0, 0);
      const bad = await cli(['verify', 'production', '--root', root.path, ...args]);
      expect(bad.code).toBe(1);
      expect(line(bad.out, 'userlist.txt owner and mode')).toMatch(/^FAIL .*owned by uid 0, not postgres[\s\S]*fix: chown postgres:postgres \/etc\/pgbouncer\/userlist\.txt && chmod 0600/);
    } finally {
      await root.cleanup();
    }
  });
});
