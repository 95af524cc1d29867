import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/app/load-config.js';
import { classifyConnectError, describeTarget, num, numAny, str, type ConsoleTarget } from '../../../src/ops/console.js';
import { consoleUserCandidates, listenTarget, resolveConsoleTarget } from '../../../src/ops/target.js';
import { connectHostFor } from '../../../src/settings/listen.js';
import { parseListen } from '../../../src/ops/stats.js';
import { captureContext } from '../../helpers/context.js';

const target: ConsoleTarget = { host: '127.0.0.1', port: 6432, user: 'mon', password: undefined, timeoutMs: 1000 };
const ENV = { DBNAME: 'app', DBUSER: 'app_user', DBPASS: 'the-db-pass', DBHOST: '10.0.0.5' };

async function config(environment: string, set: string[] = [], env: Record<string, string> = ENV) {
  const ctx = captureContext({ env });
  return { ctx, config: await loadConfig(environment, { pgbouncerVersion: '1.18', set }, ctx) };
}

describe('console errors', () => {
  it('tells unreachable from login refused', () => {
    expect(classifyConnectError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6432'), { code: 'ECONNREFUSED' }), target)).toMatchObject({
      kind: 'unreachable',
      message: 'cannot connect to pgbouncer at 127.0.0.1:6432: connect ECONNREFUSED 127.0.0.1:6432',
    });
    expect(classifyConnectError(new Error('Connection terminated due to connection timeout'), target).kind).toBe('unreachable');
    expect(classifyConnectError(Object.assign(new Error('SASL authentication failed'), { code: '08P01', severity: 'FATAL' }), target)).toMatchObject({
      kind: 'login',
      message: 'login to the admin console at 127.0.0.1:6432 as mon refused: SASL authentication failed',
    });
    expect(classifyConnectError(new Error('SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string'), target).message).toMatch(/needs a password, and none was given/);
    // What pgbouncer 1.18 and 1.24 answer a user listed in neither stats_users nor admin_users.
    expect(classifyConnectError(Object.assign(new Error('not allowed'), { code: '08P01', severity: 'FATAL' }), target).message).toBe(
      'login to the admin console at 127.0.0.1:6432 as mon refused: not allowed (mon is in neither stats_users nor admin_users)',
    );
    expect(describeTarget({ host: '/var/run/postgresql', port: 6432 })).toBe('/var/run/postgresql/.s.PGSQL.6432');
    expect(describeTarget({ host: '::1', port: 6432 })).toBe('[::1]:6432');
  });

  it('reads values by column name, tolerating renamed and missing columns', () => {
    const row = { pool_size: 5, reserve_pool_size: 2, name: 'app', empty: '', nothing: null };
    expect(num(row, 'pool_size')).toBe(5);
    expect(num(row, 'empty')).toBeUndefined();
    expect(num(row, 'absent')).toBeUndefined();
    expect(numAny(row, ['reserve_pool', 'reserve_pool_size'])).toBe(2);
    expect(str(row, 'name')).toBe('app');
    expect(str(row, 'nothing')).toBeUndefined();
  });
});

describe('console target from the profile', () => {
  it('uses listen_addr/listen_port and the stats user DBUSER with DBPASS', async () => {
    const { ctx, config: c } = await config('production', ['listen_port=6433']);
    expect(consoleUserCandidates(c)).toEqual(['app_user']);
    const t = resolveConsoleTarget(c, {}, ctx);
    expect(t).toMatchObject({ host: '127.0.0.1', port: 6433, user: 'app_user', password: 'the-db-pass', passwordSource: 'DBPASS' });
  });

  it('wildcards connect over loopback; no listen_addr means the unix socket', async () => {
    expect(connectHostFor(['*'])).toBe('127.0.0.1');
    expect(connectHostFor(['0.0.0.0', '10.1.1.1'])).toBe('127.0.0.1');
    expect(connectHostFor(['::'])).toBe('::1');
    expect(connectHostFor(['10.1.1.1'])).toBe('10.1.1.1');
    const { config: c } = await config('production', ['listen_addr=', 'unix_socket_dir=/run/pgb']);
    expect(listenTarget(c)).toEqual({ host: '/run/pgb', port: 6432 });
  });

  it('another user takes its password from PGPASSWORD or --password-env, never argv', async () => {
    const { config: c } = await config('production', ['stats_users=monitor']);
    const ctx = captureContext({ env: { ...ENV, PGPASSWORD: 'pg-pw', MON_PW: 'mon-pw' } });
    expect(resolveConsoleTarget(c, {}, ctx)).toMatchObject({ user: 'monitor', password: 'pg-pw', passwordSource: 'PGPASSWORD' });
    expect(resolveConsoleTarget(c, { passwordEnv: 'MON_PW' }, ctx)).toMatchObject({ user: 'monitor', password: 'mon-pw', passwordSource: 'MON_PW' });
    expect(resolveConsoleTarget(c, { user: 'app_user' }, ctx)).toMatchObject({ password: 'the-db-pass' });
    expect(() => resolveConsoleTarget(c, { passwordEnv: 'not a name' }, ctx)).toThrow('--password-env: "not a name" is not an environment variable name');
  });

  it('prefers a console user it has a password for', async () => {
    const { ctx, config: c } = await config('production', ['stats_users=monitor', 'admin_users=$DBUSER']);
    expect(resolveConsoleTarget(c, {}, ctx)).toMatchObject({ user: 'app_user', passwordSource: 'DBPASS' });
  });

  it('without a profile: flags, then PGBOUNCER_HOST/PGBOUNCER_PORT, DBUSER/DBPASS', () => {
    const ctx = captureContext({ env: { PGBOUNCER_HOST: '*', PGBOUNCER_PORT: '7000', DBUSER: 'u', DBPASS: 'p' } });
    expect(resolveConsoleTarget(undefined, {}, ctx)).toMatchObject({ host: '127.0.0.1', port: 7000, user: 'u', password: 'p' });
    expect(resolveConsoleTarget(undefined, { host: '/tmp', port: '6000' }, ctx)).toMatchObject({ host: '/tmp', port: 6000 });
    expect(() => resolveConsoleTarget(undefined, { port: '70000' }, ctx)).toThrow('--port: "70000" is not a port (1-65535)');
    expect(() => resolveConsoleTarget(undefined, { timeout: '0' }, ctx)).toThrow('--timeout');
  });

  it('stats --serve address forms', () => {
    expect(parseListen('9127')).toEqual({ host: '127.0.0.1', port: 9127 });
    expect(parseListen('127.0.0.1:9127')).toEqual({ host: '127.0.0.1', port: 9127 });
    expect(parseListen('[::1]:9127')).toEqual({ host: '::1', port: 9127 });
    expect(parseListen('0.0.0.0:9127')).toEqual({ host: '0.0.0.0', port: 9127 });
    expect(() => parseListen('localhost:http')).toThrow('--serve: "localhost:http" must be PORT or ADDRESS:PORT');
    expect(() => parseListen('1.2.3.4:99999')).toThrow('--serve');
  });
});
