/**
 * #11.5: `--env-file` is pgb-setup's own option, not Node.js's. Node.js 20.6+ looks for --env-file
 * anywhere in its argv (script arguments included) and stops only at `--`; the bin's shebang puts
 * that `--` before the script. Run the way an installed bin runs: the file itself, through its
 * shebang, with a copy of bin/pgb-setup.js pointing at a fresh build of src/.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildCli, REPO } from '../../helpers/trust.js';

const require = createRequire(import.meta.url);
const ENV = { DBNAME: 'app', DBUSER: 'app_user', DBPASS: 'pw-never-printed', DBHOST: '127.0.0.1' };
let bin: string;
let dir: string;

beforeAll(async () => {
  const entry = await buildCli();
  const source = readFileSync(join(REPO, 'bin/pgb-setup.js'), 'utf8');
  bin = join(dirname(entry), 'pgb-setup-installed.js');
  writeFileSync(bin, source.replace("'../dist/cli.js'", `'${join(dirname(entry), 'dist/cli.js')}'`));
  chmodSync(bin, 0o755);
  dir = mkdtempSync(join(tmpdir(), 'pgb-env-file-'));
}, 60_000);

function runBin(args: string[]) {
  return spawnSync(bin, args, { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...ENV }, encoding: 'utf8', timeout: 15_000 });
}

describe('--env-file reaches pgb-setup, not Node.js', () => {
  it.each([
    [['--env-file', '/missing'], /^pgb-setup: --env-file \/missing: cannot read it \(no such file\)$/],
    [['--env-file=/missing'], /^pgb-setup: --env-file \/missing: cannot read it \(no such file\)$/],
    [['--env-file', '/dev/zero'], /^pgb-setup: --env-file \/dev\/zero: is a character device, not a regular file/],
  ])('render %j: pgb-setup\'s own error, exit 2', (extra, message) => {
    const r = runBin(['render', 'production', '--out', join(dir, 'o'), ...extra]);
    expect(r.error).toBeUndefined();
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr.trim()).toMatch(message);
    expect(r.stderr).not.toMatch(/^node:/m);
  });

  it('a FIFO: refused at once, no hang', () => {
    const fifo = join(dir, 'fifo.env');
    spawnSync('mkfifo', [fifo]);
    const r = runBin(['render', 'production', '--out', join(dir, 'o'), '--env-file', fifo]);
    expect(r.error).toBeUndefined(); // no timeout
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr.trim()).toBe(`pgb-setup: --env-file ${fifo}: is a FIFO (named pipe), not a regular file; give a file`);
  });

  it('a real env file is read by pgb-setup, and Node.js did not load it into the environment', () => {
    const envFile = join(dir, 'app.env');
    writeFileSync(envFile, 'DBNAME=from_env_file\nNODE_OPTIONS=--require /nonexistent/evil.js\n');
    const r = runBin(['config', 'production', '--json', '--env-file', envFile, '--pgbouncer-version', '1.18']);
    expect(r.status, r.stderr).toBe(0);
    const values = JSON.parse(r.stdout).values as { path: string; value: string; source: string }[];
    // The process environment (DBNAME=app) wins over the file: had Node.js loaded the file, it would not be credited.
    expect(values.find((v) => v.path === 'database.name')).toEqual({ path: 'database.name', value: '"app"', source: 'environment' });
  });
});

describe('#11.2 bytes that are not UTF-8 never become another secret', () => {
  /** Runs the bin with variables set by the shell from printf escapes (Node.js cannot pass raw bytes in env). */
  function runWithRawEnv(assignments: string, args: string[], input?: Buffer) {
    return spawnSync('/bin/sh', ['-c', `${assignments} exec "$0" "$@"`, bin, ...args], {
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...ENV },
      input,
      timeout: 15_000,
    });
  }

  it.each([
    ['DBPASS', 'database.password', `DBPASS="$(printf 'x\\377\\376')"`],
    ['DBUSER', 'database.user', `DBUSER="$(printf 'caf\\351')"`],
    ['DBNAME', 'database.name', `DBNAME="$(printf 'db\\300')"`],
  ])('%s with invalid UTF-8 in the environment: exit 2, named, never echoed', (name, field, assignment) => {
    const r = runWithRawEnv(assignment, ['render', 'production', '--out', join(dir, `raw-${name}`), '--pgbouncer-version', '1.18']);
    const stderr = r.stderr.toString('utf8');
    expect(r.status, stderr).toBe(2);
    expect(stderr.trim()).toBe(`pgb-setup: ${field}: ${name} (from environment) is not valid UTF-8 (or contains U+FFFD); set it as UTF-8 text`);
  });

  it('an env file with invalid UTF-8 names the file and line', () => {
    const envFile = join(dir, 'latin1.env');
    writeFileSync(envFile, Buffer.concat([Buffer.from('DBNAME=app\nDBPASS=caf'), Buffer.from([0xe9]), Buffer.from('\n')]));
    const r = runBin(['render', 'production', '--out', join(dir, 'o'), '--env-file', envFile]);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr.trim()).toBe(`pgb-setup: --env-file ${envFile} line 2: DBPASS: the value is not valid UTF-8; save the file as UTF-8`);
  });

  it('hash-user --password-stdin with invalid UTF-8: exit 2, nothing printed on stdout', () => {
    const r = runWithRawEnv('', ['hash-user', 'bob', '--password-stdin'], Buffer.from([0x78, 0xff, 0xfe, 0x0a]));
    expect(r.status, r.stderr.toString()).toBe(2);
    expect(r.stdout.toString()).toBe('');
    expect(r.stderr.toString().trim()).toMatch(/^pgb-setup: --password-stdin: the password is not valid UTF-8/);
  });

  it('hash-user --password-stdin with a multi-byte character is hashed as that character', () => {
    const r = runWithRawEnv('', ['hash-user', 'bob', '--password-stdin', '--method', 'md5'], Buffer.from('pässwörd\n'));
    expect(r.status, r.stderr.toString()).toBe(0);
    const { createHash } = require('node:crypto') as typeof import('node:crypto');
    expect(r.stdout.toString().trim()).toBe(`"bob" "md5${createHash('md5').update('pässwördbob').digest('hex')}"`);
  });
});
