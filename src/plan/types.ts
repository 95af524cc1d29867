/**
 * The plan is data: what apply will do, in order. It is printed by --dry-run and --json exactly as
 * apply runs it, so the two cannot drift apart. Nothing in here has run yet.
 */
export type FileAction = 'create' | 'update' | 'fix-permissions' | 'unchanged';
export type ServiceAction = 'start' | 'reload' | 'handover' | 'restart' | 'none';

export interface PlanCommand {
  cmd: string;
  args: string[];
  env?: Record<string, string>;
  why: string;
}

export interface PackageStep {
  kind: 'package';
  action: 'install' | 'skip';
  packages: string[];
  commands: PlanCommand[];
  reason: string;
}

export interface BackupStep {
  kind: 'backup';
  dir: string;
  /** Files the run changes: copied byte for byte. */
  files: string[];
  /** Files the run creates: recorded, so rollback removes them. */
  created?: string[];
}

/** Where a file or folder goes, with the mode and owner it gets (uid/gid undefined under --root when unknown). */
interface PathOwnership {
  path: string;
  mode: number;
  owner: string;
  group: string;
  uid: number | undefined;
  gid: number | undefined;
}

export interface DirectoryStep extends PathOwnership {
  kind: 'directory';
  action: 'create' | 'unchanged';
  why: string;
}

export interface FileStep extends PathOwnership {
  kind: 'file';
  action: FileAction;
  /** The bytes to write. Never printed for secret files. */
  content: string;
  /** The exact bytes to write, when they are not `content` in UTF-8 (lines of other users kept as they were). */
  bytes?: Uint8Array;
  /** Unified diff against the file on disk, with secrets masked. */
  diff: string;
  secret: boolean;
  /** What the running pgbouncer needs after this change. */
  notify: 'reload' | 'restart' | 'daemon-reload' | undefined;
  why: string;
  /** The ini setting naming this file (TLS key/certificates, HBA): the candidate check uses its own copy. */
  setting?: string;
}

export interface CandidateCheckStep {
  kind: 'candidate-check';
  why: string;
  /** Login to try through the throwaway pgbouncer, when credentials are known. */
  login: { user: string; database: string } | undefined;
}

export interface FirewallStep {
  kind: 'firewall';
  tool: 'ufw' | 'firewalld';
  active: boolean;
  port: number;
  allowFrom: string[];
  commands: PlanCommand[];
  notes: string[];
}

export interface ServiceStep {
  kind: 'service';
  manager: 'systemd' | 'daemon';
  action: ServiceAction;
  reason: string;
  commands: PlanCommand[];
  /** The pidfile of every process that must be running afterwards. */
  pidfiles: string[];
  /** How each process takes its change (reload / handover / restart / start), and why. */
  methods?: ServiceMethod[];
  /** action 'handover': the processes running now and the ones that take over (src/apply/handover.ts). */
  handover?: HandoverSpec;
}

export interface ServiceMethod {
  target: string;
  method: 'start' | 'reload' | 'handover' | 'restart';
  why: string;
}

/** One pgbouncer process as the handover starts it: its config file and the paths in it. */
export interface HandoverProcess {
  iniPath: string;
  pidfile: string;
  /** unix_socket_dir ('' for none): how the handover reaches this very process. */
  socketDir: string;
  /** systemd unit that runs it (pgbouncer, pgbouncer@2); undefined without systemd. */
  unit?: string;
}

export interface HandoverSpec {
  manager: 'systemd' | 'daemon';
  port: number;
  binary: string;
  version: string;
  /** Processes serving now: they stop once the new ones accept logins. */
  old: (HandoverProcess & { pid: number })[];
  /** Processes that serve afterwards, on the files this run writes. */
  next: HandoverProcess[];
  /** systemd: units to enable (the group target) and to disable (units no longer used) at the end. */
  enable: string[];
  disable: string[];
  /** Open-files limit for a bridge unit (systemd), like the main unit's. */
  nofile?: number;
  login: { user: string; database: string } | undefined;
}

export interface VerifyStep {
  kind: 'verify';
  host: string;
  port: number;
  login: { user: string; database: string } | undefined;
}

/** A pgbouncer that must serve (its own pidfile, a login through its own socket) before a bridge may stop. */
export interface ServingProcess {
  iniPath: string;
  pidfile: string;
  /** unix_socket_dir ('' for none). */
  socketDir: string;
}

/**
 * Handover bridges left by an interrupted run (src/facts/handover-bridges.ts): after the service
 * step, once every process in `serving` serves, each live bridge shuts down gracefully and its
 * folder (and unit) goes; a folder nothing runs from is just removed.
 */
export interface StaleBridgeStep {
  kind: 'stale-bridges';
  manager: 'systemd' | 'daemon';
  port: number;
  version: string;
  bridges: { dir: string; pid?: number; unit?: string }[];
  serving: ServingProcess[];
  login: { user: string; database: string } | undefined;
}

export type Step = PackageStep | BackupStep | DirectoryStep | FileStep | CandidateCheckStep | FirewallStep | ServiceStep | VerifyStep | StaleBridgeStep;

/** A step that changes the host (what "N change(s)" counts); backups, checks and verify only follow from those. */
export function isChange(s: Step): boolean {
  return (
    (s.kind === 'package' && s.action === 'install') ||
    (s.kind === 'directory' && s.action === 'create') ||
    (s.kind === 'file' && s.action !== 'unchanged') ||
    (s.kind === 'firewall' && s.commands.length > 0) ||
    (s.kind === 'service' && s.action !== 'none') ||
    s.kind === 'stale-bridges'
  );
}

export interface Plan {
  version: 1;
  environment: string;
  pgbouncerVersion: string;
  host: {
    distro: string;
    packageManager: string;
    serviceUser: string;
    serviceManager: 'systemd' | 'none';
    firewall: string;
    root: string | undefined;
  };
  steps: Step[];
  /** True when applying would change anything on the host. */
  changed: boolean;
  /** systemd only: open files pgbouncer needs, the unit's soft limit before, and after this run. */
  openFiles?: { needed: number; current: number | 'infinity' | undefined; planned: number | 'infinity' | undefined };
  notes: string[];
  warnings: string[];
}
