import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/main.js';
import { pyStr } from '../../../src/render/django-settings.js';
import { captureContext } from '../../helpers/context.js';
import { execSnippet, hasRealDjangoEnviron, pyCompileError, python, withTempDir, type SnippetOutcome } from './python.js';

const SECRET = 'pw-never-printed-$x"';
const ENV = { DBNAME: 'appdb', DBUSER: 'app_user', DBPASS: SECRET, DBHOST: '10.9.8.7', PATH: '/nonexistent' };

async function run(args: string[], env: Record<string, string> = ENV) {
  const ctx = captureContext({ env });
  const code = await main(['node', 'pgb-setup', 'print-django-settings', ...args], ctx);
  return { code, out: ctx.out(), err: ctx.err() };
}

async function snippet(args: string[], env: Record<string, string> = ENV): Promise<string> {
  const r = await run(args.includes('--pgbouncer-version') ? args : [...args, '--pgbouncer-version', '1.18'], env);
  expect(r.err).not.toMatch(/pgb-setup:/);
  expect(r.code).toBe(0);
  return r.out;
}

const ENVIRONMENTS = ['production', 'staging', 'development'];
const VARIANTS: [string, string[]][] = [
  ['default', []],
  ['--direct', ['--direct']],
  ['--engine postgis', ['--engine', 'postgis']],
  ['--env-style environ', ['--env-style', 'environ']],
  ['--env-style environ --direct', ['--env-style', 'environ', '--direct']],
  ['session pool_mode', ['--set', 'pool_mode=session']],
  ['statement pool_mode', ['--set', 'pool_mode=statement']],
  ['pgbouncer 1.24', ['--pgbouncer-version', '1.24']],
];

describe('print-django-settings: every variant is valid Python (/usr/bin/python3 -m py_compile)', () => {
  for (const environment of ENVIRONMENTS) {
    it.each(VARIANTS)(`${environment}: %s`, async (_label, args) => {
      const r = await run([environment, ...(args.includes('--pgbouncer-version') ? args : [...args, '--pgbouncer-version', '1.18'])]);
      expect(r.code).toBe(0);
      expect(pyCompileError(r.out)).toBe('');
      // Never a literal secret, never libpq-breaking keys from the seed guide (errata #8).
      expect(r.out + r.err).not.toContain('pw-never-printed');
      expect(r.out).not.toMatch(/MAX_CONNS|MIN_CONNS/);
      expect(r.out).toMatch(/"PASSWORD": os\.environ\["DBPASS"\]/);
    });
  }
});

describe('print-django-settings: what the snippet says', () => {
  it('transaction pooling: DISABLE_SERVER_SIDE_CURSORS with a one-line reason, persistent connections with the trade-off', async () => {
    const out = await snippet(['production']);
    expect(out).toMatch(/^ {8}# transaction pooling: .*server-side cursor.*\n {8}"DISABLE_SERVER_SIDE_CURSORS": True,$/m);
    expect(out).toMatch(/"ENGINE": "django\.db\.backends\.postgresql",/);
    expect(out).toMatch(/"CONN_MAX_AGE": 600 if PGBOUNCER_ENABLED else 60,/);
    expect(out).toMatch(/"CONN_HEALTH_CHECKS": True,/);
    expect(out).toMatch(/with 0 every request pays a full connection start and\n.*SCRAM login/);
    expect(out).toMatch(/"application_name": "django_production",/);
    expect(out).toMatch(/"sslmode": "prefer",/);
    expect(out).toMatch(/"connect_timeout": 10,/);
    // Booleans from the environment are parsed explicitly (errata #9).
    expect(out).toMatch(/PGBOUNCER_ENABLED = _env_bool\("PGBOUNCER_ENABLED", True\)/);
  });

  it('each environment gets its own application_name, CONN_MAX_AGE and connect_timeout', async () => {
    expect(await snippet(['staging'])).toMatch(/"CONN_MAX_AGE": 300 if PGBOUNCER_ENABLED else 60,[\s\S]*"application_name": "django_staging"/);
    expect(await snippet(['development'])).toMatch(/"CONN_MAX_AGE": 60,[\s\S]*"application_name": "django_development",[\s\S]*"connect_timeout": 5,/);
  });

  it('statement pooling also disables server-side cursors and warns that atomic() cannot work', async () => {
    const r = await run(['production', '--set', 'pool_mode=statement', '--pgbouncer-version', '1.18']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/"DISABLE_SERVER_SIDE_CURSORS": True,/);
    expect(r.out).toMatch(/WARNING: statement pooling refuses multi-statement transactions/);
    expect(r.err).toMatch(/^warning: pool_mode: statement refuses multi-statement transactions/m);
  });

  it('session pooling: no DISABLE_SERVER_SIDE_CURSORS; CONN_MAX_AGE 0 through pgbouncer so a client does not pin a server', async () => {
    const out = await snippet(['production', '--set', 'pool_mode=session']);
    expect(out).not.toMatch(/DISABLE_SERVER_SIDE_CURSORS"/);
    expect(out).toMatch(/"CONN_MAX_AGE": 0 if PGBOUNCER_ENABLED else 60,/);
    expect(out).toMatch(/"CONN_HEALTH_CHECKS": False if PGBOUNCER_ENABLED else True,/);
    expect(out).toMatch(/Session pooling: an open client connection keeps its server connection/);
  });

  it('session pooling with a CONN_MAX_AGE the user chose keeps it, with a warning', async () => {
    const r = await run(['production', '--set', 'pool_mode=session', '--set', 'django.conn_max_age=120', '--pgbouncer-version', '1.18']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/"CONN_MAX_AGE": 120 if PGBOUNCER_ENABLED else 60,/);
    expect(r.err).toMatch(/warning: django\.conn_max_age: 120 with pool_mode session/);
  });

  it('a per-database pool_mode for the app database wins over the global one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgb-django-profile-'));
    const profile = join(dir, 'p.json');
    writeFileSync(profile, JSON.stringify({ databases: { appdb: { pool_mode: 'session' } } }));
    const out = await snippet(['production', '--profile', profile]);
    expect(out).not.toMatch(/"DISABLE_SERVER_SIDE_CURSORS"/);
    expect(out).toMatch(/pool_mode session/);
  });

  it('--direct: straight to DBHOST/DBPORT, no DISABLE_SERVER_SIDE_CURSORS, CONN_MAX_AGE for direct', async () => {
    const out = await snippet(['production', '--direct']);
    expect(out).toMatch(/ROLLBACK VARIANT/);
    expect(out).toMatch(/"HOST": _env\("DBHOST", "10\.9\.8\.7"\),/);
    expect(out).toMatch(/"PORT": _env\("DBPORT", "5432"\),/);
    expect(out).not.toMatch(/"DISABLE_SERVER_SIDE_CURSORS"/);
    expect(out).not.toMatch(/PGBOUNCER/);
    expect(out).toMatch(/"CONN_MAX_AGE": 60,/);
  });

  it('--engine postgis', async () => {
    expect(await snippet(['production', '--engine', 'postgis'])).toMatch(/"ENGINE": "django\.contrib\.gis\.db\.backends\.postgis",/);
    expect((await run(['production', '--engine', 'mysql'])).code).toBe(2);
  });

  it('PORT defaults to the listen port from the profile (and --set), HOST to listen_addr, a wildcard to loopback', async () => {
    expect(await snippet(['production', '--set', 'listen_port=7777'])).toMatch(/_env\("PGBOUNCER_PORT", "7777"\)/);
    expect(await snippet(['production', '--set', 'listen_addr=10.0.0.3'])).toMatch(/_env\("PGBOUNCER_HOST", "10\.0\.0\.3"\)/);
    expect(await snippet(['production', '--set', 'listen_addr=*'])).toMatch(/_env\("PGBOUNCER_HOST", "127\.0\.0\.1"\)/);
  });

  it('psycopg 3 prepared statements: warned off on 1.18, explained with max_prepared_statements on 1.24', async () => {
    expect(await snippet(['production'])).toMatch(/keep the default client-side binding[\s\S]*pgbouncer 1\.18\.0 cannot track them \(max_prepared_statements needs 1\.21\+\)/);
    expect(await snippet(['production', '--pgbouncer-version', '1.24'])).toMatch(/pgbouncer 1\.24\.0 tracks them\n.*max_prepared_statements = 200/);
    expect(await snippet(['production', '--pgbouncer-version', '1.24', '--set', 'max_prepared_statements=0'])).toMatch(/max_prepared_statements is 0/);
  });

  it('sslmode follows pgbouncer client TLS: "require" only when pgbouncer offers TLS', async () => {
    const tls = ['--set', 'client_tls_sslmode=require', '--set', 'client_tls_key_file=/etc/pgbouncer/k.pem', '--set', 'client_tls_cert_file=/etc/pgbouncer/c.pem'];
    expect(await snippet(['production', ...tls])).toMatch(/"sslmode": "require" if PGBOUNCER_ENABLED else "prefer",/);
    const bad = await run(['production', '--set', 'django.sslmode=require', '--pgbouncer-version', '1.18']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/^pgb-setup: django\.sslmode: require cannot connect while pgbouncer\.client_tls_sslmode is disable/m);
    expect(await snippet(['production', '--set', 'django.sslmode=disable'])).toMatch(/"sslmode": "disable",/);
  });

  it('unknown flags are usage errors (no environment: see test/unit/cli/default-environment.test.ts)', async () => {
    expect((await run(['production', '--env-style', 'dotenv'])).code).toBe(2);
    expect((await run(['production', '--format', 'yaml'])).code).toBe(2);
  });
});

describe('print-django-settings: values from the profile are Python string literals (no code injection)', () => {
  it('an application_name with quotes, backslashes and a payload comes back byte for byte', async () => {
    const evil = `x"); import os; os.system("touch /tmp/pwned") #'\\"""\\n é ☃ 𝄞`;
    const dir = mkdtempSync(join(tmpdir(), 'pgb-django-profile-'));
    const profile = join(dir, 'p.json');
    writeFileSync(profile, JSON.stringify({ django: { application_name: evil } }));
    const out = await snippet(['production', '--profile', profile]);
    expect(pyCompileError(out)).toBe('');
    const [res] = execSnippet(out, [{ env: { DBNAME: 'a', DBUSER: 'u', DBPASS: 'p' } }]);
    expect(res).toMatchObject({ ok: true });
    const { default: db } = res as Extract<SnippetOutcome, { ok: true }>;
    expect((db['OPTIONS'] as { application_name: string }).application_name).toBe(evil);
  });

  it('pyStr round-trips any string through Python (property test, one interpreter)', () => {
    const samples = fc.sample(fc.string({ unit: 'binary', maxLength: 40 }), { numRuns: 300, seed: 42 });
    samples.push('', '"', '\\', '\n\r\t\0', '\u2028\u2029\u0085', '\ud800', 'a\udfffb', '"""', "'''", '\\N{BULLET}', '{0}%s');
    const source = `import json, sys\nGOT = [\n${samples.map((s) => `    ${pyStr(s)},`).join('\n')}\n]\nWANT = json.loads(sys.stdin.read())\nbad = [i for i, (g, w) in enumerate(zip(GOT, WANT)) if g != w]\nprint(json.dumps({"n": len(GOT), "bad": bad}))\n`;
    for (const s of samples) expect(pyStr(s)).toMatch(/^"[\x20-\x7e]*"$/);
    const r = withTempDir((d) => {
      writeFileSync(join(d, 'roundtrip.py'), source);
      return python([join(d, 'roundtrip.py')], { input: JSON.stringify(samples) });
    });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ n: samples.length, bad: [] });
  });
});

describe('print-django-settings: PGBOUNCER_ENABLED is parsed explicitly when the module runs', () => {
  const base = { DBNAME: 'appdb', DBUSER: 'app_user', DBPASS: 'x', PGBOUNCER_HOST: 'pgb.internal', DBHOST: 'db.internal' };
  const POOLED = { HOST: 'pgb.internal', PORT: '6432', CONN_MAX_AGE: 600 };
  const DIRECT = { HOST: 'db.internal', PORT: '5432', CONN_MAX_AGE: 60 };
  const cases: [string, string | undefined, typeof POOLED][] = [
    ['unset', undefined, POOLED],
    ['empty', '', POOLED],
    ['false', 'false', DIRECT],
    ['FALSE', 'FALSE', DIRECT],
    ['0', '0', DIRECT],
    ['no', 'no', DIRECT],
    ['off', ' off ', DIRECT],
    ['true', 'true', POOLED],
    ['1', '1', POOLED],
    ['yes', 'yes', POOLED],
  ];
  const real = hasRealDjangoEnviron();

  for (const style of ['os', 'environ'] as const) {
    it(`--env-style ${style}${style === 'environ' ? (real ? ' (real django-environ)' : ' (stand-in returning strings, as django-environ 0.4.4)') : ''}`, async () => {
      const args = ['production', ...(style === 'environ' ? ['--env-style', 'environ'] : [])];
      const out = await snippet(args, { PATH: '/nonexistent' });
      const results = execSnippet(
        out,
        [
          ...cases.map(([, v]) => ({ env: v === undefined ? base : { ...base, PGBOUNCER_ENABLED: v } })),
          { env: { ...base, PGBOUNCER_ENABLED: 'false', DBPORT: '5433' } },
          { env: { ...base, PGBOUNCER_ENABLED: 'true', PGBOUNCER_PORT: '6543', DBPORT: '5433' } },
          { env: { ...base, PGBOUNCER_ENABLED: 'ture' } },
          { env: { ...base, PGBOUNCER_ENABLED: 'false', DBHOST: '' } },
        ],
        { stubEnviron: style === 'environ' && !real },
      );
      const pick = (r: SnippetOutcome) => (r.ok ? { HOST: r.default['HOST'], PORT: r.default['PORT'], CONN_MAX_AGE: r.default['CONN_MAX_AGE'] } : r.error);
      cases.forEach(([label, , want], i) => expect(pick(results[i]!), `PGBOUNCER_ENABLED ${label}`).toEqual(want));
      expect(pick(results[cases.length]!)).toEqual({ ...DIRECT, PORT: '5433' });
      expect(pick(results[cases.length + 1]!)).toEqual({ ...POOLED, PORT: '6543' });
      expect(pick(results[cases.length + 2]!)).toMatch(/^ValueError: PGBOUNCER_ENABLED='ture': use true or false/);
      // An empty DBHOST falls back to the profile's host (none here: loopback).
      expect(pick(results[cases.length + 3]!)).toEqual({ ...DIRECT, HOST: '127.0.0.1' });
      const first = results[0]!;
      expect(first.ok && first.default).toMatchObject({ NAME: 'appdb', USER: 'app_user', PASSWORD: 'x', DISABLE_SERVER_SIDE_CURSORS: true, CONN_HEALTH_CHECKS: true });
    });
  }

  it('--direct ignores PGBOUNCER_ENABLED and reads DBHOST/DBPORT', async () => {
    const out = await snippet(['production', '--direct'], { PATH: '/nonexistent' });
    const [a, b] = execSnippet(out, [{ env: { ...base, PGBOUNCER_ENABLED: 'true' } }, { env: { ...base, DBPORT: '6000' } }]);
    expect(a).toMatchObject({ ok: true, default: { HOST: 'db.internal', PORT: '5432', CONN_MAX_AGE: 60 } });
    expect(b).toMatchObject({ ok: true, default: { HOST: 'db.internal', PORT: '6000' } });
  });

  it('a missing DBNAME fails at import, naming it', async () => {
    const out = await snippet(['production'], { PATH: '/nonexistent' });
    const [r] = execSnippet(out, [{ env: { DBUSER: 'u', DBPASS: 'p' } }]);
    expect(r).toEqual({ ok: false, error: "KeyError: 'DBNAME'" });
  });
});

describe('print-django-settings --format env', () => {
  it('prints PGBOUNCER_* and DB* lines, DBPASS as an empty placeholder, never the password', async () => {
    const r = await run(['production', '--format', 'env', '--pgbouncer-version', '1.18']);
    expect(r.code).toBe(0);
    expect(r.out + r.err).not.toContain('pw-never-printed');
    expect(r.out).toMatch(/^DBPASS=$/m);
    expect(parseEnv(r.out)).toEqual({
      PGBOUNCER_ENABLED: 'true',
      PGBOUNCER_HOST: '127.0.0.1',
      PGBOUNCER_PORT: '6432',
      DBNAME: 'appdb',
      DBUSER: 'app_user',
      DBPASS: '',
      DBHOST: '10.9.8.7',
      DBPORT: '5432',
    });
  });

  it('--direct sets PGBOUNCER_ENABLED=false; missing values are left empty with a warning', async () => {
    const r = await run(['development', '--format', 'env', '--direct', '--pgbouncer-version', '1.18'], { PATH: '/x' });
    expect(r.code).toBe(0);
    expect(parseEnv(r.out)).toMatchObject({ PGBOUNCER_ENABLED: 'false', DBNAME: '', DBUSER: '', DBHOST: '' });
    expect(r.err).toMatch(/warning: DBNAME: not set/);
  });

  it('quotes values a shell or dotenv parser would split, and refuses ones it cannot quote', async () => {
    const r = await run(['production', '--format', 'env', '--pgbouncer-version', '1.18'], { ...ENV, DBNAME: 'my app#1' });
    expect(r.out).toMatch(/^DBNAME='my app#1'$/m);
    expect(parseEnv(r.out)['DBNAME']).toBe('my app#1');
    const bad = await run(['production', '--format', 'env', '--pgbouncer-version', '1.18'], { ...ENV, DBUSER: "o'brien" });
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/^pgb-setup: DBUSER: .* cannot be written to a \.env file safely/m);
  });

  it('the .env lines drive the snippet to the same host and port', async () => {
    const envText = (await run(['production', '--format', 'env', '--pgbouncer-version', '1.18'])).out;
    const vars = { ...(parseEnv(envText) as Record<string, string>), DBPASS: 'p' };
    const [r] = execSnippet(await snippet(['production']), [{ env: vars }]);
    expect(r).toMatchObject({ ok: true, default: { HOST: '127.0.0.1', PORT: '6432', NAME: 'appdb', USER: 'app_user' } });
  });
});
