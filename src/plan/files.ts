/** The file steps of a plan: each managed file's action (create, update, fix-permissions, unchanged), mode, owner and diff. */
import type { HostFacts } from '../facts/host-facts.js';
import type { ResolvedConfig } from '../profile/types.js';
import { formatSettingValue } from '../settings/values.js';
import { userlistEntriesOfBytes } from '../auth/userlist.js';
import { unifiedDiff } from './file-diff.js';
import type { FileAction, FileStep } from './types.js';

interface PlannedIni {
  id: number | undefined;
  iniPath: string;
  content: string;
  config: ResolvedConfig;
}

function sameBytes(current: { content: string; bytes?: Uint8Array }, content: string | Uint8Array): boolean {
  if (typeof content === 'string' && current.bytes === undefined) return current.content === content;
  const a = current.bytes ?? Buffer.from(current.content, 'utf8');
  const b = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  return Buffer.compare(a, b) === 0;
}

export function fileAction(current: { content: string; bytes?: Uint8Array; mode: number; uid: number; gid: number } | undefined, content: string | Uint8Array, mode: number, uid: number | undefined, gid: number | undefined): FileAction {
  if (!current) return 'create';
  if (!sameBytes(current, content)) return 'update';
  if (current.mode !== mode || (uid !== undefined && current.uid !== uid) || (gid !== undefined && current.gid !== gid)) return 'fix-permissions';
  return 'unchanged';
}
export function settingText(config: ResolvedConfig, key: string): string | undefined {
  const s = config.settings.find((x) => x.key === key);
  return s ? formatSettingValue(s.value) : undefined;
}
/** pgbouncer.ini of each process: the service user's, 0640, reloaded on change. */
export function iniFileSteps(facts: HostFacts, instances: readonly PlannedIni[]): FileStep[] {
  const { serviceUser } = facts;
  const { user, group } = serviceUser;
  const steps: FileStep[] = [];
  for (const inst of instances) {
    const current = facts.iniFiles.get(inst.iniPath);
    const action = fileAction(current, inst.content, 0o640, serviceUser.uid, serviceUser.gid);
    steps.push({
      kind: 'file', path: inst.iniPath, mode: 0o640, owner: user, group, uid: serviceUser.uid, gid: serviceUser.gid,
      action, content: inst.content, diff: action === 'create' || action === 'update' ? unifiedDiff(inst.iniPath, current?.content, inst.content, false) : '',
      secret: false, notify: 'reload', why: inst.id === undefined ? 'pgbouncer configuration' : `pgbouncer configuration of process ${inst.id}`,
    });
  }
  return steps;
}

/** Each logfile: created empty or re-owned, never rewritten. */
export function logfileSteps(facts: HostFacts, instances: readonly PlannedIni[]): FileStep[] {
  const { serviceUser } = facts;
  const { user, group } = serviceUser;
  const steps: FileStep[] = [];
  for (const inst of instances) {
    const logfile = settingText(inst.config, 'logfile');
    if (!logfile) continue;
    const log = facts.logfiles.get(logfile);
    const wrongOwner = log && serviceUser.uid !== undefined && log.uid !== serviceUser.uid;
    steps.push({
      kind: 'file', path: logfile, mode: 0o640, owner: user, group, uid: serviceUser.uid, gid: serviceUser.gid,
      action: !log ? 'create' : wrongOwner ? 'fix-permissions' : 'unchanged', content: '', diff: '', secret: false, notify: undefined,
      why: 'pgbouncer reopens its log on every reload as the service user: it must own it',
    });
  }
  return steps;
}

/** The systemd files (root's, 0644; systemd re-reads them on daemon-reload). */
export function unitFileSteps(facts: HostFacts, units: readonly { path: string; content: string; why: string }[]): FileStep[] {
  const steps: FileStep[] = [];
  for (const unit of units) {
    const current = facts.unitFiles.get(unit.path);
    const action = fileAction(current, unit.content, 0o644, 0, 0);
    steps.push({ kind: 'file', path: unit.path, mode: 0o644, owner: 'root', group: 'root', uid: 0, gid: 0, action, content: unit.content, diff: action === 'create' || action === 'update' ? unifiedDiff(unit.path, current?.content, unit.content, false) : '', secret: false, notify: 'daemon-reload', why: unit.why });
  }
  return steps;
}

/**
 * A userlist.txt others could write to may hold users an attacker planted (a known password that
 * pgbouncer accepts). pgb-setup only ever puts the app user (or auth_user) there: every other user
 * of such a file is listed, loudly.
 */
export function plantedUsers(current: { path: string; content: string; bytes?: Uint8Array; mode: number; gid: number }, config: ResolvedConfig, serviceGid: number | undefined): string | undefined {
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
export function md5SecretsUnderScram(config: ResolvedConfig, userlist: string): string[] {
  if (settingText(config, 'auth_type') !== 'scram-sha-256') return [];
  const out: string[] = [];
  userlist.split('\n').forEach((line, i) => {
    const m = /^\s*"((?:[^"]|"")*)"\s+"md5[0-9a-f]{32}"/.exec(line);
    if (m) out.push(`userlist.txt line ${i + 1}: ${m[1]!.replaceAll('""', '"')} has an md5 secret, which cannot log in with auth_type scram-sha-256; rotate it with "pgb-setup hash-user ${m[1]!.replaceAll('""', '"')} --userlist ..."`);
  });
  return out;
}
