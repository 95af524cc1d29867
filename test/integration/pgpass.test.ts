/**
 * #16.3: runs that could read ~/.pgpass printed node-postgres's "DeprecationWarning: pgpass support
 * is deprecated". Decision: pgb-setup does not read ~/.pgpass at all (passwords come from the
 * variable or prompt the command names, and as root on the PostgreSQL host none is needed), and
 * library warnings stay off the user's terminal. Run as a real child process, so Node's own warning
 * printer is what is checked.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openClient } from '../../src/system/pg-client.js';
import { buildCli, makeRoot, runChild } from '../helpers/trust.js';
import { startFakePg } from '../helpers/fake-pg-server.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';

let cluster: PgCluster;
let entry: string;
let home: string;

beforeAll(async () => {
  [cluster, entry] = await Promise.all([startPostgres(), buildCli()]);
  await cluster.createDatabase('appdb');
  await cluster.createRole('pp_app', 'app-pw');
  home = mkdtempSync(join(tmpdir(), 'pgb-pgpass-home-'));
  // A .pgpass that node-postgres would have used for every connection to this cluster.
  writeFileSync(join(home, '.pgpass'), `*:*:*:*:${cluster.superuserPassword}\n`);
  chmodSync(join(home, '.pgpass'), 0o600);
});
afterAll(async () => {
  await cluster?.stop();
  rmSync(home, { recursive: true, force: true });
});

describe('~/.pgpass is not read, and no library warning reaches stderr', () => {
  it('--copy-server-secret with PGUSER but no PGPASSWORD: exit 2 naming PGPASSWORD and ~/.pgpass, no DeprecationWarning', async () => {
    const root = makeRoot('pgb-pgpass-root-');
    try {
      const env = {
        HOME: home,
        DBNAME: 'appdb', DBUSER: 'pp_app', DBPASS: 'app-pw', DBHOST: '127.0.0.1', DBPORT: String(cluster.port),
        PGHOST: '127.0.0.1', PGPORT: String(cluster.port), PGUSER: 'postgres',
      };
      const r = await runChild(entry, ['production', '--root', root, '--copy-server-secret', '--yes', '--skip-install', '--skip-service', '--skip-firewall'], { env });
      expect(r.stderr).not.toMatch(/DeprecationWarning|pgpass support is deprecated|\(node:\d+\)/);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/set PGPASSWORD in the environment .*~\/\.pgpass is not read/);

      const ok = await runChild(entry, ['production', '--root', root, '--copy-server-secret', '--yes', '--skip-install', '--skip-service', '--skip-firewall'], {
        env: { ...env, PGPASSWORD: cluster.superuserPassword },
      });
      expect(ok.stderr).not.toMatch(/DeprecationWarning|\(node:\d+\)/);
      expect(ok.code, ok.stderr).toBe(0);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('health against a console that wants a password none was given for: UNKNOWN, the .pgpass password never sent, no warning', async () => {
    const sent: string[] = [];
    const fake = await startFakePg(async (l) => {
      l.auth(3); // AuthenticationCleartextPassword: whatever the client has, it sends in clear
      const m = await l.next();
      if (m.type === 'p') sent.push(m.body.toString('utf8')); // PasswordMessage (a Terminate is fine)
      l.error('28P01', 'password authentication failed');
    });
    try {
      const r = await runChild(entry, ['health', 'production', '--host', '127.0.0.1', '--port', String(fake.port), '--user', 'stats_reader', '--timeout', '3'], {
        env: { HOME: home, DBNAME: 'appdb', DBUSER: 'pp_app', DBPASS: 'app-pw', DBHOST: '127.0.0.1' },
      });
      expect(r.stderr + r.stdout).not.toMatch(/DeprecationWarning|\(node:\d+\)/);
      expect(r.code).toBe(3);
      expect(r.stdout + r.stderr).toMatch(/needs a password, and none was given/);
      expect(sent).toEqual([]);
    } finally {
      await fake.close();
    }
  });

  it('openClient never falls back to PGPASSWORD or ~/.pgpass of the process', async () => {
    const saved = { HOME: process.env['HOME'], PGPASSWORD: process.env['PGPASSWORD'], PGPASSFILE: process.env['PGPASSFILE'] };
    process.env['PGPASSFILE'] = join(home, '.pgpass');
    delete process.env['PGPASSWORD'];
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      await expect(openClient({ host: '127.0.0.1', port: cluster.port, user: 'postgres', database: 'postgres' })).rejects.toThrow(/pgb-setup does not read ~\/\.pgpass/);
      process.env['PGPASSWORD'] = cluster.superuserPassword;
      await expect(openClient({ host: '127.0.0.1', port: cluster.port, user: 'postgres', database: 'postgres' })).rejects.toThrow(/pgb-setup does not read ~\/\.pgpass/);
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});
