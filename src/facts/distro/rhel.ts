/**
 * The RHEL family: RHEL, Rocky, AlmaLinux, CentOS Stream (and other EL rebuilds matched through
 * PLATFORM_ID / ID_LIKE), Fedora, Amazon Linux 2023. All use dnf.
 *
 * Paths and user follow the PGDG spec (pgbouncer-facts §5.3): binary /usr/bin/pgbouncer, user
 * pgbouncer, /var/log/pgbouncer and /run/pgbouncer (0700, tmpfiles.d). Fedora's and EPEL's own
 * spec also creates a `pgbouncer` user; their other paths are assumed to match [unverified].
 */
import { UnsupportedHostError } from '../../text/errors.js';
import type { OsRelease } from '../os-release.js';
import { checkArch, splitVersionArg } from './shared.js';
import type { DistroSpec, InstallCommand, PlannedCommand, RepoOptions, RepoSetup, RepoSource } from './types.js';

/** `el`: RHEL and its rebuilds; `fedora`; `amzn`: Amazon Linux 2023. */
export type RhelVariant = 'el' | 'fedora' | 'amzn';

interface RhelIdentity {
  name: string;
  variant: RhelVariant;
  majorVersion: number;
  derivedFrom?: string;
}

const PGDG_RPM_BASE = 'https://download.postgresql.org/pub/repos/yum/reporpms';

export function rhelSpec(os: OsRelease, who: RhelIdentity): DistroSpec {
  const { variant, majorVersion } = who;

  const notes: string[] = [];
  if (variant === 'el') {
    notes.push(
      'On EL, pgbouncer is packaged in EPEL (and in PGDG\'s pgdg-common); --repo distro enables EPEL first.',
    );
  }
  if (variant === 'amzn') {
    notes.push(
      'Amazon Linux 2023: whether its repositories carry pgbouncer is unverified; PGDG publishes no AL2023 repository.',
    );
  }

  const dnf = (args: string[], why: string): PlannedCommand => ({ cmd: 'dnf', args, env: {}, why });

  const spec: DistroSpec = {
    family: 'rhel',
    name: who.name,
    prettyName: os.prettyName,
    ...(who.derivedFrom !== undefined ? { derivedFrom: who.derivedFrom } : {}),
    versionId: os.versionId,
    majorVersion,

    packageManager: 'dnf',
    pgbouncerPackage: 'pgbouncer',
    pgbouncerBinary: '/usr/bin/pgbouncer',
    configDir: '/etc/pgbouncer',
    iniPath: '/etc/pgbouncer/pgbouncer.ini',
    userlistPath: '/etc/pgbouncer/userlist.txt',
    defaultServiceUser: 'pgbouncer',
    defaultServiceGroup: 'pgbouncer',
    pidfile: '/var/run/pgbouncer/pgbouncer.pid',
    logfile: '/var/log/pgbouncer/pgbouncer.log',
    // The packaged ini sets no unix_socket_dir, so pgbouncer uses its compiled-in /tmp; keeping it
    // means we change nothing that clients already rely on. /run/pgbouncer is 0700 pgbouncer
    // (tmpfiles.d), so a socket there would be reachable by root and pgbouncer only, not by the
    // app user. systemd-tmpfiles' age cleanup of /tmp skips sockets that are in use.
    unixSocketDir: '/tmp',
    serviceName: 'pgbouncer',
    systemdUnitPath: '/usr/lib/systemd/system/pgbouncer.service',
    systemdDropInDir: '/etc/systemd/system/pgbouncer.service.d',
    firewallTool: 'firewalld',
    // dnf refreshes expired metadata by itself before resolving an install.
    needsIndexRefresh: false,
    repoSources: variant === 'amzn' ? ['distro'] : ['distro', 'pgdg'],
    notes,

    installCommands(packages): InstallCommand[] {
      if (packages.length === 0) return [];
      return [{ kind: 'install', ...dnf(['install', '-y', ...packages], `install ${packages.join(', ')}`) }];
    },

    repoSetup(source: RepoSource, options?: RepoOptions): RepoSetup {
      const arch = checkArch(options?.arch ?? 'x86_64');
      if (source === 'distro') {
        const commands: PlannedCommand[] = [];
        const repoNotes = [...notes];
        if (variant === 'el') {
          if (who.name === 'rhel') {
            commands.push(
              dnf(
                ['install', '-y', `https://dl.fedoraproject.org/pub/epel/epel-release-latest-${majorVersion}.noarch.rpm`],
                'enable EPEL, which packages pgbouncer for EL',
              ),
            );
            repoNotes.push('RHEL: some EPEL packages also need the CodeReady Builder repository; pgbouncer\'s dependencies are in BaseOS/AppStream.');
          } else {
            commands.push(dnf(['install', '-y', 'epel-release'], 'enable EPEL, which packages pgbouncer for EL'));
          }
        }
        return { source, prerequisites: [], commands, files: [], refreshIndex: false, notes: repoNotes };
      }
      if (variant === 'amzn') {
        throw new UnsupportedHostError(
          `--repo pgdg: the PostgreSQL community (PGDG) publishes no repository for ${os.prettyName}; use --repo distro`,
        );
      }
      const url =
        variant === 'fedora'
          ? `${PGDG_RPM_BASE}/F-${majorVersion}-${arch}/pgdg-fedora-repo-latest.noarch.rpm`
          : `${PGDG_RPM_BASE}/EL-${majorVersion}-${arch}/pgdg-redhat-repo-latest.noarch.rpm`;
      return {
        source,
        prerequisites: [],
        commands: [dnf(['install', '-y', url], 'add the PostgreSQL community (PGDG) repository; pgbouncer is in pgdg-common')],
        files: [],
        refreshIndex: false,
        notes: ['The repository RPM installs the PGDG signing keys; dnf asks nothing more with -y.'],
      };
    },

    pgdgRepoSetup(options) {
      return spec.repoSetup('pgdg', options);
    },

    versionedPackageName(version: string): string {
      const parts = splitVersionArg(version);
      return parts.length === 2 ? `pgbouncer-${version}.*` : `pgbouncer-${version}`;
    },
  };
  return spec;
}
