/**
 * Debian and Ubuntu (and apt derivatives matched through ID_LIKE).
 * Paths and user verified on Debian 12 with pgbouncer 1.18.0-1+deb12u1 (pgbouncer-facts §5.2).
 */
import { UnsupportedHostError } from '../../text/errors.js';
import type { OsRelease } from '../os-release.js';
import { splitVersionArg } from './shared.js';
import type { DistroSpec, InstallCommand, InstallOptions, RepoSetup, RepoSource } from './types.js';

const PGDG_APT_KEY_URL = 'https://www.postgresql.org/media/keys/ACCC4CF8.asc';
const PGDG_APT_KEYRING = '/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc';
const PGDG_APT_LIST = '/etc/apt/sources.list.d/pgdg.list';
const PGDG_APT_URL = 'https://apt.postgresql.org/pub/repos/apt';

const APT_ENV = { DEBIAN_FRONTEND: 'noninteractive' } as const;
// Wait for dpkg's lock instead of failing: unattended-upgrades often holds it right after boot.
const APT_LOCK_WAIT = ['-o', 'DPkg::Lock::Timeout=300'] as const;

interface DebianIdentity {
  name: string;
  derivedFrom?: string;
}

export function debianSpec(os: OsRelease, who: DebianIdentity): DistroSpec {
  // Derivatives (Mint, Pop!_OS) carry their own VERSION_CODENAME but the Ubuntu suite in
  // UBUNTU_CODENAME; the apt suite is what PGDG needs.
  const codename = os.raw.UBUNTU_CODENAME || os.versionCodename || undefined;
  const majorVersion = Number.parseInt(os.versionId, 10);
  const isUbuntu = who.name === 'ubuntu' || who.derivedFrom === 'ubuntu';

  const notes: string[] = [];
  if (isUbuntu) notes.push("Ubuntu ships pgbouncer in the 'universe' component; it must be enabled.");

  const spec: DistroSpec = {
    family: 'debian',
    name: who.name,
    prettyName: os.prettyName,
    ...(who.derivedFrom !== undefined ? { derivedFrom: who.derivedFrom } : {}),
    versionId: os.versionId,
    majorVersion,
    ...(codename !== undefined ? { codename } : {}),

    packageManager: 'apt',
    pgbouncerPackage: 'pgbouncer',
    pgbouncerBinary: '/usr/sbin/pgbouncer',
    configDir: '/etc/pgbouncer',
    iniPath: '/etc/pgbouncer/pgbouncer.ini',
    userlistPath: '/etc/pgbouncer/userlist.txt',
    // The Debian package has no pgbouncer user; postgresql-common (a dependency) provides postgres.
    defaultServiceUser: 'postgres',
    defaultServiceGroup: 'postgres',
    pidfile: '/var/run/postgresql/pgbouncer.pid',
    logfile: '/var/log/postgresql/pgbouncer.log',
    // Shared with PostgreSQL; the port in the socket name (.s.PGSQL.6432) keeps them apart.
    unixSocketDir: '/var/run/postgresql',
    serviceName: 'pgbouncer',
    systemdUnitPath: '/lib/systemd/system/pgbouncer.service',
    systemdDropInDir: '/etc/systemd/system/pgbouncer.service.d',
    firewallTool: 'ufw',
    needsIndexRefresh: true,
    repoSources: ['distro', 'pgdg'],
    notes,

    installCommands(packages, options?: InstallOptions): InstallCommand[] {
      if (packages.length === 0) return [];
      const out: InstallCommand[] = [];
      if (options?.refreshIndex ?? true) {
        out.push({
          kind: 'refresh-index',
          cmd: 'apt-get',
          args: [...APT_LOCK_WAIT, 'update'],
          env: { ...APT_ENV },
          why: 'refresh the package lists (empty on fresh hosts; needed after adding a repository)',
        });
      }
      out.push({
        kind: 'install',
        cmd: 'apt-get',
        args: [
          ...APT_LOCK_WAIT,
          'install',
          '-y',
          '--no-install-recommends',
          // An install can upgrade an already-installed pgbouncer; keep the admin's conffiles
          // instead of stopping at dpkg's conffile prompt (not covered by DEBIAN_FRONTEND).
          '-o',
          'Dpkg::Options::=--force-confdef',
          '-o',
          'Dpkg::Options::=--force-confold',
          ...packages,
        ],
        env: { ...APT_ENV },
        why: `install ${packages.join(', ')}`,
      });
      return out;
    },

    repoSetup(source: RepoSource): RepoSetup {
      if (source === 'distro') {
        return { source, prerequisites: [], commands: [], files: [], refreshIndex: false, notes: [...notes] };
      }
      if (codename === undefined) {
        throw new UnsupportedHostError(
          `--repo pgdg: ${os.prettyName} has no VERSION_CODENAME/UBUNTU_CODENAME, so the apt.postgresql.org suite is unknown`,
        );
      }
      return {
        source,
        prerequisites: ['curl', 'ca-certificates'],
        commands: [
          {
            cmd: 'install',
            args: ['-d', '-m', '0755', '/usr/share/postgresql-common/pgdg'],
            env: {},
            why: 'create the folder for the PGDG signing key',
          },
          {
            cmd: 'curl',
            args: ['-fsSL', '-o', PGDG_APT_KEYRING, PGDG_APT_KEY_URL],
            env: {},
            why: 'download the apt.postgresql.org signing key',
          },
        ],
        files: [
          {
            path: PGDG_APT_LIST,
            content: `deb [signed-by=${PGDG_APT_KEYRING}] ${PGDG_APT_URL} ${codename}-pgdg main\n`,
            mode: 0o644,
          },
        ],
        refreshIndex: true,
        notes: [`apt.postgresql.org suite ${codename}-pgdg; the key is trusted for this source only (signed-by)`],
      };
    },

    pgdgRepoSetup(options) {
      return spec.repoSetup('pgdg', options);
    },

    versionedPackageName(version: string): string {
      const parts = splitVersionArg(version);
      // Debian versions are <upstream>-<revision> (1.18.0-1+deb12u1, 1.25.1-1.pgdg120+1); apt-get
      // accepts a glob after `=` (checked with apt 2.6).
      return parts.length === 2 ? `pgbouncer=${version}.*` : `pgbouncer=${version}-*`;
    },
  };
  return spec;
}
