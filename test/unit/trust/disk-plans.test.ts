/**
 * Plan data for what the run changes on disk under systemd (#12.5): every changed file is backed up,
 * the systemd drop-in included, and a created one is recorded so rollback removes it; rollback then
 * reloads or restarts pgbouncer to match what it restored.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/main.js';
import { matchService, type Restore } from '../../../src/app/rollback.js';
import { DROP_IN_NAME } from '../../../src/plan/open-files.js';
import type { BackupStep, Plan } from '../../../src/plan/types.js';
import { captureContext } from '../../helpers/context.js';
import { FakeSystem } from '../../helpers/fake-system.js';

const FIXTURES = join(import.meta.dirname, '../../fixtures/os-release');
const ENV = { DBNAME: 'appdb', DBUSER: 'app_user', DBPASS: 'secret-never-shown', DBHOST: '10.0.0.20' };
const DROP_IN = `/etc/systemd/system/pgbouncer.service.d/${DROP_IN_NAME}`;

// The unit's limit as systemctl reports it: below what max_client_conn=2000 needs, so a drop-in is due.
function systemdDebian(unitNofile = 'LimitNOFILE=524288\nLimitNOFILESoft=2048\n'): FakeSystem {
  const sys = new FakeSystem()
    .file('/etc/os-release', readFileSync(join(FIXTURES, 'debian-12'), 'utf8'))
    .binary('pgbouncer', '/usr/sbin/pgbouncer')
    .binary('systemctl', '/usr/bin/systemctl')
    .on('pgbouncer --version', { stdout: 'PgBouncer 1.18.0\n' })
    .on(/\/usr\/sbin\/pgbouncer --version/, { stdout: 'PgBouncer 1.18.0\n' })
    .on('systemctl cat pgbouncer', { stdout: '# /lib/systemd/system/pgbouncer.service\n[Service]\nUser=postgres\n' })
    .on('getent passwd postgres', { stdout: 'postgres:x:101:104::/var/lib/postgresql:/bin/bash\n' })
    .on(/^getent group (104|postgres)$/, { stdout: 'postgres:x:104:\n' })
    .on('sh -c ulimit -n', { stdout: '1048576\n' })
    .on('systemctl show -p Id -p LoadState -p MainPID -p LimitNOFILESoft -p LimitNOFILE pgbouncer pgbouncer-handover-*', { stdout: unitNofile });
  sys.dirs.add('/run/systemd/system');
  return sys;
}

async function plan(system: FakeSystem, args: string[] = []): Promise<Plan> {
  const ctx = captureContext({ system, env: ENV });
  const code = await main(['node', 'pgb-setup', 'production', '--skip-firewall', '--set', 'max_client_conn=2000', ...args, '--dry-run', '--json'], ctx);
  expect(code, ctx.err()).toBe(0);
  return JSON.parse(ctx.out()) as Plan;
}

describe('#12.5 the backup covers every file the run changes', () => {
  it('a drop-in whose content changes is backed up with the config files', async () => {
    const sys = systemdDebian();
    const first = await plan(sys);
    for (const s of first.steps) if (s.kind === 'file' && s.content !== undefined) sys.file(s.path, s.content, s.mode, 101, 104);
    // The userlist holds a secret (left out of the JSON): write one so the ini and userlist exist.
    sys.file('/etc/pgbouncer/userlist.txt', '"app_user" "md5aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"\n', 0o600, 101, 104);
    sys.file(DROP_IN, '[Service]\nLimitNOFILE=2048\n', 0o644, 0, 0);
    const p = await plan(sys, ['--set', 'default_pool_size=31']);
    const backup = p.steps.find((s): s is BackupStep => s.kind === 'backup')!;
    expect(backup.files).toContain(DROP_IN);
    expect(backup.files).toContain('/etc/pgbouncer/pgbouncer.ini');
  });

  it('a drop-in the run creates is recorded, so rollback removes it', async () => {
    const sys = systemdDebian();
    sys.file('/etc/pgbouncer/pgbouncer.ini', '[pgbouncer]\n', 0o640, 101, 104);
    const p = await plan(sys);
    const backup = p.steps.find((s): s is BackupStep => s.kind === 'backup')!;
    expect(backup.files).toEqual(['/etc/pgbouncer/pgbouncer.ini']);
    expect(backup.created).toEqual(expect.arrayContaining([DROP_IN, '/etc/pgbouncer/userlist.txt']));
  });
});

describe('#12.5 rollback reloads or restarts to match what it restored', () => {
  const restore = (path: string, role: Restore['file']['role'], bytes: string | undefined): Restore => ({ file: { path, mode: 0o644, uid: 0, gid: 0, role }, bytes: bytes === undefined ? undefined : Buffer.from(bytes), now: undefined });
  const ini = '[pgbouncer]\npidfile = /run/pgbouncer-test.pid\n';

  function running(): FakeSystem {
    const sys = systemdDebian().file('/run/pgbouncer-test.pid', '4242\n').file('/proc/4242/stat', '4242 (pgbouncer) S 1 4242').file('/proc/4242/comm', 'pgbouncer\n');
    sys.on('systemctl daemon-reload', {}).on('systemctl reload pgbouncer', {}).on('systemctl restart pgbouncer', {}).on(/^kill -0 4242$/, {}).on(/^ps /, { stdout: 'pgbouncer\n' });
    return sys;
  }

  it('only pgbouncer.ini restored: reload', async () => {
    const sys = running();
    const ctx = captureContext({ system: sys });
    await matchService(sys, [restore('/etc/pgbouncer/pgbouncer.ini', 'ini', ini)], ctx);
    expect(sys.commandLines().filter((l) => l.startsWith('systemctl'))).toEqual(['systemctl reload pgbouncer']);
  });

  it('the drop-in restored too: daemon-reload, then restart', async () => {
    const sys = running();
    const ctx = captureContext({ system: sys });
    await matchService(sys, [restore('/etc/pgbouncer/pgbouncer.ini', 'ini', ini), restore(DROP_IN, 'unit', '[Service]\nLimitNOFILE=2048\n')], ctx);
    expect(sys.commandLines().filter((l) => l.startsWith('systemctl'))).toEqual(['systemctl daemon-reload', 'systemctl restart pgbouncer']);
    expect(ctx.err()).toMatch(/restarted pgbouncer/);
  });

  const replacing = (restored: string, running: string): Restore => ({
    ...restore('/etc/pgbouncer/pgbouncer.ini', 'ini', restored),
    now: { bytes: Buffer.from(running), mode: 0o640, uid: 0, gid: 0 },
  });

  it('a restored ini whose listen_port differs from the running one: restart, naming the setting', async () => {
    const sys = running();
    const ctx = captureContext({ system: sys });
    await matchService(sys, [replacing(`${ini}listen_port = 6432\n`, `${ini}listen_port = 6433\n`)], ctx);
    expect(sys.commandLines().filter((l) => l.startsWith('systemctl'))).toEqual(['systemctl restart pgbouncer']);
    expect(ctx.err()).toMatch(/restarted pgbouncer \(a reload cannot apply listen_port\)/);
  });

  it('a restored ini that differs only in reloadable settings: reload', async () => {
    const sys = running();
    const ctx = captureContext({ system: sys });
    await matchService(sys, [replacing(`${ini}default_pool_size = 20\n`, `${ini}default_pool_size = 30\n`)], ctx);
    expect(sys.commandLines().filter((l) => l.startsWith('systemctl'))).toEqual(['systemctl reload pgbouncer']);
  });
});
