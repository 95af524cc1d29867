/**
 * Issue #11, hostile CLI and profile input: each case found by hand, kept as a regression test.
 * In-process (milliseconds each); the bin as a child process where Node.js itself is involved.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/main.js';
import { captureContext } from '../../helpers/context.js';
import { makeRoot } from '../../helpers/trust.js';

const ENV = { DBNAME: 'app', DBUSER: 'app_user', DBPASS: 'pw-never-printed', DBHOST: '127.0.0.1', PATH: '/nonexistent' };

async function run(args: string[], env: Record<string, string> = ENV, extra: Parameters<typeof captureContext>[0] = {}) {
  const ctx = captureContext({ env, ...extra });
  const code = await main(['node', 'pgb-setup', ...args], ctx);
  return { code, out: ctx.out(), err: ctx.err() };
}

function scratch(): string {
  return mkdtempSync(join(tmpdir(), 'pgb-hostile-cli-'));
}

function profile(dir: string, text: string, name = 'p.json'): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Every line of stderr is pgb-setup's own, printable, and said once. */
function expectCleanLines(err: string): string[] {
  const lines = err.replace(/\n$/, '').split('\n');
  for (const l of lines) {
    expect(l).toMatch(/^(pgb-setup: |error: |\(run pgb-setup --help)/);
    // eslint-disable-next-line no-control-regex
    expect(l).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
  }
  expect(new Set(lines).size).toBe(lines.length);
  return lines;
}

describe('#11.12 the argument parser never echoes an option value', () => {
  it.each([
    ['hash-user', 'bob', '--password=SECRET-1'],
    ['render', 'production', '--out', '/tmp/x', "--token=SE'CR\nET-1"],
    ['hash-user', 'bob', '-pSECRET-1'],
    ['hash-user', 'bob', '--method=SECRET-1'],
    ['print-django-settings', 'production', '--engine', 'SECRET-1'],
  ])('%s %s %s', async (...args) => {
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(r.err).not.toMatch(/SECRET|CR|ET-1/);
    expect(r.err).toMatch(/unknown option '(--password|--token|-p)'|argument is invalid/);
    expectCleanLines(r.err);
  });
});

describe('#11.15 errors are printable and said once', () => {
  it('an unknown profile key with a line break and ESC cannot fake a line or move the cursor', async () => {
    const dir = scratch();
    const p = profile(dir, JSON.stringify({ 'a\npgb-setup: all good\u001b[2J': 1 }));
    const r = await run(['render', 'production', '--out', join(dir, 'o'), '--profile', p, '--pgbouncer-version', '1.18']);
    expect(r.code).toBe(2);
    const lines = expectCleanLines(r.err);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('\\x0apgb-setup: all good\\x1b[2J: unknown key');
  });

  it('a --set key with ESC is escaped', async () => {
    const r = await run(['config', 'production', '--set', 'x\u001b]0;title\u0007=1']);
    expect(r.code).toBe(2);
    expectCleanLines(r.err);
    expect(r.err).toContain('\\x1b]0;title\\x07');
  });
});

describe('#11.3 layering merges; an empty object changes nothing', () => {
  it('{"pgbouncer": {}} keeps every built-in setting', async () => {
    const dir = scratch();
    const base = await run(['config', 'production', '--json', '--pgbouncer-version', '1.18']);
    const r = await run(['config', 'production', '--json', '--pgbouncer-version', '1.18', '--profile', profile(dir, '{"pgbouncer": {}, "userlist": {}, "database": {}}')]);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out).values).toEqual(JSON.parse(base.out).values);
  });

  it('{"firewall": {}} keeps allow_from, credited to the built-in profile; an explicit [] replaces it and --explain says so', async () => {
    const dir = scratch();
    const kept = await run(['config', 'production', '--json', '--profile', profile(dir, '{"firewall": {}}'), '--pgbouncer-version', '1.18']);
    expect(kept.code, kept.err).toBe(0);
    expect(JSON.parse(kept.out).values).toContainEqual({ path: 'firewall.allow_from', value: '["10.0.0.0/8"]', source: 'profile:production' });
    const p = profile(dir, '{"firewall": {"allow_from": []}}', 'empty-list.json');
    const emptied = await run(['config', 'production', '--json', '--profile', p, '--pgbouncer-version', '1.18']);
    expect(JSON.parse(emptied.out).values).toContainEqual({ path: 'firewall.allow_from', value: '[]', source: `--profile ${p}` });
  });

  it('an empty database entry still adds that database', async () => {
    const dir = scratch();
    const out = join(dir, 'o');
    const r = await run(['render', 'production', '--out', out, '--pgbouncer-version', '1.18', '--profile', profile(dir, '{"databases": {"reports": {}}}')]);
    expect(r.code, r.err).toBe(0);
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(join(out, 'pgbouncer.ini'), 'utf8')).toMatch(/^reports = /m);
  });
});

describe('#11.4 prototype keys: one line, exit 2, no pollution', () => {
  it.each([
    ['{"__proto__": {"hasOwnProperty": "x"}}', '__proto__'],
    ['{"__proto__": {"polluted": "y"}}', '__proto__'],
    ['{"pgbouncer": {"constructor": {"prototype": {"x": 1}}}}', 'pgbouncer.constructor'],
    ['{"databases": {"prototype": {}}}', 'databases.prototype'],
  ])('profile %s', async (text, key) => {
    const dir = scratch();
    for (const cmd of [['render', 'production', '--out', join(dir, 'o')], ['print-django-settings', 'production'], ['production', '--root', makeRoot(), '--dry-run']]) {
      const r = await run([...cmd, '--profile', profile(dir, text), '--pgbouncer-version', '1.18']);
      expect(r.code, r.err).toBe(2);
      const lines = expectCleanLines(r.err);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^pgb-setup: ${key.replace('.', '\\.')}: unknown key \\(in --profile .*line 1`));
    }
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it.each(['database.__proto__.toString=x', '__proto__.polluted=1', 'databases.constructor.x=1', 'pgbouncer.prototype=1'])('--set %s', async (set) => {
    const r = await run(['render', 'production', '--out', join(scratch(), 'o'), '--set', set]);
    expect(r.code).toBe(2);
    expect(expectCleanLines(r.err)).toEqual([expect.stringMatching(/^pgb-setup: --set .*: (__proto__|constructor|prototype): unknown key$/)]);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});

describe('#11.6/#11.7 file arguments: regular files only, capped, never echoed', () => {
  const SECRET = 'root:$y$j9T$SECRET-HASH-never-printed:19000:0:99999:7:::';

  async function withProfile(path: string) {
    return run(['render', 'production', '--out', join(scratch(), 'o'), '--pgbouncer-version', '1.18', '--profile', path]);
  }

  it.each([
    ['/dev/zero', /is a character device, not a regular file/],
    ['/dev/null', /is a character device, not a regular file/],
    ['/tmp', /is a directory, not a regular file/],
    ['/nonexistent/p.json', /cannot read it \(no such file\)/],
  ])('%s is refused at once, exit 2', async (path, message) => {
    const r = await withProfile(path);
    expect(r.code).toBe(2);
    expect(expectCleanLines(r.err)).toEqual([expect.stringMatching(message)]);
    expect(r.err).toContain(`--profile ${path}`);
  });

  it('a FIFO is refused without opening it (no hang)', async () => {
    const { execFileSync } = await import('node:child_process');
    const fifo = join(scratch(), 'fifo.json');
    execFileSync('mkfifo', [fifo]);
    const r = await withProfile(fifo);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/is a FIFO \(named pipe\), not a regular file/);
  });

  it('a file over 1 MiB is refused, naming the cap', async () => {
    const p = profile(scratch(), `{"description": "${'x'.repeat(1024 * 1024)}"}`);
    const r = await withProfile(p);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/more than the 1 MiB this file may have/);
  });

  it('a symlink to a password file and a dotenv file given as --profile: position, never bytes', async () => {
    const dir = scratch();
    const shadow = profile(dir, `${SECRET}\n`, 'shadow');
    const { symlinkSync } = await import('node:fs');
    symlinkSync(shadow, join(dir, 'link.json'));
    for (const [path, line] of [
      [join(dir, 'link.json'), 'line 1, column 1'],
      [profile(dir, '# app settings\nDBPASS=SECRET-HASH-never-printed\n', '.env'), 'line 1, column 1'],
      [profile(dir, '{\n  "database": {"name": "x"},\n  "pgbouncer": {"listen_port": SECRET-HASH-never-printed}\n}\n', 'bad.json'), 'line 3, column 32'],
    ]) {
      const r = await withProfile(path!);
      expect(r.code).toBe(2);
      expect(r.err).not.toContain('SECRET');
      expect(expectCleanLines(r.err)).toEqual([expect.stringContaining(`--profile ${path}: not valid JSON (`)]);
      expect(r.err).toContain(line);
    }
  });

  it('a profile that is not UTF-8 names the line, exit 2', async () => {
    const dir = scratch();
    const path = join(dir, 'latin1.json');
    writeFileSync(path, Buffer.concat([Buffer.from('{\n"description": "caf'), Buffer.from([0xe9]), Buffer.from('"\n}\n')]));
    const r = await withProfile(path);
    expect(r.code).toBe(2);
    expect(expectCleanLines(r.err)).toEqual([`pgb-setup: --profile ${path}: line 2 is not valid UTF-8; save the file as UTF-8`]);
  });

  it('#11.10 a profile nested 3,000 deep (and 170,000 deep, just under the size cap) is one line, exit 2', async () => {
    for (const depth of [3000, 170_000]) {
      const p = profile(scratch(), `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`);
      const r = await withProfile(p);
      expect(r.code).toBe(2);
      expect(expectCleanLines(r.err)).toEqual([expect.stringMatching(/nested more than 16 levels deep/)]);
    }
  });
});

describe('#11.8 numbers render as pgbouncer parses them', () => {
  async function renderWith(...sets: string[]) {
    const dir = scratch();
    const r = await run(['render', 'production', '--out', dir, '--pgbouncer-version', '1.18', ...sets.flatMap((s) => ['--set', s])]);
    const { existsSync, readFileSync } = await import('node:fs');
    return { ...r, ini: existsSync(join(dir, 'pgbouncer.ini')) ? readFileSync(join(dir, 'pgbouncer.ini'), 'utf8') : '' };
  }

  it.each([
    ['0440', '0440'],
    ['440', '0440'],
    ['0777', '0777'],
    ['0660', '0660'],
    ['0', '0000'],
  ])('unix_socket_mode=%s is octal and renders as %s (strtol base 0 reads a leading 0 as octal)', async (given, rendered) => {
    const r = await renderWith(`unix_socket_mode=${given}`);
    expect(r.code, r.err).toBe(0);
    expect(r.ini).toMatch(new RegExp(`^unix_socket_mode = ${rendered}$`, 'm'));
  });

  it.each(['0800', '1000', '0x1ff', '-1', '511.5'])('unix_socket_mode=%s is refused', async (given) => {
    const r = await renderWith(`unix_socket_mode=${given}`);
    expect(r.code).toBe(2);
    expect(expectCleanLines(r.err)).toEqual([expect.stringMatching(/^pgb-setup: pgbouncer\.unix_socket_mode: must be a file mode in octal/)]);
  });

  it.each([
    ['databases.x.max_db_connections=99999999999999999999', 'databases.x.max_db_connections'],
    ['databases.x.min_pool_size=2147483648', 'databases.x.min_pool_size'],
    ['min_pool_size=2147483648', 'pgbouncer.min_pool_size'],
    ['userlist.iterations=1e20', 'userlist.iterations'],
    ['userlist.iterations=100000000000000000000', 'userlist.iterations'],
    ['query_timeout=0.0000001', 'pgbouncer.query_timeout'],
    ['query_timeout=1e-7', 'pgbouncer.query_timeout'],
    ['server_lifetime=1.0000005', 'pgbouncer.server_lifetime'],
  ])('%s is refused, naming %s', async (set, field) => {
    const r = await renderWith(set);
    expect(r.code).toBe(2);
    expect(expectCleanLines(r.err)).toEqual([expect.stringMatching(new RegExp(`^pgb-setup: ${field.replace(/\./g, '\\.')}: `))]);
  });

  it.each([
    ['query_timeout=0.000001', '0.000001'],
    ['query_timeout=0.5', '0.5'],
    ['query_timeout=300', '300'],
    ['query_timeout=0.000249', '0.0002491'],
  ])('%s renders as %s', async (set, rendered) => {
    const r = await renderWith(set);
    expect(r.code, r.err).toBe(0);
    expect(r.ini).toMatch(new RegExp(`^query_timeout = ${rendered.replace('.', '\\.')}$`, 'm'));
  });

  it('a JSON number in exponent form renders in plain decimal', async () => {
    const dir = scratch();
    const r = await run(['render', 'production', '--out', join(dir, 'o'), '--pgbouncer-version', '1.18', '--profile', profile(dir, '{"pgbouncer": {"query_timeout": 1e-3, "server_lifetime": 3.6e3}}')]);
    expect(r.code, r.err).toBe(0);
    const { readFileSync } = await import('node:fs');
    const ini = readFileSync(join(dir, 'o', 'pgbouncer.ini'), 'utf8');
    expect(ini).toMatch(/^query_timeout = 0\.001$/m);
    expect(ini).toMatch(/^server_lifetime = 3600$/m);
    expect(ini).not.toMatch(/\de[-+]?\d/);
  });
});

describe('#11.9 the reserved database name', () => {
  it.each([
    ['--profile', '{"databases": {"pgbouncer": {"dbname": "app"}}}'],
    ['--set', 'databases.pgbouncer.dbname=app'],
  ])('databases.pgbouncer from %s is refused, naming the field', async (how, text) => {
    const dir = scratch();
    const r = await run(['render', 'production', '--out', join(dir, 'o'), '--pgbouncer-version', '1.18', how, how === '--profile' ? profile(dir, text) : text]);
    expect(r.code).toBe(2);
    expect(expectCleanLines(r.err)).toEqual([expect.stringMatching(/^pgb-setup: databases\.pgbouncer: "pgbouncer" is reserved for the admin console/)]);
    const { existsSync } = await import('node:fs');
    expect(existsSync(join(dir, 'o'))).toBe(false);
  });
});

describe('#11.10/#11.11/#11.15 render --out: checked before anything is written', () => {
  async function renderTo(out: string) {
    return run(['render', 'production', '--out', out, '--pgbouncer-version', '1.18']);
  }

  it.each([
    ['', /^pgb-setup: --out: empty; name the folder/],
    ['  ', /^pgb-setup: --out: empty; name the folder/],
    ['/dev/null', /^pgb-setup: --out \/dev\/null: is a character device, not a folder/],
  ])('--out %j: one line, exit 2', async (out, message) => {
    const r = await renderTo(out);
    expect(r.code).toBe(2);
    expect(expectCleanLines(r.err)).toEqual([expect.stringMatching(message)]);
  });

  it('--out at a regular file, or under one: one line, exit 2, the file untouched', async () => {
    const dir = scratch();
    const file = profile(dir, 'keep me\n', 'file');
    for (const out of [file, join(file, 'sub')]) {
      const r = await renderTo(out);
      expect(r.code).toBe(2);
      expect(expectCleanLines(r.err)).toEqual([expect.stringMatching(/is a regular file, not a folder/)]);
    }
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(file, 'utf8')).toBe('keep me\n');
  });

  it.each([
    ['a dangling symlink at userlist.txt', 'userlist.txt', 'symlink', /userlist\.txt: is a symbolic link/],
    ['a symlink at pgbouncer.ini', 'pgbouncer.ini', 'symlink', /pgbouncer\.ini: is a symbolic link/],
    ['a folder at userlist.txt', 'userlist.txt', 'dir', /userlist\.txt: is a directory, not a regular file/],
    ['a FIFO at userlist.txt', 'userlist.txt', 'fifo', /userlist\.txt: is a FIFO \(named pipe\), not a regular file/],
  ])('%s: exit 2 and neither file is written', async (_name, target, what, message) => {
    const { existsSync, mkdirSync, readdirSync, symlinkSync } = await import('node:fs');
    const { execFileSync } = await import('node:child_process');
    const out = scratch();
    if (what === 'symlink') symlinkSync(join(out, 'nowhere'), join(out, target));
    if (what === 'dir') mkdirSync(join(out, target));
    if (what === 'fifo') execFileSync('mkfifo', [join(out, target)]);
    const before = readdirSync(out).sort();
    const r = await renderTo(out);
    expect(r.code).toBe(2);
    expect(expectCleanLines(r.err)).toEqual([expect.stringMatching(message)]);
    expect(readdirSync(out).sort()).toEqual(before);
    expect(existsSync(join(out, 'nowhere'))).toBe(false);
  });

  it('a folder this user cannot write: one line, exit 2 (run as nobody)', async () => {
    const { chmodSync, readdirSync } = await import('node:fs');
    const { spawnSync } = await import('node:child_process');
    const { buildCli } = await import('../../helpers/trust.js');
    if (process.getuid?.() !== 0) return; // needs root to run as another user
    const entry = await buildCli();
    const out = scratch();
    chmodSync(out, 0o755);
    const r = spawnSync(process.execPath, [entry, 'render', 'production', '--out', join(out, 'sub'), '--pgbouncer-version', '1.18'], {
      env: { ...ENV, PATH: '/usr/bin:/bin' },
      uid: 65534,
      gid: 65534,
      encoding: 'utf8',
      cwd: '/',
    });
    expect(r.status, r.stderr).toBe(2);
    expect(expectCleanLines(r.stderr)).toEqual([expect.stringMatching(/^pgb-setup: --out .*: cannot write into .* \(this user may not write there\)$/)]);
    expect(readdirSync(out)).toEqual([]);
  });
});

describe('#11.15 one rule for user names: hash-user and the profile agree', () => {
  it.each(['bob\u001b[2J', 'bob\u0085', 'bob\u2028x', 'bo\ufffdb'])('%j is refused by both, exit 2', async (name) => {
    const viaHashUser = await run(['hash-user', name, '--password-stdin'], ENV, { readStdin: async () => 'pw' });
    expect(viaHashUser.code).toBe(2);
    expect(viaHashUser.out).toBe('');
    expect(expectCleanLines(viaHashUser.err)).toEqual([expect.stringMatching(/^pgb-setup: user name /)]);
    const viaProfile = await run(['config', 'production', '--pgbouncer-version', '1.18'], { ...ENV, DBUSER: name });
    expect(viaProfile.code).toBe(2);
    expect(expectCleanLines(viaProfile.err)).toEqual([expect.stringMatching(/^pgb-setup: (database\.user|DBUSER)/)]);
  });
});

describe('#11.15 smaller refusals', () => {
  const long = 'a'.repeat(100_000);

  it.each([
    [['--set', 'database.password.x=secret-value-1'], /^pgb-setup: --set database\.password\.x: a password never goes on the command line/],
    [['--set', 'database.password=secret-value-1'], /^pgb-setup: --set database\.password: a password never goes on the command line/],
    [['--pgbouncer-version', ''], /^pgb-setup: --pgbouncer-version: expected X\.Y or X\.Y\.Z/],
    [['--pgbouncer-version', '99.99'], /^pgb-setup: --pgbouncer-version: 99\.99 is not a pgbouncer release pgb-setup knows \(1\.15 to 1\.25\)/],
    [['--pgbouncer-version', '0.9'], /^pgb-setup: --pgbouncer-version: 0\.9 is not a PgBouncer release/],
    [['--set', `listen_addr=${long}`], /^pgb-setup: pgbouncer\.listen_addr\.0: is 100000 characters, more than/],
    [['--set', `listen_addr=127.0.0.1,${'a'.repeat(300)}`], /^pgb-setup: pgbouncer\.listen_addr\.1: items must be at most 253 characters/],
    [['--set', `application_name_add_host=1`, '--set', `server_reset_query=${long}`], /^pgb-setup: pgbouncer\.server_reset_query: is 100000 characters, more than the 4096/],
  ])('refused: case %#', async (args, message) => {
    const r = await run(['render', 'production', '--out', join(scratch(), 'o'), ...(args.includes('--pgbouncer-version') ? [] : ['--pgbouncer-version', '1.18']), ...args]);
    expect(r.code).toBe(2);
    expect(r.err).not.toContain('secret-value-1');
    expect(expectCleanLines(r.err)).toEqual([expect.stringMatching(message)]);
  });

  it.each([
    ['DBHOST', long, /^pgb-setup: database\.host: is 100000 characters, more than the 4096/],
    ['DBHOST', 'h'.repeat(254), /^pgb-setup: database\.host: is too long: a host name has at most 253 characters/],
    ['DBHOST', `/${'d'.repeat(100)}`, /^pgb-setup: database\.host: is too long/],
    ['PGBOUNCER_HOST', long, /^pgb-setup: pgbouncer\.listen_addr\.0: is 100000 characters/],
  ])('%s, case %#: refused', async (name, value, message) => {
    const r = await run(['render', 'production', '--out', join(scratch(), 'o'), '--pgbouncer-version', '1.18'], { ...ENV, [name]: value });
    expect(r.code).toBe(2);
    expect(expectCleanLines(r.err)).toEqual([expect.stringMatching(message)]);
  });

  it('a newer 1.x than the catalogue knows renders what is known, with a warning', async () => {
    const r = await run(['config', 'production', '--pgbouncer-version', '1.26']);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/warning: pgbouncer 1\.26 is newer than 1\.25, the newest pgb-setup knows/);
  });

  it.each(['0.0001', '0', '', '301', '0x10', '1e3'])('health --timeout %j is refused per its range (0.1 to 300): UNKNOWN, as a Nagios check says bad usage', async (t) => {
    const r = await run(['health', 'production', '--timeout', t, '--pgbouncer-version', '1.18']);
    expect(r.code).toBe(3);
    expect(r.out).toMatch(/^PGBOUNCER UNKNOWN - --timeout: .* must be a number of seconds from 0\.1 to 300/);
  });
});
