/**
 * What differs between distro families, as data. One `DistroSpec` per detected host; nothing
 * outside src/distro asks which distro it is on (the Ansible `vars/<Distro>.yml` idea).
 */

export type DistroFamily = 'debian' | 'rhel';
/** `yum` is in the type for EL7-style hosts, which resolveDistro rejects today (see index.ts). */
export type PackageManager = 'apt' | 'dnf' | 'yum';
export type FirewallTool = 'ufw' | 'firewalld';
/** Where pgbouncer comes from: the distro's own repositories, or the PostgreSQL community's. */
export type RepoSource = 'distro' | 'pgdg';

/** A command to run, as data (argv, never a shell string). */
export interface PlannedCommand {
  cmd: string;
  args: string[];
  /** Extra environment for this command only; empty when none. */
  env: Record<string, string>;
  /** One line for the plan output. */
  why: string;
}

export interface InstallCommand extends PlannedCommand {
  /** `refresh-index` (apt-get update) must run before `install` on apt hosts. */
  kind: 'refresh-index' | 'install';
}

export interface PlannedFile {
  path: string;
  content: string;
  mode: number;
}

/** Steps that make a package repository available. Plan data only; nothing here runs. */
export interface RepoSetup {
  source: RepoSource;
  /** Packages that must be installed before `commands` can run (e.g. curl for the key download). */
  prerequisites: string[];
  /** Run in order, after the prerequisites are installed. */
  commands: PlannedCommand[];
  /** Written after `commands` (e.g. the apt source entry). */
  files: PlannedFile[];
  /** True when the package index must be refreshed after this setup (apt). */
  refreshIndex: boolean;
  notes: string[];
}

export interface InstallOptions {
  /**
   * apt only: precede the install with `apt-get update`. Default true: a fresh host or container
   * has empty package lists, and a just-added repository is unknown until the update.
   */
  refreshIndex?: boolean;
}

export interface RepoOptions {
  /** `uname -m` of the host, for PGDG RPM URLs. Default `x86_64`. */
  arch?: string;
}

export interface DistroSpec {
  family: DistroFamily;
  /** The os-release ID that matched (`debian`, `ubuntu`, `rhel`, `rocky`, `almalinux`, `centos`, `fedora`, `amzn`, …). */
  name: string;
  /** For messages: PRETTY_NAME. */
  prettyName: string;
  /** Set when the host was matched through ID_LIKE / PLATFORM_ID rather than its own ID. */
  derivedFrom?: string;
  versionId: string;
  /** Major version as a number (12, 24 for 24.04, 9, 40, 2023); NaN when the host has none. */
  majorVersion: number;
  /** Debian/Ubuntu suite codename (`bookworm`, `noble`); used for the PGDG apt source. */
  codename?: string;

  packageManager: PackageManager;
  pgbouncerPackage: string;
  pgbouncerBinary: string;
  configDir: string;
  iniPath: string;
  userlistPath: string;
  /** A DEFAULT only: the real service user is read from the host by detectServiceUser. */
  defaultServiceUser: string;
  defaultServiceGroup: string;
  pidfile: string;
  logfile: string;
  unixSocketDir: string;
  serviceName: string;
  /** Unit file shipped by the package (for reading, and for drop-in overrides beside it). */
  systemdUnitPath: string;
  /** Drop-in directory for overrides (never edit the packaged unit in place). */
  systemdDropInDir: string;
  firewallTool: FirewallTool;
  /** apt needs `apt-get update` before installing on a fresh host; dnf refreshes metadata itself. */
  needsIndexRefresh: boolean;
  /** Repository sources this host can use. */
  repoSources: RepoSource[];
  /** Facts worth printing in `detect` (e.g. "pgbouncer is in Ubuntu's universe component"). */
  notes: string[];

  /** argv lists that install `packages`, in order. */
  installCommands(packages: readonly string[], options?: InstallOptions): InstallCommand[];
  /** Steps to make `source` available. `distro` may still need a step (EPEL on EL). */
  repoSetup(source: RepoSource, options?: RepoOptions): RepoSetup;
  /** Shorthand for repoSetup('pgdg'). Throws UnsupportedHostError where PGDG has no packages. */
  pgdgRepoSetup(options?: RepoOptions): RepoSetup;
  /**
   * The package argument that pins pgbouncer to `version` (X.Y or X.Y.Z):
   * apt `pgbouncer=1.18.*` / `pgbouncer=1.18.0-*`, dnf `pgbouncer-1.18.*` / `pgbouncer-1.18.0`.
   */
  versionedPackageName(version: string): string;
}
