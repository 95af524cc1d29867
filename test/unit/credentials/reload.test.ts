import { describe, expect, it } from 'vitest';
import { resolvePgbouncerTarget } from '../../../src/credentials/pgbouncer-target.js';
import { planReload, runReload } from '../../../src/credentials/reload.js';
import { RuntimeError } from '../../../src/text/errors.js';
import { captureContext } from '../../helpers/context.js';
import { FakeSystem } from '../../helpers/fake-system.js';
import { fakeServer } from './fakes.js';

function sys(pid1: string, comm = 'pgbouncer'): FakeSystem {
  return new FakeSystem()
    .file('/proc/1/comm', `${pid1}\n`)
    .file('/run/pgb.pid', '777\n')
    .file('/proc/777/comm', `${comm}\n`)
    .file('/proc/777/stat', '777 (x) S 1')
    .on(/^kill -0 777$/, { exitCode: 0 })
    .on(/^kill -HUP 777$/, { exitCode: 0 })
    .on(/^systemctl is-active --quiet (\S+)$/, (args) => ({ exitCode: args[2] === 'pgbouncer' ? 0 : 3 }))
    .on(/^systemctl reload pgbouncer$/, { exitCode: 0 });
}

describe('reload', () => {
  it('prefers the admin console when its login works', async () => {
    const ctx = captureContext({ system: sys('systemd'), env: { PGBOUNCER_ADMIN_PASSWORD: 'pw' } });
    const target = resolvePgbouncerTarget({ adminUser: 'admin', pidfile: '/run/pgb.pid' }, ctx);
    const server = fakeServer();
    const plan = await planReload(target, ctx, server.connect);
    expect(plan.ways.map((w) => w.name)).toEqual(['admin console RELOAD', 'systemctl reload pgbouncer', 'SIGHUP via pidfile']);
    expect((await runReload(plan)).method).toBe('admin console RELOAD (admin@127.0.0.1:6432/pgbouncer)');
    expect(server.log).toEqual(['pgbouncer/admin: RELOAD']);
  });

  it('falls back to the next way when RELOAD fails', async () => {
    const system = sys('systemd');
    const ctx = captureContext({ system, env: { PGBOUNCER_ADMIN_PASSWORD: 'pw' } });
    const target = resolvePgbouncerTarget({ adminUser: 'admin' }, ctx);
    const plan = await planReload(target, ctx, fakeServer({ reloadError: 'admin access needed' }).connect);
    expect((await runReload(plan)).method).toBe('systemctl reload pgbouncer');
  });

  it('without systemd as PID 1 signals the pidfile process, only if it is pgbouncer', async () => {
    const ctx = captureContext({ system: sys('tini') });
    const target = resolvePgbouncerTarget({ pidfile: '/run/pgb.pid' }, ctx);
    const plan = await planReload(target, ctx, fakeServer().connect);
    expect(plan.skipped).toEqual([
      'admin console: no admin console user (--admin-user, or admin_users in the profile)',
      'systemctl: systemd is not PID 1 here (PID 1 is tini)',
    ]);
    expect((await runReload(plan)).method).toBe('SIGHUP to pgbouncer process 777 (/run/pgb.pid)');

    const other = captureContext({ system: sys('tini', 'postgres') });
    await expect(planReload(resolvePgbouncerTarget({ pidfile: '/run/pgb.pid' }, other), other, fakeServer().connect)).rejects.toThrow(
      /PID 777 is "postgres", not pgbouncer \(from \/run\/pgb.pid\)/,
    );
  });

  it('SIGHUP only to an executable named exactly pgbouncer: not pgbouncer_exporter, not a renamed process', async () => {
    const plan = (system: FakeSystem) => {
      const ctx = captureContext({ system });
      return planReload(resolvePgbouncerTarget({ pidfile: '/run/pgb.pid' }, ctx), ctx, fakeServer().connect);
    };
    const exporter = sys('tini', 'pgbouncer_expor').link('/proc/777/exe', '/opt/exp/pgbouncer_exporter').file('/proc/777/cmdline', '/opt/exp/pgbouncer_exporter\0--web.listen-address=:9127\0');
    await expect(plan(exporter)).rejects.toThrow(/SIGHUP: PID 777 is "pgbouncer_exporter" \(\/opt\/exp\/pgbouncer_exporter --web.listen-address=:9127\), not pgbouncer/);
    // comm can be set by any process (prctl); the executable decides.
    const renamed = sys('tini', 'pgbouncer').link('/proc/777/exe', '/usr/bin/sleep');
    await expect(plan(renamed)).rejects.toThrow(/PID 777 is "sleep" \(\/usr\/bin\/sleep\), not pgbouncer/);
    const upgraded = sys('tini', 'pgbouncer').link('/proc/777/exe', '/usr/sbin/pgbouncer (deleted)');
    expect((await plan(upgraded)).ways.map((w) => w.name)).toEqual(['SIGHUP via pidfile']);
    expect(exporter.commandLines()).not.toContain('kill -HUP 777');
  });

  it('an inactive unit and no pidfile: RuntimeError listing every reason', async () => {
    const ctx = captureContext({ system: sys('systemd'), env: {} });
    const target = resolvePgbouncerTarget({ service: 'pgbouncer-other', adminUser: 'admin' }, ctx);
    const err = await planReload(target, ctx, fakeServer().connect).catch((e) => e);
    expect(err).toBeInstanceOf(RuntimeError);
    expect(err.message).toBe(
      'cannot reload pgbouncer, so nothing was changed:\n' +
        '  - admin console: no password for admin console user admin (set PGBOUNCER_ADMIN_PASSWORD)\n' +
        '  - systemctl: unit pgbouncer-other is not active\n' +
        '  - SIGHUP: no pidfile known (--pidfile, or pidfile in the profile)',
    );
  });

  it('a unit name is checked before it reaches systemctl', () => {
    expect(() => resolvePgbouncerTarget({ service: 'pgbouncer; rm -rf /' }, captureContext())).toThrow(/not a systemd unit name/);
  });
});
