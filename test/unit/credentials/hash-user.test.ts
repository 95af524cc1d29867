import { chownSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/main.js';
import { verifyMd5Password } from '../../../src/auth/md5.js';
import { parseScramSecret, verifyScramPassword } from '../../../src/auth/scram.js';
import { formatUserlistEntry, parseUserlist, validateSecret, validateUsername } from '../../../src/auth/userlist.js';
import { validateRoleName } from '../../../src/credentials/hash-user.js';
import { runHashUser, type HashUserCommandOptions as HashUserOptions } from '../../../src/app/credentials.js';
import { EXIT, PgbSetupError } from '../../../src/text/errors.js';
import { captureContext, type CapturedContext } from '../../helpers/context.js';
import { FakeSystem } from '../../helpers/fake-system.js';
import { fakeServer, type FakeServerOptions } from './fakes.js';

const PW = 'correct horse battery staple';

async function cli(args: string[], opts: { stdin?: string; env?: Record<string, string>; isTTY?: boolean } = {}) {
  const ctx = captureContext({ readStdin: async () => opts.stdin ?? '', env: opts.env ?? {}, isTTY: opts.isTTY ?? false });
  const code = await main(['node', 'pgb-setup', ...args], ctx);
  return { code, out: ctx.out(), err: ctx.err() };
}

/** Runs the command body directly, to hand in the prompt and the fake server. */
async function direct(user: string, opts: HashUserOptions, ctx: CapturedContext, deps: Parameters<typeof runHashUser>[4] = {}): Promise<number> {
  try {
    return await runHashUser(user, undefined, opts, ctx, { sleep: async () => {}, loginTimeoutMs: 0, isRoot: false, ...deps });
  } catch (e) {
    if (e instanceof PgbSetupError) {
      ctx.stderr.write(`pgb-setup: ${e.message}\n`);
      return e.exitCode;
    }
    throw e;
  }
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'pgb-hash-user-'));
}

describe('hash-user output', () => {
  it('prints exactly one line "user" "SCRAM verifier" for the first line of stdin', async () => {
    const r = await cli(['hash-user', 'app_user', '--password-stdin'], { stdin: PW });
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    expect(r.out.split('\n')).toHaveLength(2);
    const { entries } = parseUserlist(r.out);
    expect(entries).toHaveLength(1);
    expect(entries[0]!.user).toBe('app_user');
    const parsed = parseScramSecret(entries[0]!.secret)!;
    expect(parsed.iterations).toBe(4096);
    expect(parsed.salt).toHaveLength(16);
    expect(verifyScramPassword(entries[0]!.secret, PW)).toBe(true);
    expect(verifyScramPassword(entries[0]!.secret, `${PW}!`)).toBe(false);
  });

  it('a fresh salt every time; --iterations is honoured', async () => {
    const a = await cli(['hash-user', 'u', '--password-stdin', '--iterations', '10000'], { stdin: PW });
    const b = await cli(['hash-user', 'u', '--password-stdin', '--iterations', '10000'], { stdin: PW });
    expect(a.out).toMatch(/^"u" "SCRAM-SHA-256\$10000:/);
    expect(a.out).not.toBe(b.out);
  });

  it('--method md5 gives the documented vectors', async () => {
    expect((await cli(['hash-user', 'admin', '--password-stdin', '--method', 'md5'], { stdin: '1234' })).out).toBe('"admin" "md545f2603610af569b6155c45067268c6b"\n');
    expect((await cli(['hash-user', 'pgb_md5', '--password-stdin', '--method', 'md5'], { stdin: 'Tr0ub4dor&3' })).out).toBe('"pgb_md5" "md5fef380d29daf6b0a0fe92caf082670f6"\n');
  });

  it('quotes in the user name are doubled', async () => {
    const r = await cli(['hash-user', 'we"ird', '--password-stdin', '--method', 'md5'], { stdin: 'pa"ss' });
    expect(r.out).toMatch(/^"we""ird" "md5[0-9a-f]{32}"\n$/);
    expect(verifyMd5Password(parseUserlist(r.out).entries[0]!.secret, 'we"ird', 'pa"ss')).toBe(true);
  });
});

describe('hash-user: where the password comes from', () => {
  it('no terminal and no --password-stdin: exit 2 and how to pipe it', async () => {
    const r = await cli(['hash-user', 'app']);
    expect(r.code).toBe(EXIT.usage);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/standard input is not a terminal.*--password-stdin.*never taken as arguments/);
  });

  it('an empty stdin is refused (exit 2)', async () => {
    const r = await cli(['hash-user', 'app', '--password-stdin'], { stdin: '' });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/standard input was empty/);
  });

  it('on a terminal it asks twice (hidden prompt) and prints the line', async () => {
    const questions: string[] = [];
    const ctx = captureContext({ isTTY: true });
    const code = await direct('app', {}, ctx, { ask: async (q) => (questions.push(q), PW) });
    expect(code).toBe(0);
    expect(questions).toEqual(['New password for app:', 'Repeat the password for app:']);
    expect(verifyScramPassword(parseUserlist(ctx.out()).entries[0]!.secret, PW)).toBe(true);
  });

  it('two different answers: exit 2, nothing printed', async () => {
    const answers = ['one', 'two'];
    const ctx = captureContext({ isTTY: true });
    expect(await direct('app', {}, ctx, { ask: async () => answers.shift()! })).toBe(2);
    expect(ctx.out()).toBe('');
    expect(ctx.err()).toMatch(/the two passwords differ/);
  });

  it('a password given as an argument is not a flag: there is no --password option', async () => {
    const r = await cli(['hash-user', 'app', '--password', 'hunter2']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown option '--password'/);
  });
});

describe('hash-user: bad input is exit 2 and changes nothing', () => {
  it.each([
    [['hash-user', 'a\nb', '--password-stdin'], /line break/],
    [['hash-user', 'x'.repeat(64), '--password-stdin'], /at most 63 bytes/],
    [['hash-user', 'app', '--password-stdin', '--iterations', '0'], /--iterations/],
    [['hash-user', 'app', '--password-stdin', '--iterations', '100001'], /--iterations: "100001" must be a whole number from 1 to 100000/],
    [['hash-user', 'app', '--password-stdin', '--iterations', '2147483647'], /--iterations: "2147483647" must be a whole number from 1 to 100000/],
    [['hash-user', 'app', '--password-stdin', '--iterations', '4k'], /--iterations/],
    [['hash-user', 'app', '--password-stdin', '--method', 'md5', '--iterations', '10000'], /scram-sha-256 only/],
    [['hash-user', 'app', '--password-stdin', '--method', 'sha1'], /Allowed choices are scram-sha-256, md5/],
    [['hash-user', 'app', '--password-stdin', '--reload'], /--reload.*--userlist/],
    [['hash-user', 'app', '--password-stdin', '--userlist', '/nonexistent/userlist.txt'], /does not exist/],
  ])('%j', async (args, message) => {
    const r = await cli(args as string[], { stdin: PW });
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(message);
  });

  it('md5 is refused when the profile uses auth_type scram-sha-256', async () => {
    const r = await cli(['hash-user', 'app', 'production', '--password-stdin', '--method', 'md5', '--pgbouncer-version', '1.18'], { stdin: PW });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/auth_type scram-sha-256, which cannot use MD5 secrets/);
  });
});

describe('hash-user --userlist', () => {
  const BEFORE = [
    ';; pgbouncer users',
    '"admin" "md545f2603610af569b6155c45067268c6b"',
    '',
    '  ; indented comment with "quotes"',
    '"app" "old-plain-secret" trailing text kept',
    '"other" "SCRAM-SHA-256$4096:AAECAwQFBgcICQoLDA0ODw==$/Gwd+9c5v+IC5Mq+odz/J3O7NKYGNmuB2D4/ij1OCHk=:tXPhkknic1P9pPGQoQpkDoXOug462w13eWGI4WCoBSA="',
    '',
  ].join('\n');

  it('replaces the user in place, keeps every other line byte for byte, writes 0600 and keeps the owner', async () => {
    const dir = tmp();
    const file = join(dir, 'userlist.txt');
    writeFileSync(file, BEFORE, { mode: 0o640 });
    chownSync(file, 65534, 65534);
    const r = await cli(['hash-user', 'app', '--password-stdin', '--userlist', file], { stdin: PW });
    expect(r.code).toBe(0);
    const after = readFileSync(file, 'utf8');
    const newLine = r.out.trimEnd();
    expect(after).toBe(BEFORE.replace('"app" "old-plain-secret" trailing text kept', newLine));
    const st = statSync(file);
    expect(st.mode & 0o7777).toBe(0o600);
    expect([st.uid, st.gid]).toEqual([65534, 65534]);
    expect(r.err).toMatch(/app replaced \(mode 0640 -> 0600\)/);
    expect(r.err).toMatch(/PostgreSQL still has its own password for app.*--apply-server/);
  });

  it('appends a new user; CRLF files stay CRLF', async () => {
    const dir = tmp();
    const file = join(dir, 'userlist.txt');
    writeFileSync(file, '"a" "x"\r\n', { mode: 0o600 });
    const r = await cli(['hash-user', 'b', '--password-stdin', '--userlist', file, '--method', 'md5'], { stdin: 'pw' });
    expect(r.code).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(`"a" "x"\r\n${r.out.trimEnd()}\r\n`);
  });

  it('a malformed userlist is named with its line number, left untouched, exit 2, nothing printed', async () => {
    const dir = tmp();
    const file = join(dir, 'userlist.txt');
    const text = '"a" "x"\n# not a pgbouncer comment\n"b" "y"\n';
    writeFileSync(file, text, { mode: 0o600 });
    const before = statSync(file);
    const r = await cli(['hash-user', 'b', '--password-stdin', '--userlist', file], { stdin: PW });
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toBe(`pgb-setup: ${file} line 2 starts with '#', which makes pgbouncer stop reading the file; pgbouncer only accepts comments starting with ';'; change '#' to ';'\n`);
    expect(readFileSync(file, 'utf8')).toBe(text);
    const after = statSync(file);
    expect([after.ino, after.mtimeMs, after.mode]).toEqual([before.ino, before.mtimeMs, before.mode]);
  });

  it('--userlist without a FILE takes the profile auth_file', async () => {
    const dir = tmp();
    const file = join(dir, 'users.txt');
    writeFileSync(file, '', { mode: 0o600 });
    const r = await cli(['hash-user', 'app', 'development', '--password-stdin', '--userlist', '--pgbouncer-version', '1.18', '--set', `auth_file=${file}`], { stdin: PW });
    expect(r.err).not.toMatch(/pgb-setup:/);
    expect(r.code).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(r.out);
  });
});

// ---------------------------------------------------------------------------------------------
// Property tests through the command

const tricky = fc.constantFrom('"', '""', '\\', ';', '#', ' ', '\t', "'", '=', '$', 'é', '用', '\u00a0', '\u{1f600}');
const text = (max: number) =>
  fc.array(fc.oneof(fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 4 }), tricky), { minLength: 1, maxLength: max }).map((p) => p.join(''));
const valid = (check: (s: string) => void) => (s: string) => {
  try {
    check(s);
    return true;
  } catch {
    return false;
  }
};
// Names hash-user itself accepts (the one rule shared with database.user: no control characters).
const userArb = fc.oneof(fc.constantFrom('app', 'admin', 'we"ird'), text(8)).filter((u) => valid(validateRoleName)(u));
// Other users already in the file: anything userlist.txt can hold.
const fileUserArb = fc.oneof(fc.constantFrom('app', 'admin', 'we"ird'), text(8)).filter((u) => valid(validateUsername)(u) && Buffer.byteLength(u) <= 63 && !/[\r\n]/.test(u));
const lineArb = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fileUserArb, text(12).filter(valid(validateSecret))).map(([u, s]) => formatUserlistEntry(u, s)) },
  { weight: 1, arbitrary: text(10).filter((t) => !/[\r\n\0]/.test(t)).map((t) => `;${t}`) },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', '\t') },
);
const fileArb = fc.tuple(fc.array(lineArb, { maxLength: 8 }), fc.boolean()).map(([lines, nl]) => (lines.length ? lines.join('\n') + (nl || lines.at(-1) === '' ? '\n' : '') : ''));
const passwordArb = fc.string({ minLength: 1, maxLength: 20 }).filter((p) => !/[\r\n\0]/.test(p) && p.trim() === p && valid(() => Buffer.from(p).toString())(p) && p.isWellFormed());

describe('hash-user --userlist properties (through the command)', () => {
  const dir = tmp();
  let n = 0;

  it('round-trip: the user gets a secret for exactly this password; no other entry or line is gained, lost or changed', async () => {
    await fc.assert(
      fc.asyncProperty(fileArb, userArb, passwordArb, async (before, user, password) => {
        const file = join(dir, `u${n++}.txt`);
        writeFileSync(file, before, { mode: 0o600 });
        const r = await cli(['hash-user', '--password-stdin', '--iterations', '16', '--userlist', file, '--', user], { stdin: password });
        expect(r.code, r.err).toBe(0);
        const after = readFileSync(file, 'utf8');
        const b = parseUserlist(before);
        const a = parseUserlist(after);
        const mine = a.entries.filter((e) => e.user === user);
        expect(mine).toHaveLength(1);
        expect(verifyScramPassword(mine[0]!.secret, password)).toBe(true);
        expect(r.out).toBe(`${formatUserlistEntry(user, mine[0]!.secret)}\n`);
        const others = (l: typeof a) => l.entries.filter((e) => e.user !== user).map((e) => [e.user, e.secret]);
        expect(others(a)).toEqual(others(b));
        const otherLines = (t: string) => t.split('\n').filter((seg) => !parseUserlist(seg).entries.some((e) => e.user === user));
        expect(otherLines(after)).toEqual(otherLines(before));
        const had = b.entries.filter((e) => e.user === user).length;
        expect(a.entries.length).toBe(b.entries.length - had + 1);
        expect(statSync(file).mode & 0o777).toBe(0o600);
      }),
      { numRuns: 150 },
    );
  });

  it('no line injection: a user name or password with CR/LF/NUL either fails (exit 2, file untouched) or adds at most one line', async () => {
    const breaker = fc.constantFrom('\n', '\r', '\r\n', '\0', '"\n"evil" "x', '\u2028');
    const nasty = fc.tuple(text(4), breaker, text(4)).map(([x, b, y]) => x + b + y);
    await fc.assert(
      fc.asyncProperty(fileArb, fc.oneof(nasty, userArb), fc.oneof(nasty, passwordArb), async (before, user, password) => {
        const file = join(dir, `i${n++}.txt`);
        writeFileSync(file, before, { mode: 0o600 });
        const r = await cli(['hash-user', '--password-stdin', '--iterations', '16', '--userlist', file, '--', user], { stdin: password });
        const after = readFileSync(file, 'utf8');
        if (r.code !== 0) {
          expect(r.code).toBe(2);
          expect(after).toBe(before);
          expect(r.out).toBe('');
          return;
        }
        expect(user).not.toMatch(/[\r\n\0]/);
        const newlines = (t: string) => t.split('\n').length - 1;
        expect(newlines(after)).toBeLessThanOrEqual(newlines(before) + 1);
        expect(after.split('\n').filter((l) => l.includes(`"${user.replaceAll('"', '""')}"`)).length).toBeLessThanOrEqual(1 + before.split('\n').filter((l) => l.includes(`"${user.replaceAll('"', '""')}"`)).length);
        expect(parseUserlist(after).entries.filter((e) => e.user === user)).toHaveLength(1);
        expect(r.out.split('\n')).toHaveLength(2);
      }),
      { numRuns: 150 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Rotation: order, failure states, secrets (fake PostgreSQL / pgbouncer, FakeSystem host)

const USERLIST = '/etc/pgbouncer/userlist.txt';
const ORIGINAL = ';; users\n"app" "SCRAM-SHA-256$4096:AAECAwQFBgcICQoLDA0ODw==$/Gwd+9c5v+IC5Mq+odz/J3O7NKYGNmuB2D4/ij1OCHk=:tXPhkknic1P9pPGQoQpkDoXOug462w13eWGI4WCoBSA="\n"other" "x"\n';
const ROTATE: HashUserOptions = {
  passwordStdin: true,
  userlist: USERLIST,
  applyServer: true,
  reload: true,
  pgbouncerHost: '127.0.0.1',
  pgbouncerPort: '6432',
  adminUser: 'pgb_admin',
  pidfile: '/run/pgbouncer/pgbouncer.pid',
  loginDb: 'appdb',
};

function host(opts: { pid1?: string; pidfile?: boolean } = {}): FakeSystem {
  const sys = new FakeSystem().file(USERLIST, ORIGINAL, 0o640, 105, 110).file('/proc/1/comm', `${opts.pid1 ?? 'bash'}\n`);
  if (opts.pidfile !== false) sys.file('/run/pgbouncer/pgbouncer.pid', '4242\n').file('/proc/4242/comm', 'pgbouncer\n').file('/proc/4242/stat', '4242 (pgbouncer) S 1');
  sys.on(/^kill -0 4242$/, { exitCode: 0 }).on(/^kill -HUP 4242$/, { exitCode: 0 });
  sys.on(/^systemctl is-active --quiet pgbouncer$/, { exitCode: 0 }).on(/^systemctl reload pgbouncer$/, { exitCode: 0 });
  return sys;
}

function rotationCtx(sys: FakeSystem, env: Record<string, string> = {}) {
  return captureContext({ system: sys, readStdin: async () => 'the-new-password', env: { PGPASSWORD: 'admin-pg-pw', PGBOUNCER_ADMIN_PASSWORD: 'console-pw', ...env } });
}

async function rotate(server: FakeServerOptions, sys = host(), env?: Record<string, string>, opts: HashUserOptions = ROTATE) {
  const fake = fakeServer({ role: { rolname: 'app' }, stored: 'SCRAM-old', ...server });
  const ctx = rotationCtx(sys, env);
  const code = await direct('app', opts, ctx, { connect: fake.connect, scramLogin: fake.scramLogin });
  return { code, ctx, fake, sys, userlist: sys.files.get(USERLIST)! };
}

describe('hash-user rotation (--userlist --apply-server --reload)', () => {
  it('order: userlist staged, ALTER + read-back in one transaction, console RELOAD, login through pgbouncer; reports each step', async () => {
    const { code, ctx, fake, userlist } = await rotate({});
    expect(ctx.err()).not.toMatch(/pgb-setup:/);
    expect(code).toBe(0);
    const secret = parseUserlist(ctx.out()).entries[0]!.secret;
    expect(verifyScramPassword(secret, 'the-new-password')).toBe(true);
    expect(fake.stored()).toBe(secret);
    expect(userlist.content).toBe(ORIGINAL.replace(/^"app" .*$/m, `"app" "${secret}"`));
    expect([userlist.mode, userlist.uid, userlist.gid]).toEqual([0o600, 105, 110]);
    const sql = fake.log.map((l) => l.replace(/PASSWORD '[^']*'/, "PASSWORD '…'"));
    expect(sql.slice(-6)).toEqual([
      'postgres/postgres: BEGIN',
      `postgres/postgres: ALTER ROLE "app" PASSWORD '…'`,
      'postgres/postgres: SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname::pg_catalog.text OPERATOR(pg_catalog.=) $1',
      'postgres/postgres: COMMIT',
      'pgbouncer/pgb_admin: RELOAD',
      'appdb/app: SELECT 1',
    ]);
    const steps = ctx.err().split('\n').filter((l) => /^\[\d\/4\]/.test(l));
    expect(steps).toEqual([
      `[1/4] ${USERLIST}: app replaced (mode 0640 -> 0600); pgbouncer reads it at its next reload`,
      '[2/4] PostgreSQL postgres@localhost:5432/postgres: ALTER ROLE app; pg_authid holds exactly the new verifier',
      '[3/4] pgbouncer reloaded: admin console RELOAD (pgb_admin@127.0.0.1:6432/pgbouncer)',
      '[4/4] login through pgbouncer app@127.0.0.1:6432/appdb with the new password: ok',
    ]);
  });

  it('no secret on any child argv, in stderr, or on stdout beyond the line (SIGHUP path)', async () => {
    const sys = host();
    const { code, ctx } = await rotate({}, sys, { PGBOUNCER_ADMIN_PASSWORD: '' }, { ...ROTATE, adminUser: undefined });
    expect(code).toBe(0);
    expect(sys.commandLines()).toEqual(['kill -0 4242', 'kill -0 4242', 'kill -HUP 4242']);
    expect(sys.calls.every((c) => c.input === undefined)).toBe(true);
    const secret = parseUserlist(ctx.out()).entries[0]!.secret;
    for (const s of ['the-new-password', 'admin-pg-pw', secret]) {
      expect(sys.commandLines().join('\n')).not.toContain(s);
      expect(ctx.err()).not.toContain(s);
    }
    expect(ctx.out()).toBe(`"app" "${secret}"\n`);
    expect(ctx.err()).toMatch(/\[3\/4\] pgbouncer reloaded: SIGHUP to pgbouncer process 4242/);
  });

  it('systemd as PID 1: systemctl reload when there is no console login', async () => {
    const sys = host({ pid1: 'systemd' });
    const { code, ctx } = await rotate({}, sys, {}, { ...ROTATE, adminUser: undefined });
    expect(code).toBe(0);
    expect(sys.commandLines()).toContain('systemctl reload pgbouncer');
    expect(sys.commandLines()).not.toContain('kill -HUP 4242');
    expect(ctx.err()).toMatch(/pgbouncer reloaded: systemctl reload pgbouncer/);
  });

  it('the role does not exist: exit 1 before anything is written', async () => {
    const { code, ctx, fake, userlist } = await rotate({ role: null });
    expect(code).toBe(1);
    expect(ctx.err()).toMatch(/role app does not exist.*nothing was changed/);
    expect(userlist.content).toBe(ORIGINAL);
    expect(fake.log.some((l) => l.includes('ALTER'))).toBe(false);
    expect(ctx.out()).toBe('');
  });

  it('no way to reload: exit 1 before anything is written', async () => {
    const sys = host({ pidfile: false });
    const { code, ctx, fake, userlist } = await rotate({ consoleDown: true }, sys);
    expect(code).toBe(1);
    expect(ctx.err()).toMatch(/cannot reload pgbouncer, so nothing was changed/);
    expect(ctx.err()).toMatch(/systemd is not PID 1/);
    expect(userlist.content).toBe(ORIGINAL);
    expect(fake.stored()).toBe('SCRAM-old');
  });

  it('ALTER ROLE fails: the staged userlist is put back byte for byte; "nothing changed"', async () => {
    const { code, ctx, fake, userlist } = await rotate({ alterError: 'permission denied to alter role' });
    expect(code).toBe(1);
    expect(userlist.content).toBe(ORIGINAL);
    expect(fake.stored()).toBe('SCRAM-old');
    expect(ctx.err()).toMatch(/ALTER ROLE app failed: permission denied to alter role \(SQLSTATE 42501\)/);
    expect(ctx.err()).toMatch(/state: nothing changed; PostgreSQL keeps the old password of app and \/etc\/pgbouncer\/userlist.txt was put back as it was/);
    expect(fake.log.some((l) => l.endsWith('RELOAD'))).toBe(false);
  });

  it('PostgreSQL re-hashes the verifier (the malformed-verifier trap): rolled back, userlist put back', async () => {
    const { code, ctx, fake, userlist } = await rotate({ rehash: 'SCRAM-SHA-256$4096:rehashed' });
    expect(code).toBe(1);
    expect(fake.stored()).toBe('SCRAM-old');
    expect(fake.log).toContain('postgres/postgres: ROLLBACK');
    expect(userlist.content).toBe(ORIGINAL);
    expect(ctx.err()).toMatch(/did not store the verifier.*rolled back/);
  });

  it('reload fails after the ALTER: says which side holds which secret and how to finish', async () => {
    const sys = host({ pidfile: false });
    const { code, ctx, fake, userlist } = await rotate({ reloadError: 'admin access needed' }, sys);
    expect(code).toBe(1);
    expect(fake.stored()).not.toBe('SCRAM-old');
    expect(userlist.content).not.toBe(ORIGINAL);
    expect(ctx.err()).toMatch(/admin console RELOAD refused: admin access needed/);
    expect(ctx.err()).toMatch(
      /state: PostgreSQL and \/etc\/pgbouncer\/userlist.txt both have the NEW secret of app, but the running pgbouncer still has the OLD one .*reload pgbouncer now: systemctl reload pgbouncer/,
    );
    expect(ctx.out()).toBe('');
  });

  it('the login through pgbouncer fails: names the state', async () => {
    const { code, ctx } = await rotate({ loginRefused: true, readable: true });
    expect(code).toBe(1);
    expect(ctx.err()).toMatch(/logging in through pgbouncer as app@127.0.0.1:6432\/appdb with the new password failed: password authentication failed/);
    expect(ctx.err()).toMatch(/state: PostgreSQL and \/etc\/pgbouncer\/userlist.txt have the NEW secret of app and pgbouncer was reloaded/);
  });

  it('pg_authid not readable: ALTER without read-back, then a SCRAM login as the user proves the stored verifier', async () => {
    const { code, ctx, fake } = await rotate({ readable: false });
    expect(code).toBe(0);
    expect(fake.log.some((l) => l.includes('BEGIN'))).toBe(false);
    expect(fake.scramLogins).toEqual([expect.objectContaining({ user: 'app', database: 'postgres', password: 'the-new-password' })]);
    expect(ctx.err()).toMatch(/cannot read pg_authid to compare; checking with a login instead/);
    expect(ctx.err()).toMatch(/a SCRAM login with the new password proves it holds exactly the new verifier/);
  });

  it('pg_authid not readable and PostgreSQL stored something else: the login check says so', async () => {
    const { code, ctx } = await rotate({ readable: false, rehash: 'SCRAM-SHA-256$4096:AAAAAAAAAAAAAAAAAAAAAA==$' + 'A'.repeat(43) + '=:' + 'A'.repeat(43) + '=' });
    expect(code).toBe(1);
    expect(ctx.err()).toMatch(/PostgreSQL does not hold the verifier that was sent for app after ALTER ROLE/);
  });

  it('--apply-server without --reload warns loudly that pgbouncer still has the old secret', async () => {
    const { code, ctx } = await rotate({}, host(), {}, { ...ROTATE, reload: false });
    expect(code).toBe(0);
    expect(ctx.err()).toMatch(/warning: PostgreSQL and \/etc\/pgbouncer\/userlist.txt have the NEW secret of app, but pgbouncer has not been reloaded/);
  });

  it('admin password (PGUSER given): PGPASSWORD, else a prompt on a terminal, else exit 2 naming PGPASSWORD', async () => {
    const fake = fakeServer({ role: { rolname: 'app' } });
    const ctx = captureContext({ system: host(), readStdin: async () => 'pw', env: { PGUSER: 'postgres' } });
    expect(await direct('app', { passwordStdin: true, applyServer: true }, ctx, { connect: fake.connect })).toBe(2);
    expect(ctx.err()).toMatch(/set PGPASSWORD in the environment/);

    const asked: string[] = [];
    const tty = captureContext({ system: host(), isTTY: true, env: { PGUSER: 'postgres' } });
    const code = await direct('app', { applyServer: true }, tty, { connect: fake.connect, ask: async (q) => (asked.push(q), q.startsWith('PostgreSQL') ? 'admin-pw' : 'new-pw') });
    expect(code).toBe(0);
    expect(asked).toEqual(['New password for app:', 'Repeat the password for app:', 'PostgreSQL password for postgres@localhost:5432/postgres:']);
    expect(fake.connects[fake.connects.length - 1]!.password).toBe('admin-pw');
  });
});

describe('hash-user --apply-server without admin credentials: the role changes its own password (#12)', () => {
  const lines = (...l: string[]) => {
    const queue = [...l];
    return async () => queue.shift() ?? '';
  };

  it('--current-password-stdin: logs in as the role with line 1, sets line 2, proves it by a SCRAM login', async () => {
    const fake = fakeServer({ role: { rolname: 'app' }, readable: false, rolePassword: 'old-pw' });
    const ctx = captureContext({ system: host(), readStdin: lines('old-pw', 'new-pw'), env: {} });
    const code = await direct('app', { applyServer: true, passwordStdin: true, currentPasswordStdin: true }, ctx, { connect: fake.connect, scramLogin: fake.scramLogin });
    expect(ctx.err()).not.toMatch(/pgb-setup:/);
    expect(code).toBe(0);
    expect(fake.connects.map((c) => [c.target.user, c.password])).toEqual([['app', 'old-pw']]);
    expect(fake.log.filter((l) => l.includes('ALTER'))).toEqual([expect.stringMatching(/^postgres\/app: ALTER ROLE "app" PASSWORD 'SCRAM-SHA-256\$4096:/)]);
    expect(verifyScramPassword(fake.stored()!, 'new-pw')).toBe(true);
    expect(ctx.err()).toMatch(/ALTER ROLE app as app itself/);
    expect(ctx.err()).toMatch(/a SCRAM login with the new password proves it holds exactly the new verifier/);
    expect(ctx.err() + ctx.out()).not.toMatch(/old-pw|new-pw/);
  });

  it('no admin credentials on a terminal: asks the current password first, then the new one twice', async () => {
    const fake = fakeServer({ role: { rolname: 'app' }, readable: false, rolePassword: 'old-pw' });
    const asked: string[] = [];
    const ctx = captureContext({ system: host(), isTTY: true, env: {} });
    const code = await direct('app', { applyServer: true }, ctx, {
      connect: fake.connect,
      scramLogin: fake.scramLogin,
      ask: async (q) => (asked.push(q), q.startsWith('Current') ? 'old-pw' : 'new-pw'),
    });
    expect(code).toBe(0);
    expect(asked).toEqual(['Current password of app on PostgreSQL app@localhost:5432/postgres:', 'New password for app:', 'Repeat the password for app:']);
  });

  it('a wrong current password: exit 2, nothing changed', async () => {
    const fake = fakeServer({ role: { rolname: 'app' }, readable: false, rolePassword: 'old-pw', stored: 'SCRAM-old' });
    const sys = host();
    const ctx = captureContext({ system: sys, readStdin: lines('wrong-pw', 'new-pw'), env: {} });
    const code = await direct('app', { ...ROTATE, currentPasswordStdin: true }, ctx, { connect: fake.connect, scramLogin: fake.scramLogin });
    expect(code).toBe(2);
    expect(ctx.err()).toMatch(/PostgreSQL app@localhost:5432\/postgres refused the current password of app \(password authentication failed for user "app" \(SQLSTATE 28P01\)\); nothing was changed/);
    expect(fake.stored()).toBe('SCRAM-old');
    expect(sys.files.get(USERLIST)!.content).toBe(ORIGINAL);
  });

  it('no terminal and no --current-password-stdin: exit 2 naming the three ways', async () => {
    const ctx = captureContext({ system: host(), readStdin: lines('new-pw'), env: {} });
    expect(await direct('app', { applyServer: true, passwordStdin: true }, ctx, { connect: fakeServer().connect })).toBe(2);
    expect(ctx.err()).toMatch(/--current-password-stdin .* or run as root on the PostgreSQL host .* or set PGUSER and PGPASSWORD of an admin role/);
  });

  it('--current-password-stdin with admin credentials or without --apply-server is refused', async () => {
    const a = captureContext({ system: host(), readStdin: lines('x', 'y'), env: { PGUSER: 'postgres', PGPASSWORD: 'p' } });
    expect(await direct('app', { applyServer: true, passwordStdin: true, currentPasswordStdin: true }, a)).toBe(2);
    expect(a.err()).toMatch(/leave out PGUSER\/--pg-user and PGPASSWORD/);
    const b = captureContext({ system: host(), readStdin: lines('x', 'y'), env: {} });
    expect(await direct('app', { passwordStdin: true, currentPasswordStdin: true }, b)).toBe(2);
    expect(b.err()).toMatch(/--current-password-stdin goes with --apply-server/);
  });
});
