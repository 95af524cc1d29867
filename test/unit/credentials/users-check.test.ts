import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { md5Secret } from '../../../src/auth/md5.js';
import { scramSecret } from '../../../src/auth/scram.js';
import { compareSecret, describeSecret, printable } from '../../../src/credentials/users-check.js';
import { runUsersCheck } from '../../../src/app/credentials.js';
import type { Connect, SqlClient } from '../../../src/facts/pg-admin.js';
import { captureContext } from '../../helpers/context.js';

const SCRAM_A = scramSecret('pw-a', { salt: Buffer.alloc(16, 1) });
const SCRAM_A2 = scramSecret('pw-a', { salt: Buffer.alloc(16, 2) });
const SCRAM_B = scramSecret('pw-b', { salt: Buffer.alloc(16, 1), iterations: 10000 });
const role = (password: string | null, extra: Partial<{ canLogin: boolean; validUntil: Date | null }> = {}) => ({ password, canLogin: true, validUntil: null, ...extra });

describe('compareSecret', () => {
  it.each([
    ['identical SCRAM', SCRAM_A, role(SCRAM_A), 'match', /identical SCRAM-SHA-256 \(4096 iterations\)/],
    ['SCRAM, other salt', SCRAM_A2, role(SCRAM_A), 'differs', /different SCRAM-SHA-256 \(4096 iterations\) verifier \(another salt or password/],
    ['SCRAM, other iterations', SCRAM_B, role(SCRAM_A), 'differs', /userlist has SCRAM-SHA-256 \(10000 iterations\), PostgreSQL has SCRAM-SHA-256 \(4096 iterations\)/],
    ['identical md5', md5Secret('u', 'pw'), role(md5Secret('u', 'pw')), 'match', /identical MD5/],
    ['md5 vs SCRAM', md5Secret('u', 'pw-a'), role(SCRAM_A), 'differs', /userlist has MD5, PostgreSQL has SCRAM-SHA-256/],
    ['plain vs SCRAM, right', 'pw-a', role(SCRAM_A), 'match', /plain-text password in userlist matches the SCRAM-SHA-256/],
    ['plain vs SCRAM, wrong', 'pw-x', role(SCRAM_A), 'differs', /does not match/],
    ['plain vs md5, right', 'pw', role(md5Secret('u', 'pw')), 'match', /matches the MD5/],
    ['no role', SCRAM_A, undefined, 'missing', /no such role/],
    ['no password', SCRAM_A, role(null), 'missing', /has no password/],
  ] as const)('%s', (_name, listed, stored, status, detail) => {
    const r = compareSecret('u', listed, stored);
    expect(r.status).toBe(status);
    expect(r.detail).toMatch(detail);
    for (const s of [listed, stored?.password ?? 'none']) expect(r.detail).not.toContain(s);
  });

  it('notes NOLOGIN and an expired password without changing the verdict', () => {
    const r = compareSecret('u', SCRAM_A, role(SCRAM_A, { canLogin: false, validUntil: new Date('2000-01-01T00:00:00Z') }), new Date('2024-01-01'));
    expect(r).toEqual({ user: 'u', status: 'match', detail: 'identical SCRAM-SHA-256 (4096 iterations); role is NOLOGIN; password expired (VALID UNTIL 2000-01-01T00:00:00.000Z)' });
  });

  it.each(['0', '99999999999', '100001', '2147483647', '-5'])('a verifier with %s iterations is an out-of-range SCRAM verifier, not plain text (#17.15)', (iters) => {
    const odd = SCRAM_A.replace('$4096:', `$${iters}:`);
    expect(describeSecret(odd)).toBe(`out-of-range SCRAM-SHA-256 (${iters} iterations; pgb-setup handles from 1 to 100000, set a new one with hash-user)`);
    const r = compareSecret('u', 'some-plain-pw', role(odd));
    expect(r).toMatchObject({ status: 'differs', detail: expect.stringMatching(/^PostgreSQL has an out-of-range SCRAM-SHA-256 .*not compared$/) });
    expect(compareSecret('u', SCRAM_A, role(odd)).detail).toMatch(/userlist has SCRAM-SHA-256 \(4096 iterations\), PostgreSQL has out-of-range SCRAM-SHA-256/);
  });

  it('describeSecret names kinds, never content', () => {
    expect(describeSecret('SCRAM-SHA-256$4096:bad')).toBe('malformed SCRAM-SHA-256 (taken as plain text)');
    expect(describeSecret('hunter2')).toBe('plain text');
  });

  it('printable escapes control characters in user names', () => {
    expect(printable('a\u001b[31mb')).toBe('a\\x1b[31mb');
  });
});

describe('users check command', () => {
  function fakeConnect(rows: Record<string, unknown>[], readable = true): Connect {
    return async () =>
      ({
        async query(sql: string) {
          if (sql.includes('has_table_privilege')) return { rows: [{ ok: readable }] };
          if (sql.includes('FROM pg_catalog.pg_authid')) return { rows };
          throw new Error(sql);
        },
        async end() {},
      }) as SqlClient as never;
  }

  it('uses the last entry of a duplicated user, prints a table, exit 1 on drift', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgb-users-check-'));
    const file = join(dir, 'userlist.txt');
    writeFileSync(file, `"a" "${SCRAM_A2}"\n"a" "${SCRAM_A}"\n"b" "${SCRAM_B}"\n`);
    const ctx = captureContext({ env: { PGPASSWORD: 'x' } });
    const allMatch = await runUsersCheck(undefined, { userlist: file }, ctx, {
      connect: fakeConnect([
        { rolname: 'a', rolpassword: SCRAM_A, rolcanlogin: true, rolvaliduntil: null },
        { rolname: 'b', rolpassword: SCRAM_A, rolcanlogin: true, rolvaliduntil: null },
      ]),
    });
    expect(allMatch).toBe(false);
    expect(ctx.out()).toMatch(/^USER\s+STATUS\s+DETAIL\na\s+match\s+identical.*\nb\s+differs\s+/);
    expect(ctx.err()).toMatch(/lists some users more than once/);
    expect(ctx.err()).toMatch(/1 of 2 user\(s\)/);
  });

  it('no userlist named: exit 2', async () => {
    const ctx = captureContext();
    await expect(runUsersCheck(undefined, {}, ctx)).rejects.toThrow(/give --userlist FILE/);
  });
});
