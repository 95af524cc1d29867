import { parseUnitNofile, type UnitNofile } from './unit-nofile.js';
import { parse as parseIni } from 'ini';
import type { System } from '../system/system.js';
import { readOsRelease, type OsRelease } from './os-release.js';
import { parsePgbouncerVersion } from '../settings/pgbouncer-version.js';
import { detectServiceUser, resolveDistro, type DistroSpec, type ServiceUser } from './distro/index.js';
import { readUfwRules, type UfwRule } from './ufw-rules.js';
import { pgbouncerFromPidfile } from '../system/pgbouncer-process.js';
import { notRegularFile } from '../system/safe-read.js';
import { BRIDGE_UNIT_PATTERN, detectStaleBridges, type BridgeUnit, type StaleBridge } from './handover-bridges.js';

export interface FileFact {
  path: string;
  /** The file read as UTF-8 (for comparing and showing); `bytes` is what is on disk. */
  content: string;
  bytes?: Buffer;
  mode: number;
  uid: number;
  gid: number;
}

export interface FirewallFacts {
  tool: 'ufw' | 'firewalld' | undefined;
  /** Whether the tool is enforcing rules now. */
  active: boolean;
  /** ufw's own rules in order (v4 then v6), read from user.rules/user6.rules. */
  ufwRules: UfwRule[];
  /** firewalld rich rules of the default zone. */
  richRules: string[];
}

export interface HostFacts {
  /** Set when --root maps every file under a folder: live-system facts are then not read. */
  root: string | undefined;
  live: boolean;
  isRoot: boolean;
  os: OsRelease;
  distro: DistroSpec;
  pgbouncer: { installed: boolean; binary?: string; version?: string };
  serviceUser: ServiceUser;
  systemd: boolean;
  firewall: FirewallFacts;
  ini: FileFact | undefined;
  userlist: FileFact | undefined;
  /** The running pgbouncer found through the pidfile of the config on disk. */
  running: { pid: number; pidfile: string } | undefined;
  /** Open-files limit a daemon started from here inherits (ulimit -n). */
  nofileLimit: number | undefined;
  /** systemd: the pgbouncer unit's effective open-files limits (systemctl show), read as facts. */
  unitNofile: UnitNofile | undefined;
  /** Filled by addConfigPathFacts once the config says where pgbouncer writes. */
  existingDirs: Set<string>;
  /** Every pgbouncer ini the plan manages (one, or one per process), as on disk. */
  iniFiles: Map<string, FileFact>;
  /** Owner and mode of each logfile (content not read). */
  logfiles: Map<string, FileFact>;
  /** systemd unit files and drop-ins pgb-setup writes. */
  unitFiles: Map<string, FileFact>;
  /** pidfile → PID of a pgbouncer that runs now. */
  runningByPidfile: Map<string, number>;
  /** pgbouncer version the package manager would install, when it is not installed yet. */
  candidateVersion: string | undefined;
  /** Handover bridges left by an interrupted run (live system only). */
  staleBridges: StaleBridge[];
}

/** Largest pgbouncer.ini or unit file read (a real one is a few KiB). */
export const MAX_CONFIG_BYTES = 16 * 1024 * 1024;
/** Largest userlist.txt read: about 450,000 SCRAM entries (pgbouncer re-reads it on every reload). */
export const MAX_USERLIST_BYTES = 64 * 1024 * 1024;

/**
 * A managed file as it is on disk: bytes, and owner and mode of exactly what was read. A symbolic
 * link, FIFO, device or directory there is refused before anything is read (so no diff or backup
 * can show another file's content), and so is a file over `maxBytes`.
 */
export async function readFileFact(system: System, path: string, maxBytes = MAX_CONFIG_BYTES): Promise<FileFact | undefined> {
  const got = await system.readManaged(path, maxBytes);
  if (!got) return undefined;
  return { path, content: got.bytes.toString('utf8'), bytes: got.bytes, mode: got.stat.mode, uid: got.stat.uid, gid: got.stat.gid };
}

/** Owner and mode only (a log can be large; its content is not ours to compare). Not followed if a link. */
async function statFact(system: System, path: string): Promise<FileFact | undefined> {
  const st = await system.lstat(path);
  if (st?.kind !== undefined && st.kind !== 'file') throw notRegularFile(path, st.kind);
  return st ? { path, content: '', mode: st.mode, uid: st.uid, gid: st.gid } : undefined;
}

async function detectPgbouncer(system: System, distro: DistroSpec, live: boolean, root?: string): Promise<HostFacts['pgbouncer']> {
  if (!live) {
    // An image folder: its binary may still run here (same architecture and libraries); if not, the version stays unknown.
    const installed = await system.exists(distro.pgbouncerBinary);
    if (!installed || !root) return { installed, binary: distro.pgbouncerBinary };
    const r = await system.exec(`${root}${distro.pgbouncerBinary}`, ['--version']);
    const v = r.exitCode === 0 ? parsePgbouncerVersion(r.stdout) : undefined;
    return { installed, binary: distro.pgbouncerBinary, ...(v ? { version: `${v.major}.${v.minor}.${v.patch}` } : {}) };
  }
  const binary = (await system.which('pgbouncer')) ?? ((await system.exists(distro.pgbouncerBinary)) ? distro.pgbouncerBinary : undefined);
  if (!binary) return { installed: false };
  const r = await system.exec(binary, ['--version']);
  const v = parsePgbouncerVersion(`${r.stdout}\n${r.stderr}`);
  return { installed: true, binary, ...(v ? { version: `${v.major}.${v.minor}.${v.patch}` } : {}) };
}

async function detectFirewall(system: System, live: boolean): Promise<FirewallFacts> {
  const [ufw, firewallCmd] = await Promise.all([system.which('ufw'), system.which('firewall-cmd')]);
  if (ufw || (!live && (await system.exists('/etc/ufw/user.rules')))) {
    const [rules, status] = await Promise.all([readUfwRules(system), live && ufw ? system.exec(ufw, ['status']) : undefined]);
    return { tool: 'ufw', active: /^Status: active/m.test(status?.stdout ?? ''), ufwRules: rules, richRules: [] };
  }
  if (firewallCmd && live) {
    const state = await system.exec(firewallCmd, ['--state']);
    const active = state.exitCode === 0;
    const rich = active ? await system.exec(firewallCmd, ['--permanent', '--list-rich-rules']) : undefined;
    return { tool: 'firewalld', active, ufwRules: [], richRules: (rich?.stdout ?? '').split('\n').filter((l) => l.trim() !== '') };
  }
  return { tool: undefined, active: false, ufwRules: [], richRules: [] };
}

/** A setting from the [pgbouncer] section of an installed ini text, as written there. */
export function iniSetting(iniText: string | undefined, key: string): string | undefined {
  if (!iniText) return undefined;
  try {
    const parsed = parseIni(iniText) as Record<string, Record<string, unknown>>;
    const value = parsed['pgbouncer']?.[key];
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

/** An absolute path setting (pidfile, logfile, ...) from the [pgbouncer] section of an ini text. */
export function iniPathSetting(iniText: string | undefined, key: string): string | undefined {
  const value = iniSetting(iniText, key);
  return value?.startsWith('/') ? value : undefined;
}

export function pidfileOf(iniText: string | undefined): string | undefined {
  return iniPathSetting(iniText, 'pidfile');
}

/** The pgbouncer a pidfile names, if it runs now and really is pgbouncer (running `iniPath`, when given). */
export async function findRunning(system: System, pidfile: string | undefined, iniPath?: string): Promise<HostFacts['running']> {
  if (!pidfile) return undefined;
  const found = await pgbouncerFromPidfile(system, pidfile, iniPath);
  return found.ok ? { pid: found.pid, pidfile } : undefined;
}

/** Reads what the plan needs from the host, once; independent reads run in parallel. */
export async function detectFacts(system: System, options: { root?: string; isRoot: boolean }): Promise<HostFacts> {
  const live = options.root === undefined;
  const os = await readOsRelease(system);
  const distro = resolveDistro(os);
  const [pgbouncer, serviceUser, systemd, firewall, ini, userlist, nofile] = await Promise.all([
    detectPgbouncer(system, distro, live, options.root),
    detectServiceUser(system, distro, { live }),
    live ? system.exists('/run/systemd/system') : Promise.resolve(false),
    detectFirewall(system, live),
    readFileFact(system, distro.iniPath),
    readFileFact(system, distro.userlistPath, MAX_USERLIST_BYTES),
    live ? system.exec('sh', ['-c', 'ulimit -n']) : Promise.resolve(undefined),
  ]);
  const units = systemd ? await readUnits(system, distro.serviceName) : undefined;
  const staleBridges = live ? await detectStaleBridges(system, units?.bridges ?? []) : [];
  const candidateVersion = live && !pgbouncer.installed ? await packageCandidateVersion(system, distro) : undefined;
  const running = live ? await findRunning(system, pidfileOf(ini?.content) ?? distro.pidfile, distro.iniPath) : undefined;
  const limit = Number(nofile?.stdout.trim());
  return {
    root: options.root,
    live,
    isRoot: options.isRoot,
    os,
    distro,
    pgbouncer,
    serviceUser,
    systemd,
    firewall,
    ini,
    userlist,
    running,
    nofileLimit: Number.isInteger(limit) && limit > 0 ? limit : undefined,
    unitNofile: units?.nofile,
    existingDirs: new Set(),
    iniFiles: new Map(ini ? [[ini.path, ini]] : []),
    logfiles: new Map(),
    unitFiles: new Map(),
    runningByPidfile: new Map(running ? [[running.pidfile, running.pid]] : []),
    candidateVersion,
    staleBridges,
  };
}

/**
 * The unit's effective open-files limits, and the handover bridge units loaded now: one
 * `systemctl show` for both (the pattern adds nothing when no bridge unit exists). For a unit not
 * installed yet, systemctl show reports the manager's own limits, not what a service gets: then the
 * manager's defaults for services apply.
 */
async function readUnits(system: System, unit: string): Promise<{ nofile: UnitNofile | undefined; bridges: BridgeUnit[] }> {
  const r = await system.exec('systemctl', ['show', '-p', 'Id', '-p', 'LoadState', '-p', 'MainPID', '-p', 'LimitNOFILESoft', '-p', 'LimitNOFILE', unit, BRIDGE_UNIT_PATTERN]);
  // One block of KEY=value lines per unit, the blocks separated by an empty line.
  const blocks = r.stdout.split(/\n\s*\n/);
  const id = (block: string) => /^Id=(.*)$/m.exec(block)?.[1] ?? '';
  const isBridge = (block: string) => id(block).startsWith(BRIDGE_UNIT_PATTERN.slice(0, -1));
  const bridges = blocks.filter(isBridge).map((b) => ({ unit: id(b), mainPid: Number(/^MainPID=(\d+)$/m.exec(b)?.[1] ?? 0) }));
  const main = blocks.find((b) => !isBridge(b)) ?? '';
  if (!/^LoadState=not-found$/m.test(main)) return { nofile: parseUnitNofile(main), bridges };
  const defaults = await system.exec('systemctl', ['show', '-p', 'DefaultLimitNOFILESoft', '-p', 'DefaultLimitNOFILE']);
  return { nofile: parseUnitNofile(defaults.stdout.replace(/^Default/gm, '')), bridges };
}

/** What `apt-get install pgbouncer` would bring, from `apt-cache policy` (dnf: `dnf info`). */
async function packageCandidateVersion(system: System, distro: DistroSpec): Promise<string | undefined> {
  const r =
    distro.packageManager === 'apt'
      ? await system.exec('apt-cache', ['policy', distro.pgbouncerPackage])
      : await system.exec(distro.packageManager, ['info', '-q', distro.pgbouncerPackage]);
  const m = /Candidate:\s*(?:\d+:)?(\d+\.\d+(?:\.\d+)?)/.exec(r.stdout) ?? /^Version\s*:\s*(\d+\.\d+(?:\.\d+)?)/m.exec(r.stdout);
  if (!m) return undefined;
  const parts = m[1]!.split('.');
  return [parts[0], parts[1], parts[2] ?? '0'].join('.');
}

/** Facts about the paths the resolved config names (directories, logfiles, inis, pidfiles, units). */
export async function addConfigPathFacts(
  system: System,
  facts: HostFacts,
  paths: { dirs: string[]; iniPaths: string[]; logfiles: string[]; pidfiles: string[]; unitPaths: string[]; authFile?: string },
): Promise<void> {
  const read = async <T>(list: string[], fn: (p: string) => Promise<T | undefined>) =>
    new Map((await Promise.all(list.map(async (p) => [p, await fn(p)] as const))).filter((e): e is readonly [string, Awaited<T>] => e[1] !== undefined) as [string, T][]);
  const [dirStats, iniFiles, logfiles, unitFiles, running, userlist] = await Promise.all([
    Promise.all(paths.dirs.map(async (d) => [d, await system.stat(d)] as const)),
    read(paths.iniPaths, (p) => readFileFact(system, p)),
    read(paths.logfiles, (p) => statFact(system, p)),
    facts.systemd ? read(paths.unitPaths, (p) => readFileFact(system, p)) : Promise.resolve(new Map<string, FileFact>()),
    facts.live ? read(paths.pidfiles, async (p) => (await findRunning(system, p))?.pid) : Promise.resolve(new Map<string, number>()),
    paths.authFile && paths.authFile !== facts.userlist?.path ? readFileFact(system, paths.authFile, MAX_USERLIST_BYTES) : Promise.resolve(facts.userlist),
  ]);
  facts.existingDirs = new Set(dirStats.filter(([, st]) => st?.isDirectory).map(([d]) => d));
  for (const [k, v] of iniFiles) facts.iniFiles.set(k, v);
  facts.logfiles = logfiles;
  facts.unitFiles = unitFiles;
  for (const [k, v] of running) facts.runningByPidfile.set(k, v);
  facts.userlist = userlist;
}
