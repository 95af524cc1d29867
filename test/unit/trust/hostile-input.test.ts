/**
 * Hostile input on every surface of the main job, run for real under --root (in-process, so each
 * case costs milliseconds): --set values, --profile files, the environment, --env-file files, user
 * names, passwords, --allow-from, and odd pgbouncer.ini / userlist.txt already on disk.
 *
 * For every generated case either
 *  - the run is rejected: exit 2, the message names the field, and the whole --root tree is
 *    byte-for-byte what it was (content, mode, owner), or
 *  - the run succeeds, and pgbouncer.ini read the way pgbouncer reads it (test/helpers/pgbouncer-model)
 *    has exactly the sections, settings and [databases] entries asked for (no line, section, setting,
 *    %include, list item or connection parameter added), and userlist.txt has exactly the users
 *    asked for, with every line that was there before kept byte for byte.
 */
import { readFileSync, rmSync, writeFileSync, mkdtempSync, chmodSync, existsSync, mkdirSync, readdirSync, symlinkSync, truncateSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyScramPassword } from '../../../src/auth/scram.js';
import { InputError } from '../../../src/text/errors.js';
import { readEnvFile } from '../../../src/app/load-config.js';
import { SETTINGS, SETTINGS_BY_KEY } from '../../../src/settings/catalogue.js';
import { pgbouncerMicroseconds } from '../../../src/settings/values.js';
import { listItems, parseConnString, parseIniLikePgbouncer, readAuthFileLikePgbouncer } from '../../helpers/pgbouncer-model.js';
import { copyTree, snapshotTree } from '../../helpers/tree.js';
import { makeRoot, recordFigures, runInProcess, type CliResult } from '../../helpers/trust.js';

const ENV = { DBNAME: 'appdb', DBUSER: 'app_user', DBPASS: 'Pw-for-trust-1', DBHOST: '10.0.0.20' };
const INI = 'etc/pgbouncer/pgbouncer.ini';
const USERLIST = 'etc/pgbouncer/userlist.txt';
const OTHER_LINE = '"other ""quoted"" user" "md545f2603610af569b6155c45067268c6b"  ; kept as is';
const RUNS = Math.max(1, Number(process.env['PGB_TRUST_RUNS'] ?? 1));
const TIMEOUT = 60_000 * RUNS;

let base: string; // a root after one clean apply, plus another user's line in userlist.txt
let work: string; // the root each case runs against, reset from base after a successful run
let scratch: string; // profile and env files
let baseSnapshot: ReturnType<typeof snapshotTree>;
let baseIni: ReturnType<typeof parseIniLikePgbouncer>;
const counts: Record<string, number> = {};

beforeAll(async () => {
  base = makeRoot('pgb-trust-base-');
  const r = await runInProcess(['production', '--root', base, '--yes'], ENV);
  expect(r.code, r.stderr).toBe(0);
  const ul = readFileSync(join(base, USERLIST), 'utf8');
  writeFileSync(join(base, USERLIST), `${ul}${OTHER_LINE}\n`);
  baseSnapshot = snapshotTree(base);
  baseIni = parseIniLikePgbouncer(readFileSync(join(base, INI), 'utf8'));
  work = join(tmpdir(), `pgb-trust-work-${process.pid}`);
  copyTree(base, work);
  scratch = mkdtempSync(join(tmpdir(), 'pgb-trust-inputs-'));
});

afterAll(() => {
  for (const d of [base, work, scratch]) if (d) rmSync(d, { recursive: true, force: true });
  recordFigures('hostile input (unit/trust/hostile-input)', { cases: Object.values(counts).reduce((a, b) => a + b, 0), ...counts });
});

// ---- generators -------------------------------------------------------------------------------

const FRAGMENTS = [
  '\n', '\r', '\r\n', '\0', '\t', '\v', '\f', '\u0085', '\u2028', '\u2029', '\u001b[2J',
  '\n[pgbouncer]\nauth_type = trust', '\n%include /etc/passwd', '\nadmin_users = evil', ' ', '  ', ',', ';', '#', '=', '"', "'", "''", '""',
  '\\', '*', '$DBUSER', '[', ']', '%include', 'host=evil', " host='x'", 'é', '用', '\u{1f600}', '\ufeff', '\ud800', '-', '/', '..', '0', '6432', '10.0.0.0/8', '::1',
];
const hostile = fc
  .array(fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...FRAGMENTS) }, { weight: 2, arbitrary: fc.string({ maxLength: 6 }) }, { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 4 }) }), { minLength: 1, maxLength: 5 })
  .map((parts) => parts.join(''));
/** Mostly-plausible values with something hostile around them. */
const nearValid = (good: string[]) => fc.tuple(fc.constantFrom(...good), hostile, fc.boolean()).map(([g, h, before]) => (before ? h + g : g + h));
const value = (good: string[]) => fc.oneof(hostile, nearValid(good), fc.constantFrom(...good));

// ---- the check every case goes through --------------------------------------------------------

interface Expect {
  surface: string;
  /** A rejection must name one of these. */
  fields: string[];
  env: Record<string, string>;
  /** A --set or profile value for a pgbouncer string setting that must reach the file unchanged. */
  setting?: { key: string; value: string };
  /** Extra [pgbouncer] keys that may appear (from --set or the profile). */
  extraKeys?: string[];
  /** Values given another way than the environment, as the environment variable that means the same. */
  effective?: Record<string, string>;
}

function expectUnchanged(root: string, why: string): void {
  expect(snapshotTree(root), why).toEqual(baseSnapshot);
}

function checkAccepted(root: string, given: Expect): void {
  const ex = { ...given, env: { ...given.env, ...given.effective } };
  const ini = readFileSync(join(root, INI), 'utf8');
  const model = parseIniLikePgbouncer(ini);
  expect(model.ok, `pgbouncer would not load:\n${ini}\n${model.error}`).toBe(true);
  expect(model.includes).toEqual([]);
  expect(model.sections.map((s) => s.name)).toEqual(['databases', 'pgbouncer']);
  const dbs = model.sections[0]!;
  const pgb = model.sections[1]!;
  // Settings: exactly the baseline keys, plus what the case asked for; each once.
  const keys = pgb.entries.map((e) => e.key);
  expect(new Set(keys).size).toBe(keys.length);
  const baseKeys = baseIni.sections[1]!.entries.map((e) => e.key);
  for (const k of keys) expect([...baseKeys, ...(ex.extraKeys ?? [])]).toContain(k);
  for (const k of baseKeys) expect(keys).toContain(k);
  // The one [databases] entry: the database name as key, and exactly host, port, dbname.
  const name = ex.env['DBNAME'] ?? ENV.DBNAME;
  expect(dbs.entries.map((e) => e.key)).toEqual([name]);
  const conn = parseConnString(dbs.entries[0]!.value);
  expect(conn, dbs.entries[0]!.value).toBeDefined();
  expect(conn!.map(([k]) => k)).toEqual(['host', 'port', 'dbname']);
  expect(Object.fromEntries(conn!)).toMatchObject({ host: ex.env['DBHOST'] ?? ENV.DBHOST, dbname: name });
  // A user name in a list setting stays one item.
  const user = ex.env['DBUSER'] ?? ENV.DBUSER;
  const stats = pgb.entries.find((e) => e.key === 'stats_users');
  if (stats && !ex.extraKeys?.includes('stats_users')) expect(listItems(stats.value)).toEqual([user]);
  if (ex.setting) {
    const entry = pgb.entries.find((e) => e.key === ex.setting!.key);
    expect(entry?.value).toBe(ex.setting.value);
  }
  // userlist.txt: the other user's line kept byte for byte, the app user once, nothing else.
  const ul = readFileSync(join(root, USERLIST), 'utf8');
  expect(ul.split('\n')).toContain(OTHER_LINE);
  const auth = readAuthFileLikePgbouncer(ul);
  expect(auth.brokenAt).toBeUndefined();
  const expectedUsers = user === ENV.DBUSER ? [user, 'other "quoted" user'] : [ENV.DBUSER, 'other "quoted" user', user];
  expect(auth.entries.map((e) => e.user)).toEqual(expectedUsers);
  const mine = auth.entries.find((e) => e.user === user)!;
  expect(verifyScramPassword(mine.secret, ex.env['DBPASS'] ?? ENV.DBPASS)).toBe(true);
}

async function runCase(args: string[], ex: Expect): Promise<CliResult> {
  counts[ex.surface] = (counts[ex.surface] ?? 0) + 1;
  copyTree(base, work);
  const r = await runInProcess(['production', '--root', work, '--yes', ...args], { ...ENV, ...ex.env });
  const what = `${ex.surface} ${JSON.stringify(args)} ${JSON.stringify(ex.env)}\n${r.stderr}`;
  if (r.code === 2) {
    expect(ex.fields.some((f) => r.stderr.includes(f)), `rejection does not name ${ex.fields.join(' or ')}: ${what}`).toBe(true);
    expect(r.stderr).toMatch(/^pgb-setup: /m);
    expectUnchanged(work, what);
  } else {
    expect(r.code, what).toBe(0);
    checkAccepted(work, ex);
  }
  return r;
}

// ---- the surfaces -----------------------------------------------------------------------------

const STRING_SETTINGS: Record<string, string[]> = {
  server_reset_query: ['DISCARD ALL', 'RESET ALL'],
  server_check_query: ['select 1'],
  auth_query: ['SELECT usename, passwd FROM pg_shadow WHERE usename=$1'],
  logfile: ['/var/log/postgresql/pgbouncer.log'],
  auth_hba_file: ['/etc/pgbouncer/hba.conf'],
  client_tls_ciphers: ['HIGH:!aNULL'],
  job_name: ['pgbouncer'],
  unix_socket_group: ['postgres'],
};
const OTHER_SETTINGS: Record<string, string[]> = {
  listen_addr: ['127.0.0.1', '*', '10.0.0.1,127.0.0.1'],
  admin_users: ['postgres', 'postgres,$DBUSER'],
  ignore_startup_parameters: ['extra_float_digits'],
  pool_mode: ['session', 'transaction'],
  listen_port: ['6432', '7000'],
  default_pool_size: ['40'],
  query_timeout: ['30', '0.5'],
  auth_type: ['scram-sha-256', 'md5'],
  server_round_robin: ['1', 'yes'],
  auth_file: ['/etc/pgbouncer/userlist.txt'],
};

describe('hostile input never reaches pgbouncer.ini or userlist.txt as anything but itself', () => {
  it('--set: pgbouncer settings and profile paths', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.constantFrom(...Object.keys(STRING_SETTINGS)).chain((k) => fc.tuple(fc.constant(k), value(STRING_SETTINGS[k]!))),
          fc.constantFrom(...Object.keys(OTHER_SETTINGS)).chain((k) => fc.tuple(fc.constant(k), value(OTHER_SETTINGS[k]!))),
          fc.tuple(fc.constantFrom('database.host', 'database.name', 'database.user', 'database.port', 'firewall.allow_from', 'django.application_name', 'userlist.method'), hostile),
          fc.tuple(hostile, hostile),
        ),
        async ([key, v]) => {
          const assignment = `${key}=${v}`;
          const named = assignment.slice(0, assignment.indexOf('=')).trim(); // as --set splits it
          const isString = key in STRING_SETTINGS;
          const asEnv: Record<string, string> = { 'database.host': 'DBHOST', 'database.name': 'DBNAME', 'database.user': 'DBUSER' };
          const r = await runCase(['--set', `${key}=${v}`], {
            surface: '--set',
            // A cross-check may name the setting it conflicts with first (max_db_connections for a
            // huge default_pool_size) and this one in its text.
            fields: [`pgb-setup: pgbouncer.${named}`, `pgb-setup: ${named}`, 'pgb-setup: --set ', ...(SETTINGS_BY_KEY.has(named) ? [` ${named}`, `/${named}`] : [])],
            env: {},
            ...(asEnv[key] ? { effective: { [asEnv[key]]: v } } : {}),
            extraKeys: [named],
            ...(isString ? { setting: { key, value: v } } : {}),
          });
          return r.code === 0 || r.code === 2;
        },
      ),
      { numRuns: 150 * RUNS },
    );
  }, TIMEOUT);

  it('the environment: DBNAME, DBUSER, DBHOST, DBPORT, PGBOUNCER_HOST, PGBOUNCER_PORT, DBPASS', async () => {
    const FIELD: Record<string, string> = {
      DBNAME: 'database.name', DBUSER: 'database.user', DBHOST: 'database.host', DBPORT: 'database.port',
      PGBOUNCER_HOST: 'pgbouncer.listen_addr', PGBOUNCER_PORT: 'pgbouncer.listen_port', DBPASS: 'database.password',
    };
    const GOOD: Record<string, string[]> = {
      DBNAME: ['appdb', 'app-db', 'app.db'], DBUSER: ['app_user', 'deploy'], DBHOST: ['10.0.0.20', 'db.internal', '/var/run/postgresql'], DBPORT: ['5432'],
      PGBOUNCER_HOST: ['127.0.0.1', '*'], PGBOUNCER_PORT: ['6432'], DBPASS: ['Pw-for-trust-1'],
    };
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...Object.keys(FIELD)).chain((name) => fc.tuple(fc.constant(name), value(GOOD[name]!))), async ([name, v]) => {
        const env = { [name]: v };
        // An empty value means "unset" (the profile or a prompt supplies it): not hostile.
        if (v === '') return true;
        await runCase([], { surface: 'environment', fields: [FIELD[name]!], env });
        return true;
      }),
      { numRuns: 200 * RUNS },
    );
  }, TIMEOUT);

  it('--env-file: any file content', async () => {
    const file = join(scratch, 'app.env');
    const line = fc.oneof(
      fc.tuple(fc.constantFrom('DBNAME', 'DBUSER', 'DBHOST', 'DBPORT', 'PGBOUNCER_HOST', 'PGBOUNCER_PORT', 'export DBNAME', 'DBNAME '), fc.constantFrom('=', ' = ', '="', "='"), hostile).map((p) => p.join('')),
      hostile,
    );
    await fc.assert(
      fc.asyncProperty(fc.array(line, { maxLength: 4 }), async (lines) => {
        const text = lines.join('\n');
        writeFileSync(file, text);
        // What the file means is the env-file reader's business (test/unit/profile/dotenv.test.ts);
        // the invariant is the same either way: a file it refuses is exit 2 with nothing changed.
        let parsed: Record<string, string>;
        try {
          parsed = readEnvFile(file);
        } catch (e) {
          if (!(e instanceof InputError)) throw e;
          copyTree(base, work);
          const refused = await runInProcess(['production', '--root', work, '--yes', '--env-file', file], ENV);
          expect(refused.code, text).toBe(2);
          expect(refused.stderr, text).toMatch(/^pgb-setup: --env-file .* line \d+: /m);
          expectUnchanged(work, text);
          return true;
        }
        const env = Object.fromEntries(Object.entries(parsed).filter(([k, v]) => ['DBNAME', 'DBUSER', 'DBHOST'].includes(k) && v !== ''));
        // The real environment is above the env file: leave those names to the file.
        const { DBPASS } = ENV;
        counts['--env-file'] = (counts['--env-file'] ?? 0) + 1;
        copyTree(base, work);
        const r = await runInProcess(['production', '--root', work, '--yes', '--env-file', file], { DBPASS, ...(env['DBNAME'] ? {} : { DBNAME: ENV.DBNAME }), ...(env['DBUSER'] ? {} : { DBUSER: ENV.DBUSER }), ...(env['DBHOST'] ? {} : { DBHOST: ENV.DBHOST }) });
        if (r.code === 2) {
          expect(r.stderr, text).toMatch(/^pgb-setup: (database|pgbouncer)\.[a-z_.0-9]+: /m);
          expectUnchanged(work, text);
        } else {
          expect(r.code, `${text}\n${r.stderr}`).toBe(0);
          checkAccepted(work, { surface: '--env-file', fields: [], env: { ...env, DBPASS } });
        }
        return true;
      }),
      { numRuns: 100 * RUNS },
    );
  }, TIMEOUT);

  it('--profile: hostile values, keys and non-JSON', async () => {
    const file = join(scratch, 'profile.json');
    const profile = fc.oneof(
      fc.constantFrom(...Object.keys(STRING_SETTINGS)).chain((k) => value(STRING_SETTINGS[k]!).map((v) => ({ data: { pgbouncer: { [k]: v } }, fields: [`pgbouncer.${k}`], setting: { key: k, value: v } }))),
      fc.tuple(fc.constantFrom('listen_addr', 'admin_users', 'stats_users', 'ignore_startup_parameters'), fc.oneof(hostile, fc.array(hostile, { maxLength: 3 }))).map(([k, v]) => ({ data: { pgbouncer: { [k]: v } }, fields: [`pgbouncer.${k}`] })),
      fc.tuple(fc.constantFrom('name', 'host', 'user', 'port'), hostile).map(([k, v]) => ({ data: { database: { [k]: v } }, fields: [`database.${k}`] })),
      fc.tuple(hostile, fc.constantFrom('host', 'dbname', 'application_name', 'pool_mode'), hostile).map(([db, k, v]) => ({ data: { databases: { [db]: { [k]: v } } }, fields: [`databases.${db}`, 'databases'] })),
      fc.array(hostile, { maxLength: 3 }).map((v) => ({ data: { firewall: { allow_from: v } }, fields: ['firewall.allow_from'] })),
      fc.tuple(hostile, hostile).map(([k, v]) => ({ data: { pgbouncer: { [k]: v } }, fields: [`pgbouncer.${k}`, 'pgbouncer'] })),
      fc.tuple(hostile, hostile).map(([k, v]) => ({ data: { [k]: v }, fields: [k, '--profile'] })),
      hostile.map((text) => ({ raw: text, fields: ['--profile'] })),
    );
    await fc.assert(
      fc.asyncProperty(profile, async (p) => {
        const raw = 'raw' in p ? p.raw : JSON.stringify(p.data);
        writeFileSync(file, raw);
        const data = 'data' in p ? (p.data as Record<string, Record<string, unknown>>) : {};
        const extraDbs = Object.keys(data['databases'] ?? {});
        const r = await runCase(['--profile', file], {
          surface: '--profile',
          fields: p.fields,
          env: {},
          extraKeys: Object.keys(data['pgbouncer'] ?? {}),
          ...('setting' in p && p.setting ? { setting: p.setting } : {}),
        }).catch((e: unknown) => {
          // An accepted extra [databases] entry is a legitimate second entry: check it separately.
          if (extraDbs.length > 0) return { code: -1, stdout: '', stderr: String(e) };
          throw e;
        });
        if (r.code === -1) {
          const ini = parseIniLikePgbouncer(readFileSync(join(work, INI), 'utf8'));
          expect(ini.ok && ini.includes.length === 0).toBe(true);
          expect(ini.sections.map((s) => s.name)).toEqual(['databases', 'pgbouncer']);
          expect(ini.sections[0]!.entries.map((e) => e.key)).toEqual([ENV.DBNAME, ...extraDbs]);
          for (const e of ini.sections[0]!.entries) expect(parseConnString(e.value)).toBeDefined();
        }
        return true;
      }),
      { numRuns: 200 * RUNS },
    );
  }, TIMEOUT);

  it('--allow-from: anything but an address or CIDR is refused before anything is read', async () => {
    await fc.assert(
      fc.asyncProperty(value(['10.0.0.0/8', '192.168.1.5', 'fd00::/8', '::1']), async (cidr) => {
        await runCase(['--allow-from', cidr], { surface: '--allow-from', fields: ['--allow-from'], env: {} });
        return true;
      }),
      { numRuns: 100 * RUNS },
    );
  }, TIMEOUT);

  it('DBPASS: a password with a line break or NUL is refused; any other is stored only as a verifier', async () => {
    // A short password can be part of the normal output ("appl" in "applied"): the leak check
    // counts its occurrences against a run with another password, timestamps blanked in both.
    const blankTimes = (text: string) => text.replace(/\d{4}-\d{2}-\d{2}T\d{2}[-:]\d{2}[-:]\d{2}[-.:]\d{3}Z/g, '<time>');
    const occurrences = (text: string, part: string) => blankTimes(text).split(part).length - 1;
    const reference = await runCase([], { surface: 'DBPASS', fields: ['database.password', 'DBPASS'], env: { DBPASS: 'Reference-pw-9' } });
    expect(reference.code).toBe(0);
    await fc.assert(
      fc.asyncProperty(fc.oneof(hostile, fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 })), async (pw) => {
        const r = await runCase([], { surface: 'DBPASS', fields: ['database.password', 'DBPASS'], env: { DBPASS: pw } });
        if (r.code === 2) expect(pw).toMatch(/^$|[\0\r\n]|[\ud800-\udfff]/);
        if (pw.length >= 4 && r.code === 0) {
          expect(occurrences(r.stdout + r.stderr, pw), `password ${JSON.stringify(pw)} shows in the output`).toBe(occurrences(reference.stdout + reference.stderr, pw));
        } else if (pw.length >= 4) {
          expect(r.stdout + r.stderr).not.toContain(pw);
        }
        return true;
      }),
      { numRuns: 100 * RUNS, examples: [['appl'], ['production'], ['file']] },
    );
  }, TIMEOUT);
});

describe('odd files already on disk', () => {
  it('pgbouncer.ini with any content is replaced by exactly the rendered file (the old one is backed up whole)', async () => {
    const expected = readFileSync(join(base, INI), 'utf8');
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(hostile, fc.constantFrom('[pgbouncer]', '[databases]', 'auth_type = trust', '%include /etc/shadow', 'x = y', ';c')), { maxLength: 8 }), async (lines) => {
        counts['existing pgbouncer.ini'] = (counts['existing pgbouncer.ini'] ?? 0) + 1;
        copyTree(base, work);
        writeFileSync(join(work, INI), lines.join('\n'));
        const old = readFileSync(join(work, INI), 'utf8'); // as stored: a lone surrogate became U+FFFD
        const r = await runInProcess(['production', '--root', work, '--yes'], ENV);
        expect(r.code, r.stderr).toBe(0);
        expect(readFileSync(join(work, INI), 'utf8')).toBe(expected);
        if (old !== expected) {
          const backups = Object.entries(snapshotTree(work)).filter(([p]) => p.startsWith('var/backups/pgb-setup/') && p.endsWith('/pgbouncer.ini'));
          expect(backups).toHaveLength(1);
          expect(readFileSync(join(work, backups[0]![0]), 'utf8')).toBe(old);
          expect(backups[0]![1].mode).toBe('0600');
        }
        return true;
      }),
      { numRuns: 60 * RUNS },
    );
  }, TIMEOUT);

  it('userlist.txt: every line pgbouncer can read is kept byte for byte; a file it cannot read is refused (exit 2) untouched', async () => {
    const userField = fc.oneof(fc.constantFrom('app', 'we"ird', 'a b', 'é', ';x', '#y', ''), hostile);
    const line = fc.oneof(
      fc.tuple(userField, userField, fc.constantFrom('', ' ', ' junk', '\r')).map(([u, s, tail]) => `"${u.replaceAll('"', '""')}" "${s.replaceAll('"', '""')}"${tail}`),
      hostile.map((t) => `;${t}`),
      fc.constantFrom('', ' ', '\r', '\t'),
      hostile,
    );
    await fc.assert(
      fc.asyncProperty(fc.array(line, { minLength: 1, maxLength: 6 }), fc.boolean(), async (lines, trailing) => {
        counts['existing userlist.txt'] = (counts['existing userlist.txt'] ?? 0) + 1;
        copyTree(base, work);
        writeFileSync(join(work, USERLIST), lines.join('\n') + (trailing ? '\n' : ''));
        const old = readFileSync(join(work, USERLIST), 'utf8');
        chmodSync(join(work, USERLIST), 0o600);
        const before = snapshotTree(work);
        const r = await runInProcess(['production', '--root', work, '--yes'], ENV);
        const model = readAuthFileLikePgbouncer(old);
        if (r.code === 2) {
          expect(r.stderr).toMatch(/userlist\.txt/);
          expect(snapshotTree(work)).toEqual(before);
        } else {
          expect(r.code, r.stderr).toBe(0);
          // pgbouncer could read the old file to its end: our editor must have accepted it as well.
          expect(model.brokenAt, old).toBeUndefined();
          const now = readFileSync(join(work, USERLIST), 'utf8');
          const kept = old.split('\n').filter((l) => l.trim() !== '' && !readAuthFileLikePgbouncer(l).entries.some((e) => e.user === ENV.DBUSER));
          const nowLines = now.split('\n');
          for (const l of kept) expect(nowLines).toContain(l);
          const after = readAuthFileLikePgbouncer(now);
          expect(after.brokenAt).toBeUndefined();
          expect(after.entries.filter((e) => e.user === ENV.DBUSER)).toHaveLength(1);
          expect(after.entries.filter((e) => e.user !== ENV.DBUSER)).toEqual(model.entries.filter((e) => e.user !== ENV.DBUSER).map((e) => ({ ...e, line: expect.any(Number) })));
        }
        return true;
      }),
      { numRuns: 100 * RUNS },
    );
  }, TIMEOUT);
});

// ---- classes of #11: layered objects, numbers as pgbouncer parses them, file arguments -----------

/** Every stderr line is pgb-setup's own, printable, said once; never a stack trace. */
function expectOneLineErrors(stderr: string, why: string): void {
  const lines = stderr.replace(/\n$/, '').split('\n').filter((l) => !l.startsWith('warning: ') && !l.startsWith('note: '));
  expect(lines.length, why).toBeGreaterThan(0);
  for (const l of lines) {
    expect(l, why).toMatch(/^pgb-setup: /);
    expect(l, why).not.toMatch(/internal error|^\s+at /);
    // eslint-disable-next-line no-control-regex
    expect(l, why).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
  }
  expect(new Set(lines).size, why).toBe(lines.length);
}

const PROTO_KEYS = ['__proto__', 'constructor', 'prototype'];
const SECTIONS = ['database', 'pgbouncer', 'databases', 'userlist', 'firewall', 'server', 'host', 'django'];

/** A JSON text (built by hand, so __proto__ stays an own key as JSON.parse makes it). */
const layeredJson: fc.Arbitrary<string> = fc.letrec<{ node: string; obj: string }>((tie) => ({
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, fc.constantFrom('{}', '[]', '1', '"x"', 'null'), tie('obj')),
  obj: fc
    .array(fc.tuple(fc.oneof(fc.constantFrom(...PROTO_KEYS, ...SECTIONS, 'listen_port', 'allow_from', 'app', ''), fc.string({ maxLength: 4 })), tie('node')), { maxLength: 3 })
    .map((entries) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`),
})).obj;

/** Only empty objects under known sections (databases included): must change nothing at all. */
const emptyLayers = fc.subarray(SECTIONS).map((keys) => JSON.stringify(Object.fromEntries(keys.map((k) => [k, {}]))));

describe('layered objects (#11.3, #11.4, #11.10)', () => {
  let dir: string;
  let baseline: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pgb-trust-layers-'));
    const r = await runInProcess(['config', 'production', '--json', '--pgbouncer-version', '1.18'], ENV);
    baseline = JSON.stringify(JSON.parse(r.stdout).values);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('any nesting of objects, lists and prototype keys: exit 0 or one line per problem (exit 2); Object.prototype untouched', async () => {
    const file = join(dir, 'layered.json');
    await fc.assert(
      fc.asyncProperty(layeredJson, async (text) => {
        counts['layered profile'] = (counts['layered profile'] ?? 0) + 1;
        writeFileSync(file, text);
        const r = await runInProcess(['config', 'production', '--json', '--pgbouncer-version', '1.18', '--profile', file], ENV);
        expect([0, 2], `${text}\n${r.stderr}`).toContain(r.code);
        if (r.code === 2) expectOneLineErrors(r.stderr, text);
        if (PROTO_KEYS.some((k) => text.includes(`"${k}":`))) expect(r.code, text).toBe(2);
        expect(Object.getOwnPropertyNames(Object.prototype).sort(), text).toEqual(OBJECT_PROTOTYPE_KEYS);
        return true;
      }),
      // A prototype key inside a copy of a key that JSON.parse drops (the last copy wins).
      { numRuns: 300 * RUNS, examples: [['{"":{"":{"__proto__":{}}},"":{"userlist":{}}}']] },
    );
  }, TIMEOUT);

  it('a profile of empty objects changes no value and no credit', async () => {
    const file = join(dir, 'empty.json');
    await fc.assert(
      fc.asyncProperty(emptyLayers, async (text) => {
        counts['empty layers'] = (counts['empty layers'] ?? 0) + 1;
        writeFileSync(file, text);
        const r = await runInProcess(['config', 'production', '--json', '--pgbouncer-version', '1.18', '--profile', file], ENV);
        expect(r.code, `${text}\n${r.stderr}`).toBe(0);
        expect(JSON.stringify(JSON.parse(r.stdout).values), text).toBe(baseline);
        return true;
      }),
      { numRuns: 100 * RUNS },
    );
  }, TIMEOUT);

  it('--set paths through any key: prototype keys are one line, exit 2', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(fc.constantFrom(...PROTO_KEYS, ...SECTIONS, 'password', 'x'), fc.string({ maxLength: 3 })), { minLength: 1, maxLength: 4 }), hostile, async (parts, v) => {
        counts['--set path'] = (counts['--set path'] ?? 0) + 1;
        const r = await runInProcess(['config', 'production', '--pgbouncer-version', '1.18', '--set', `${parts.join('.')}=${v}`], ENV);
        expect([0, 2]).toContain(r.code);
        if (r.code === 2) expectOneLineErrors(r.stderr, parts.join('.'));
        if (parts.some((p) => PROTO_KEYS.includes(p))) expect(r.code).toBe(2);
        expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(OBJECT_PROTOTYPE_KEYS);
        return true;
      }),
      { numRuns: 200 * RUNS },
    );
  }, TIMEOUT);
});

const OBJECT_PROTOTYPE_KEYS = Object.getOwnPropertyNames(Object.prototype).sort();

describe('numbers as pgbouncer parses them (#11.8)', () => {
  const SECS = SETTINGS.filter((d) => d.type.kind === 'secs' && d.since === '1.15').map((d) => d.key);
  const INTS = SETTINGS.filter((d) => d.type.kind === 'int' && d.since === '1.15' && !['listen_port', 'min_pool_size', 'verbose'].includes(d.key)).map((d) => d.key);
  const number = fc.oneof(
    fc.double({ min: 0, max: 4e7, noNaN: true }).map(String),
    fc.integer({ min: 0, max: 31_536_000_000_000 }).map((us) => (us / 1e6).toString()),
    fc.tuple(fc.integer({ min: 0, max: 99_999 }), fc.integer({ min: 0, max: 9_999_999 })).map(([a, b]) => `${a}.${String(b).padStart(7, '0')}`),
    fc.constantFrom('1e-7', '0.0000001', '1e20', '99999999999999999999', '2147483648', '2147483647', '-1', '0x10', '010', '1.5e3', '0.000249'),
  );
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'pgb-trust-numbers-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function renderOne(key: string, v: string, how: 'set' | 'json'): Promise<{ code: number; stderr: string; line?: string }> {
    const out = join(dir, 'o');
    const args = ['render', 'production', '--out', out, '--pgbouncer-version', '1.18'];
    if (how === 'set') args.push('--set', `${key}=${v}`);
    else {
      const isJsonNumber = (() => {
        try {
          return typeof JSON.parse(v) === 'number';
        } catch {
          return false;
        }
      })();
      writeFileSync(join(dir, 'n.json'), `{"pgbouncer": {${JSON.stringify(key)}: ${isJsonNumber ? v : JSON.stringify(v)}}}`);
      args.push('--profile', join(dir, 'n.json'));
    }
    const r = await runInProcess(args, ENV);
    const line = r.code === 0 ? new RegExp(`^${key} = (.*)$`, 'm').exec(readFileSync(join(out, 'pgbouncer.ini'), 'utf8'))?.[1] : undefined;
    return { code: r.code, stderr: r.stderr, line };
  }

  it('seconds: accepted only in whole microseconds, rendered in plain decimal that strtod*1e6 truncation reads back exactly', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...SECS), number, fc.constantFrom<'set' | 'json'>('set', 'json'), async (key, v, how) => {
        counts['seconds'] = (counts['seconds'] ?? 0) + 1;
        const r = await renderOne(key, v, how);
        if (r.code === 2) {
          expectOneLineErrors(r.stderr, v);
          expect(r.stderr).toContain(`pgbouncer.${key}`);
          return true;
        }
        expect(r.code, `${key}=${v}\n${r.stderr}`).toBe(0);
        const given = Number(v);
        expect(r.line, v).toMatch(/^\d+(\.\d+)?$/);
        expect(pgbouncerMicroseconds(r.line!), `${v} -> ${r.line}`).toBe(Math.round(given * 1e6));
        expect(Math.abs(given * 1e6 - Math.round(given * 1e6)), v).toBeLessThan(0.01);
        return true;
      }),
      { numRuns: 300 * RUNS },
    );
  }, TIMEOUT);

  it('whole numbers: accepted only within a C int and rendered as plain decimal digits', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...INTS), number, fc.constantFrom<'set' | 'json'>('set', 'json'), async (key, v, how) => {
        counts['integers'] = (counts['integers'] ?? 0) + 1;
        const r = await renderOne(key, v, how);
        if (r.code === 2) {
          expectOneLineErrors(r.stderr, v);
          return true;
        }
        expect(r.code, `${key}=${v}\n${r.stderr}`).toBe(0);
        expect(r.line, v).toMatch(/^\d{1,10}$/);
        expect(Number(r.line)).toBeLessThanOrEqual(2_147_483_647);
        expect(Number(r.line)).toBe(Number(v));
        return true;
      }),
      { numRuns: 200 * RUNS },
    );
  }, TIMEOUT);

  it('unix_socket_mode: what pgbouncer reads (strtol base 0) is the octal mode given', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.integer({ min: 0, max: 0o777 }).map((m) => m.toString(8)), fc.integer({ min: 0, max: 0o777 }).map((m) => `0${m.toString(8)}`), fc.string({ unit: fc.constantFrom(...'0123456789xo'), maxLength: 5 })), async (v) => {
        counts['unix_socket_mode'] = (counts['unix_socket_mode'] ?? 0) + 1;
        const r = await renderOne('unix_socket_mode', v, 'set');
        const digits = v.replace(/^0o/i, ''); // "0o660" is accepted too: unambiguous
        const octal = /^[0-7]{1,4}$/.test(digits) && parseInt(digits, 8) <= 0o777;
        expect(r.code, `${v}\n${r.stderr}`).toBe(octal ? 0 : 2);
        if (octal) {
          expect(r.line, v).toMatch(/^0[0-7]{3}$/);
          expect(parseInt(r.line!, 8)).toBe(parseInt(digits, 8)); // strtol(s, 0) with a leading 0 is octal
        } else expectOneLineErrors(r.stderr, v);
        return true;
      }),
      { numRuns: 200 * RUNS },
    );
  }, TIMEOUT);
});

describe('file arguments of every kind (#11.5, #11.6, #11.7, #11.11)', () => {
  const CANARY = 'CANARY-file-bytes-never-printed';
  let dir: string;
  const kinds: Record<string, () => string> = {};

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pgb-trust-files-'));
    const regular = join(dir, 'regular');
    writeFileSync(regular, `root:${CANARY}:19000:0:99999:7:::\nDBPASS=${CANARY}\n`);
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    writeFileSync(join(dir, 'huge'), '');
    truncateSync(join(dir, 'huge'), 2 * 1024 * 1024); // sparse: no disk used
    mkdirSync(join(dir, 'folder'));
    symlinkSync(regular, join(dir, 'link-to-regular'));
    symlinkSync(join(dir, 'fifo'), join(dir, 'link-to-fifo'));
    symlinkSync(join(dir, 'nowhere'), join(dir, 'dangling'));
    symlinkSync('/dev/zero', join(dir, 'link-to-dev-zero'));
    for (const name of ['regular', 'fifo', 'huge', 'folder', 'link-to-regular', 'link-to-fifo', 'dangling', 'link-to-dev-zero']) kinds[name] = () => join(dir, name);
    kinds['/dev/zero'] = () => '/dev/zero';
    kinds['/dev/null'] = () => '/dev/null';
    kinds['under a file'] = () => join(dir, 'regular', 'x');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('--profile and --env-file: refused at once with one line naming the file; never its bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('--profile', '--env-file'), fc.constantFrom(...Object.keys(kinds)), async (flag, kind) => {
        counts['file argument'] = (counts['file argument'] ?? 0) + 1;
        const path = kinds[kind]!();
        const out = join(dir, 'out');
        const r = await runInProcess(['render', 'production', '--out', out, '--pgbouncer-version', '1.18', flag, path], ENV);
        const why = `${flag} ${kind}\n${r.stderr}`;
        expect(r.stdout + r.stderr, why).not.toContain(CANARY);
        // Every kind is refused: the regular file's first line (a shadow entry) has no "=", which the
        // env-file reader refuses by line number instead of skipping it; its DBPASS is never printed.
        {
          expect(r.code, why).toBe(2);
          expectOneLineErrors(r.stderr, why);
          expect(r.stderr, why).toContain(`${flag} ${path}`);
          expect(existsSync(out), why).toBe(false);
        }
        rmSync(out, { recursive: true, force: true });
        return true;
      }),
      { numRuns: 60 * RUNS },
    );
  }, TIMEOUT);

  it('render targets of every kind: refused before either file is written, or replaced as a regular file', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('pgbouncer.ini', 'userlist.txt'), fc.constantFrom('fifo', 'folder', 'link-to-regular', 'dangling', 'link-to-dev-zero', 'regular'), async (target, kind) => {
        counts['render target'] = (counts['render target'] ?? 0) + 1;
        const out = mkdtempSync(join(dir, 'out-'));
        const at = join(out, target);
        if (kind === 'fifo') execFileSync('mkfifo', [at]);
        else if (kind === 'folder') mkdirSync(at);
        else if (kind === 'regular') writeFileSync(at, '');
        else symlinkSync(kinds[kind === 'dangling' ? 'dangling' : kind]!(), at);
        const before = readdirSync(out).sort();
        const r = await runInProcess(['render', 'production', '--out', out, '--pgbouncer-version', '1.18'], ENV);
        const why = `${target} as ${kind}\n${r.stderr}`;
        if (kind === 'regular') expect(r.code, why).toBe(0);
        else {
          expect(r.code, why).toBe(2);
          expectOneLineErrors(r.stderr, why);
          expect(readdirSync(out).sort(), why).toEqual(before);
        }
        expect(r.stdout + r.stderr).not.toContain(CANARY);
        rmSync(out, { recursive: true, force: true });
        return true;
      }),
      { numRuns: 40 * RUNS },
    );
  }, TIMEOUT);
});
