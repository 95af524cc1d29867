import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/text/errors.js';
import { envLayer, loadBuiltinProfile, setLayer, type Layer } from '../../../src/profile/layers.js';
import { setting, type ResolvedConfig } from '../../../src/profile/resolve.js';
import { resolvedAndChecked } from '../../../src/app/load-config.js';
import { DEBIAN_PATHS, hostDefaultsLayer } from '../../../src/profile/host-defaults.js';

const ENV = { DBNAME: 'app', DBUSER: 'app_user', DBPASS: 'pw', DBHOST: '10.1.2.3' };
const V118 = { version: '1.18.0', source: 'test' };
const V124 = { version: '1.24.1', source: 'test' };

function layers(environment: string, extra: Layer[] = [], env: Record<string, string> = ENV): Layer[] {
  return [hostDefaultsLayer(DEBIAN_PATHS), loadBuiltinProfile(environment), envLayer(env, 'environment'), ...extra];
}

function resolve(environment: string, extra: Layer[] = [], target = V124, env: Record<string, string> = ENV): ResolvedConfig {
  return resolvedAndChecked(environment, layers(environment, extra, env), target);
}

function errorOf(fn: () => unknown): InputError {
  try {
    fn();
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error('expected an InputError');
}

describe('built-in profiles', () => {
  it('production starts from the guide figures', () => {
    const c = resolve('production');
    expect(setting(c, 'pool_mode')).toBe('transaction');
    expect(setting(c, 'default_pool_size')).toBe(25);
    expect(setting(c, 'reserve_pool_size')).toBe(5);
    expect(setting(c, 'max_client_conn')).toBe(500);
    expect(setting(c, 'max_db_connections')).toBe(100);
    expect(setting(c, 'query_timeout')).toBe(300);
    expect(setting(c, 'query_wait_timeout')).toBe(120);
    expect(setting(c, 'client_idle_timeout')).toBe(0);
    expect(setting(c, 'server_idle_timeout')).toBe(600);
    expect(setting(c, 'ignore_startup_parameters')).toEqual(['extra_float_digits']);
  });

  it('staging and development are smaller than production, and each says why', () => {
    const prod = resolve('production');
    for (const env of ['staging', 'development']) {
      const c = resolve(env);
      expect(setting(c, 'default_pool_size') as number).toBeLessThan(setting(prod, 'default_pool_size') as number);
      expect(setting(c, 'max_client_conn') as number).toBeLessThan(setting(prod, 'max_client_conn') as number);
      expect(c.profile.why?.['default_pool_size']).toMatch(/\w{10,}/);
    }
  });

  it('substitutes $DBUSER in user lists', () => {
    expect(setting(resolve('production'), 'stats_users')).toEqual(['app_user']);
  });

  it('an unknown environment names the known ones', () => {
    expect(() => loadBuiltinProfile('prod')).toThrow(/environment: unknown "prod"; use one of development, production, staging/);
    expect(() => loadBuiltinProfile('../production')).toThrow(InputError);
  });
});

describe('layering: host < profile < --profile < env < --set', () => {
  it('each layer overrides the one below and is named as the source', () => {
    const profileFile: Layer = { source: '--profile my.json', data: { pgbouncer: { default_pool_size: 30, max_client_conn: 600 } } };
    const c = resolve('production', [profileFile, setLayer(['default_pool_size=40'])], V124, { ...ENV, PGBOUNCER_PORT: '6543' });
    expect(setting(c, 'default_pool_size')).toBe(40);
    expect(c.sources.get('pgbouncer.default_pool_size')).toBe('--set');
    expect(setting(c, 'max_client_conn')).toBe(600);
    expect(c.sources.get('pgbouncer.max_client_conn')).toBe('--profile my.json');
    expect(setting(c, 'listen_port')).toBe(6543);
    expect(c.sources.get('pgbouncer.listen_port')).toBe('environment');
    expect(setting(c, 'pidfile')).toBe('/var/run/postgresql/pgbouncer.pid');
    expect(c.sources.get('pgbouncer.pidfile')).toBe('host:debian');
    expect(c.sources.get('pgbouncer.pool_mode')).toBe('profile:production');
  });

  it('the environment maps DB* and PGBOUNCER_* names', () => {
    const c = resolve('staging', [], V124, { ...ENV, DBPORT: '5433', PGBOUNCER_HOST: '10.0.0.5' });
    expect(c.profile.database).toMatchObject({ name: 'app', user: 'app_user', host: '10.1.2.3', port: 5433 });
    expect(setting(c, 'listen_addr')).toEqual(['10.0.0.5']);
    expect(String(c.profile.database.password)).toBe('********');
    expect(c.profile.database.password?.reveal()).toBe('pw');
  });

  it('--set accepts dotted paths and refuses passwords and unknown keys', () => {
    expect(resolve('production', [setLayer(['database.host=db.internal'])]).profile.database.host).toBe('db.internal');
    expect(() => setLayer(['database.password=hunter2'])).toThrow(/never goes on the command line/);
    expect(() => setLayer(['no_such_setting=1'])).toThrow(/--set no_such_setting: unknown setting/);
    expect(() => setLayer(['pool_mode'])).toThrow(/expected key=value/);
  });
});

describe('validation names the field and what is allowed', () => {
  it.each([
    ['listen_port=70000', /pgbouncer\.listen_port: .*65535.*\(from --set\)/],
    ['listen_port=abc', /pgbouncer\.listen_port: must be a whole number/],
    ['pool_mode=sessions', /pgbouncer\.pool_mode: must be one of session, transaction, statement/],
    ['default_pool_size=-1', /pgbouncer\.default_pool_size/],
    ['query_timeout=-5', /pgbouncer\.query_timeout/],
    ['log_stats=maybe', /pgbouncer\.log_stats: must be true or false/],
    ['firewall.allow_from=10.0.0.0/33', /firewall\.allow_from\.0: must be an IPv4 or IPv6 address or CIDR/],
    ['database.port=0', /database\.port: must be a port from 1 to 65535/],
  ])('--set %s', (assignment, message) => {
    expect(errorOf(() => resolve('production', [setLayer([assignment])])).message).toMatch(message);
  });

  it('a profile file with an unknown setting is refused with the key', () => {
    const bad: Layer = { source: '--profile x.json', data: { pgbouncer: { max_clients: 10 } } };
    expect(errorOf(() => resolve('production', [bad])).message).toMatch(/pgbouncer\.max_clients: unknown key.*\(from --profile x\.json\)/);
  });

  it('a value with a line break cannot reach the file', () => {
    const e = errorOf(() => resolve('production', [setLayer(['server_reset_query=DISCARD ALL\n[databases]'])]));
    expect(e.message).toMatch(/pgbouncer\.server_reset_query: must not contain line breaks/);
    const env = errorOf(() => resolve('production', [], V124, { ...ENV, DBNAME: 'app\nevil = host=x' }));
    expect(env.message).toMatch(/database\.name: must not contain line breaks/);
  });
});

describe('version awareness', () => {
  it('built-in settings the target does not know are left out, not errors', () => {
    const c = resolve('production', [], V118);
    expect(setting(c, 'max_prepared_statements')).toBeUndefined();
    expect(c.omitted).toContainEqual({ key: 'max_prepared_statements', since: '1.21' });
    expect(setting(resolve('production', [], V124), 'max_prepared_statements')).toBe(200);
  });

  it('a setting the user asks for that the target lacks names the version that introduced it', () => {
    expect(errorOf(() => resolve('production', [setLayer(['max_prepared_statements=100'])], V118)).message).toMatch(
      /pgbouncer\.max_prepared_statements: needs pgbouncer 1\.21 or newer, the target is 1\.18\.0/,
    );
    expect(errorOf(() => resolve('production', [setLayer(['peer_id=1'])], V118)).message).toMatch(/needs pgbouncer 1\.19/);
    expect(errorOf(() => resolve('production', [setLayer(['auth_type=ldap'])], V124)).message).toMatch(/"ldap" needs pgbouncer 1\.25/);
  });

  it('refuses targets older than the oldest supported', () => {
    expect(() => resolve('production', [], { version: '1.12.0', source: 'test' })).toThrow(/older than 1\.15/);
  });

  it('warns about a published CVE that matters for auth_query', () => {
    const c = resolve('production', [setLayer(['auth_user=pgbouncer_auth'])], V118);
    expect(c.warnings.join('\n')).toMatch(/CVE-2025-2291, fixed in 1\.24\.1/);
    const fixed = resolve('production', [setLayer(['auth_user=pgbouncer_auth'])], { version: '1.25.2', source: 'test' });
    expect(fixed.warnings.join('\n')).not.toMatch(/CVE/);
  });
});

describe('cross-checks', () => {
  it('scram-sha-256 auth with md5 secrets', () => {
    expect(errorOf(() => resolve('production', [setLayer(['userlist.method=md5'])])).message).toMatch(/userlist\.method: md5 secrets cannot log in with auth_type scram-sha-256/);
    expect(() => resolve('production', [setLayer(['userlist.method=md5', 'auth_type=md5'])])).not.toThrow();
  });

  it('pools that exceed max_db_connections', () => {
    expect(errorOf(() => resolve('production', [setLayer(['default_pool_size=99'])])).message).toMatch(
      /pgbouncer\.max_db_connections: the pools of database "app" can open 104 server connections/,
    );
  });

  it("pools that exceed the server's max_connections when known", () => {
    expect(errorOf(() => resolve('production', [setLayer(['server.max_connections=20'])])).message).toMatch(/server\.max_connections: pgbouncer may open 30 server connections but PostgreSQL allows 17/);
    expect(() => resolve('production', [setLayer(['server.max_connections=200'])])).not.toThrow();
  });

  it('max_client_conn plus server connections above the open-files limit', () => {
    expect(errorOf(() => resolve('production', [setLayer(['host.nofile_limit=512'])])).message).toMatch(/pgbouncer\.max_client_conn: .*about 535 open files but the limit is 512/);
  });

  it('client TLS without key and cert', () => {
    expect(errorOf(() => resolve('production', [setLayer(['client_tls_sslmode=require'])])).message).toMatch(
      /pgbouncer\.client_tls_sslmode: require needs client_tls_key_file and client_tls_cert_file/,
    );
    expect(() => resolve('production', [setLayer(['client_tls_sslmode=require', 'client_tls_key_file=/etc/k.pem', 'client_tls_cert_file=/etc/c.pem'])])).not.toThrow();
  });

  it("Django sslmode require against pgbouncer without client TLS", () => {
    expect(errorOf(() => resolve('production', [setLayer(['django.sslmode=require'])])).message).toMatch(/django\.sslmode: require cannot connect/);
  });

  it('pgbouncer on PostgreSQL\'s own port on the same host', () => {
    expect(errorOf(() => resolve('development', [setLayer(['listen_port=5432'])], V124, { ...ENV, DBHOST: '127.0.0.1' })).message).toMatch(/listen_port: 5432 is PostgreSQL's own port/);
  });

  it('reports every problem at once', () => {
    const e = errorOf(() => resolve('production', [setLayer(['listen_port=0', 'pool_mode=x'])]));
    expect(e.message.split('\n')).toHaveLength(2);
  });
});
