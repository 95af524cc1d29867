/**
 * `users check` against a real PostgreSQL 15: per user match / differs / missing, never a secret
 * on stdout or stderr, exit 1 on drift, and what it needs to read pg_authid (a superuser, or a
 * member of pg_read_all_data; an ordinary role is told so).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/main.js';
import { md5Secret } from '../../src/auth/md5.js';
import { scramSecret } from '../../src/auth/scram.js';
import { formatUserlistEntry } from '../../src/auth/userlist.js';
import { captureContext } from '../helpers/context.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

let cluster: PgCluster;
let dir: TempDir;
let userlist: string;
let secrets: string[];

beforeAll(async () => {
  cluster = await startPostgres({ passwordEncryption: 'scram-sha-256' });
  dir = await makeTempDir('users-check');
  const same = scramSecret('same-pw');
  await cluster.createRole('uc_match', same);
  await cluster.createRole('uc_other_salt', 'drift-pw');
  await cluster.createRole('uc_plain', 'plain-pw');
  await cluster.createRole('uc_md5', 'md5-pw');
  await cluster.createRole('uc_nopass', null);
  await cluster.createRole('uc_reader', 'reader-pw');
  await cluster.query('GRANT pg_read_all_data TO uc_reader');
  await cluster.createRole('uc_nobody', 'nobody-pw');
  const otherSalt = scramSecret('drift-pw');
  const md5 = md5Secret('uc_md5', 'md5-pw');
  secrets = [same, otherSalt, md5, 'plain-pw', 'same-pw', 'drift-pw', 'md5-pw', (await cluster.roleSecret('uc_other_salt'))!];
  userlist = join(dir.path, 'userlist.txt');
  await writeFile(
    userlist,
    [
      ';; test userlist',
      formatUserlistEntry('uc_match', same),
      formatUserlistEntry('uc_other_salt', otherSalt),
      formatUserlistEntry('uc_plain', 'plain-pw'),
      formatUserlistEntry('uc_md5', md5),
      formatUserlistEntry('uc_nopass', scramSecret('x')),
      formatUserlistEntry('uc_gone', scramSecret('y')),
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
});
afterAll(async () => {
  await cluster?.stop();
  await dir?.cleanup();
});

function env(user = 'postgres', password = cluster.superuserPassword) {
  return { PGHOST: '127.0.0.1', PGPORT: String(cluster.port), PGUSER: user, PGPASSWORD: password };
}

describe('users check', () => {
  it('reports match / differs / missing per user, exit 1, and prints no secret', async () => {
    const ctx = captureContext({ env: env() });
    expect(await main(['node', 'pgb-setup', 'users', 'check', '--userlist', userlist], ctx)).toBe(1);
    const rows = Object.fromEntries(ctx.out().trim().split('\n').slice(1).map((l) => [l.split(/\s+/)[0], l.split(/\s+/)[1]]));
    expect(rows).toEqual({
      uc_match: 'match',
      uc_other_salt: 'differs',
      uc_plain: 'match',
      uc_md5: 'differs',
      uc_nopass: 'missing',
      uc_gone: 'missing',
    });
    expect(ctx.out()).toMatch(/uc_md5\s+differs\s+userlist has MD5, PostgreSQL has SCRAM-SHA-256 \(4096 iterations\)/);
    expect(ctx.err()).toMatch(/4 of 6 user\(s\) .* do not match/);
    for (const s of secrets) {
      expect(ctx.out()).not.toContain(s);
      expect(ctx.err()).not.toContain(s);
    }
  });

  it('--json, and exit 0 when everything matches; a pg_read_all_data member may read pg_authid', async () => {
    const only = join(dir.path, 'ok.txt');
    await writeFile(only, `${formatUserlistEntry('uc_plain', 'plain-pw')}\n`, { mode: 0o600 });
    const ctx = captureContext({ env: env('uc_reader', 'reader-pw') });
    expect(await main(['node', 'pgb-setup', 'users', 'check', '--userlist', only, '--json'], ctx)).toBe(0);
    const report = JSON.parse(ctx.out());
    expect(report.users).toEqual([{ user: 'uc_plain', status: 'match', detail: expect.stringMatching(/plain-text password/), line: 1 }]);
    expect(ctx.out()).not.toContain('plain-pw');
  });

  it('an ordinary role is told what it lacks (exit 1)', async () => {
    const ctx = captureContext({ env: env('uc_nobody', 'nobody-pw') });
    expect(await main(['node', 'pgb-setup', 'users', 'check', '--userlist', userlist], ctx)).toBe(1);
    expect(ctx.err()).toMatch(/uc_nobody cannot read pg_catalog\.pg_authid.*superuser.*pg_read_all_data/);
  });

  it('a malformed userlist is reported with its line number (exit 2)', async () => {
    const bad = join(dir.path, 'bad.txt');
    await writeFile(bad, '"a" "b"\n# comment\n', { mode: 0o600 });
    const ctx = captureContext({ env: env() });
    expect(await main(['node', 'pgb-setup', 'users', 'check', '--userlist', bad], ctx)).toBe(2);
    expect(ctx.err()).toMatch(/bad\.txt line 2 starts with '#'/);
  });
});
