import { describe, expect, it } from 'vitest';
import { pgbouncerConfigArg, pgbouncerFromPidfile, pgbouncerProcess } from '../../../src/system/pgbouncer-process.js';
import { FakeSystem } from '../../helpers/fake-system.js';

/** A host where PID 500 runs `argv` from `exe` with comm `comm`, in folder `cwd`. */
function host(exe: string | undefined, comm: string | undefined, argv: string[], cwd = '/'): FakeSystem {
  const sys = new FakeSystem().file('/run/p.pid', '500\n').file('/proc/500/stat', '500 (x) S 1').file('/proc/500/cmdline', `${argv.join('\0')}\0`).on(/^kill -0 500$/, { exitCode: 0 }).link('/proc/500/cwd', cwd);
  if (exe) sys.link('/proc/500/exe', exe);
  if (comm) sys.file('/proc/500/comm', `${comm}\n`);
  return sys;
}

describe('pgbouncerProcess', () => {
  it('accepts the executable named exactly pgbouncer, also after a package upgrade replaced the file', async () => {
    expect(await pgbouncerProcess(host('/usr/sbin/pgbouncer', 'pgbouncer', ['/usr/sbin/pgbouncer', '/etc/pgbouncer/pgbouncer.ini']), 500, '/etc/pgbouncer/pgbouncer.ini')).toMatchObject({ ok: true, pid: 500 });
    expect(await pgbouncerProcess(host('/usr/sbin/pgbouncer (deleted)', 'pgbouncer', ['pgbouncer', '-d', '/etc/pgbouncer/pgbouncer.ini']), 500)).toMatchObject({ ok: true });
  });

  it('refuses names that only contain pgbouncer, and a comm that disagrees with the executable', async () => {
    for (const [exe, comm] of [['/usr/bin/pgbouncer_exporter', 'pgbouncer_expor'], ['/opt/pgbouncer-2/bin/pgbouncer.sh', 'pgbouncer.sh'], ['/usr/bin/sleep', 'pgbouncer'], ['/usr/sbin/pgbouncer', 'sleep']] as const) {
      const r = await pgbouncerProcess(host(exe, comm, [exe, '300']), 500);
      expect(r, exe).toMatchObject({ ok: false, gone: false });
      expect(r.ok ? '' : r.reason).toMatch(/^PID 500 is ".+" \(.+ 300\), not pgbouncer$/);
    }
    // Without a readable exe, comm alone decides, exactly.
    expect(await pgbouncerProcess(host(undefined, 'pgbouncer_expor', ['x']), 500)).toMatchObject({ ok: false });
    expect(await pgbouncerProcess(host(undefined, 'pgbouncer', ['pgbouncer', 'a.ini']), 500)).toMatchObject({ ok: true });
  });

  it('checks the config argument: absolute, relative to the process folder, after -u USER or -du USER', async () => {
    const ini = '/etc/pgbouncer/pgbouncer.ini';
    const check = (argv: string[], cwd = '/') => pgbouncerProcess(host('/usr/sbin/pgbouncer', 'pgbouncer', argv, cwd), 500, ini);
    expect(await check(['pgbouncer', '-d', '-u', 'postgres', ini])).toMatchObject({ ok: true });
    expect(await check(['pgbouncer', 'pgbouncer.ini', '-du', 'postgres'], '/etc/pgbouncer')).toMatchObject({ ok: true });
    expect(await check(['pgbouncer', '--user', 'postgres', '../pgbouncer/./pgbouncer.ini'], '/etc/x')).toMatchObject({ ok: true });
    expect(await check(['pgbouncer', '-d', '/srv/other.ini'])).toMatchObject({ ok: false, reason: `PID 500 is a pgbouncer running /srv/other.ini, not ${ini}` });
    expect(pgbouncerConfigArg({ pid: 1, alive: true, argv: ['pgbouncer', 'rel.ini'] })).toBeUndefined(); // no cwd: unknown, not guessed
  });

  it('a pidfile without a PID, a dead PID, and unreadable /proc are not pgbouncer', async () => {
    const sys = host('/usr/sbin/pgbouncer', 'pgbouncer', ['pgbouncer', 'x.ini']).file('/run/empty.pid', '\n');
    expect(await pgbouncerFromPidfile(sys, '/run/empty.pid')).toEqual({ ok: false, pid: undefined, gone: true, reason: 'no process id in /run/empty.pid' });
    sys.on(/^kill -0 500$/, { exitCode: 1 });
    expect(await pgbouncerFromPidfile(sys, '/run/p.pid')).toEqual({ ok: false, pid: 500, gone: true, reason: 'PID 500 is not running (from /run/p.pid)' });
    expect(await pgbouncerProcess(host(undefined, undefined, []), 500)).toMatchObject({ ok: false, gone: false, reason: 'cannot tell what PID 500 is (/proc/500/exe and comm are unreadable)' });
  });
});
