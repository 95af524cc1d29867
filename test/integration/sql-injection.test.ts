/**
 * #11.1: no identifier or literal that reaches SQL escapes its place. The printed auth-query script
 * is run by real psql with ON_ERROR_STOP (as its header says) against a real PostgreSQL 15, and the
 * statements psql sent are compared with those of the script body alone: whatever the --dbname,
 * --auth-user and --schema, either pgb-setup refuses (exit 2, nothing printed) or the script runs
 * exactly its own statements and a canary table survives. The same for role names reaching
 * ALTER ROLE through hash-user --apply-server: only that role's password changes.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/main.js';
import { parseUserlist } from '../../src/auth/userlist.js';
import { buildAuthQuerySql } from '../../src/credentials/auth-query.js';
import { validateRoleName } from '../../src/credentials/hash-user.js';
import { captureContext } from '../helpers/context.js';
import { PG_BIN_DIR } from '../helpers/pgbouncer-binaries.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { run } from '../helpers/proc.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

let cluster: PgCluster;
let dir: TempDir;
const figures = { scriptsRun: 0, refused: 0, rolesRotated: 0 };

beforeAll(async () => {
  cluster = await startPostgres();
  dir = await makeTempDir('sql-injection');
  await cluster.createDatabase('appdb');
  await cluster.query('CREATE TABLE important_data (id int)', [], { database: 'appdb' });
  await cluster.query('INSERT INTO important_data VALUES (42)', [], { database: 'appdb' });
});
afterAll(async () => {
  console.log(`[sql-injection] ${JSON.stringify(figures)}`);
  await cluster?.stop();
  await dir?.cleanup();
});

const ATTACKS = [
  'x\nDROP TABLE important_data; --',
  'x\rDROP TABLE important_data; --',
  'x\r\nDROP TABLE important_data;',
  'x\u2028DROP TABLE important_data;',
  'x\u0085DROP TABLE important_data;',
  "x'; DROP TABLE important_data; --",
  'x"; DROP TABLE important_data; --',
  '$pgb$; DROP TABLE important_data; --',
  'x\\\nDROP TABLE important_data;',
  '\u001b[2Jx',
  'x\0y',
];

/** Names a line break cannot hide in, but that are full of SQL: they must stay inside their comment. */
const ODD_BUT_SAFE = ['x; DROP TABLE important_data', "a'b", 'a"b', '$pgb$', '*/ DROP TABLE important_data; /*', '\\', 'é ü 😀'];

const withAttack = (base: fc.Arbitrary<string>) =>
  fc.oneof(
    { arbitrary: base, weight: 6 },
    { arbitrary: fc.constantFrom(...ATTACKS, ...ODD_BUT_SAFE), weight: 2 },
    { arbitrary: fc.tuple(base, fc.constantFrom(...ATTACKS)).map(([a, b]) => a + b), weight: 1 },
  );
const nameLike = fc.stringMatching(/^[a-z_][a-z0-9_]{0,12}$/);

/** psql -e as the header says (ON_ERROR_STOP); returns exit code and the statements it sent. */
async function psql(file: string) {
  const r = await run(join(PG_BIN_DIR, 'psql'), ['-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'postgres', '-d', 'appdb', '-X', '-q', '-e', '-v', 'ON_ERROR_STOP=1', '-f', file], {
    env: { PGPASSWORD: cluster.superuserPassword, PGPASSFILE: '/dev/null' },
    check: false,
  });
  return { code: r.code, sent: r.stdout, stderr: r.stderr };
}

async function canary(): Promise<number[]> {
  const rows = await cluster.query<{ id: number }>('SELECT id FROM important_data', [], { database: 'appdb' });
  return rows.map((r) => r.id);
}

describe('auth-query: printed script', () => {
  it('the reported exploit: a --dbname with a line break is refused, nothing printed (#11.1)', async () => {
    const ctx = captureContext();
    expect(await main(['node', 'pgb-setup', 'auth-query', '--dbname', 'x\nDROP TABLE important_data; --'], ctx)).toBe(2);
    expect(ctx.out()).toBe('');
    expect(ctx.err()).toMatch(/^pgb-setup: --dbname: "x\\nDROP TABLE important_data; --" is not a database name pgb-setup can write safely/);
    expect(await canary()).toEqual([42]);
  });

  it('property: any --dbname/--auth-user/--schema is refused or runs exactly the script body under psql', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(withAttack(fc.oneof(nameLike, fc.string({ maxLength: 20 }), fc.constantFrom(...ODD_BUT_SAFE))), { minLength: 1, maxLength: 2 }),
        withAttack(nameLike),
        withAttack(fc.constantFrom('pgbouncer', 'pgb_auth', 'lookup')),
        async (dbnames, authUser, schema) => {
          const ctx = captureContext();
          const args = ['auth-query', ...dbnames.flatMap((d) => ['--dbname', d]), '--auth-user', authUser, '--schema', schema];
          const code = await main(['node', 'pgb-setup', ...args], ctx);
          if (code !== 0) {
            figures.refused++;
            expect(code, ctx.err()).toBe(2);
            expect(ctx.out()).toBe('');
            expect(ctx.err().trim().split('\n')).toHaveLength(1);
            return;
          }
          figures.scriptsRun++;
          const full = join(dir.path, 'full.sql');
          const body = join(dir.path, 'body.sql');
          await writeFile(full, ctx.out());
          await writeFile(body, buildAuthQuerySql({ authUser, schema }));
          const a = await psql(full);
          expect(a.code, a.stderr).toBe(0);
          const b = await psql(body);
          expect(b.code, b.stderr).toBe(0);
          expect(a.sent).toBe(b.sent);
          expect(await canary()).toEqual([42]);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('hash-user --apply-server: role names in ALTER ROLE', () => {
  it('property: any role name PostgreSQL can hold gets its own new verifier and no other role changes', async () => {
    const admin = { PGHOST: '127.0.0.1', PGPORT: String(cluster.port), PGUSER: 'postgres', PGPASSWORD: cluster.superuserPassword };
    const acceptable = (s: string) => {
      try {
        validateRoleName(s);
        return !s.startsWith('pg_') && s !== 'postgres';
      } catch {
        return false;
      }
    };
    let n = 0;
    await fc.assert(
      fc.asyncProperty(withAttack(fc.string({ minLength: 1, maxLength: 16 })).filter(acceptable), async (base) => {
        const role = `${base}${n++}`;
        if (!acceptable(role)) return;
        await cluster.createRole(role, 'before-pw');
        const before = await cluster.query<{ rolname: string; rolpassword: string | null }>('SELECT rolname, rolpassword FROM pg_authid ORDER BY oid');
        const queue = ['after-pw'];
        const ctx = captureContext({ env: admin, readStdin: async () => queue.shift() ?? '' });
        const code = await main(['node', 'pgb-setup', 'hash-user', '--apply-server', '--password-stdin', '--', role], ctx);
        expect(code, ctx.err()).toBe(0);
        figures.rolesRotated++;
        const printed = parseUserlist(ctx.out()).entries[0]!.secret;
        const after = await cluster.query<{ rolname: string; rolpassword: string | null }>('SELECT rolname, rolpassword FROM pg_authid ORDER BY oid');
        expect(after.map((r) => r.rolname)).toEqual(before.map((r) => r.rolname));
        const changed = after.filter((r, i) => r.rolpassword !== before[i]!.rolpassword);
        expect(changed).toEqual([{ rolname: role, rolpassword: printed }]);
        expect(await canary()).toEqual([42]);
      }),
      { numRuns: 25 },
    );
  });
});
