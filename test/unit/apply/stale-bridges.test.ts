/**
 * Handover bridges left by a killed run: found read-only (a live bridge, a folder nothing runs
 * from, a PID reused by something else, a systemd unit), named in the plan (text and JSON), and
 * stopped by apply only after the service step brought the real pgbouncer up.
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/main.js';
import { applyPlan } from '../../../src/apply/apply-plan.js';
import { detectFacts } from '../../../src/facts/host-facts.js';
import { detectStaleBridges } from '../../../src/facts/handover-bridges.js';
import type { Plan, ServiceStep, StaleBridgeStep } from '../../../src/plan/types.js';
import { captureContext } from '../../helpers/context.js';
import { FakeSystem } from '../../helpers/fake-system.js';

const FIXTURES = join(import.meta.dirname, '../../fixtures/os-release');
const ENV = { DBNAME: 'appdb', DBUSER: 'app_user', DBPASS: 'secret-never-shown', DBHOST: '10.0.0.20' };
const TMP = tmpdir();
const LIVE = join(TMP, 'pgb-setup-handover-aaaaaa');
const DEAD = join(TMP, 'pgb-setup-handover-bbbbbb');
const REUSED = join(TMP, 'pgb-setup-handover-cccccc');
const UNIT_DIR = join(TMP, 'pgb-setup-handover-dddddd');

/** PID `pid` runs `argv` from `exe` until it gets SIGINT/SIGTERM/SIGQUIT (then kill -0 fails). */
function proc(sys: FakeSystem, pid: number, exe: string, argv: string[]): FakeSystem {
  let alive = true;
  sys
    .file(`/proc/${pid}/stat`, `${pid} (x) S 1`)
    .file(`/proc/${pid}/cmdline`, `${argv.join('\0')}\0`)
    .file(`/proc/${pid}/comm`, `${exe.split('/').pop()!.slice(0, 15)}\n`)
    .link(`/proc/${pid}/exe`, exe)
    .on(new RegExp(`^kill -0 ${pid}$`), () => ({ exitCode: alive ? 0 : 1 }))
    .on(new RegExp(`^kill -(INT|TERM|QUIT) ${pid}$`), () => {
      alive = false;
      return {};
    });
  return sys;
}

function bridgeFolder(sys: FakeSystem, dir: string, pid: number | undefined): FakeSystem {
  sys.file(join(dir, 'pgbouncer.ini'), '[pgbouncer]\nso_reuseport = 1\n', 0o600, 101, 104);
  if (pid !== undefined) sys.file(join(dir, 'pgbouncer.pid'), `${pid}\n`, 0o644, 101, 104);
  return sys;
}

/** A host with a live bridge (700), a folder whose PID is gone (701), and one whose PID is now `sleep` (702). */
function withBridges(sys: FakeSystem): FakeSystem {
  bridgeFolder(sys, LIVE, 700);
  proc(sys, 700, '/usr/sbin/pgbouncer', ['/usr/sbin/pgbouncer', '-d', '-u', 'postgres', join(LIVE, 'pgbouncer.ini')]);
  bridgeFolder(sys, DEAD, 701).on(/^kill -0 701$/, { exitCode: 1 });
  bridgeFolder(sys, REUSED, 702);
  proc(sys, 702, '/usr/bin/sleep', ['/usr/bin/sleep', '300']);
  sys.dirs.add(join(TMP, 'pgb-setup-candidate-zzzzzz'));
  return sys;
}

function debianHost(): FakeSystem {
  return new FakeSystem()
    .file('/etc/os-release', readFileSync(join(FIXTURES, 'debian-12'), 'utf8'))
    .binary('pgbouncer', '/usr/sbin/pgbouncer')
    .on(/^\/usr\/sbin\/pgbouncer --version$/, { stdout: 'PgBouncer 1.18.0\n' })
    .on('systemctl cat pgbouncer', { exitCode: 1, stderr: 'No files found for pgbouncer.service.' })
    .on('getent passwd postgres', { stdout: 'postgres:x:101:104:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash\n' })
    .on(/^getent passwd (pgbouncer|101)$/, (args) => (args[1] === '101' ? { stdout: 'postgres:x:101:104::/var/lib/postgresql:/bin/bash\n' } : { exitCode: 2 }))
    .on(/^getent group (104|postgres)$/, { stdout: 'postgres:x:104:\n' })
    .on('sh -c ulimit -n', { stdout: '1048576\n' });
}

const signals = (sys: FakeSystem) => sys.commandLines().filter((l) => /^kill -(INT|TERM|QUIT|KILL|HUP) /.test(l) || /^systemctl stop /.test(l));

describe('detectStaleBridges (read-only)', () => {
  it('a live bridge keeps its PID, a dead folder has none, a reused PID is left alone; nothing is signalled or removed', async () => {
    const sys = withBridges(new FakeSystem());
    const found = await detectStaleBridges(sys, []);
    expect(found).toEqual([
      { dir: LIVE, pid: 700 },
      { dir: DEAD },
      { dir: REUSED, leftAlone: expect.stringMatching(/^PID 702 is "sleep" .*, not pgbouncer$/) },
    ]);
    expect(signals(sys)).toEqual([]);
    expect(await sys.exists(DEAD)).toBe(true);
  });

  it('a pgbouncer on another config under the pidfile\'s PID is not that bridge', async () => {
    const sys = new FakeSystem();
    bridgeFolder(sys, LIVE, 700);
    proc(sys, 700, '/usr/sbin/pgbouncer', ['/usr/sbin/pgbouncer', '/etc/pgbouncer/pgbouncer.ini']);
    expect(await detectStaleBridges(sys, [])).toEqual([{ dir: LIVE, leftAlone: expect.stringMatching(/running \/etc\/pgbouncer\/pgbouncer.ini, not /) }]);
  });

  it('systemd: a listed unit is matched to its folder through its main process; a unit of something else is left alone', async () => {
    const sys = new FakeSystem();
    bridgeFolder(sys, UNIT_DIR, 703);
    proc(sys, 703, '/usr/sbin/pgbouncer', ['/usr/sbin/pgbouncer', join(UNIT_DIR, 'pgbouncer.ini')]);
    proc(sys, 704, '/usr/sbin/pgbouncer', ['/usr/sbin/pgbouncer', '/srv/mine.ini']);
    const found = await detectStaleBridges(sys, [
      { unit: 'pgbouncer-handover-4242-abc.service', mainPid: 703 },
      { unit: 'pgbouncer-handover-4243-abd.service', mainPid: 0 },
      { unit: 'pgbouncer-handover-4244-abe.service', mainPid: 704 },
    ]);
    expect(found).toEqual([
      { dir: UNIT_DIR, pid: 703, unit: 'pgbouncer-handover-4242-abc.service' },
      { dir: '', unit: 'pgbouncer-handover-4243-abd.service' },
      { dir: '', unit: 'pgbouncer-handover-4244-abe.service', leftAlone: expect.stringMatching(/running \/srv\/mine.ini, not a handover bridge/) },
    ]);
  });

  it('systemd: the bridge units come from the systemctl show that reads the open-files limit (no second call)', async () => {
    const sys = debianHost()
      .on('systemctl show -p Id -p LoadState -p MainPID -p LimitNOFILESoft -p LimitNOFILE pgbouncer pgbouncer-handover-*', {
        stdout: 'Id=pgbouncer.service\nLoadState=loaded\nMainPID=0\nLimitNOFILE=524288\nLimitNOFILESoft=1024\n\nId=pgbouncer-handover-4242-abc.service\nLoadState=loaded\nMainPID=703\nLimitNOFILE=524288\nLimitNOFILESoft=4096\n',
      });
    sys.dirs.add('/run/systemd/system');
    bridgeFolder(sys, UNIT_DIR, 703);
    proc(sys, 703, '/usr/sbin/pgbouncer', ['/usr/sbin/pgbouncer', join(UNIT_DIR, 'pgbouncer.ini')]);
    const facts = await detectFacts(sys, { isRoot: true });
    expect(facts.unitNofile).toEqual({ soft: 1024, hard: 524288 });
    expect(facts.staleBridges).toEqual([{ dir: UNIT_DIR, pid: 703, unit: 'pgbouncer-handover-4242-abc.service' }]);
    expect(sys.commandLines().filter((l) => l.startsWith('systemctl'))).toEqual(['systemctl show -p Id -p LoadState -p MainPID -p LimitNOFILESoft -p LimitNOFILE pgbouncer pgbouncer-handover-*']);
  });
});

describe('the plan names the bridges (--dry-run changes nothing)', () => {
  it('text and JSON: stopped after pgbouncer serves; the dead folder removed; the reused PID left alone', async () => {
    const text = captureContext({ system: withBridges(debianHost()), env: ENV });
    expect(await main(['node', 'pgb-setup', 'production', '--dry-run'], text)).toBe(0);
    expect(text.out()).toContain('- a handover bridge left by an interrupted run (pid 700) is stopped after pgbouncer serves');
    expect(text.out()).toContain(`- the folder ${DEAD} of a handover bridge left by an interrupted run (nothing runs from it) is removed`);
    expect(text.out()).toMatch(/note: a handover bridge left by an interrupted run \(folder .*cccccc\) is left alone: PID 702 is "sleep"/);

    const sys = withBridges(debianHost());
    const json = captureContext({ system: sys, env: ENV });
    expect(await main(['node', 'pgb-setup', 'production', '--dry-run', '--json'], json)).toBe(0);
    const plan = JSON.parse(json.out()) as Plan;
    const kinds = plan.steps.map((s) => s.kind);
    expect(kinds.slice(-3)).toEqual(['service', 'verify', 'stale-bridges']);
    expect(plan.steps.at(-1)).toMatchObject({ kind: 'stale-bridges', bridges: [{ dir: LIVE, pid: 700 }, { dir: DEAD }], serving: [{ iniPath: '/etc/pgbouncer/pgbouncer.ini', pidfile: '/var/run/postgresql/pgbouncer.pid' }] });
    expect(signals(sys)).toEqual([]);
    for (const d of [LIVE, DEAD, REUSED]) expect(await sys.exists(d)).toBe(true);
  });

  it('--skip-service: no step (nothing would check that pgbouncer serves), a note says the bridge is left', async () => {
    const ctx = captureContext({ system: withBridges(debianHost()), env: ENV });
    expect(await main(['node', 'pgb-setup', 'production', '--dry-run', '--json', '--skip-service'], ctx)).toBe(0);
    const plan = JSON.parse(ctx.out()) as Plan;
    expect(plan.steps.map((s) => s.kind)).not.toContain('stale-bridges');
    expect(plan.notes.join('\n')).toMatch(/--skip-service: the handover bridge\(s\) left by an interrupted run \(pid 700, folder .*aaaaaa; folder .*bbbbbb\) are left as they are/);
  });

  it('no bridge: no step, and the temp folder is read once', async () => {
    const sys = debianHost();
    sys.dirs.add(TMP);
    const ctx = captureContext({ system: sys, env: ENV });
    const readdir = sys.readdir.bind(sys);
    const reads: string[] = [];
    sys.readdir = async (p) => (reads.push(p), readdir(p));
    expect(await main(['node', 'pgb-setup', 'production', '--dry-run', '--json'], ctx)).toBe(0);
    expect((JSON.parse(ctx.out()) as Plan).steps.map((s) => s.kind)).not.toContain('stale-bridges');
    expect(reads.filter((p) => p === TMP)).toEqual([TMP]);
  });
});

describe('apply stops a bridge only after the service step succeeded', () => {
  const PIDFILE = '/var/run/postgresql/pgbouncer.pid';
  const INI = '/etc/pgbouncer/pgbouncer.ini';

  async function setup(startExit: number) {
    const sys = withBridges(debianHost());
    const facts = await detectFacts(sys, { isRoot: true });
    sys.on(/^\/usr\/sbin\/pgbouncer -d -u postgres \/etc\/pgbouncer\/pgbouncer.ini$/, () => {
      if (startExit === 0) {
        sys.file(PIDFILE, '800\n');
        proc(sys, 800, '/usr/sbin/pgbouncer', ['/usr/sbin/pgbouncer', '-d', '-u', 'postgres', INI]);
      }
      return { exitCode: startExit, stderr: startExit ? 'FATAL bind failed' : '' };
    });
    const service: ServiceStep = { kind: 'service', manager: 'daemon', action: 'start', reason: 'not running', pidfiles: [PIDFILE], commands: [{ cmd: '/usr/sbin/pgbouncer', args: ['-d', '-u', 'postgres', INI], why: 'start' }] };
    const bridges: StaleBridgeStep = {
      kind: 'stale-bridges', manager: 'daemon', port: 6432, version: '1.18.0', login: undefined,
      bridges: facts.staleBridges.filter((b) => !b.leftAlone).map((b) => ({ dir: b.dir, ...(b.pid !== undefined ? { pid: b.pid } : {}) })),
      // No socket folder: the check is the pidfile and a live process (a socket login needs the network).
      serving: [{ iniPath: INI, pidfile: PIDFILE, socketDir: '' }],
    };
    const plan: Plan = { version: 1, environment: 'production', pgbouncerVersion: '1.18.0', host: { distro: 'Debian', packageManager: 'apt', serviceUser: 'postgres', serviceManager: 'none', firewall: 'none', root: undefined }, steps: [service, bridges], changed: true, notes: [], warnings: [] };
    const progress: string[] = [];
    return { sys, facts, plan, progress, deps: { system: sys, facts, progress: (l: string) => progress.push(l), drainMs: 0 } };
  }

  it('the real pgbouncer comes up first, then the bridge stops and its folder and the dead one go', async () => {
    const { sys, plan, progress, deps } = await setup(0);
    const result = await applyPlan(plan, deps);
    const lines = sys.commandLines();
    const start = lines.indexOf('/usr/sbin/pgbouncer -d -u postgres /etc/pgbouncer/pgbouncer.ini');
    const stop = lines.findIndex((l) => /^kill -(INT|TERM) 700$/.test(l));
    expect(start).toBeGreaterThanOrEqual(0);
    expect(stop).toBeGreaterThan(start);
    expect(lines.some((l) => /^kill -\w+ 702$/.test(l) && l !== 'kill -0 702')).toBe(false);
    expect(await sys.exists(LIVE)).toBe(false);
    expect(await sys.exists(DEAD)).toBe(false);
    expect(await sys.exists(REUSED)).toBe(true);
    expect(result.results.at(-1)).toMatchObject({ kind: 'stale-bridges', status: 'changed' });
    expect(progress.join('\n')).toMatch(/stale handover bridge pid 700, .*aaaaaa: SIG/);
  });

  it('the service step fails: the bridge keeps serving, untouched, and the run says so', async () => {
    const { sys, plan, progress, deps } = await setup(1);
    await expect(applyPlan(plan, deps)).rejects.toThrow(/pgbouncer .* failed/);
    expect(signals(sys)).toEqual([]);
    expect(await sys.exists(LIVE)).toBe(true);
    expect(progress.join('\n')).toContain('the handover bridge left by an interrupted run (pid 700) keeps serving the port');
  });

  it('the service step "succeeded" but no real pgbouncer runs: the bridge is not stopped', async () => {
    const { sys, plan, deps } = await setup(0);
    sys.on(/^\/usr\/sbin\/pgbouncer -d -u postgres \/etc\/pgbouncer\/pgbouncer.ini$/, { exitCode: 0 });
    (plan.steps[0] as ServiceStep).pidfiles = [];
    await expect(applyPlan(plan, { ...deps })).rejects.toThrow(/does not run .*keeps serving the port/);
    expect(signals(sys)).toEqual([]);
    expect(await sys.exists(LIVE)).toBe(true);
  }, 20_000);
});

describe('pgb-setup restart and a bridge left by an interrupted run', () => {
  const INI = '/etc/pgbouncer/pgbouncer.ini';

  it('no real pgbouncer runs (the bridge alone serves): refused, the bridge named and left serving', async () => {
    const sys = withBridges(debianHost());
    const ctx = captureContext({ system: sys, env: ENV });
    expect(await main(['node', 'pgb-setup', 'restart'], ctx)).not.toBe(0);
    expect(ctx.err()).toContain('the handover bridge left by an interrupted run (pid 700) keeps serving the port');
    expect(signals(sys)).toEqual([]);
    expect(await sys.exists(LIVE)).toBe(true);
  });

  it('--dry-run says the bridge stops after the handover', async () => {
    const sys = withBridges(debianHost()).file(INI, '[pgbouncer]\nlisten_port = 6432\nso_reuseport = 1\n', 0o640, 101, 104).file('/var/run/postgresql/pgbouncer.pid', '600\n');
    proc(sys, 600, '/usr/sbin/pgbouncer', ['/usr/sbin/pgbouncer', '-d', INI]);
    const ctx = captureContext({ system: sys, env: ENV });
    expect(await main(['node', 'pgb-setup', 'restart', '--dry-run'], ctx)).toBe(0);
    expect(ctx.out()).toContain('would hand over pgbouncer (pid 600)');
    expect(ctx.out()).toContain('then a handover bridge left by an interrupted run (pid 700) is stopped after pgbouncer serves');
    expect(ctx.err()).toMatch(/note: a handover bridge left by an interrupted run \(folder .*cccccc\) is left alone/);
    expect(signals(sys)).toEqual([]);
  });
});
