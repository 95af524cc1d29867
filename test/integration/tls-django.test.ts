/**
 * Django through TLS to pgbouncer, with the settings print-django-settings prints for --tls
 * self-signed: Debian 12's Django 3.2 + psycopg2 (libpq 15) runs migrate and a query with
 * sslmode=verify-full and sslrootcert = the CA copied to the "app host", through a real pgbouncer
 * 1.18 running the files `apply --root --tls self-signed` wrote. The .env variant (--format env)
 * gives the same connection.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { chown, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { overrideIniSettings } from '../../src/apply/candidate-check.js';
import { parseUserlist } from '../../src/auth/userlist.js';
import { makeRoot, runInProcess } from '../helpers/trust.js';
import { pgbouncer118Binary } from '../helpers/binaries.js';
import { startPgbouncer, type RunningPgbouncer } from '../helpers/pgbouncer.js';
import { CACHE_DIR } from '../helpers/pgbouncer-binaries.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { freePort } from '../helpers/ports.js';
import { isRoot, lookupUser, run, type RunResult } from '../helpers/proc.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { PYTHON } from '../unit/django/python.js';

const PASSWORD = 'django-tls-password-0815';

/** Debian's Django stack for /usr/bin/python3 (as test/integration/django.test.ts installs it). */
async function ensureDjangoPackages(): Promise<void> {
  const probe = await run(PYTHON, ['-c', 'import django, psycopg2'], { check: false });
  if (probe.code === 0) return;
  if (!isRoot()) throw new Error(`/usr/bin/python3 lacks Django/psycopg2 (${probe.stderr.trim()}); run the tests as root so they can apt-get install them`);
  const script = ['set -e', 'export DEBIAN_FRONTEND=noninteractive', 'apt-get -o DPkg::Lock::Timeout=600 update', 'apt-get -o DPkg::Lock::Timeout=600 install -y --no-upgrade python3-django python3-psycopg2 python3-django-environ'].join('\n');
  await mkdir(CACHE_DIR, { recursive: true, mode: 0o755 });
  await run('flock', ['-w', '900', join(CACHE_DIR, '.apt.lock'), 'bash', '-c', script], { timeoutMs: 20 * 60_000 });
}

const MODELS = `from django.db import models


class Note(models.Model):
    text = models.CharField(max_length=50)
`;

const TAIL = `
SECRET_KEY = "test-only-not-secret"
INSTALLED_APPS = ["tinyapp"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
`;

const WORK = `import json
import django

django.setup()
from django.db import connection
from tinyapp.models import Note

Note.objects.create(text="over tls")
with connection.cursor() as c:
    c.execute("SELECT count(*) FROM tinyapp_note WHERE text = %s", ["over tls"])
    n = c.fetchone()[0]
info = connection.connection.info
print(json.dumps({"count": n, "ssl_in_use": info.ssl_in_use, "sslmode": connection.connection.get_dsn_parameters().get("sslmode"),
                  "port": connection.settings_dict["PORT"]}))
`;

let pgc: PgCluster;
let root: string;
let work: TempDir;
let appHost: TempDir;
let bouncer: RunningPgbouncer;
let port: number;

function env(): Record<string, string> {
  return { DBNAME: 'appdb', DBUSER: 'app_user', DBPASS: PASSWORD, DBHOST: '127.0.0.1', DBPORT: String(pgc.port) };
}

async function project(name: string, settings: string): Promise<string> {
  const p = join(appHost.path, name);
  await mkdir(join(p, 'tinyapp', 'migrations'), { recursive: true });
  await writeFile(join(p, 'settings.py'), `${settings}\n${TAIL}`);
  await writeFile(join(p, 'tinyapp', '__init__.py'), '');
  await writeFile(join(p, 'tinyapp', 'migrations', '__init__.py'), '');
  await writeFile(join(p, 'tinyapp', 'models.py'), MODELS);
  await writeFile(join(p, 'work.py'), WORK);
  return p;
}

function django(dir: string, args: string[], extra: Record<string, string> = {}): Promise<RunResult> {
  return run(PYTHON, args, {
    cwd: dir,
    check: false,
    timeoutMs: 110_000,
    env: { PATH: '/usr/bin:/bin', HOME: '/nonexistent', PYTHONPATH: dir, PYTHONDONTWRITEBYTECODE: '1', DJANGO_SETTINGS_MODULE: 'settings', ...env(), PGBOUNCER_PORT: String(port), ...extra },
  });
}

beforeAll(async () => {
  await ensureDjangoPackages();
  pgc = await startPostgres({ passwordEncryption: 'scram-sha-256' });
  await pgc.createRole('app_user', 'placeholder-replaced-below');
  await pgc.createDatabase('appdb', 'app_user');
  root = makeRoot('pgb-tls-django-');
  chmodSync(root, 0o755);
  work = await makeTempDir('tls-django', { owner: 'postgres' });
  appHost = await makeTempDir('tls-django-app');
  port = await freePort();
  const r = await runInProcess(['production', '--root', root, '--yes', '--tls', 'self-signed', '--allow-from', '10.0.0.0/8', '--pgbouncer-version', '1.18', '--skip-firewall'], env());
  expect(r.code, r.stderr).toBe(0);
  const secret = parseUserlist(await readFile(join(root, 'etc/pgbouncer/userlist.txt'), 'utf8')).entries[0]!.secret;
  await pgc.query(`ALTER ROLE app_user PASSWORD '${secret}'`);
  const ini = await readFile(join(root, 'etc/pgbouncer/pgbouncer.ini'), 'utf8');
  const under = (key: string) => join(root, new RegExp(`^${key} = (.+)$`, 'm').exec(ini)![1]!);
  await writeFile(join(work.path, 'pgbouncer.ini'), overrideIniSettings(ini, {
    listen_addr: '127.0.0.1', listen_port: String(port), unix_socket_dir: work.path,
    pidfile: join(work.path, 'pgbouncer.pid'), logfile: join(work.path, 'pgbouncer.log'),
    auth_file: under('auth_file'), auth_hba_file: under('auth_hba_file'),
    client_tls_key_file: under('client_tls_key_file'), client_tls_cert_file: under('client_tls_cert_file'), client_tls_ca_file: under('client_tls_ca_file'),
  }));
  const pgUser = lookupUser('postgres');
  await chown(join(work.path, 'pgbouncer.ini'), pgUser.uid, pgUser.gid);
  bouncer = await startPgbouncer({ binary: pgbouncer118Binary(), iniPath: join(work.path, 'pgbouncer.ini') });
  // "Copy the CA to the app host": the one file an app host needs.
  await copyFile(join(root, 'etc/pgbouncer/tls/ca.crt'), join(appHost.path, 'pgbouncer-ca.crt'));
}, 600_000);

afterAll(async () => {
  await bouncer?.stop();
  await pgc?.stop();
  await work?.cleanup();
  await appHost?.cleanup();
  if (root) execFileSync('rm', ['-rf', root]);
});

describe('Django 3.2 + psycopg2 through TLS to pgbouncer 1.18 (--tls self-signed)', () => {
  let dir: string;

  it('the printed settings (sslmode verify-full, sslrootcert = the copied CA) run migrate and a query over TLS', async () => {
    const caOnApp = join(appHost.path, 'pgbouncer-ca.crt');
    const p = await runInProcess(['print-django-settings', 'production', '--tls', 'self-signed', '--sslrootcert', caOnApp], env());
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toContain('"sslmode": _env("PGBOUNCER_SSLMODE", "verify-full") if PGBOUNCER_ENABLED else "prefer"');
    expect(p.stdout).toContain(`"sslrootcert": _env("PGBOUNCER_SSLROOTCERT", "${caOnApp}") if PGBOUNCER_ENABLED else None`);
    dir = await project('app', p.stdout);
    expect((await django(dir, ['-m', 'django', 'makemigrations', 'tinyapp'])).code).toBe(0);
    const migrate = await django(dir, ['-m', 'django', 'migrate', '--noinput']);
    expect(migrate.code, migrate.stderr).toBe(0);
    expect(migrate.stdout).toMatch(/Applying tinyapp\.0001_initial\.\.\. OK/);
    const out = await django(dir, ['work.py']);
    expect(out.code, out.stderr).toBe(0);
    expect(JSON.parse(out.stdout.trim().split('\n').at(-1)!)).toEqual({ count: 1, ssl_in_use: true, sslmode: 'verify-full', port: String(port) });
  });

  it('--format env gives the same connection (PGBOUNCER_SSLMODE / PGBOUNCER_SSLROOTCERT lines)', async () => {
    const caOnApp = join(appHost.path, 'pgbouncer-ca.crt');
    const e = await runInProcess(['print-django-settings', 'production', '--tls', 'self-signed', '--sslrootcert', caOnApp, '--format', 'env'], env());
    expect(e.code, e.stderr).toBe(0);
    const lines = Object.fromEntries(e.stdout.split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    expect(lines).toMatchObject({ PGBOUNCER_SSLMODE: 'verify-full', PGBOUNCER_SSLROOTCERT: caOnApp });
    // The python settings printed without --sslrootcert, driven only by the .env values.
    const plain = await runInProcess(['print-django-settings', 'production', '--tls', 'self-signed'], env());
    const envDir = await project('envapp', plain.stdout);
    await run('cp', ['-r', join(dir, 'tinyapp', 'migrations'), join(envDir, 'tinyapp')]);
    const out = await django(envDir, ['work.py'], { PGBOUNCER_SSLMODE: lines['PGBOUNCER_SSLMODE']!, PGBOUNCER_SSLROOTCERT: lines['PGBOUNCER_SSLROOTCERT']! });
    expect(out.code, out.stderr).toBe(0);
    expect(JSON.parse(out.stdout.trim().split('\n').at(-1)!)).toMatchObject({ count: 2, ssl_in_use: true, sslmode: 'verify-full' });
    // Without the CA file on the app host, verify-full refuses to connect (nothing falls back to clear text).
    const missing = await django(envDir, ['work.py'], { PGBOUNCER_SSLROOTCERT: join(appHost.path, 'absent.crt') });
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/root certificate file .* does not exist/);
    // And with TLS switched off on the client, pgbouncer refuses.
    const clear = await django(envDir, ['work.py'], { PGBOUNCER_SSLMODE: 'disable' });
    expect(clear.code).not.toBe(0);
    expect(clear.stderr).toMatch(/SSL required/);
  });
});
