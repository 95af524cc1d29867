import { describe, expect, it } from 'vitest';
import { localPeerTarget } from '../../../src/facts/pg-admin.js';
import { loadConfig } from '../../../src/app/load-config.js';
import { captureContext } from '../../helpers/context.js';
import { FakeSystem } from '../../helpers/fake-system.js';

const PASSWD = 'postgres:x:101:104:PostgreSQL administrator:/var/lib/postgresql:/bin/bash\n';

function host(socket = '/var/run/postgresql/.s.PGSQL.5432'): FakeSystem {
  return new FakeSystem().file(socket, '').on('getent passwd postgres', { stdout: PASSWD });
}

async function target(env: Record<string, string>, flags = {}, sys = host(), isRoot = true, dbHost?: string) {
  const ctx = captureContext({ system: sys, env });
  const config = dbHost === undefined ? undefined : await loadConfig('production', { pgbouncerVersion: '1.18' }, captureContext({ env: { DBNAME: 'appdb', DBUSER: 'app', DBPASS: 'pw', DBHOST: dbHost } }));
  return localPeerTarget(flags, ctx, config, isRoot);
}

describe('localPeerTarget: `sudo -u postgres psql` for admin work as root on the PostgreSQL host', () => {
  it('root, no PG* credentials, PostgreSQL local: the postgres account over the packaged socket', async () => {
    expect(await target({})).toEqual({ host: '/var/run/postgresql', port: 5432, user: 'postgres', database: 'postgres', osUser: { name: 'postgres', uid: 101, gid: 104 } });
    expect(await target({}, {}, host(), true, '127.0.0.1')).toMatchObject({ host: '/var/run/postgresql' });
    expect(await target({}, {}, host('/run/postgresql/.s.PGSQL.5432'), true, 'localhost')).toMatchObject({ host: '/run/postgresql' });
    expect(await target({ PGUSER: 'postgres', PGDATABASE: 'appdb' })).toMatchObject({ database: 'appdb' });
  });

  it('PGHOST or --pg-host naming a socket folder, on PGPORT', async () => {
    expect(await target({ PGHOST: '/tmp/pgs', PGPORT: '6543' }, {}, host('/tmp/pgs/.s.PGSQL.6543'))).toMatchObject({ host: '/tmp/pgs', port: 6543 });
    expect(await target({}, { pgHost: '/tmp/pgs/', pgPort: '6543' }, host('/tmp/pgs/.s.PGSQL.6543'))).toMatchObject({ host: '/tmp/pgs', port: 6543 });
  });

  it.each([
    ['not root', {}, {}, false, undefined],
    ['PGPASSWORD given', { PGPASSWORD: 'x' }, {}, true, undefined],
    ['another PGUSER', { PGUSER: 'admin' }, {}, true, undefined],
    ['--pg-user another role', {}, { pgUser: 'admin' }, true, undefined],
    ['a TCP PGHOST', { PGHOST: '127.0.0.1' }, {}, true, undefined],
    ['a remote DBHOST', {}, {}, true, '10.0.0.5'],
    ['no socket on that port', { PGPORT: '5433' }, {}, true, undefined],
  ] as const)('%s: not used', async (_name, env, flags, isRoot, dbHost) => {
    expect(await target({ ...env }, { ...flags }, host(), isRoot, dbHost)).toBeUndefined();
  });

  it('no postgres account: not used', async () => {
    const sys = new FakeSystem().file('/var/run/postgresql/.s.PGSQL.5432', '').on('getent passwd postgres', { exitCode: 2 });
    expect(await target({}, {}, sys)).toBeUndefined();
  });
});
