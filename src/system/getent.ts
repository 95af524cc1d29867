import type { System } from './system.js';

/** An account or group as the name service knows it (`getent`, so LDAP/SSSD accounts count too). */
interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

/** The first line of `getent <db> <key>` split on ':', or undefined when getent found nothing. */
async function getentFields(system: System, db: 'passwd' | 'group', key: string): Promise<string[] | undefined> {
  const r = await system.exec('getent', [db, key]);
  if (r.exitCode !== 0) return undefined;
  return (r.stdout.split('\n')[0] ?? '').split(':');
}

const ID = /^\d+$/;

/** `getent passwd <name or uid>`; undefined when there is no such account or the line is malformed (never a NaN id). */
export async function getentPasswd(system: System, key: string): Promise<PasswdEntry | undefined> {
  const f = await getentFields(system, 'passwd', key);
  if (!f || !f[0] || !ID.test(f[2] ?? '') || !ID.test(f[3] ?? '')) return undefined;
  return { name: f[0], uid: Number(f[2]), gid: Number(f[3]) };
}

/** `getent group <name or gid>`; undefined when there is no such group or the line is malformed. */
export async function getentGroup(system: System, key: string): Promise<{ name: string; gid: number } | undefined> {
  const f = await getentFields(system, 'group', key);
  if (!f || !f[0] || !ID.test(f[2] ?? '')) return undefined;
  return { name: f[0], gid: Number(f[2]) };
}
