import { isUtf8 } from 'node:buffer';
import { posix } from 'node:path';
import { connectHostFor, settingList } from '../settings/listen.js';
import { parse as parseIni } from 'ini';
import type { HostFacts } from '../facts/host-facts.js';
import type { ResolvedConfig } from '../profile/resolve.js';
import { poolBudget } from '../profile/pool-budget.js';
import { RESTART_KEYS } from '../settings/catalogue.js';
import { unifiedDiff } from './file-diff.js';
import { decideOpenFiles, LEGACY_DROP_IN_NAME, legacyDropInWarning } from './open-files.js';
import { isChange, type FileStep, type Plan, type PlanCommand, type ServiceMethod, type ServiceStep, type Step } from './types.js';
import { handoverBlocker, handoverSpec, handoverTarget } from './handover-plan.js';
import { hbaFirewallNote, tlsDroppedWarning, tlsFileSteps, type TlsPlanInput } from './tls.js';
import { fileAction, iniFileSteps, logfileSteps, md5SecretsUnderScram, plantedUsers, settingText, unitFileSteps } from './files.js';
import { dropInPath, systemdFiles } from './systemd-units.js';
import { planPackages } from './packages.js';
import { planFirewall } from './firewall.js';
import { planStaleBridges } from './stale-bridges.js';

export interface PlanOptions {
  allowFrom: string[];
  skipInstall: boolean;
  skipFirewall: boolean;
  skipService: boolean;
  skipVerify: boolean;
  enableFirewall: boolean;
  repo: 'distro' | 'pgdg';
  /** Folder name for this run's backups, e.g. 2026-11-28T13-50-00Z (the caller reads the clock). */
  backupStamp: string;
}

export const BACKUP_ROOT = '/var/backups/pgb-setup';

/** One pgbouncer process: its ini and the config it was rendered from. A single process has no id. */
export interface Instance {
  id: number | undefined;
  iniPath: string;
  content: string;
  config: ResolvedConfig;
}

export interface DesiredFiles {
  instances: Instance[];
  /** Bytes: lines of other users are kept exactly, whatever their encoding. */
  userlist: string | Uint8Array;
  /** Client TLS key and certificates and the HBA file (--tls). */
  tls?: TlsPlanInput;
}

/**
 * Folders shared by the whole system: pgb-setup never creates, chowns or chmods them, even when a
 * setting (unix_socket_dir = /tmp) names one. Missing under --root, they are a note, not a step.
 */
const SYSTEM_FOLDERS = new Set(['/', '/etc', '/run', '/var/run', '/tmp', '/var/tmp', '/var', '/var/log', '/var/lib', '/usr', '/opt', '/srv', '/home', '/dev', '/dev/shm']);

/** The [pgbouncer] section of an ini text; undefined when it cannot be parsed. */
function pgbouncerSection(iniText: string): Record<string, unknown> | undefined {
  try {
    return ((parseIni(iniText) as Record<string, Record<string, unknown>>)['pgbouncer'] ?? {}) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

function changedRestartKeys(old: Record<string, unknown>, now: (key: string) => string | undefined): string[] {
  const text = (v: unknown) => (v === undefined ? undefined : String(v).trim());
  return [...RESTART_KEYS].filter((key) => text(old[key]) !== now(key));
}

/** Settings a RELOAD cannot apply that differ between the config on disk and the new one. */
function restartKeysChanged(oldIni: string | undefined, config: ResolvedConfig): string[] {
  if (oldIni === undefined) return [];
  const old = pgbouncerSection(oldIni);
  return old ? changedRestartKeys(old, (key) => settingText(config, key)) : ['(unreadable old config)'];
}

/** Settings a RELOAD cannot apply that differ between two ini texts (rollback: the running config and the restored one). */
export function restartKeysBetween(oldIni: string, newIni: string): string[] {
  const [old, now] = [pgbouncerSection(oldIni), pgbouncerSection(newIni)];
  if (!old || !now) return ['(unreadable config)'];
  return changedRestartKeys(old, (key) => (now[key] === undefined ? undefined : String(now[key]).trim()));
}

function connectHost(config: ResolvedConfig): string {
  return connectHostFor(settingList(config.settings.find((s) => s.key === 'listen_addr')?.value)) ?? '127.0.0.1';
}

export function buildPlan(facts: HostFacts, config: ResolvedConfig, desired: DesiredFiles, options: PlanOptions): Plan {
  const steps: Step[] = [];
  const notes: string[] = [];
  const warnings: string[] = [];
  const { distro, serviceUser } = facts;
  const user = serviceUser.user;
  const group = serviceUser.group;
  const port = config.settings.find((s) => s.key === 'listen_port')?.value as number;

  // 1. Packages.
  const packages = planPackages(facts, options);
  if (packages.step) steps.push(packages.step);
  notes.push(...packages.notes);

  // 2. Directories: the config folder (root's, readable by all as the packages ship it), and the
  // folders pgbouncer writes into as the service user.
  const authFile = settingText(config, 'auth_file') ?? distro.userlistPath;
  const dirs = new Map<string, { why: string[]; serviceOwned: boolean }>();
  const want = (path: string, why: string, serviceOwned: boolean) => {
    const d = dirs.get(path) ?? { why: [], serviceOwned };
    d.why.push(why);
    dirs.set(path, d);
  };
  want(posix.dirname(distro.iniPath), 'holds pgbouncer.ini', false);
  want(posix.dirname(authFile), 'holds userlist.txt', false);
  for (const f of desired.tls?.files ?? []) want(posix.dirname(f.path), f.setting === 'auth_hba_file' ? 'holds the HBA file' : 'holds the TLS key and certificates', false);
  for (const inst of desired.instances) {
    const pidfile = settingText(inst.config, 'pidfile');
    const logfile = settingText(inst.config, 'logfile');
    const socketDir = settingText(inst.config, 'unix_socket_dir');
    if (pidfile) want(posix.dirname(pidfile), 'holds the pidfile', true);
    if (logfile) want(posix.dirname(logfile), 'holds the logfile', true);
    if (socketDir) want(socketDir, 'holds the unix socket', true);
  }
  const openFiles = facts.systemd ? decideOpenFiles(poolBudget(config).fdEstimate, facts.unitNofile, facts.unitFiles.get(dropInPath(facts))?.content) : undefined;
  const units = facts.systemd ? systemdFiles(facts, desired.instances, openFiles!) : [];
  // No fresh host has pgbouncer.service.d/: create it when the drop-in goes there (#16.1).
  if (units.some((u) => u.path === dropInPath(facts))) want(facts.distro.systemdDropInDir, 'holds the LimitNOFILE drop-in', false);
  if (openFiles) notes.push(openFiles.note);
  const legacy = facts.systemd ? legacyDropInWarning(posix.join(facts.distro.systemdDropInDir, LEGACY_DROP_IN_NAME), facts.unitFiles.get(posix.join(facts.distro.systemdDropInDir, LEGACY_DROP_IN_NAME))?.content) : undefined;
  if (legacy) warnings.push(legacy);
  for (const [path, d] of dirs) {
    if (SYSTEM_FOLDERS.has(path)) {
      if (!facts.existingDirs.has(path)) notes.push(`${path} does not exist${facts.root ? ' under --root' : ''}: it is a system folder (it ${[...new Set(d.why)].join(' and ')}), left to the system; pgb-setup does not create or re-own it`);
      continue;
    }
    steps.push({
      kind: 'directory', path,
      mode: d.serviceOwned ? 0o2775 : 0o755,
      owner: d.serviceOwned ? user : 'root', group: d.serviceOwned ? group : 'root',
      uid: d.serviceOwned ? serviceUser.uid : 0, gid: d.serviceOwned ? serviceUser.gid : 0,
      action: facts.existingDirs.has(path) ? 'unchanged' : 'create',
      why: [...new Set(d.why)].join(' and '),
    });
  }

  // 3. Files.
  const fileSteps: FileStep[] = iniFileSteps(facts, desired.instances);
  const userlistPath = authFile;
  const current = userlistPath === facts.userlist?.path ? facts.userlist : undefined;
  const ulBytes = Buffer.from(desired.userlist);
  const ulText = typeof desired.userlist === 'string' ? desired.userlist : ulBytes.toString('utf8');
  const ulAction = fileAction(current, ulBytes, 0o600, serviceUser.uid, serviceUser.gid);
  fileSteps.push({
    kind: 'file', path: userlistPath, mode: 0o600, owner: user, group, uid: serviceUser.uid, gid: serviceUser.gid,
    action: ulAction, content: ulText, ...(isUtf8(ulBytes) ? {} : { bytes: ulBytes }),
    diff: ulAction === 'create' || ulAction === 'update' ? unifiedDiff(userlistPath, current?.content, ulText, true) : '',
    secret: true, notify: 'reload', why: 'user secrets (auth_file)',
  });
  fileSteps.push(...tlsFileSteps(facts, desired.tls));
  const tlsDropped = tlsDroppedWarning(facts.iniFiles.get(desired.instances[0]!.iniPath)?.content, settingText(config, 'client_tls_sslmode'));
  if (tlsDropped) warnings.push(tlsDropped);
  if (desired.tls) {
    notes.push(...desired.tls.notes);
    warnings.push(...desired.tls.warnings);
    const hbaNote = hbaFirewallNote(facts, desired.tls.files.some((f) => f.setting === 'auth_hba_file'), options.skipFirewall);
    if (hbaNote) notes.push(hbaNote);
  }
  const planted = current ? plantedUsers(current, config, serviceUser.gid) : undefined;
  if (planted) warnings.push(planted);
  for (const f of [...desired.instances.map((i) => facts.iniFiles.get(i.iniPath)), current]) {
    if (f && serviceUser.uid !== undefined && f.uid !== serviceUser.uid) {
      notes.push(`${f.path} is owned by uid ${f.uid}, but pgbouncer runs as ${user} (uid ${serviceUser.uid}, ${serviceUser.detail}): pgb-setup takes the service user from the distribution and the unit, never from a file's owner, and gives the file to ${user}`);
    }
  }
  if (facts.userlist && current && current.mode & 0o077 && ulAction !== 'unchanged') {
    notes.push(`${userlistPath} was readable by ${current.mode & 0o007 ? 'every user' : 'its group'} (mode ${current.mode.toString(8).padStart(4, '0')}): set to 0600`);
  }

  fileSteps.push(...logfileSteps(facts, desired.instances), ...unitFileSteps(facts, units));

  const contentChanges = fileSteps.filter((f) => f.action === 'create' || f.action === 'update');
  // Every file whose content the run changes, pgbouncer's config and systemd's alike, so rollback
  // can put the whole run back (a created one is removed by rollback).
  const backups = fileSteps.filter((f) => f.action === 'update' && f.notify !== undefined).map((f) => f.path);
  const created = fileSteps.filter((f) => f.action === 'create' && f.notify !== undefined).map((f) => f.path);
  if (backups.length > 0) steps.push({ kind: 'backup', dir: posix.join(BACKUP_ROOT, options.backupStamp), files: backups, ...(created.length > 0 ? { created } : {}) });

  const configChanges = contentChanges.filter((f) => f.notify === 'reload');
  const db = config.profile.database;
  const login = db.user && db.password && db.name ? { user: db.user, database: db.name } : undefined;
  if (configChanges.length > 0) {
    if (!facts.live) notes.push('--root: the candidate config is not test-started (needs the live system)');
    else if (options.skipVerify) notes.push('--skip-verify: the candidate config is not test-started first');
    else steps.push({ kind: 'candidate-check', why: 'pgbouncer has no config-check mode: start the new config in a throwaway pgbouncer on a spare port first', login });
  }
  steps.push(...fileSteps);

  // 4. Firewall.
  const firewall = planFirewall(facts, options, port);
  if (firewall.step) steps.push(firewall.step);
  if (firewall.note) notes.push(firewall.note);

  // 5. Service.
  const service = planService(facts, desired.instances, fileSteps, options, { login, version: config.target.version, ...(openFiles ? { nofile: openFiles.needed } : {}) });
  if (service) steps.push(service);
  else notes.push(options.skipService ? '--skip-service: pgbouncer not started or reloaded' : '--root: service not started (needs the live system)');

  // 6. Verify.
  if (facts.live && !options.skipService) steps.push({ kind: 'verify', host: connectHost(config), port, login });

  // 7. Handover bridges of an interrupted run: stopped once pgbouncer serves.
  const serving = desired.instances.map((i) => ({ iniPath: i.iniPath, pidfile: pidfileOfInstance(i, facts), socketDir: settingText(i.config, 'unix_socket_dir') ?? '' }));
  const bridges = planStaleBridges(facts, serving, service !== undefined, { port, version: config.target.version, login });
  if (bridges.step) steps.push(bridges.step);
  notes.push(...bridges.notes);

  const changed = steps.some(isChange);
  return {
    version: 1,
    environment: config.environment,
    pgbouncerVersion: config.target.version,
    host: {
      distro: distro.prettyName,
      packageManager: distro.packageManager,
      serviceUser: `${user}:${group} (${serviceUser.source})`,
      serviceManager: facts.systemd ? 'systemd' : 'none',
      firewall: facts.firewall.tool ? `${facts.firewall.tool} (${facts.firewall.active ? 'active' : 'inactive'})` : 'none',
      root: facts.root,
    },
    steps,
    changed,
    ...(openFiles ? { openFiles: { needed: openFiles.needed, current: openFiles.current, planned: openFiles.planned } } : {}),
    notes,
    warnings: [...config.warnings, ...warnings, ...md5SecretsUnderScram(config, ulText)],
  };
}

function pidfileOfInstance(inst: Instance, facts: HostFacts): string {
  return settingText(inst.config, 'pidfile') ?? facts.distro.pidfile;
}

function planService(facts: HostFacts, instances: Instance[], files: FileStep[], options: PlanOptions, extra: HandoverExtra): ServiceStep | undefined {
  if (!facts.live || options.skipService) return undefined;
  const changed = (path: string) => files.some((f) => f.path === path && (f.action === 'create' || f.action === 'update'));
  const unitChanged = files.some((f) => f.notify === 'daemon-reload' && (f.action === 'create' || f.action === 'update'));
  // userlist.txt, and the TLS and HBA files every process reads: a reload picks them up.
  const userlistChanged = files.some((f) => (f.secret || f.setting !== undefined) && (f.action === 'create' || f.action === 'update'));
  const group = instances.length > 1;
  const binary = facts.pgbouncer.binary ?? facts.distro.pgbouncerBinary;
  const user = facts.serviceUser.user;
  const pidfiles = instances.map((i) => pidfileOfInstance(i, facts));
  const handover = planHandoverService(facts, instances, pidfiles, unitChanged, binary, extra);
  if (handover.step) return handover.step;
  const methods: ServiceMethod[] = [];
  const commands: PlanCommand[] = [];
  const reasons: string[] = [];
  const actions = new Set<ServiceStep['action']>();

  // Moving from one process to a group (or back) stops what ran before: it holds the port without so_reuseport.
  const single = facts.running;
  if (group && single && !pidfiles.includes(single.pidfile)) {
    commands.push(facts.systemd ? { cmd: 'systemctl', args: ['disable', '--now', facts.distro.serviceName], why: 'the single pgbouncer gives the port to the group' } : { cmd: 'kill', args: ['-INT', String(single.pid)], why: 'the single pgbouncer gives the port to the group' });
    reasons.push('the single pgbouncer is replaced by the group');
  }
  if (!group) {
    for (const [pidfile, pid] of facts.runningByPidfile) {
      if (pidfiles.includes(pidfile)) continue;
      commands.push(facts.systemd ? { cmd: 'systemctl', args: ['disable', '--now', 'pgbouncer-group.target', 'pgbouncer@*'], why: 'the group gives the port back to a single pgbouncer' } : { cmd: 'kill', args: ['-INT', String(pid)], why: `stop the group process of ${pidfile}: a single pgbouncer takes the port back` });
      reasons.push('the earlier --processes group is replaced by a single pgbouncer');
      if (facts.systemd) break;
    }
  }
  if (facts.systemd && unitChanged) commands.push({ cmd: 'systemctl', args: ['daemon-reload'], why: 'read the new unit files' });

  for (const [n, inst] of instances.entries()) {
    const pidfile = pidfiles[n]!;
    const running = facts.runningByPidfile.get(pidfile);
    const restartKeys = restartKeysChanged(facts.iniFiles.get(inst.iniPath)?.content, inst.config);
    const needsRestart = restartKeys.length > 0 || unitChanged;
    const needsReload = changed(inst.iniPath) || userlistChanged;
    const label = inst.id === undefined ? 'pgbouncer' : `process ${inst.id}`;
    const unit = inst.id === undefined ? facts.distro.serviceName : `pgbouncer@${inst.id}`;
    if (running === undefined) {
      methods.push({ target: label, method: 'start', why: `${label} is not running` });
      actions.add('start');
      reasons.push(`${label} is not running`);
      commands.push(facts.systemd ? { cmd: 'systemctl', args: ['enable', '--now', unit], why: `start ${label} now and at boot` } : { cmd: binary, args: ['-d', '-u', user, inst.iniPath], why: `start ${label} as ${user} (no systemd on this host)` });
    } else if (needsRestart) {
      methods.push({ target: label, method: 'restart', why: `a reload cannot apply ${restartKeys.join(', ') || 'the new unit'}${handover.blocker ? `, and no handover: ${handover.blocker}` : ''}` });
      actions.add('restart');
      reasons.push(`a reload cannot apply ${restartKeys.join(', ') || 'the new unit'} to ${label}${handover.blocker ? `; restart, not a handover: ${handover.blocker}` : ''}`);
      if (facts.systemd) commands.push({ cmd: 'systemctl', args: ['restart', unit], why: `restart ${label}` });
      else commands.push({ cmd: 'kill', args: ['-INT', String(running)], why: `stop ${label} after its servers finish their transactions` }, { cmd: binary, args: ['-d', '-u', user, inst.iniPath], why: `start ${label} as ${user}` });
    } else if (needsReload) {
      methods.push({ target: label, method: 'reload', why: 'every changed setting applies on reload; clients stay connected' });
      actions.add('reload');
      reasons.push(`${label}: config changed; clients stay connected`);
      commands.push(facts.systemd ? { cmd: 'systemctl', args: ['reload', unit], why: `reload ${label}` } : { cmd: 'kill', args: ['-HUP', String(running)], why: `reload ${label} (SIGHUP)` });
    }
  }
  if (group && facts.systemd && commands.some((c) => c.args[0] === 'enable')) commands.push({ cmd: 'systemctl', args: ['enable', 'pgbouncer-group.target'], why: 'start the group at boot' });
  const action = actions.has('restart') ? 'restart' : actions.has('start') ? 'start' : actions.has('reload') ? 'reload' : commands.length > 0 ? 'restart' : 'none';
  return {
    kind: 'service',
    manager: facts.systemd ? 'systemd' : 'daemon',
    action,
    reason: reasons.length > 0 ? reasons.join('; ') : 'running with this config',
    commands,
    pidfiles,
    ...(methods.length > 0 ? { methods } : {}),
  };
}

interface HandoverExtra {
  login: { user: string; database: string } | undefined;
  version: string;
  nofile?: number;
}

/**
 * A handover step when some running process needs a restart (restart-class setting, unit change,
 * a --processes change) and a handover can work; otherwise the reason it cannot (for the plan).
 */
function planHandoverService(facts: HostFacts, instances: Instance[], pidfiles: string[], unitChanged: boolean, binary: string, extra: HandoverExtra): { step?: ServiceStep; blocker?: string } {
  const running = new Map(facts.runningByPidfile);
  if (facts.running) running.set(facts.running.pidfile, facts.running.pid);
  if (running.size === 0) return {};
  const methods: ServiceMethod[] = [];
  let needed = false;
  // A run killed while its bridge served beside the old process left the new files on disk; the
  // old process may still run the ones from before, and nothing else would restart it.
  const interrupted = facts.staleBridges.some((b) => b.pid !== undefined && !b.leftAlone);
  for (const [n, inst] of instances.entries()) {
    const label = inst.id === undefined ? 'pgbouncer' : `process ${inst.id}`;
    if (!running.has(pidfiles[n]!)) {
      needed = true;
      methods.push({ target: label, method: 'handover', why: `${label} starts beside the running process on the same port` });
      continue;
    }
    const keys = restartKeysChanged(facts.iniFiles.get(inst.iniPath)?.content, inst.config);
    if (keys.length > 0 || unitChanged) {
      needed = true;
      methods.push({ target: label, method: 'handover', why: `a reload cannot apply ${keys.join(', ') || 'the new unit'}` });
    } else if (interrupted) {
      needed = true;
      methods.push({ target: label, method: 'handover', why: 'an interrupted handover left its bridge running: this process may still run the config from before' });
    } else {
      methods.push({ target: label, method: 'handover', why: 'restarted with the others (same files)' });
    }
  }
  const leaving = [...running.keys()].filter((p) => !pidfiles.includes(p));
  if (leaving.length > 0) needed = true;
  if (!needed) return {};
  const oldIni = (pidfile: string): string | undefined => {
    const inst = instances.find((_, n) => pidfiles[n] === pidfile);
    if (inst) return facts.iniFiles.get(inst.iniPath)?.content;
    if (facts.running?.pidfile === pidfile) return facts.ini?.content;
    // A process of an earlier group: rendered with so_reuseport always, on the same port.
    return `[pgbouncer]\nso_reuseport = 1\nlisten_port = ${settingText(instances[0]!.config, 'listen_port') ?? 6432}\n`;
  };
  const old = [...running].map(([pidfile, pid]) => ({
    pid,
    pidfile,
    iniText: oldIni(pidfile),
    unit: !facts.systemd ? undefined : facts.running?.pidfile === pidfile && !/-\d+\.pid$/.test(pidfile) ? facts.distro.serviceName : /-(\d+)\.pid$/.test(pidfile) ? `pgbouncer@${/-(\d+)\.pid$/.exec(pidfile)![1]}` : facts.distro.serviceName,
  }));
  const blocker = handoverBlocker(facts, extra.version, old.map((o) => o.iniText), instances.map((i) => handoverTarget(i.config)));
  if (blocker) return { blocker };
  const spec = handoverSpec(facts, extra.version, instances.map((inst, n) => ({ ...inst, pidfile: pidfiles[n]! })), old, { binary, login: extra.login, ...(extra.nofile ? { nofile: extra.nofile } : {}) });
  const commands: PlanCommand[] = facts.systemd && unitChanged ? [{ cmd: 'systemctl', args: ['daemon-reload'], why: 'read the new unit files' }] : [];
  for (const p of leaving) methods.push({ target: `the process of ${p}`, method: 'handover', why: 'it leaves once the new processes accept logins' });
  return {
    step: {
      kind: 'service',
      manager: facts.systemd ? 'systemd' : 'daemon',
      action: 'handover',
      reason: `handover on port ${spec.port} (so_reuseport): the new pgbouncer starts beside the running one, takes a login, then the old one shuts down gracefully; ${methods.map((m) => `${m.target}: ${m.why}`).join('; ')}`,
      commands,
      pidfiles,
      methods,
      handover: spec,
    },
  };
}
