/**
 * print-django-settings against the real thing: Debian 12's Django 3.2 + psycopg2, the product's own
 * rendered pgbouncer.ini in a real pgbouncer 1.18 (transaction pooling, a small pool kept busy by
 * other clients) in front of a real PostgreSQL 15.
 */
import { chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client as PgClient } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/main.js';
import { parseUserlist } from '../../src/auth/userlist.js';
import { captureContext } from '../helpers/context.js';
import { pgbouncer118Binary } from '../helpers/binaries.js';
import { adminQuery, connectThrough, startPgbouncer, type RunningPgbouncer } from '../helpers/pgbouncer.js';
import { CACHE_DIR } from '../helpers/pgbouncer-binaries.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { freePort } from '../helpers/ports.js';
import { isRoot, lookupUser, run, type RunResult } from '../helpers/proc.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { execSnippet, PYTHON } from '../unit/django/python.js';

const PASSWORD = 'correct horse battery staple';
const ROWS = 5000;
const CHUNK = 100; // iterator(chunk_size): 50 FETCHes, each one a chance to land on another server
const POOL_SIZE = 2;
const LOAD_CLIENTS = 4;

/** Debian's Django stack for /usr/bin/python3; installed with apt-get when missing (needs root). */
async function ensureDjangoPackages(): Promise<void> {
  const probe = await run(PYTHON, ['-c', 'import django, psycopg2, environ'], { check: false });
  if (probe.code === 0) return;
  if (!isRoot()) throw new Error(`/usr/bin/python3 lacks Django/psycopg2/django-environ (${probe.stderr.trim()}); run the tests as root so they can apt-get install them`);
  const script = [
    'set -e',
    'export DEBIAN_FRONTEND=noninteractive',
    'apt-get -o DPkg::Lock::Timeout=600 update',
    'apt-get -o DPkg::Lock::Timeout=600 install -y --no-upgrade python3-django python3-psycopg2 python3-django-environ',
  ].join('\n');
  await mkdir(CACHE_DIR, { recursive: true, mode: 0o755 });
  await run('flock', ['-w', '900', join(CACHE_DIR, '.apt.lock'), 'bash', '-c', script], { timeoutMs: 20 * 60_000 });
}

const MODELS = `from django.db import models


class Item(models.Model):
    n = models.IntegerField()
    label = models.CharField(max_length=50)
`;

const TAIL = `
SECRET_KEY = "test-only-not-secret"
INSTALLED_APPS = ["tinyapp"]
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
`;

const WORK = `import json, os, sys
import django

django.setup()
from django.db import connection
from tinyapp.models import Item

cmd = sys.argv[1]
if cmd == "fill":
    Item.objects.all().delete()
    Item.objects.bulk_create([Item(n=i, label="row %d" % i) for i in range(${ROWS})], batch_size=1000)
    with connection.cursor() as c:
        c.execute("SHOW application_name")
        app = c.fetchone()[0]
    first = Item.objects.get(n=42)
    print(json.dumps({"count": Item.objects.count(), "label42": first.label, "application_name": app,
                      "django": django.get_version(), "health_check_key": connection.settings_dict.get("CONN_HEALTH_CHECKS"),
                      "django_uses_health_checks": hasattr(connection, "health_check_enabled")}))
elif cmd == "iterate":
    count = total = 0
    for item in Item.objects.order_by("n").iterator(chunk_size=${CHUNK}):
        count += 1
        total += item.n
    print(json.dumps({"count": count, "sum": total}))
elif cmd == "ping":
    with connection.cursor() as c:
        c.execute("SELECT current_database(), current_user, inet_server_port()")
        db, user, port = c.fetchone()
    print(json.dumps({"db": db, "user": user, "server_port": port, "settings_port": str(connection.settings_dict["PORT"])}))
`;

let pg: PgCluster;
let dir: TempDir;
let bouncer: RunningPgbouncer;
let pgbPort: number;
let profileArgs: string[];

function cliEnv(): Record<string, string> {
  return { DBNAME: 'appdb', DBUSER: 'app_user', DBPASS: PASSWORD, DBHOST: '127.0.0.1', DBPORT: String(pg.port) };
}

async function cli(args: string[]): Promise<string> {
  const ctx = captureContext({ env: cliEnv() });
  const code = await main(['node', 'pgb-setup', ...args], ctx);
  expect(ctx.err()).not.toMatch(/pgb-setup:/);
  expect(code).toBe(0);
  return ctx.out();
}

/** A Django project dir with settings.py = the printed snippet + INSTALLED_APPS, and the tiny app. */
async function project(name: string, snippet: string): Promise<string> {
  const p = join(dir.path, name);
  await mkdir(join(p, 'tinyapp', 'migrations'), { recursive: true });
  await writeFile(join(p, 'settings.py'), `${snippet}\n${TAIL}`);
  await writeFile(join(p, 'tinyapp', '__init__.py'), '');
  await writeFile(join(p, 'tinyapp', 'migrations', '__init__.py'), '');
  await writeFile(join(p, 'tinyapp', 'models.py'), MODELS);
  await writeFile(join(p, 'work.py'), WORK);
  return p;
}

function django(projectDir: string, args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return run(PYTHON, args, {
    cwd: projectDir,
    check: false,
    timeoutMs: 110_000,
    env: {
      PATH: '/usr/bin:/bin',
      PYTHONPATH: projectDir,
      PYTHONDONTWRITEBYTECODE: '1',
      DJANGO_SETTINGS_MODULE: 'settings',
      DBNAME: 'appdb',
      DBUSER: 'app_user',
      DBPASS: PASSWORD,
      DBHOST: '127.0.0.1',
      DBPORT: String(pg.port),
      // Not inherited from the test process: only what the snippet should read.
      PGBOUNCER_ENABLED: '',
      PGBOUNCER_HOST: '',
      PGBOUNCER_PORT: '',
      ...env,
    },
  });
}

function json(r: RunResult): Record<string, unknown> {
  if (r.code !== 0) throw new Error(`python exited ${r.code}:\n${r.stderr}\n${r.stdout}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

interface Load {
  stop(): Promise<{ transactions: number; maxWaiting: number; maxActive: number; errors: string[] }>;
}

/** LOAD_CLIENTS clients running short transactions through pgbouncer, plus a SHOW POOLS poller. */
async function busyPool(): Promise<Load> {
  const clients: PgClient[] = [];
  for (let i = 0; i < LOAD_CLIENTS; i++) clients.push(await connectThrough(bouncer, { user: 'app_user', password: PASSWORD, database: 'appdb' }));
  let running = true;
  let transactions = 0;
  let maxWaiting = 0;
  let maxActive = 0;
  const errors: string[] = [];
  const deadline = Date.now() + 100_000; // bounded even if stop() is never reached
  const loops = clients.map(async (c) => {
    while (running && Date.now() < deadline) {
      try {
        await c.query('BEGIN');
        await c.query('SELECT pg_sleep(0.002)');
        await c.query('COMMIT');
        transactions++;
      } catch (e) {
        errors.push((e as Error).message);
        return;
      }
    }
  });
  const poller = (async () => {
    while (running && Date.now() < deadline) {
      const pools = await adminQuery(bouncer, { user: 'app_user', password: PASSWORD }, 'SHOW POOLS').catch(() => []);
      const p = pools.find((r) => r['database'] === 'appdb' && r['user'] === 'app_user');
      maxWaiting = Math.max(maxWaiting, Number(p?.['cl_waiting'] ?? 0));
      maxActive = Math.max(maxActive, Number(p?.['sv_active'] ?? 0));
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  // Let the load reach a steady state before the Django client starts.
  while (transactions < 20 && errors.length === 0) await new Promise((r) => setTimeout(r, 10));
  return {
    async stop() {
      running = false;
      await Promise.all([...loops, poller]);
      await Promise.all(clients.map((c) => c.end().catch(() => {})));
      return { transactions, maxWaiting, maxActive, errors };
    },
  };
}

beforeAll(async () => {
  await ensureDjangoPackages();
  pg = await startPostgres({ passwordEncryption: 'scram-sha-256' });
  await pg.createRole('app_user', 'placeholder-replaced-below');
  await pg.createDatabase('appdb', 'app_user');
  dir = await makeTempDir('django', { owner: 'postgres' });
  pgbPort = await freePort();
  profileArgs = [
    'development', '--pgbouncer-version', '1.18',
    '--set', `listen_port=${pgbPort}`,
    '--set', `default_pool_size=${POOL_SIZE}`,
    '--set', `unix_socket_dir=${dir.path}`,
    '--set', `pidfile=${join(dir.path, 'pgbouncer.pid')}`,
    '--set', `logfile=${join(dir.path, 'pgbouncer.log')}`,
    '--set', `auth_file=${join(dir.path, 'userlist.txt')}`,
  ];
  await cli(['render', ...profileArgs.slice(0, 1), '--out', dir.path, ...profileArgs.slice(1)]);
  const pgUser = lookupUser('postgres');
  for (const f of ['pgbouncer.ini', 'userlist.txt']) await chown(join(dir.path, f), pgUser.uid, pgUser.gid);
  expect(await readFile(join(dir.path, 'pgbouncer.ini'), 'utf8')).toMatch(/^pool_mode = transaction$/m);
  const secret = parseUserlist(await readFile(join(dir.path, 'userlist.txt'), 'utf8')).entries[0]!.secret;
  await pg.query(`ALTER ROLE app_user PASSWORD '${secret}'`);
  bouncer = await startPgbouncer({ binary: pgbouncer118Binary(), iniPath: join(dir.path, 'pgbouncer.ini') });
}, 600_000);

afterAll(async () => {
  await bouncer?.stop();
  await pg?.stop();
  await dir?.cleanup();
});

describe('print-django-settings with Django 3.2 + psycopg2 through a real pgbouncer 1.18 (transaction pooling)', () => {
  let pooled: string;

  it('the printed settings migrate, write and read rows through pgbouncer (Django 3.2 ignores CONN_HEALTH_CHECKS)', async () => {
    const snippet = await cli(['print-django-settings', ...profileArgs]);
    expect(snippet).toMatch(/"DISABLE_SERVER_SIDE_CURSORS": True,/);
    expect(snippet).not.toContain(PASSWORD);
    pooled = await project('pooled', snippet);
    const mk = await django(pooled, ['-m', 'django', 'makemigrations', 'tinyapp']);
    expect(mk.stderr + mk.stdout).toMatch(/Create model Item/);
    const migrate = await django(pooled, ['-m', 'django', 'migrate', '--noinput']);
    expect(migrate.code, migrate.stderr).toBe(0);
    expect(migrate.stdout).toMatch(/Applying tinyapp\.0001_initial\.\.\. OK/);
    const fill = json(await django(pooled, ['work.py', 'fill']));
    expect(fill).toMatchObject({ count: ROWS, label42: 'row 42', application_name: 'django_development', health_check_key: true });
    // Django 3.2 has no health-check machinery: the key is accepted and ignored (4.1+ uses it).
    expect(String(fill['django'])).toMatch(/^3\.2\./);
    expect(fill['django_uses_health_checks']).toBe(false);
    // It really went through pgbouncer: the settings' port is pgbouncer's, the server's is PostgreSQL's.
    expect(json(await django(pooled, ['work.py', 'ping']))).toEqual({ db: 'appdb', user: 'app_user', server_port: pg.port, settings_port: String(pgbPort) });
  });

  it(`QuerySet.iterator() over ${ROWS} rows works while ${LOAD_CLIENTS} other clients keep the pool of ${POOL_SIZE} busy`, async () => {
    const load = await busyPool();
    const res = await django(pooled, ['work.py', 'iterate']);
    const stats = await load.stop();
    expect(stats.errors).toEqual([]);
    expect(json(res)).toEqual({ count: ROWS, sum: (ROWS * (ROWS - 1)) / 2 });
    expect(stats.transactions).toBeGreaterThan(50);
    expect(stats.maxActive).toBe(POOL_SIZE);
    console.log(`[django] iterator with DISABLE_SERVER_SIDE_CURSORS: ok; load ran ${stats.transactions} transactions, max sv_active ${stats.maxActive}, max cl_waiting ${stats.maxWaiting}`);
  });

  it('without DISABLE_SERVER_SIDE_CURSORS the same iterator fails through transaction pooling', async () => {
    const snippet = (await cli(['print-django-settings', ...profileArgs])).replace('"DISABLE_SERVER_SIDE_CURSORS": True', '"DISABLE_SERVER_SIDE_CURSORS": False');
    const broken = await project('broken', snippet);
    await run('cp', ['-r', join(pooled, 'tinyapp', 'migrations'), join(broken, 'tinyapp')]);
    const attempts = 3;
    const outcomes: string[] = [];
    for (let i = 0; i < attempts; i++) {
      const load = await busyPool();
      const res = await django(broken, ['work.py', 'iterate']);
      await load.stop();
      outcomes.push(res.code === 0 ? 'ok' : (/cursor "_django_curs_[^"]+" does not exist/.exec(res.stderr)?.[0] ?? res.stderr.slice(-300)));
    }
    console.log(`[django] iterator without DISABLE_SERVER_SIDE_CURSORS, ${attempts} attempts: ${outcomes.join(' | ')}`);
    for (const o of outcomes) expect(o).toMatch(/^cursor "_django_curs_\w+" does not exist$/);
  });

  it('PGBOUNCER_ENABLED=false connects the same settings straight to PostgreSQL (DBHOST/DBPORT)', async () => {
    expect(json(await django(pooled, ['work.py', 'ping'], { PGBOUNCER_ENABLED: 'false' }))).toEqual({
      db: 'appdb', user: 'app_user', server_port: pg.port, settings_port: String(pg.port),
    });
  });

  it('--direct: server-side cursors work straight to PostgreSQL', async () => {
    const snippet = await cli(['print-django-settings', ...profileArgs, '--direct']);
    expect(snippet).not.toMatch(/DISABLE_SERVER_SIDE_CURSORS"/);
    const direct = await project('direct', snippet);
    await run('cp', ['-r', join(pooled, 'tinyapp', 'migrations'), join(direct, 'tinyapp')]);
    expect(json(await django(direct, ['work.py', 'iterate']))).toEqual({ count: ROWS, sum: (ROWS * (ROWS - 1)) / 2 });
  });

  it('--env-style environ with the real django-environ (Debian 0.4.4, whose env() returns strings)', async () => {
    const snippet = await cli(['print-django-settings', ...profileArgs, '--env-style', 'environ']);
    const environ = await project('environ', snippet);
    await run('cp', ['-r', join(pooled, 'tinyapp', 'migrations'), join(environ, 'tinyapp')]);
    expect(json(await django(environ, ['work.py', 'ping']))).toMatchObject({ server_port: pg.port, settings_port: String(pgbPort) });
    expect(json(await django(environ, ['work.py', 'ping'], { PGBOUNCER_ENABLED: 'false' }))).toMatchObject({ settings_port: String(pg.port) });
    const base = { DBNAME: 'a', DBUSER: 'u', DBPASS: '$NOT_A_VARIABLE', DBHOST: 'db.internal' };
    const [unset, off, on] = execSnippet(snippet, [{ env: base }, { env: { ...base, PGBOUNCER_ENABLED: 'false' } }, { env: { ...base, PGBOUNCER_ENABLED: 'yes' } }]);
    expect(unset).toMatchObject({ ok: true, default: { HOST: '127.0.0.1', PORT: String(pgbPort), PASSWORD: '$NOT_A_VARIABLE' } });
    expect(off).toMatchObject({ ok: true, default: { HOST: 'db.internal', PORT: String(pg.port) } });
    expect(on).toMatchObject({ ok: true, default: { PORT: String(pgbPort) } });
    // The seed guide's trap (errata #9) with this django-environ: env(..., default=False) hands back "false", a truthy string.
    const trap = await run(PYTHON, ['-c', 'import environ; v = environ.Env()("PGBOUNCER_ENABLED", default=False); print(repr(v), bool(v))'], {
      check: false,
      env: { PATH: '/usr/bin:/bin', PGBOUNCER_ENABLED: 'false' },
    });
    expect(trap.stdout.trim()).toBe("'false' True");
  });
});
