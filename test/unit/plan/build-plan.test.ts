/**
 * The plan as data: buildPlan called with host facts and a resolved config, no main(), no System.
 * Each row: a host, what the plan must contain.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildPlan, type PlanOptions } from '../../../src/plan/build-plan.js';
import type { FileFact, HostFacts } from '../../../src/facts/host-facts.js';
import { resolveDistro } from '../../../src/facts/distro/index.js';
import { parseOsRelease } from '../../../src/facts/os-release.js';
import { envLayer, loadBuiltinProfile } from '../../../src/profile/layers.js';
import { DEBIAN_PATHS, hostDefaultsLayer } from '../../../src/profile/host-defaults.js';
import { resolveConfig, type ResolvedConfig } from '../../../src/profile/resolve.js';
import { renderPgbouncerIni } from '../../../src/render/pgbouncer-ini.js';
import type { FileStep, Plan, ServiceStep, Step } from '../../../src/plan/types.js';

const OS = parseOsRelease(readFileSync(join(import.meta.dirname, '../../fixtures/os-release/debian-12'), 'utf8'));
const ENV = { DBNAME: 'appdb', DBUSER: 'app_user', DBPASS: 'never-in-a-plan', DBHOST: '10.0.0.20' };
const USERLIST = '"app_user" "SCRAM-SHA-256$4096:c2FsdA==$a2V5$a2V5"\n';
const INI = '/etc/pgbouncer/pgbouncer.ini';
const USERLIST_PATH = '/etc/pgbouncer/userlist.txt';

function config(): ResolvedConfig {
  return resolveConfig('production', [hostDefaultsLayer(DEBIAN_PATHS), loadBuiltinProfile('production'), envLayer(ENV, 'environment')], { version: '1.18.0', source: 'test' });
}

function facts(over: Partial<HostFacts> = {}): HostFacts {
  return {
    root: undefined,
    live: true,
    isRoot: true,
    os: OS,
    distro: resolveDistro(OS),
    pgbouncer: { installed: true, binary: '/usr/sbin/pgbouncer', version: '1.18.0' },
    serviceUser: { user: 'postgres', group: 'postgres', uid: 101, gid: 104, source: 'passwd', detail: 'test' },
    systemd: false,
    firewall: { tool: undefined, active: false, ufwRules: [], richRules: [] },
    ini: undefined,
    userlist: undefined,
    running: undefined,
    nofileLimit: 1048576,
    unitNofile: undefined,
    existingDirs: new Set(['/etc/pgbouncer', '/var/log/postgresql', '/var/run/postgresql']),
    iniFiles: new Map(),
    logfiles: new Map(),
    unitFiles: new Map(),
    runningByPidfile: new Map(),
    staleBridges: [],
    candidateVersion: undefined,
    ...over,
  };
}

const OPTIONS: PlanOptions = { allowFrom: [], skipInstall: false, skipFirewall: false, skipService: false, skipVerify: false, enableFirewall: false, repo: 'distro', backupStamp: '2026-12-02T09-00-00Z' };

function plan(f: HostFacts, options: Partial<PlanOptions> = {}): Plan {
  const c = config();
  return buildPlan(f, c, { instances: [{ id: undefined, iniPath: INI, content: renderPgbouncerIni(c), config: c }], userlist: USERLIST }, { ...OPTIONS, ...options });
}

const fact = (path: string, content: string, mode: number, uid = 101, gid = 104): FileFact => ({ path, content, mode, uid, gid });
const kinds = (p: Plan) => p.steps.map((s) => s.kind);
const file = (p: Plan, path: string) => p.steps.find((s): s is FileStep => s.kind === 'file' && s.path === path);
const service = (p: Plan) => p.steps.find((s): s is ServiceStep => s.kind === 'service');
const commandLines = (s: Step | undefined) => (s && 'commands' in s ? s.commands.map((c) => [c.cmd, ...c.args].join(' ')) : []);

describe('buildPlan as data (Debian 12, no systemd)', () => {
  const c = config();
  const currentIni = () => fact(INI, renderPgbouncerIni(c), 0o640);
  const running = { pid: 4242, pidfile: '/var/run/postgresql/pgbouncer.pid' };

  it.each<[string, () => HostFacts, Partial<PlanOptions>, (p: Plan) => void]>([
    ['fresh host, not installed: apt install first, then directories, files, start, verify', () => facts({ pgbouncer: { installed: false } }), {}, (p) => {
      expect(kinds(p)[0]).toBe('package');
      expect(commandLines(p.steps[0])).toEqual(['apt-get -o DPkg::Lock::Timeout=300 update', 'apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold pgbouncer']);
      expect(kinds(p).slice(-2)).toEqual(['service', 'verify']);
    }],
    ['--skip-install on a host without pgbouncer: a skipped package step, nothing installed', () => facts({ pgbouncer: { installed: false } }), { skipInstall: true }, (p) => {
      expect(p.steps[0]).toMatchObject({ kind: 'package', action: 'skip', commands: [] });
    }],
    ['new files: created 0640 / 0600 for the service user, candidate-checked, no backup', () => facts(), {}, (p) => {
      expect(file(p, INI)).toMatchObject({ action: 'create', mode: 0o640, uid: 101, gid: 104, notify: 'reload', secret: false });
      expect(file(p, USERLIST_PATH)).toMatchObject({ action: 'create', mode: 0o600, secret: true });
      expect(kinds(p)).toContain('candidate-check');
      expect(kinds(p)).not.toContain('backup');
    }],
    ['not running, no systemd: started as a daemon as the service user', () => facts(), {}, (p) => {
      expect(service(p)).toMatchObject({ manager: 'daemon', action: 'start' });
      expect(commandLines(service(p))).toEqual([`/usr/sbin/pgbouncer -d -u postgres ${INI}`]);
    }],
    ['same files, running: nothing changes, no candidate check, no backup', () => facts({ iniFiles: new Map([[INI, currentIni()]]), userlist: fact(USERLIST_PATH, USERLIST, 0o600), running, runningByPidfile: new Map([[running.pidfile, running.pid]]), logfiles: new Map([['/var/log/postgresql/pgbouncer.log', fact('/var/log/postgresql/pgbouncer.log', '', 0o640)]]) }), {}, (p) => {
      expect(p.changed).toBe(false);
      expect(kinds(p)).not.toContain('candidate-check');
      expect(service(p)).toMatchObject({ action: 'none', commands: [] });
    }],
    ['changed userlist, running: backed up, reloaded with SIGHUP', () => facts({ iniFiles: new Map([[INI, currentIni()]]), userlist: fact(USERLIST_PATH, '"old" "x"\n', 0o600), running, runningByPidfile: new Map([[running.pidfile, running.pid]]) }), {}, (p) => {
      expect(p.steps.find((s) => s.kind === 'backup')).toMatchObject({ dir: '/var/backups/pgb-setup/2026-12-02T09-00-00Z', files: [USERLIST_PATH] });
      expect(commandLines(service(p))).toEqual(['kill -HUP 4242']);
    }],
    ['a userlist readable by others: set to 0600, said in a note', () => facts({ iniFiles: new Map([[INI, currentIni()]]), userlist: fact(USERLIST_PATH, '"old" "x"\n', 0o644) }), {}, (p) => {
      expect(file(p, USERLIST_PATH)).toMatchObject({ action: 'update', mode: 0o600 });
      expect(p.notes.join('\n')).toMatch(/userlist\.txt was readable by every user \(mode 0644\): set to 0600/);
    }],
    ['right content, wrong owner: fix-permissions only', () => facts({ iniFiles: new Map([[INI, { ...currentIni(), uid: 0, gid: 0 }]]) }), {}, (p) => {
      expect(file(p, INI)).toMatchObject({ action: 'fix-permissions', diff: '' });
    }],
    ['--skip-service: no service or verify step, said in a note', () => facts(), { skipService: true }, (p) => {
      expect(kinds(p)).not.toContain('service');
      expect(kinds(p)).not.toContain('verify');
      expect(p.notes).toContain('--skip-service: pgbouncer not started or reloaded');
    }],
    ['--skip-verify: no candidate check, said in a note', () => facts(), { skipVerify: true }, (p) => {
      expect(kinds(p)).not.toContain('candidate-check');
      expect(p.notes).toContain('--skip-verify: the candidate config is not test-started first');
    }],
    ['no firewall tool: no firewall step, said in a note', () => facts(), { allowFrom: ['10.0.0.0/8'] }, (p) => {
      expect(kinds(p)).not.toContain('firewall');
      expect(p.notes).toContain('no ufw or firewalld on this host: no firewall rules written');
    }],
    ['ufw and --allow-from: one allow rule per network on the listen port', () => facts({ firewall: { tool: 'ufw', active: true, ufwRules: [], richRules: [] } }), { allowFrom: ['10.0.0.0/8'] }, (p) => {
      const fw = p.steps.find((s) => s.kind === 'firewall');
      expect(fw).toMatchObject({ tool: 'ufw', port: 6432, allowFrom: ['10.0.0.0/8'] });
      expect(commandLines(fw).join('\n')).toContain('10.0.0.0/8');
    }],
    ['a bridge alone on the port (the old process had stopped): started, then the bridge stops', () => facts({ iniFiles: new Map([[INI, currentIni()]]), userlist: fact(USERLIST_PATH, USERLIST, 0o600), staleBridges: [{ dir: '/tmp/pgb-setup-handover-abc', pid: 4343 }] }), {}, (p) => {
      expect(service(p)).toMatchObject({ action: 'start' });
      expect(kinds(p).at(-1)).toBe('stale-bridges');
    }],
    ['a bridge folder nothing runs from, beside the running pgbouncer: no handover, the folder is removed', () => facts({ iniFiles: new Map([[INI, currentIni()]]), userlist: fact(USERLIST_PATH, USERLIST, 0o600), running, runningByPidfile: new Map([[running.pidfile, running.pid]]), staleBridges: [{ dir: '/tmp/pgb-setup-handover-abc' }] }), {}, (p) => {
      expect(service(p)).toMatchObject({ action: 'none' });
      expect(kinds(p).at(-1)).toBe('stale-bridges');
    }],
    ['--root: no service, no candidate check, packages skipped', () => facts({ root: '/srv/image', live: false, pgbouncer: { installed: false } }), {}, (p) => {
      expect(p.steps[0]).toMatchObject({ kind: 'package', action: 'skip' });
      expect(kinds(p)).not.toContain('service');
      expect(kinds(p)).not.toContain('candidate-check');
      expect(p.host.root).toBe('/srv/image');
    }],
  ])('%s', (_name, host, options, check) => {
    const p = plan(host(), options);
    check(p);
    expect(JSON.stringify(p)).not.toContain(ENV.DBPASS);
  });

  it('systemd host: the LimitNOFILE drop-in is a root-owned 0644 file that asks for a daemon-reload', () => {
    const p = plan(facts({ systemd: true, unitNofile: { soft: 512, hard: 524288 } }));
    const dropIn = p.steps.find((s): s is FileStep => s.kind === 'file' && s.notify === 'daemon-reload');
    expect(dropIn).toMatchObject({ mode: 0o644, uid: 0, gid: 0, owner: 'root' });
    expect(dropIn!.content).toMatch(/^LimitNOFILE=1024:524288$/m);
    expect(p.openFiles).toEqual({ needed: 1024, current: 512, planned: 1024 });
    expect(service(p)?.manager).toBe('systemd');
  });
});
