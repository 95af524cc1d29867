/**
 * Preflight as data: the checks across settings, on a resolved profile, as the errors and warnings
 * they return. One row per rule: the --set values, the first error (or none), a warning it adds.
 */
import { describe, expect, it } from 'vitest';
import { crossCheck } from '../../../src/preflight/cross-checks.js';
import { envLayer, loadBuiltinProfile, setLayer } from '../../../src/profile/layers.js';
import { DEBIAN_PATHS, hostDefaultsLayer } from '../../../src/profile/host-defaults.js';
import { resolveConfig } from '../../../src/profile/resolve.js';

const ENV = { DBNAME: 'app', DBUSER: 'app_user', DBPASS: 'pw', DBHOST: '10.1.2.3' };

function checked(sets: string[], env: Record<string, string> = ENV) {
  const layers = [hostDefaultsLayer(DEBIAN_PATHS), loadBuiltinProfile('production'), envLayer(env, 'environment'), setLayer(sets)];
  return crossCheck(resolveConfig('production', layers, { version: '1.24.1', source: 'test' }));
}

const ROWS: [string, string[], RegExp | undefined][] = [
  ['the built-in profile', [], undefined],
  ['md5 secrets with auth_type scram-sha-256', ['userlist.method=md5'], /^userlist\.method: md5 secrets cannot log in with auth_type scram-sha-256/],
  ['auth_type hba without its file', ['auth_type=hba'], /^pgbouncer\.auth_hba_file: auth_type hba needs an auth_hba_file/],
  ['client TLS without key and cert', ['client_tls_sslmode=require'], /^pgbouncer\.client_tls_sslmode: require needs client_tls_key_file and client_tls_cert_file/],
  ['client TLS with key and cert', ['client_tls_sslmode=require', 'client_tls_key_file=/etc/k.pem', 'client_tls_cert_file=/etc/c.pem'], undefined],
  ['server TLS verify-full without a CA', ['server_tls_sslmode=verify-full'], /^pgbouncer\.server_tls_ca_file: server_tls_sslmode verify-full needs the CA/],
  ['min_pool_size above default_pool_size', ['default_pool_size=10', 'min_pool_size=11'], /^pgbouncer\.min_pool_size: 11 is above default_pool_size 10; lower it$/],
  ['pools above max_db_connections', ['default_pool_size=50', 'reserve_pool_size=0', 'max_db_connections=10'], /^pgbouncer\.max_db_connections: the pools of database "app" can open 50 server connections/],
  ['pools above the server max_connections', ['server.max_connections=20'], /^server\.max_connections: pgbouncer may open \d+ server connections but PostgreSQL allows 17/],
];

describe('preflight: checks across settings', () => {
  it.each(ROWS)('%s', (_name, sets, error) => {
    const { errors } = checked(sets);
    if (error === undefined) expect(errors).toEqual([]);
    else expect(errors[0]).toMatch(error);
  });

  it("pgbouncer on PostgreSQL's own port of the same host", () => {
    expect(checked(['listen_port=5432'], { ...ENV, DBHOST: '127.0.0.1' }).errors).toEqual(["pgbouncer.listen_port: 5432 is PostgreSQL's own port on this host; use another (6432 is usual)"]);
    expect(checked(['listen_port=5432']).errors).toEqual([]);
  });

  it('auth_type plain and trust are allowed, with a warning each', () => {
    expect(checked(['auth_type=plain']).warnings).toContainEqual(expect.stringMatching(/^pgbouncer\.auth_type: plain is deprecated/));
    expect(checked(['auth_type=trust']).warnings).toContainEqual(expect.stringMatching(/^pgbouncer\.auth_type: trust lets anyone/));
  });

  it('every broken rule is reported, not only the first', () => {
    expect(checked(['auth_type=hba', 'client_tls_sslmode=require', 'default_pool_size=10', 'min_pool_size=11']).errors.map((e) => e.split(':')[0])).toEqual([
      'pgbouncer.auth_hba_file',
      'pgbouncer.client_tls_sslmode',
      'pgbouncer.min_pool_size',
    ]);
  });
});
