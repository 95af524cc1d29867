import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/main.js';
import type { Plan, FileStep, ServiceStep, PackageStep, FirewallStep } from '../../../src/plan/types.js';
import { captureContext, dryRunPlan } from '../../helpers/context.js';
import { FakeSystem } from '../../helpers/fake-system.js';

const FIXTURES = join(import.meta.dirname, '../../fixtures/os-release');
const ENV = { DBNAME: 'appdb', DBUSER: 'app_user', DBPASS: 'secret-never-shown', DBHOST: '10.0.0.20' };

function debianHost(): FakeSystem {
  return new FakeSystem()
    .file('/etc/os-release', readFileSync(join(FIXTURES, 'debian-12'), 'utf8'))
    .binary('ufw', '/usr/sbin/ufw')
    .on('systemctl cat pgbouncer', { exitCode: 1, stderr: 'No files found for pgbouncer.service.' })
    .on('getent passwd postgres', { stdout: 'postgres:x:101:104:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash\n' })
    .on(/^getent passwd (pgbouncer|101)$/, (args) => (args[1] === '101' ? { stdout: 'postgres:x:101:104::/var/lib/postgresql:/bin/bash\n' } : { exitCode: 2 }))
    .on(/^getent group (104|postgres)$/, { stdout: 'postgres:x:104:\n' })
    .on('apt-cache policy pgbouncer', { stdout: 'pgbouncer:\n  Installed: (none)\n  Candidate: 1.18.0-1+deb12u1\n' })
    .on('sh -c ulimit -n', { stdout: '1048576\n' })
    .on('ufw status', { stdout: 'Status: inactive\n' });
}

/** systemd's defaults for a unit that sets no LimitNOFILE: soft 1024, hard 524288. */
const SYSTEMD_DEFAULT_NOFILE = 'LimitNOFILE=524288\nLimitNOFILESoft=1024\n';

function rhelHost(fixture: string, nofile = SYSTEMD_DEFAULT_NOFILE): FakeSystem {
  const sys = new FakeSystem()
    .file('/etc/os-release', readFileSync(join(FIXTURES, fixture), 'utf8'))
    .binary('firewall-cmd', '/usr/bin/firewall-cmd')
    .on('systemctl cat pgbouncer', { exitCode: 1 })
    .on(/^getent (passwd|group) /, { exitCode: 2 })
    .on(/^(\S*\/)?(dnf|yum) info -q pgbouncer$/, { stdout: 'Name         : pgbouncer\nVersion      : 1.24.1\nRelease      : 1.el9\n' })
    .on('sh -c ulimit -n', { stdout: '1024\n' })
    .on('systemctl show -p Id -p LoadState -p MainPID -p LimitNOFILESoft -p LimitNOFILE pgbouncer pgbouncer-handover-*', { stdout: nofile })
    .on('firewall-cmd --state', { stdout: 'running\n' })
    .on('firewall-cmd --permanent --list-rich-rules', { stdout: '' });
  sys.dirs.add('/run/systemd/system');
  return sys;
}

const plan = (system: FakeSystem, args: string[]): Promise<Plan> => dryRunPlan(system, ENV, args);

const steps = <K extends Plan['steps'][number]['kind']>(p: Plan, kind: K) => p.steps.filter((s) => s.kind === kind) as Extract<Plan['steps'][number], { kind: K }>[];

describe('plan for a Debian 12 host without pgbouncer, systemd or an active firewall', () => {
  it('installs with apt non-interactively, writes files for postgres, starts a daemon, adds ufw rules', async () => {
    const system = debianHost();
    const p = await plan(system, ['production']);
    expect(p.pgbouncerVersion).toBe('1.18.0');
    expect(p.host).toMatchObject({ packageManager: 'apt', serviceManager: 'none', firewall: 'ufw (inactive)' });
    const [pkg] = steps(p, 'package') as PackageStep[];
    expect(pkg!.action).toBe('install');
    expect(pkg!.commands.map((c) => [c.cmd, ...c.args].join(' '))).toEqual([
      'apt-get -o DPkg::Lock::Timeout=300 update',
      expect.stringMatching(/^apt-get -o DPkg::Lock::Timeout=300 install -y .*pgbouncer$/),
    ]);
    expect(pkg!.commands[1]!.env).toMatchObject({ DEBIAN_FRONTEND: 'noninteractive' });
    const files = steps(p, 'file') as FileStep[];
    expect(files.map((f) => [f.path, f.mode.toString(8), f.owner, f.uid, f.action])).toEqual([
      ['/etc/pgbouncer/pgbouncer.ini', '640', 'postgres', 101, 'create'],
      ['/etc/pgbouncer/userlist.txt', '600', 'postgres', 101, 'create'],
      ['/var/log/postgresql/pgbouncer.log', '640', 'postgres', 101, 'create'],
    ]);
    const userlist = files[1]!;
    expect(userlist.content).toBeUndefined();
    expect(userlist.diff).toContain('"app_user" "********"');
    const [svc] = steps(p, 'service') as ServiceStep[];
    expect(svc).toMatchObject({ manager: 'daemon', action: 'start', commands: [{ cmd: '/usr/sbin/pgbouncer', args: ['-d', '-u', 'postgres', '/etc/pgbouncer/pgbouncer.ini'] }] });
    const [fw] = steps(p, 'firewall') as FirewallStep[];
    expect(fw!.commands.map((c) => c.args.join(' '))).toEqual([
      'allow from 10.0.0.0/8 to any port 6432 proto tcp comment pgb-setup',
      'deny 6432/tcp comment pgb-setup',
    ]);
    expect(fw!.notes.join(' ')).toMatch(/inactive.*--enable-firewall/);
    expect(p.changed).toBe(true);
    // Planning ran no command that changes anything.
    expect(system.commandLines().filter((l) => !/^(systemctl cat|getent|apt-cache policy|sh -c ulimit|\/usr\/sbin\/ufw status)/.test(l))).toEqual([]);
  });

  it('warns about other users whose md5 secrets cannot log in under scram-sha-256, and keeps their lines', async () => {
    const system = debianHost()
      .binary('pgbouncer', '/usr/sbin/pgbouncer')
      .on('/usr/sbin/pgbouncer --version', { stdout: 'PgBouncer 1.18.0\n' })
      .file('/etc/pgbouncer/userlist.txt', '"legacy" "md5fef380d29daf6b0a0fe92caf082670f6"\n', 0o640, 101, 104);
    const p = await plan(system, ['production']);
    expect(p.warnings.join('\n')).toMatch(/userlist\.txt line 1: legacy has an md5 secret, which cannot log in with auth_type scram-sha-256/);
    const userlist = (steps(p, 'file') as FileStep[]).find((f) => f.path === '/etc/pgbouncer/userlist.txt')!;
    expect(userlist.diff).toMatch(/^ "legacy" "\*{8}"$/m);
    expect(userlist.diff).toMatch(/^\+"app_user" "\*{8} \(new secret\)"$/m);
  });

  it('--enable-firewall allows SSH before enabling ufw', async () => {
    const p = await plan(debianHost(), ['production', '--enable-firewall']);
    const [fw] = steps(p, 'firewall') as FirewallStep[];
    const lines = fw!.commands.map((c) => c.args.join(' '));
    expect(lines.indexOf('limit 22/tcp comment pgb-setup')).toBeGreaterThanOrEqual(0);
    expect(lines.indexOf('limit 22/tcp comment pgb-setup')).toBeLessThan(lines.indexOf('--force enable'));
  });

  it('--repo pgdg adds the PostgreSQL apt repository before installing', async () => {
    const p = await plan(debianHost(), ['production', '--repo', 'pgdg']);
    const lines = (steps(p, 'package')[0] as PackageStep).commands.map((c) => [c.cmd, ...c.args].join(' '));
    expect(lines.some((l) => /apt\.postgresql\.org/.test(l))).toBe(true);
    expect(lines.at(-1)).toMatch(/^apt-get -o DPkg::Lock::Timeout=300 install -y .*pgbouncer$/);
  });

  it('human output masks secrets and ends with a summary', async () => {
    const ctx = captureContext({ system: debianHost(), env: ENV });
    expect(await main(['node', 'pgb-setup', 'staging', '--dry-run'], ctx)).toBe(0);
    expect(ctx.out()).toMatch(/^\+ file \/etc\/pgbouncer\/userlist\.txt 0600 postgres:postgres \(create, secrets masked\)$/m);
    expect(ctx.out()).toMatch(/change\(s\) to make\n$/);
    expect(ctx.out()).not.toContain('SCRAM-SHA-256$');
  });

  it('missing values without a terminal: exit 2 listing each, nothing asked', async () => {
    const ctx = captureContext({ system: debianHost(), env: { DBNAME: 'appdb' } });
    expect(await main(['node', 'pgb-setup', 'production', '--dry-run'], ctx)).toBe(2);
    expect(ctx.err()).toMatch(/DBHOST \(PostgreSQL host\): missing/);
    expect(ctx.err()).toMatch(/DBUSER \(database user\): missing/);
    expect(ctx.err()).toMatch(/DBPASS \(database password\): missing/);
  });
});

describe.each(['rhel-9', 'rocky-9', 'alma-9', 'centos-stream-9', 'fedora-40', 'amzn-2023'])('plan for a %s host with systemd and firewalld', (fixture) => {
  it('installs with dnf, runs pgbouncer as its own user under systemd (no drop-in: 1024 open files cover production), opens firewalld by rich rule', async () => {
    const p = await plan(rhelHost(fixture), ['production']);
    expect(p.pgbouncerVersion).toBe('1.24.1');
    expect(p.host).toMatchObject({ packageManager: 'dnf', serviceManager: 'systemd', firewall: 'firewalld (active)' });
    const pkg = steps(p, 'package')[0] as PackageStep;
    expect(pkg.commands.at(-1)).toMatchObject({ cmd: 'dnf', args: expect.arrayContaining(['install', '-y', 'pgbouncer']) });
    const files = steps(p, 'file') as FileStep[];
    expect(files.find((f) => f.path === '/etc/pgbouncer/pgbouncer.ini')).toMatchObject({ owner: 'pgbouncer', mode: 0o640 });
    expect(files.find((f) => f.path === '/etc/pgbouncer/userlist.txt')).toMatchObject({ owner: 'pgbouncer', mode: 0o600 });
    expect(files.find((f) => f.path === '/var/log/pgbouncer/pgbouncer.log')).toMatchObject({ owner: 'pgbouncer' });
    // production: max_client_conn 500 + 10 + pool 25 -> 535 fds, with headroom -> 1024: systemd's default soft limit covers it.
    expect(files.some((f) => f.path.includes('pgbouncer.service.d'))).toBe(false);
    expect(steps(p, 'directory').some((d) => d.path.includes('pgbouncer.service.d'))).toBe(false);
    expect(p.openFiles).toEqual({ needed: 1024, current: 1024, planned: 1024 });
    const svc = steps(p, 'service')[0] as ServiceStep;
    expect(svc.commands.map((c) => [c.cmd, ...c.args].join(' '))).toEqual(['systemctl enable --now pgbouncer']);
    const fw = steps(p, 'firewall')[0] as FirewallStep;
    expect(fw.commands.map((c) => [c.cmd, ...c.args].join(' '))).toEqual([
      'firewall-cmd --permanent --add-rich-rule=rule family="ipv4" source address="10.0.0.0/8" port port="6432" protocol="tcp" accept',
      'firewall-cmd --reload',
    ]);
  });
});

describe('--processes 2 on a systemd host (Rocky 9, pgbouncer 1.24)', () => {
  it('writes one ini per process, a template unit and a target, and enables an instance per process', async () => {
    const p = await plan(rhelHost('rocky-9'), ['production', '--processes', '2']);
    const files = steps(p, 'file') as FileStep[];
    const inis = files.filter((f) => /pgbouncer-\d\.ini$/.test(f.path));
    expect(inis.map((f) => f.path)).toEqual(['/etc/pgbouncer/pgbouncer-1.ini', '/etc/pgbouncer/pgbouncer-2.ini']);
    expect(inis[0]!.content).toMatch(/^peer_id = 1$/m);
    expect(inis[1]!.content).toMatch(/^\[peers\]\n1 = host=\/tmp\/pgbouncer-1 port=6432\n2 = host=\/tmp\/pgbouncer-2 port=6432$/m);
    const unit = files.find((f) => f.path === '/etc/systemd/system/pgbouncer@.service')!;
    expect(unit.content).toMatch(/^ExecStart=\/usr\/bin\/pgbouncer \/etc\/pgbouncer\/pgbouncer-%i\.ini$/m);
    expect(unit.content).toMatch(/^User=pgbouncer$/m);
    expect(files.find((f) => f.path === '/etc/systemd/system/pgbouncer-group.target')!.content).toMatch(/^Wants=pgbouncer@1\.service pgbouncer@2\.service$/m);
    const svc = steps(p, 'service')[0] as ServiceStep;
    expect(svc.commands.map((c) => [c.cmd, ...c.args].join(' '))).toEqual([
      'systemctl daemon-reload',
      'systemctl enable --now pgbouncer@1',
      'systemctl enable --now pgbouncer@2',
      'systemctl enable pgbouncer-group.target',
    ]);
  });
});

describe('unsupported hosts', () => {
  it.each(['alpine-3.20', 'arch'])('%s: exit 1 naming what is supported', async (fixture) => {
    const system = new FakeSystem().file('/etc/os-release', readFileSync(join(FIXTURES, fixture), 'utf8'));
    const ctx = captureContext({ system, env: ENV });
    expect(await main(['node', 'pgb-setup', 'production', '--dry-run'], ctx)).toBe(1);
    expect(ctx.err()).toMatch(/pgb-setup: .*(Alpine|Arch).*Debian/is);
  });
});
