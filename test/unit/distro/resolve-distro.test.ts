import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { resolveDistro, SUPPORTED_DISTROS, type DistroSpec } from '../../../src/facts/distro/index.js';
import { InputError, UnsupportedHostError } from '../../../src/text/errors.js';
import { parseOsRelease } from '../../../src/facts/os-release.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/os-release');
const spec = (name: string): DistroSpec => resolveDistro(parseOsRelease(readFileSync(join(FIXTURES, name), 'utf8')));
const fromText = (text: string): DistroSpec => resolveDistro(parseOsRelease(text));

const DEBIAN_PATHS = {
  family: 'debian',
  packageManager: 'apt',
  defaultServiceUser: 'postgres',
  pgbouncerBinary: '/usr/sbin/pgbouncer',
  pidfile: '/var/run/postgresql/pgbouncer.pid',
  logfile: '/var/log/postgresql/pgbouncer.log',
  unixSocketDir: '/var/run/postgresql',
  firewallTool: 'ufw',
  needsIndexRefresh: true,
};
const RHEL_PATHS = {
  family: 'rhel',
  packageManager: 'dnf',
  defaultServiceUser: 'pgbouncer',
  pgbouncerBinary: '/usr/bin/pgbouncer',
  pidfile: '/var/run/pgbouncer/pgbouncer.pid',
  logfile: '/var/log/pgbouncer/pgbouncer.log',
  unixSocketDir: '/tmp',
  firewallTool: 'firewalld',
  needsIndexRefresh: false,
};

describe('resolveDistro: every supported fixture', () => {
  it.each([
    ['debian-12', 'debian', 12, 'bookworm', DEBIAN_PATHS],
    ['debian-13', 'debian', 13, 'trixie', DEBIAN_PATHS],
    ['ubuntu-22.04', 'ubuntu', 22, 'jammy', DEBIAN_PATHS],
    ['ubuntu-24.04', 'ubuntu', 24, 'noble', DEBIAN_PATHS],
    ['rhel-9', 'rhel', 9, undefined, RHEL_PATHS],
    ['rocky-9', 'rocky', 9, undefined, RHEL_PATHS],
    ['alma-9', 'almalinux', 9, undefined, RHEL_PATHS],
    ['centos-stream-9', 'centos', 9, undefined, RHEL_PATHS],
    ['fedora-40', 'fedora', 40, undefined, RHEL_PATHS],
    ['amzn-2023', 'amzn', 2023, undefined, RHEL_PATHS],
  ])('%s → %s', (fixture, name, major, codename, expected) => {
    const s = spec(fixture);
    expect(s).toMatchObject(expected);
    expect(s.name).toBe(name);
    expect(s.majorVersion).toBe(major);
    expect(s.codename).toBe(codename);
    expect(s.derivedFrom).toBeUndefined();
    expect(s).toMatchObject({
      pgbouncerPackage: 'pgbouncer',
      configDir: '/etc/pgbouncer',
      iniPath: '/etc/pgbouncer/pgbouncer.ini',
      userlistPath: '/etc/pgbouncer/userlist.txt',
      serviceName: 'pgbouncer',
      systemdDropInDir: '/etc/systemd/system/pgbouncer.service.d',
    });
  });

  it('notes that Ubuntu needs universe', () => {
    expect(spec('ubuntu-24.04').notes.join(' ')).toMatch(/universe/);
    expect(spec('debian-12').notes).toEqual([]);
  });
});

describe('resolveDistro: unsupported hosts', () => {
  const errorOf = (f: () => unknown): UnsupportedHostError => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(UnsupportedHostError);
      return e as UnsupportedHostError;
    }
    throw new Error('did not throw');
  };

  it.each([
    ['alpine-3.20', /Alpine Linux v3\.20 \(ID=alpine, VERSION_ID=3\.20\.7\)/],
    ['arch', /Arch Linux \(ID=arch, VERSION_ID=TEMPLATE_VERSION_ID\)/],
  ])('%s', (fixture, named) => {
    const err = errorOf(() => spec(fixture));
    expect(err.message).toMatch(named);
    for (const s of SUPPORTED_DISTROS) expect(err.message).toContain(s);
    expect(err.exitCode).toBe(1);
  });

  it('names the relative when ID_LIKE points at something unsupported (Manjaro)', () => {
    const err = errorOf(() => fromText('NAME="Manjaro Linux"\nID=manjaro\nID_LIKE=arch\n'));
    expect(err.message).toContain('ID=manjaro, ID_LIKE=arch');
  });

  it.each([
    ['CentOS 7 (EL7, yum)', 'NAME="CentOS Linux"\nVERSION="7 (Core)"\nID="centos"\nID_LIKE="rhel fedora"\nVERSION_ID="7"\n', /older than the oldest supported \(8\)/],
    ['RHEL 7.5', 'NAME="Red Hat Enterprise Linux Server"\nID="rhel"\nID_LIKE="fedora"\nVERSION_ID="7.5"\n', /7\.5/],
    ['Amazon Linux 2', 'NAME="Amazon Linux"\nVERSION="2"\nID="amzn"\nID_LIKE="centos rhel fedora"\nVERSION_ID="2"\n', /only Amazon Linux 2023/],
    ['Debian 10', 'PRETTY_NAME="Debian GNU/Linux 10 (buster)"\nVERSION_ID="10"\nID=debian\n', /Debian GNU\/Linux 10/],
    ['Ubuntu 18.04', 'NAME="Ubuntu"\nVERSION_ID="18.04"\nID=ubuntu\nID_LIKE=debian\n', /18\.04/],
    ['an EL7 rebuild via PLATFORM_ID', 'NAME="X"\nID=x\nID_LIKE="rhel"\nVERSION_ID=7\nPLATFORM_ID="platform:el7"\n', /EL7/],
    ['openSUSE', 'NAME="openSUSE Leap"\nID="opensuse-leap"\nID_LIKE="suse opensuse"\nVERSION_ID="15.4"\n', /ID=opensuse-leap/],
  ])('%s', (_label, text, message) => {
    expect(errorOf(() => fromText(text)).message).toMatch(message);
  });
});

describe('resolveDistro: derivatives through ID_LIKE / PLATFORM_ID', () => {
  it('Linux Mint uses the Ubuntu suite from UBUNTU_CODENAME', () => {
    const s = fromText('NAME="Linux Mint"\nID=linuxmint\nID_LIKE="ubuntu debian"\nVERSION_ID="21.1"\nVERSION_CODENAME=vera\nUBUNTU_CODENAME=jammy\n');
    expect(s).toMatchObject({ family: 'debian', name: 'linuxmint', derivedFrom: 'ubuntu', codename: 'jammy', defaultServiceUser: 'postgres' });
  });

  it('Oracle Linux is EL through PLATFORM_ID', () => {
    const s = fromText('NAME="Oracle Linux Server"\nID="ol"\nID_LIKE="fedora"\nVERSION_ID="9.5"\nPLATFORM_ID="platform:el9"\n');
    expect(s).toMatchObject({ family: 'rhel', name: 'ol', derivedFrom: 'fedora', majorVersion: 9, packageManager: 'dnf' });
    expect(s.pgdgRepoSetup().commands[0]?.args.at(-1)).toContain('/EL-9-x86_64/');
  });

  it('a Debian derivative without a codename resolves but cannot use PGDG', () => {
    const s = fromText('NAME="Thing"\nID=thing\nID_LIKE=debian\n');
    expect(s.family).toBe('debian');
    expect(() => s.pgdgRepoSetup()).toThrow(UnsupportedHostError);
  });

  it('Debian testing without VERSION_ID is accepted', () => {
    const s = fromText('PRETTY_NAME="Debian GNU/Linux trixie/sid"\nNAME="Debian GNU/Linux"\nVERSION_CODENAME=trixie\nID=debian\n');
    expect(s).toMatchObject({ family: 'debian', codename: 'trixie' });
    expect(Number.isNaN(s.majorVersion)).toBe(true);
  });
});

describe('installCommands', () => {
  it('apt: update, then a non-interactive install that keeps existing conffiles', () => {
    expect(spec('debian-12').installCommands(['pgbouncer', 'postgresql-client'])).toEqual([
      {
        kind: 'refresh-index',
        cmd: 'apt-get',
        args: ['-o', 'DPkg::Lock::Timeout=300', 'update'],
        env: { DEBIAN_FRONTEND: 'noninteractive' },
        why: expect.any(String),
      },
      {
        kind: 'install',
        cmd: 'apt-get',
        args: [
          '-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '--no-install-recommends',
          '-o', 'Dpkg::Options::=--force-confdef', '-o', 'Dpkg::Options::=--force-confold',
          'pgbouncer', 'postgresql-client',
        ],
        env: { DEBIAN_FRONTEND: 'noninteractive' },
        why: 'install pgbouncer, postgresql-client',
      },
    ]);
  });

  it('apt: the update can be left out', () => {
    const cmds = spec('ubuntu-24.04').installCommands(['pgbouncer'], { refreshIndex: false });
    expect(cmds.map((c) => c.kind)).toEqual(['install']);
  });

  it('dnf: one install, no index refresh', () => {
    expect(spec('rocky-9').installCommands(['pgbouncer'])).toEqual([
      { kind: 'install', cmd: 'dnf', args: ['install', '-y', 'pgbouncer'], env: {}, why: 'install pgbouncer' },
    ]);
  });

  it('nothing to install, no commands', () => {
    expect(spec('debian-12').installCommands([])).toEqual([]);
    expect(spec('fedora-40').installCommands([])).toEqual([]);
  });
});

describe('repoSetup', () => {
  it('apt PGDG: key download into a keyring + a signed-by source for the suite', () => {
    const r = spec('ubuntu-22.04').pgdgRepoSetup();
    expect(r.prerequisites).toEqual(['curl', 'ca-certificates']);
    expect(r.commands.map((c) => [c.cmd, ...c.args])).toEqual([
      ['install', '-d', '-m', '0755', '/usr/share/postgresql-common/pgdg'],
      ['curl', '-fsSL', '-o', '/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc', 'https://www.postgresql.org/media/keys/ACCC4CF8.asc'],
    ]);
    expect(r.files).toEqual([
      {
        path: '/etc/apt/sources.list.d/pgdg.list',
        content:
          'deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt jammy-pgdg main\n',
        mode: 0o644,
      },
    ]);
    expect(r.refreshIndex).toBe(true);
    expect(spec('debian-13').pgdgRepoSetup().files[0]?.content).toContain(' trixie-pgdg main');
  });

  it('dnf PGDG: the repo RPM for the EL major or Fedora release and arch', () => {
    const url = (fixture: string, arch?: string) =>
      spec(fixture).pgdgRepoSetup(arch ? { arch } : undefined).commands.map((c) => [c.cmd, ...c.args]);
    expect(url('rhel-9')).toEqual([
      ['dnf', 'install', '-y', 'https://download.postgresql.org/pub/repos/yum/reporpms/EL-9-x86_64/pgdg-redhat-repo-latest.noarch.rpm'],
    ]);
    expect(url('alma-9', 'aarch64')[0]?.at(-1)).toBe(
      'https://download.postgresql.org/pub/repos/yum/reporpms/EL-9-aarch64/pgdg-redhat-repo-latest.noarch.rpm',
    );
    expect(url('fedora-40')[0]?.at(-1)).toBe(
      'https://download.postgresql.org/pub/repos/yum/reporpms/F-40-x86_64/pgdg-fedora-repo-latest.noarch.rpm',
    );
  });

  it('refuses an arch that is not a plain word', () => {
    expect(() => spec('rocky-9').pgdgRepoSetup({ arch: '../x' })).toThrow(InputError);
  });

  it('Amazon Linux 2023 has no PGDG repository', () => {
    const s = spec('amzn-2023');
    expect(s.repoSources).toEqual(['distro']);
    expect(() => s.pgdgRepoSetup()).toThrow(/PGDG\) publishes no repository for Amazon Linux 2023/);
  });

  it('distro source: nothing on Debian/Fedora, EPEL on EL', () => {
    expect(spec('debian-12').repoSetup('distro').commands).toEqual([]);
    expect(spec('fedora-40').repoSetup('distro').commands).toEqual([]);
    expect(spec('rocky-9').repoSetup('distro').commands.map((c) => c.args)).toEqual([['install', '-y', 'epel-release']]);
    expect(spec('rhel-9').repoSetup('distro').commands.map((c) => c.args)).toEqual([
      ['install', '-y', 'https://dl.fedoraproject.org/pub/epel/epel-release-latest-9.noarch.rpm'],
    ]);
  });
});

describe('versionedPackageName', () => {
  it.each([
    ['debian-12', '1.18', 'pgbouncer=1.18.*'],
    ['debian-12', '1.18.0', 'pgbouncer=1.18.0-*'],
    ['rocky-9', '1.24', 'pgbouncer-1.24.*'],
    ['rocky-9', '1.24.1', 'pgbouncer-1.24.1'],
  ])('%s %s → %s', (fixture, version, expected) => {
    expect(spec(fixture).versionedPackageName(version)).toBe(expected);
  });

  it('rejects a malformed version', () => {
    expect(() => spec('debian-12').versionedPackageName('1.18; rm -rf /')).toThrow(InputError);
  });
});
