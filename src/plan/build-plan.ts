import { isUtf8 } from 'node:buffer';
import { posix } from 'node:path';
import { connectHostFor, settingList } from '../settings/listen.js';
import { parse as parseIni } from 'ini';
import type { HostFacts } from '../facts/host-facts.js';
import type { ResolvedConfig } from '../profile/resolve.js';
import { poolBudget } from '../profile/pool-budget.js';
import { RESTART_KEYS } from '../settings/catalogue.js';
import { formatSettingValue } from '../settings/values.js';
import { planUfw } from '../firewall/ufw.js';
import { planFirewalld } from '../firewall/firewalld.js';
import { unifiedDiff } from './file-diff.js';
import { userlistEntriesOfBytes } from '../auth/userlist.js';
import { decideOpenFiles, DROP_IN_NAME, LEGACY_DROP_IN_NAME, legacyDropInWarning, type OpenFilesDecision } from './open-files.js';
import type { FileAction, FileStep, Plan, PlanCommand, ServiceMethod, ServiceStep, Step } from './types.js';
import { handoverBlocker, handoverSpec, handoverTarget } from './handover-plan.js';

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
}

/**
 * Folders shared by the whole system: pgb-setup never creates, chowns or chmods them, even when a
 * setting (unix_socket_dir = /tmp) names one. Missing under --root, they are a note, not a step.
 */
export const SYSTEM_FOLDERS = new Set(['/', '/etc', '/run', '/var/run', '/tmp', '/var/tmp', '/var', '/var/log', '/var/lib', '/usr', '/opt', '/srv', '/home', '/dev', '/dev/shm']);

function sameBytes(current: { content: string; bytes?: Uint8Array }, content: string | Uint8Array): boolean {
  if (typeof content === 'string' && current.bytes === undefined) return current.content === content;
  const a = current.bytes ?? Buffer.from(current.content, 'utf8');
  const b = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  return Buffer.compare(a, b) === 0;
}

function fileAction(current: { content: string; bytes?: Uint8Array; mode: number; uid: number; gid: number } | undefined, content: string | Uint8Array, mode: number, uid: number | undefined, gid: number | undefined): FileAction {
  if (!current) return 'create';
  if (!sameBytes(current, content)) return 'update';
  if (current.mode !== mode || (uid !== undefined && current.uid !== uid) || (gid !== undefined && current.gid !== gid)) return 'fix-permissions';
  return 'unchanged';
}

function settingText(config: ResolvedConfig, key: string): string | undefined {
  const s = config.settings.find((x) => x.key === key);
  return s ? formatSettingValue(s.value) : undefined;
}

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
export function restartKeysChanged(oldIni: string | undefined, config: ResolvedConfig): string[] {
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

export function connectHost(config: ResolvedConfig): string {
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
  if (!facts.pgbouncer.installed) {
    if (options.skipInstall) {
      steps.push({ kind: 'package', action: 'skip', packages: [distro.pgbouncerPackage], commands: [], reason: '--skip-install: pgbouncer is not installed; install it yourself' });
    } else if (!facts.live) {
      steps.push({ kind: 'package', action: 'skip', packages: [distro.pgbouncerPackage], commands: [], reason: '--root: packages are not installed into a folder; install pgbouncer in the image' });
    } else {
      const repo = distro.repoSetup(options.repo);
      const commands: PlanCommand[] = [];
      if (repo.prerequisites.length > 0) commands.push(...distro.installCommands(repo.prerequisites));
      commands.push(...repo.commands);
      for (const f of repo.files) commands.push({ cmd: 'write', args: [f.path], why: `repository definition (${f.content.split('\n')[0]})` });
      commands.push(...distro.installCommands([distro.pgbouncerPackage], { refreshIndex: distro.needsIndexRefresh }));
      steps.push({ kind: 'package', action: 'install', packages: [distro.pgbouncerPackage], commands, reason: `pgbouncer is not installed (${options.repo === 'pgdg' ? 'PostgreSQL community repository' : `${distro.prettyName} repositories`})` });
      notes.push(...repo.notes);
    }
  } else if (options.repo === 'pgdg') {
    notes.push(`pgbouncer ${facts.pgbouncer.version ?? ''} is installed already; --repo pgdg only matters for a fresh install (upgrade it with your package manager)`);
  }

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
  const fileSteps: FileStep[] = [];
  for (const inst of desired.instances) {
    const current = facts.iniFiles.get(inst.iniPath);
    const action = fileAction(current, inst.content, 0o640, serviceUser.uid, serviceUser.gid);
    fileSteps.push({
      kind: 'file', path: inst.iniPath, mode: 0o640, owner: user, group, uid: serviceUser.uid, gid: serviceUser.gid,
      action, content: inst.content, diff: action === 'create' || action === 'update' ? unifiedDiff(inst.iniPath, current?.content, inst.content, false) : '',
      secret: false, notify: 'reload', why: inst.id === undefined ? 'pgbouncer configuration' : `pgbouncer configuration of process ${inst.id}`,
    });
  }
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
  for (const inst of desired.instances) {
    const logfile = settingText(inst.config, 'logfile');
    if (!logfile) continue;
    const log = facts.logfiles.get(logfile);
    const wrongOwner = log && serviceUser.uid !== undefined && log.uid !== serviceUser.uid;
    fileSteps.push({
      kind: 'file', path: logfile, mode: 0o640, owner: user, group, uid: serviceUser.uid, gid: serviceUser.gid,
      action: !log ? 'create' : wrongOwner ? 'fix-permissions' : 'unchanged', content: '', diff: '', secret: false, notify: undefined,
      why: 'pgbouncer reopens its log on every reload as the service user: it must own it',
    });
  }
  for (const unit of units) {
    const current = facts.unitFiles.get(unit.path);
    const action = fileAction(current, unit.content, 0o644, 0, 0);
    fileSteps.push({ kind: 'file', path: unit.path, mode: 0o644, owner: 'root', group: 'root', uid: 0, gid: 0, action, content: unit.content, diff: action === 'create' || action === 'update' ? unifiedDiff(unit.path, current?.content, unit.content, false) : '', secret: false, notify: 'daemon-reload', why: unit.why });
  }

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
  if (options.skipFirewall) notes.push('--skip-firewall: firewall left alone');
  else if (!facts.live && facts.firewall.tool !== 'ufw') notes.push('--root: firewall left alone');
  else if (!facts.firewall.tool) notes.push('no ufw or firewalld on this host: no firewall rules written');
  else if (options.allowFrom.length === 0) notes.push('no --allow-from networks: firewall left alone');
  else if (!facts.live) notes.push('--root: firewall rules are planned against the folder but only applied on the live system');
  else if (facts.firewall.tool === 'ufw') {
    const p = planUfw(facts.firewall.ufwRules, port, options.allowFrom, facts.firewall.active, options.enableFirewall);
    steps.push({ kind: 'firewall', tool: 'ufw', active: facts.firewall.active, port, allowFrom: options.allowFrom, commands: p.commands.map((args) => ({ cmd: 'ufw', args, why: 'firewall rule' })), notes: p.notes });
  } else {
    const p = planFirewalld(facts.firewall.richRules, port, options.allowFrom, facts.firewall.active, options.enableFirewall);
    steps.push({ kind: 'firewall', tool: 'firewalld', active: facts.firewall.active, port, allowFrom: options.allowFrom, commands: p.commands.map(([cmd, ...args]) => ({ cmd: cmd!, args, why: 'firewall rule' })), notes: p.notes });
  }

  // 5. Service.
  const service = planService(facts, desired.instances, fileSteps, options, { login, version: config.target.version, ...(openFiles ? { nofile: openFiles.needed } : {}) });
  if (service) steps.push(service);
  else notes.push(options.skipService ? '--skip-service: pgbouncer not started or reloaded' : '--root: service not started (needs the live system)');

  // 6. Verify.
  if (facts.live && !options.skipService) steps.push({ kind: 'verify', host: connectHost(config), port, login });

  const changed = steps.some(
    (s) =>
      (s.kind === 'package' && s.action === 'install') ||
      (s.kind === 'directory' && s.action === 'create') ||
      (s.kind === 'file' && s.action !== 'unchanged') ||
      (s.kind === 'firewall' && s.commands.length > 0) ||
      (s.kind === 'service' && s.action !== 'none'),
  );
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

/**
 * A userlist.txt others could write to may hold users an attacker planted (a known password that
 * pgbouncer accepts). pgb-setup only ever puts the app user (or auth_user) there: every other user
 * of such a file is listed, loudly.
 */
function plantedUsers(current: { path: string; content: string; bytes?: Uint8Array; mode: number; gid: number }, config: ResolvedConfig, serviceGid: number | undefined): string | undefined {
  const world = (current.mode & 0o002) !== 0;
  const group = (current.mode & 0o020) !== 0 && current.gid !== serviceGid;
  if (!world && !group) return undefined;
  const ours = new Set([config.profile.database.user, settingText(config, 'auth_user')].filter((u): u is string => !!u));
  let others: string[];
  try {
    others = userlistEntriesOfBytes(current.bytes ?? Buffer.from(current.content, 'utf8'), { name: current.path })
      .filter((e) => e.user === undefined || !ours.has(e.user))
      .map((e) => (e.user === undefined ? `(line ${e.line}: a name that is not UTF-8)` : JSON.stringify(e.user)));
  } catch {
    others = ['(the file could not be read as a userlist)'];
  }
  const who = world ? 'every user on this host' : `group ${current.gid}, which is not the service user's group`;
  const list = others.length > 0 ? `users pgb-setup did not put there: ${[...new Set(others)].join(', ')}; check each and remove the ones you do not know` : 'it holds no user besides the ones pgb-setup writes';
  return `${current.path} was WRITABLE by ${who} (mode ${current.mode.toString(8).padStart(4, '0')}): anyone could have added a user with a password they know; ${list}`;
}

/** Users whose md5 secret cannot log in once auth_type is scram-sha-256 (pgbouncer: "user has MD5 secret"). */
function md5SecretsUnderScram(config: ResolvedConfig, userlist: string): string[] {
  if (settingText(config, 'auth_type') !== 'scram-sha-256') return [];
  const out: string[] = [];
  userlist.split('\n').forEach((line, i) => {
    const m = /^\s*"((?:[^"]|"")*)"\s+"md5[0-9a-f]{32}"/.exec(line);
    if (m) out.push(`userlist.txt line ${i + 1}: ${m[1]!.replaceAll('""', '"')} has an md5 secret, which cannot log in with auth_type scram-sha-256; rotate it with "pgb-setup hash-user ${m[1]!.replaceAll('""', '"')} --userlist ..."`);
  });
  return out;
}

function dropInPath(facts: HostFacts): string {
  return posix.join(facts.distro.systemdDropInDir, DROP_IN_NAME);
}

function systemdFiles(facts: HostFacts, instances: Instance[], openFiles: OpenFilesDecision): { path: string; content: string; why: string }[] {
  const { distro } = facts;
  if (instances.length === 1) {
    const path = dropInPath(facts);
    const content = openFiles.dropIn ?? facts.unitFiles.get(path)?.content;
    // Kept when it is there and still enough: a managed file (owner, mode, backup) left as it is.
    return content === undefined ? [] : [{ path, content, why: 'systemd drop-in raising the open-files limit for pgbouncer' }];
  }
  const limit = openFiles.needed;
  const header = '# Written by pgb-setup.';
  const binary = facts.pgbouncer.binary ?? distro.pgbouncerBinary;
  const iniPattern = instances[0]!.iniPath.replace(/-1\.ini$/, '-%i.ini');
  const unit = [
    header,
    '[Unit]',
    'Description=PgBouncer process %i of the pgb-setup group (so_reuseport)',
    'After=network-online.target',
    'PartOf=pgbouncer-group.target',
    '',
    '[Service]',
    'Type=notify',
    `User=${facts.serviceUser.user}`,
    `Group=${facts.serviceUser.group}`,
    `ExecStart=${binary} ${iniPattern}`,
    'ExecReload=/bin/kill -HUP $MAINPID',
    'KillSignal=SIGINT',
    'Restart=on-failure',
    `LimitNOFILE=${limit}`,
    '',
    '[Install]',
    'WantedBy=pgbouncer-group.target',
    '',
  ].join('\n');
  const target = [
    '# Written by pgb-setup: starts every pgbouncer process of the group.',
    '[Unit]',
    'Description=PgBouncer processes of the pgb-setup group',
    `Wants=${instances.map((i) => `pgbouncer@${i.id}.service`).join(' ')}`,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
  return [
    { path: '/etc/systemd/system/pgbouncer@.service', content: unit, why: 'systemd template unit: one instance per pgbouncer process' },
    { path: '/etc/systemd/system/pgbouncer-group.target', content: target, why: 'systemd target that starts every process' },
  ];
}

function pidfileOfInstance(inst: Instance, facts: HostFacts): string {
  return settingText(inst.config, 'pidfile') ?? facts.distro.pidfile;
}

function planService(facts: HostFacts, instances: Instance[], files: FileStep[], options: PlanOptions, extra: HandoverExtra): ServiceStep | undefined {
  if (!facts.live || options.skipService) return undefined;
  const changed = (path: string) => files.some((f) => f.path === path && (f.action === 'create' || f.action === 'update'));
  const unitChanged = files.some((f) => f.notify === 'daemon-reload' && (f.action === 'create' || f.action === 'update'));
  const userlistChanged = files.some((f) => f.secret && (f.action === 'create' || f.action === 'update'));
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
