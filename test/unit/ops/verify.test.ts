import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/app/load-config.js';
import { renderPgbouncerIni } from '../../../src/render/pgbouncer-ini.js';
import { md5Secret } from '../../../src/auth/md5.js';
import { scramSecret } from '../../../src/auth/scram.js';
import type { Check } from '../../../src/ops/verify/types.js';
import { verifyChecks } from '../../../src/app/verify.js';
import { captureContext } from '../../helpers/context.js';
import { FakeSystem } from '../../helpers/fake-system.js';

const ENV = { DBNAME: 'appdb', DBUSER: 'app_user', DBPASS: 's3cret pass', DBHOST: '127.0.0.1' };
const OS = readFileSync(new URL('../../fixtures/os-release/debian-12', import.meta.url), 'utf8');
// Nothing listens on port 1: the live network checks fail fast.
const SETS = ['listen_port=1', 'unix_socket_dir=/nonexistent-pgb', 'pidfile=/run/pgb/pgbouncer.pid'];

async function host(extraSets: string[] = [], userlistSecret?: string) {
  const sets = [...SETS, ...extraSets];
  const render = captureContext({ env: ENV });
  const config = await loadConfig('production', { pgbouncerVersion: '1.18', set: sets }, render);
  const fake = new FakeSystem()
    .file('/etc/os-release', OS)
    .file('/etc/pgbouncer/pgbouncer.ini', renderPgbouncerIni(config), 0o640, 101, 104)
    .file('/etc/pgbouncer/userlist.txt', `"app_user" "${userlistSecret ?? scramSecret(ENV.DBPASS)}"\n`, 0o600, 101, 104)
    .on(/^getent passwd postgres$/, { stdout: 'postgres:x:101:104:PostgreSQL administrator:/var/lib/postgresql:/bin/bash\n' });
  const ctx = captureContext({ env: ENV, system: fake });
  const run = async () => {
    const r = await verifyChecks('production', { pgbouncerVersion: '1.18', set: sets, serviceUser: 'postgres', timeout: '2' }, ctx);
    return (id: string) => r.checks.find((c) => c.id === id) as Check;
  };
  return { fake, run };
}

describe('verify with a fake host', () => {
  it('systemd host: asks systemctl is-active and tells how to start the unit', async () => {
    const { fake, run } = await host();
    fake.file('/run/systemd/system/.keep', '');
    fake.on(/^systemctl is-active pgbouncer$/, { exitCode: 3, stdout: 'inactive\n' });
    const check = await run();
    expect(check('service')).toEqual({
      id: 'service',
      title: 'pgbouncer is running',
      status: 'fail',
      detail: 'systemd: pgbouncer is inactive',
      fix: 'systemctl start pgbouncer; journalctl -u pgbouncer -n 50 shows why it stopped',
    });
    expect(fake.commandLines()).not.toContain('systemctl cat pgbouncer'); // --service-user given
    fake.on(/^systemctl is-active pgbouncer$/, { stdout: 'active\n' });
    expect((await run())('service')).toMatchObject({ status: 'pass', detail: 'systemd: pgbouncer is active' });
  });

  it('no systemd: pidfile + kill -0, and a reused pid is not pgbouncer', async () => {
    const { fake, run } = await host();
    fake.file('/run/pgb/pgbouncer.pid', '4242\n').file('/proc/4242/comm', 'nginx\n').on(/^kill -0 4242$/, { exitCode: 0 });
    expect((await run())('service')).toMatchObject({
      status: 'fail',
      detail: 'PID 4242 is "nginx", not pgbouncer (from /run/pgb/pgbouncer.pid: stale pidfile, pid reused)',
      fix: 'remove /run/pgb/pgbouncer.pid and start it: pgbouncer -d -u postgres /etc/pgbouncer/pgbouncer.ini',
    });
    fake.file('/proc/4242/comm', 'pgbouncer\n');
    expect((await run())('service')).toMatchObject({ status: 'pass', detail: 'pid 4242 from /run/pgb/pgbouncer.pid is alive (kill -0)' });
    expect(fake.commandLines().some((l) => l.startsWith('systemctl'))).toBe(false);
  });

  it('files: match, owner and mode pass; the live checks fail when nothing listens', async () => {
    const { run } = await host();
    const check = await run();
    for (const id of ['ini-parses', 'ini-matches', 'userlist-secret', 'ini-mode', 'userlist-mode']) expect(check(id).status, id).toBe('pass');
    expect(check('listening')).toMatchObject({ status: 'fail' });
    expect(check('listening').detail).toMatch(/127\.0\.0\.1:1 \(ECONNREFUSED\)/);
    expect(check('login').status).toBe('fail');
    expect(check('console').status).toBe('fail');
  });

  it('userlist: an md5 secret with auth_type scram-sha-256 fails (errata #6); a wrong password fails', async () => {
    const md5 = await host([], md5Secret('app_user', ENV.DBPASS));
    expect((await md5.run())('userlist-secret')).toMatchObject({ status: 'fail', detail: expect.stringContaining('auth_type scram-sha-256 cannot use an md5 secret') });
    const wrong = await host([], scramSecret('another password'));
    expect((await wrong.run())('userlist-secret')).toMatchObject({ status: 'fail', detail: 'the scram-sha-256 secret of app_user in /etc/pgbouncer/userlist.txt does not match DBPASS' });
  });

  it('auth_query mode: only auth_user must be in userlist.txt', async () => {
    const { fake, run } = await host(['auth_user=pgbouncer_auth']);
    expect((await run())('userlist-secret')).toMatchObject({
      status: 'fail',
      detail: 'auth_query mode: /etc/pgbouncer/userlist.txt has no entry for auth_user pgbouncer_auth, so pgbouncer cannot run auth_query',
      fix: 'pgb-setup auth-query production --apply-server --userlist /etc/pgbouncer/userlist.txt',
    });
    fake.file('/etc/pgbouncer/userlist.txt', '"pgbouncer_auth" "random-plain-pw"\n', 0o600, 101, 104);
    expect((await run())('userlist-secret')).toMatchObject({ status: 'pass' });
  });

  it("userlist: a '#' comment (pgbouncer stops reading there) fails with the line", async () => {
    const { fake, run } = await host();
    fake.file('/etc/pgbouncer/userlist.txt', `# users\n"app_user" "${scramSecret(ENV.DBPASS)}"\n`, 0o600, 101, 104);
    expect((await run())('userlist-secret').detail).toMatch(/userlist\.txt line 1 starts with '#', which makes pgbouncer stop reading the file/);
  });

  it('Django sslmode vs client TLS', async () => {
    // (sslmode=require against client_tls_sslmode=disable, and client TLS without key/cert, are
    // refused by the profile checks already; verify looks at what only the host can tell.)
    const files = await host(['django.sslmode=require', 'client_tls_sslmode=require', 'client_tls_key_file=/etc/pgbouncer/key.pem', 'client_tls_cert_file=/etc/pgbouncer/cert.pem']);
    expect((await files.run())('django-tls')).toMatchObject({ status: 'fail', detail: '/etc/pgbouncer/key.pem, /etc/pgbouncer/cert.pem do not exist' });
    files.fake.file('/etc/pgbouncer/key.pem', 'k', 0o600, 101, 104).file('/etc/pgbouncer/cert.pem', 'c', 0o644, 101, 104);
    expect((await files.run())('django-tls')).toMatchObject({ status: 'pass' });

    const plain = await host(['django.sslmode=disable', 'client_tls_sslmode=require', 'client_tls_key_file=/k.pem', 'client_tls_cert_file=/c.pem']);
    plain.fake.file('/k.pem', 'k').file('/c.pem', 'c');
    expect((await plain.run())('django-tls')).toMatchObject({ status: 'fail', detail: 'pgbouncer requires TLS from clients (client_tls_sslmode = require) but Django uses sslmode=disable' });

    expect((await (await host()).run())('django-cursors')).toMatchObject({ status: 'note', fix: 'pgb-setup print-django-settings production emits it' });
    expect((await (await host(['pool_mode=session'])).run())('django-cursors')).toMatchObject({ status: 'pass' });
  });

  it('a missing ini names the path and the fix', async () => {
    const { fake, run } = await host();
    fake.files.delete('/etc/pgbouncer/pgbouncer.ini');
    expect((await run())('ini-parses')).toMatchObject({ status: 'fail', detail: '/etc/pgbouncer/pgbouncer.ini does not exist' });
  });
});

describe('verify and %include (#17.5)', () => {
  it('a %include line fails verify, naming the line, whatever the included file says', async () => {
    const { fake, run } = await host();
    const ini = String(fake.files.get('/etc/pgbouncer/pgbouncer.ini')!.content);
    expect((await run())('ini-includes')).toBeUndefined();
    fake.file('/etc/pgbouncer/pgbouncer.ini', `${ini}%include /etc/pgbouncer/override.ini\n`, 0o640, 101, 104);
    fake.file('/etc/pgbouncer/override.ini', '[pgbouncer]\nauth_type = trust\n', 0o640, 101, 104);
    const check = await run();
    const lineNo = ini.split('\n').length;
    expect(check('ini-includes')).toMatchObject({ status: 'fail', title: 'pgbouncer.ini includes no other file' });
    expect(check('ini-includes').detail).toContain(`line ${lineNo}: %include /etc/pgbouncer/override.ini: pgbouncer applies the included settings too`);
    expect(check('ini-includes').fix).toMatch(/remove the %include line/);
    // The main file alone still matches the profile: the include is what verify must not miss.
    expect(check('ini-matches').status).toBe('pass');
  });

  it('pgbouncer reads %include only at the start of a line, followed by a blank; a bare one is a syntax error', async () => {
    const { parseIniFile } = await import('../../../src/ops/ini-file.js');
    const parsed = parseIniFile('[pgbouncer]\n  %include\t/a.ini\n;%include /b.ini\n%includex /c.ini\n%include\n');
    expect(parsed.includes).toEqual([{ line: 2, path: '/a.ini' }]);
    expect(parsed.problems).toEqual(['line 4: not "key = value": %includex /c.ini', 'line 5: not "key = value": %include']);
  });
});

describe('verify against a pgbouncer that never closes after Terminate (#17.8)', () => {
  it('the login and console checks finish within the timeout', async () => {
    const { healthyScript, startFakeConsole } = await import('../../helpers/fake-console.js');
    const fake = await startFakeConsole({ ...healthyScript({ 'SELECT 1': { columns: ['?column?'], rows: [['1']] } }), onTerminate: 'ignore' });
    try {
      const { run } = await host([`listen_port=${fake.port}`, 'listen_addr=127.0.0.1']);
      const t0 = Date.now();
      const check = await run();
      expect(check('login')).toMatchObject({ status: 'pass' });
      expect(Date.now() - t0).toBeLessThan(4000);
      for (let i = 0; i < 100 && fake.open() > 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(fake.open()).toBe(0);
    } finally {
      await fake.close();
    }
  });
});
