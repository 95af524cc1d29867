import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/main.js';
import { captureContext } from '../../helpers/context.js';

const ENV = { DBNAME: 'app', DBUSER: 'app_user', DBPASS: 'pw-never-printed', DBHOST: '127.0.0.1', PATH: '/nonexistent' };

async function run(args: string[], env: Record<string, string> = ENV) {
  const ctx = captureContext({ env });
  const code = await main(['node', 'pgb-setup', ...args], ctx);
  return { code, out: ctx.out(), err: ctx.err() };
}

describe('pgb-setup render', () => {
  it('writes pgbouncer.ini 0640 and userlist.txt 0600, and a second run is byte-identical', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgb-render-'));
    const first = await run(['render', 'production', '--out', dir, '--pgbouncer-version', '1.18']);
    expect(first.code).toBe(0);
    expect(statSync(join(dir, 'pgbouncer.ini')).mode & 0o777).toBe(0o640);
    expect(statSync(join(dir, 'userlist.txt')).mode & 0o777).toBe(0o600);
    const ini = readFileSync(join(dir, 'pgbouncer.ini'), 'utf8');
    const userlist = readFileSync(join(dir, 'userlist.txt'), 'utf8');
    expect(ini).toMatch(/^pool_mode = transaction$/m);
    expect(first.out + first.err).not.toContain('pw-never-printed');
    expect((await run(['render', 'production', '--out', dir, '--pgbouncer-version', '1.18'])).code).toBe(0);
    expect(readFileSync(join(dir, 'pgbouncer.ini'), 'utf8')).toBe(ini);
    expect(readFileSync(join(dir, 'userlist.txt'), 'utf8')).toBe(userlist);
  });

  it('bad input: exit 2, one line naming the field, nothing written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgb-render-'));
    writeFileSync(join(dir, 'pgbouncer.ini'), 'previous\n');
    const r = await run(['render', 'production', '--out', dir, '--set', 'listen_port=99999']);
    expect(r.code).toBe(2);
    expect(r.err.trim().split('\n')).toEqual(['pgb-setup: pgbouncer.listen_port: must be at most 65535 (from --set)']);
    expect(readdirSync(dir)).toEqual(['pgbouncer.ini']);
    expect(readFileSync(join(dir, 'pgbouncer.ini'), 'utf8')).toBe('previous\n');
  });

  it('missing DBPASS is named, exit 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgb-render-'));
    const { DBPASS: _omit, ...env } = ENV;
    const r = await run(['render', 'development', '--out', dir], env);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/DBPASS \(database password\): missing/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('an unknown command or flag is a usage error (exit 2)', async () => {
    const bogus = await run(['render', 'production', '--out', '/tmp/x', '--bogus']);
    expect(bogus.code).toBe(2);
    expect(bogus.err).toMatch(/unknown option '--bogus'/);
    expect((await run(['render'])).code).toBe(2);
  });

  it('apply --root with a folder that does not exist: exit 2 naming --root', async () => {
    const r = await run(['production', '--root', '/nonexistent/pgb-root', '--dry-run']);
    expect(r.code).toBe(2);
    expect(r.err.trim()).toBe('pgb-setup: --root /nonexistent/pgb-root: no such folder; create it (with etc/os-release inside) or fix the path');
  });

  it('reads the environment from --env-file, and the real environment wins', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgb-envfile-'));
    const envFile = join(dir, '.env');
    writeFileSync(envFile, 'DBNAME=fromfile\nDBUSER=u\nDBPASS="p w"\nDBHOST=10.0.0.9\nPGBOUNCER_PORT=7432\n');
    const r = await run(['config', 'staging', '--explain', '--env-file', envFile], { DBHOST: '10.0.0.1', PATH: '/nonexistent' });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/database\.name\s+"fromfile"\s+--env-file/);
    expect(r.out).toMatch(/database\.host\s+"10\.0\.0\.1"\s+environment/);
    expect(r.out).toMatch(/database\.password\s+\*+ \(set\)\s+--env-file/);
    expect(r.out).toMatch(/pgbouncer\.listen_port\s+7432\s+--env-file/);
    expect(r.out).not.toContain('p w');
  });
});
