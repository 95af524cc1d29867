/**
 * The plan names how each change reaches the running pgbouncer (#14): reload, handover, or restart
 * only where a handover cannot work (the running process without so_reuseport, so_reuseport off,
 * a listen_port change), with the reason.
 */
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/main.js';
import type { Plan, ServiceStep } from '../../../src/plan/types.js';
import { captureContext } from '../../helpers/context.js';
import { FakeSystem } from '../../helpers/fake-system.js';

const FIXTURES = join(import.meta.dirname, '../../fixtures/os-release');
const ENV = { DBNAME: 'appdb', DBUSER: 'app_user', DBPASS: 'secret-never-shown', DBHOST: '10.0.0.20' };
const PIDFILE = '/var/run/postgresql/pgbouncer.pid';

/** A Debian 12 host without systemd where pgbouncer 1.18 runs (PID 500) from the config pgb-setup rendered. */
async function runningHost(iniSettings: Record<string, string>): Promise<FakeSystem> {
  const render = captureContext({ env: ENV });
  const out = `/tmp/handover-plan-${process.pid}-${Math.random().toString(36).slice(2)}`;
  expect(await main(['node', 'pgb-setup', 'render', 'production', '--out', out, '--pgbouncer-version', '1.18.0'], render)).toBe(0);
  let ini = readFileSync(join(out, 'pgbouncer.ini'), 'utf8');
  rmSync(out, { recursive: true, force: true });
  for (const [k, v] of Object.entries(iniSettings)) ini = ini.replace(new RegExp(`^${k} = .*$`, 'm'), `${k} = ${v}`);
  return new FakeSystem()
    .file('/etc/os-release', readFileSync(join(FIXTURES, 'debian-12'), 'utf8'))
    .binary('pgbouncer', '/usr/sbin/pgbouncer')
    .on('/usr/sbin/pgbouncer --version', { stdout: 'PgBouncer 1.18.0\n' })
    .on('systemctl cat pgbouncer', { exitCode: 1 })
    .on('getent passwd postgres', { stdout: 'postgres:x:101:104:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash\n' })
    .on(/^getent passwd (pgbouncer|101)$/, (args) => (args[1] === '101' ? { stdout: 'postgres:x:101:104::/var/lib/postgresql:/bin/bash\n' } : { exitCode: 2 }))
    .on(/^getent group (104|postgres)$/, { stdout: 'postgres:x:104:\n' })
    .on('sh -c ulimit -n', { stdout: '1048576\n' })
    .file('/etc/pgbouncer/pgbouncer.ini', ini, 0o640, 0, 104)
    .file(PIDFILE, '500\n')
    .file('/proc/500/stat', '500 (pgbouncer) S 1')
    .file('/proc/500/comm', 'pgbouncer\n')
    .file('/proc/500/cmdline', '/usr/sbin/pgbouncer\0-d\0-u\0postgres\0/etc/pgbouncer/pgbouncer.ini\0')
    .link('/proc/500/exe', '/usr/sbin/pgbouncer')
    .on(/^kill -0 500$/, { exitCode: 0 });
}

async function service(system: FakeSystem, set: string[]): Promise<ServiceStep> {
  const ctx = captureContext({ system, env: ENV });
  const code = await main(['node', 'pgb-setup', 'production', '--dry-run', '--json', '--skip-firewall', ...set.flatMap((s) => ['--set', s])], ctx);
  expect(ctx.err()).not.toMatch(/pgb-setup:/);
  expect(code).toBe(0);
  return (JSON.parse(ctx.out()) as Plan).steps.find((s) => s.kind === 'service') as ServiceStep;
}

/** A handover bridge a killed run left in the temp folder; `pid` runs it when given. */
function staleBridge(system: FakeSystem, pid?: number): FakeSystem {
  const dir = join(tmpdir(), 'pgb-setup-handover-killed');
  system.file(join(dir, 'pgbouncer.ini'), '[pgbouncer]\nso_reuseport = 1\n', 0o600, 101, 104);
  if (pid === undefined) return system;
  return system
    .file(join(dir, 'pgbouncer.pid'), `${pid}\n`)
    .file(`/proc/${pid}/stat`, `${pid} (pgbouncer) S 1`)
    .file(`/proc/${pid}/comm`, 'pgbouncer\n')
    .file(`/proc/${pid}/cmdline`, `/usr/sbin/pgbouncer\0-d\0-u\0postgres\0${join(dir, 'pgbouncer.ini')}\0`)
    .link(`/proc/${pid}/exe`, '/usr/sbin/pgbouncer')
    .on(new RegExp(`^kill -0 ${pid}$`), { exitCode: 0 });
}

describe('a handover a killed run left half done', () => {
  it('its bridge runs beside the old process: that process is handed over to the files on disk (nothing else changed), then the bridge stops', async () => {
    const s = await service(staleBridge(await runningHost({}), 600), []);
    expect(s.action).toBe('handover');
    expect(s.methods).toEqual([{ target: 'pgbouncer', method: 'handover', why: 'an interrupted handover left its bridge running: this process may still run the config from before' }]);
  });

  it('only its folder is left (nothing runs from it): the same method as without it, no handover', async () => {
    const without = await service(await runningHost({}), []);
    const s = await service(staleBridge(await runningHost({})), []);
    expect(s.action).not.toBe('handover');
    expect(s.action).toBe(without.action);
  });
});

describe('the plan names the method per change', () => {
  it('a restart-class change with so_reuseport on both sides: handover, beside the running PID, on the same port', async () => {
    const s = await service(await runningHost({}), ['pkt_buf=8192']);
    expect(s.action).toBe('handover');
    expect(s.methods).toEqual([{ target: 'pgbouncer', method: 'handover', why: 'a reload cannot apply pkt_buf' }]);
    expect(s.handover).toMatchObject({ manager: 'daemon', port: 6432, version: '1.18.0', old: [{ pid: 500, pidfile: PIDFILE, socketDir: '/var/run/postgresql' }], next: [{ iniPath: '/etc/pgbouncer/pgbouncer.ini', pidfile: PIDFILE }] });
    expect(s.reason).toMatch(/^handover on port 6432 \(so_reuseport\)/);
  });

  it('a reloadable change still reloads', async () => {
    const s = await service(await runningHost({}), ['default_pool_size=30']);
    expect(s.action).toBe('reload');
    expect(s.methods).toEqual([{ target: 'pgbouncer', method: 'reload', why: 'every changed setting applies on reload; clients stay connected' }]);
  });

  it('the running pgbouncer without so_reuseport: restart, saying why (this run turns it on)', async () => {
    const s = await service(await runningHost({ so_reuseport: '0' }), ['pkt_buf=8192']);
    expect(s.action).toBe('restart');
    expect(s.methods?.[0]).toMatchObject({ method: 'restart' });
    expect(s.methods?.[0]?.why).toMatch(/so_reuseport, pkt_buf, and no handover: the running pgbouncer listens without so_reuseport/);
  });

  it('a listen_port change: restart, saying why', async () => {
    const s = await service(await runningHost({}), ['listen_port=6440']);
    expect(s.action).toBe('restart');
    expect(s.methods?.[0]?.why).toMatch(/no handover: listen_port changes \(6432 → 6440\)/);
  });

  it('so_reuseport turned off in the new config: restart, saying why', async () => {
    const s = await service(await runningHost({}), ['so_reuseport=0']);
    expect(s.action).toBe('restart');
    expect(s.methods?.[0]?.why).toMatch(/no handover: so_reuseport is off in the new config/);
  });

  it('1 → 2 processes: the group starts beside the single pgbouncer, which then leaves', async () => {
    const system = await runningHost({});
    const ctx = captureContext({ system, env: ENV });
    expect(await main(['node', 'pgb-setup', 'production', '--dry-run', '--json', '--skip-firewall', '--processes', '2', '--no-peers'], ctx)).toBe(0);
    const s = (JSON.parse(ctx.out()) as Plan).steps.find((x) => x.kind === 'service') as ServiceStep;
    expect(s.action).toBe('handover');
    expect(s.handover?.old.map((o) => o.pid)).toEqual([500]);
    expect(s.handover?.next.map((n) => n.socketDir)).toEqual(['/var/run/postgresql/pgbouncer-1', '/var/run/postgresql/pgbouncer-2']);
    expect(s.commands).toEqual([]);
  });
});

describe('pgb-setup restart --dry-run', () => {
  it('names what it would hand over, and the login it would check', async () => {
    const ctx = captureContext({ system: await runningHost({}), env: ENV });
    expect(await main(['node', 'pgb-setup', 'restart', 'production', '--dry-run'], ctx)).toBe(0);
    expect(ctx.out()).toBe('would hand over pgbouncer (pid 500) on port 6432: start each again beside the running one (so_reuseport), check a login as app_user, then shut the old one down gracefully\n');
  });

  it('refuses where a handover cannot work, naming the plain restart', async () => {
    const ctx = captureContext({ system: await runningHost({ so_reuseport: '0' }), env: ENV });
    expect(await main(['node', 'pgb-setup', 'restart', 'production', '--dry-run'], ctx)).toBe(1);
    expect(ctx.err()).toMatch(/cannot hand over: the running pgbouncer listens without so_reuseport.*systemctl restart pgbouncer\) cuts every client/);
  });
});
