/**
 * Which account runs pgbouncer on this host. The distro default is only a guess (Debian's package
 * uses `postgres`, PGDG/Fedora use `pgbouncer`, admins change units), so read the host, most
 * authoritative source first:
 *
 *   1. systemd-unit  `systemctl cat pgbouncer` → the last `User=` / `Group=` in [Service]
 *                    (drop-ins are printed after the unit, so later lines win, as in systemd);
 *                    when systemd does not answer (not PID 1, or --root), the unit files on disk
 *   2. passwd        the distro's default user exists; or, when pgbouncer is already installed,
 *                    the other conventional user (postgres ↔ pgbouncer) exists
 *   3. default       the distro default; the package will create it (uid/gid unknown yet)
 *
 * Never the owner of a file: anyone who can write to /etc/pgbouncer could chown pgbouncer.ini to
 * their own account and so be handed userlist.txt (every secret). A managed file owned by someone
 * else than the service user is reported in the plan and re-owned.
 *
 * Step 3 does not take the other user before pgbouncer is installed: on a RHEL host running
 * PostgreSQL, `postgres` exists, but the pgbouncer package will run as `pgbouncer`.
 */
import type { System } from '../../system/system.js';
import { getentGroup, getentPasswd } from '../../system/getent.js';
import type { DistroSpec } from './types.js';

export type ServiceUserSource = 'systemd-unit' | 'passwd' | 'default';

export interface ServiceUser {
  user: string;
  group: string;
  /** undefined when the account does not exist yet (source `default`) or cannot be looked up. */
  uid: number | undefined;
  gid: number | undefined;
  source: ServiceUserSource;
  /** One line saying where the answer came from, for `detect` output. */
  detail: string;
}

export async function detectServiceUser(system: System, spec: DistroSpec, options: { live?: boolean } = {}): Promise<ServiceUser> {
  // 1. The unit systemd would actually run (under --root: the unit files inside the root).
  const unit = (options.live !== false ? await readUnitUser(system, spec.serviceName) : undefined) ?? (await readUnitFilesUser(system, spec));
  if (unit?.user !== undefined) {
    const pw = await getentPasswd(system, unit.user);
    const group = unit.group ?? (pw ? await groupName(system, pw.gid) : undefined) ?? unit.user;
    const gid = unit.group !== undefined ? (await getentGroup(system, unit.group))?.gid : pw?.gid;
    return {
      user: unit.user,
      group,
      uid: pw?.uid,
      gid,
      source: 'systemd-unit',
      detail: `User=${unit.user}${unit.group !== undefined ? `, Group=${unit.group}` : ''} in ${unit.from}`,
    };
  }

  // 3. Accounts that exist.
  const candidates = [spec.defaultServiceUser];
  if (await system.exists(spec.pgbouncerBinary)) {
    candidates.push(spec.defaultServiceUser === 'postgres' ? 'pgbouncer' : 'postgres');
  }
  for (const name of candidates) {
    const pw = await getentPasswd(system, name);
    if (pw) {
      return {
        user: pw.name,
        group: (await groupName(system, pw.gid)) ?? pw.name,
        uid: pw.uid,
        gid: pw.gid,
        source: 'passwd',
        detail: `account ${pw.name} exists (getent passwd)`,
      };
    }
  }

  // 4. Nothing on the host says otherwise.
  return {
    user: spec.defaultServiceUser,
    group: spec.defaultServiceGroup,
    uid: undefined,
    gid: undefined,
    source: 'default',
    detail: `default for ${spec.prettyName}; the account does not exist yet`,
  };
}

/** The effective `User=` / `Group=` of a unit, from `systemctl cat` output. */
export function parseUnitUser(text: string): { user?: string; group?: string } {
  let section = '';
  let user: string | undefined;
  let group: string | undefined;
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      section = sec[1] as string;
      continue;
    }
    if (section !== 'Service') continue;
    const kv = /^(User|Group)\s*=\s*(.*)$/.exec(line);
    if (!kv) continue;
    // An empty assignment resets to the default (root); specifiers (%i) we cannot expand.
    const value = (kv[2] as string).trim();
    const v = value === '' || value.includes('%') ? undefined : value;
    if (kv[1] === 'User') user = v;
    else group = v;
  }
  return { ...(user !== undefined ? { user } : {}), ...(group !== undefined ? { group } : {}) };
}

type UnitUser = { user?: string; group?: string; from: string };

async function readUnitUser(system: System, service: string): Promise<UnitUser | undefined> {
  if ((await system.which('systemctl')) === undefined) return undefined;
  const r = await system.exec('systemctl', ['cat', service]);
  // System.exec never throws on a non-zero exit.
  // Non-zero when the unit is unknown, or when systemd is not PID 1 (containers).
  if (r.exitCode !== 0) return undefined;
  const u = parseUnitUser(r.stdout);
  return u.user !== undefined ? { ...u, from: `\`systemctl cat ${service}\`` } : undefined;
}

/** User= from the packaged unit and an admin's full override in /etc/systemd/system, read as files. */
async function readUnitFilesUser(system: System, spec: DistroSpec): Promise<UnitUser | undefined> {
  const paths = [spec.systemdUnitPath, `/etc/systemd/system/${spec.serviceName}.service`];
  let found: UnitUser | undefined;
  for (const path of paths) {
    const text = await system.readFile(path).catch(() => undefined);
    if (text === undefined) continue;
    const u = parseUnitUser(text);
    if (u.user !== undefined) found = { ...u, from: path };
  }
  return found;
}

async function groupName(system: System, gid: number): Promise<string | undefined> {
  return (await getentGroup(system, String(gid)))?.name;
}
