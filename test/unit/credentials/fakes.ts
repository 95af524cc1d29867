/**
 * Fakes for the credential commands: a PostgreSQL/pgbouncer that answers the few statements the
 * commands send, recording every one of them, with switches to make each step fail.
 */
import { verifyScramPassword } from '../../../src/auth/scram.js';
import type { Connect, PgTarget, SqlClient } from '../../../src/facts/pg-admin.js';
import { RuntimeError } from '../../../src/text/errors.js';
import type { ScramLoginResult, ScramLoginTarget } from '../../../src/system/scram-login.js';

export interface FakeServerOptions {
  /** The role as pg_roles shows it; null = no such role. */
  role?: { rolname: string; rolcanlogin?: boolean; rolsuper?: boolean; rolreplication?: boolean } | null;
  /** Whether pg_authid is readable by the admin. */
  readable?: boolean;
  /** What pg_authid holds before the change. */
  stored?: string | null;
  /** ALTER ROLE fails with this message. */
  alterError?: string;
  /** pg_authid shows this instead of what was sent (the malformed-verifier trap). */
  rehash?: string;
  /** Admin console: login refused. */
  consoleDown?: boolean;
  /** Admin console: RELOAD fails with this message. */
  reloadError?: string;
  /** Login as the rotated user through pgbouncer / directly: refused. */
  loginRefused?: boolean;
  /** Admin connection refused. */
  adminDown?: boolean;
  /** The role's current password: a direct login as the role with another one is refused. */
  rolePassword?: string;
}

export interface FakeServer {
  connect: Connect;
  /** Every statement, prefixed with the database and user it ran as. */
  log: string[];
  /** What pg_authid holds now (committed). */
  stored(): string | null | undefined;
  connects: { target: PgTarget; password: string | undefined }[];
  /** A SCRAM login as a role: the stored verifier when the password matches it. */
  scramLogin: (t: ScramLoginTarget) => Promise<ScramLoginResult>;
  scramLogins: ScramLoginTarget[];
}

export function fakeServer(o: FakeServerOptions = {}): FakeServer {
  let committed: string | null | undefined = o.stored;
  let pending: string | null | undefined;
  let inTx = false;
  const log: string[] = [];
  const connects: FakeServer['connects'] = [];
  const role = o.role === undefined ? { rolname: 'app' } : o.role;

  const connect: Connect = async (target, password) => {
    const pw = typeof password === 'string' ? password : await password();
    connects.push({ target, password: pw });
    const isConsole = target.database === 'pgbouncer';
    const isAdmin = !isConsole && target.user === 'postgres';
    if (isConsole && o.consoleDown) throw new RuntimeError(`login refused at ${target.host}:${target.port}: not allowed`);
    if (isAdmin && o.adminDown) throw new RuntimeError('cannot reach localhost:5432: connect ECONNREFUSED');
    if (!isConsole && !isAdmin && (o.loginRefused || (o.rolePassword !== undefined && target.database !== 'appdb' && pw !== o.rolePassword))) {
      const e = new RuntimeError(`login refused: password authentication failed for user "${target.user}"`);
      e.cause = Object.assign(new Error(`password authentication failed for user "${target.user}"`), { code: '28P01' });
      throw e;
    }
    const client: SqlClient = {
      async query(sql: string) {
        log.push(`${target.database}/${target.user}: ${sql}`);
        const rows = (r: Record<string, unknown>[]) => ({ rows: r as never[] });
        if (isConsole) {
          if (sql === 'RELOAD') {
            if (o.reloadError) throw new Error(o.reloadError);
            return rows([]);
          }
          if (sql === 'SHOW DATABASES') return rows([{ name: 'pgbouncer' }, { name: 'appdb' }]);
          throw new Error(`console: unexpected ${sql}`);
        }
        if (/FROM pg_catalog\.pg_roles WHERE rolname::/.test(sql)) {
          return rows(role ? [{ rolcanlogin: true, rolsuper: false, rolreplication: false, rolvaliduntil: null, ...role }] : []);
        }
        if (/has_table_privilege\('pg_catalog\.pg_authid'/.test(sql)) return rows([{ ok: o.readable ?? true }]);
        if (sql === 'BEGIN') {
          inTx = true;
          pending = committed;
          return rows([]);
        }
        if (sql === 'COMMIT') {
          inTx = false;
          committed = pending;
          return rows([]);
        }
        if (sql === 'ROLLBACK') {
          inTx = false;
          return rows([]);
        }
        const alter = /^ALTER ROLE "(?:[^"]|"")+" PASSWORD '([^']*)'$/.exec(sql);
        if (alter) {
          if (o.alterError) throw Object.assign(new Error(o.alterError), { code: '42501' });
          const value = o.rehash ?? alter[1]!;
          if (inTx) pending = value;
          else committed = value;
          return rows([]);
        }
        if (/SELECT rolpassword FROM pg_catalog\.pg_authid/.test(sql)) return rows([{ rolpassword: inTx ? pending : committed }]);
        if (sql === 'SELECT 1') return rows([{ '?column?': 1 }]);
        throw new Error(`fake server: unexpected ${sql}`);
      },
      async end() {},
    };
    return client;
  };
  const scramLogins: ScramLoginTarget[] = [];
  const scramLogin = async (t: ScramLoginTarget): Promise<ScramLoginResult> => {
    scramLogins.push(t);
    return committed && verifyScramPassword(committed, t.password)
      ? { kind: 'verifier', verifier: committed }
      : { kind: 'refused', code: '28P01', message: `password authentication failed for user "${t.user}"` };
  };
  return { connect, log, stored: () => committed, connects, scramLogin, scramLogins };
}
