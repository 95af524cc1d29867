/**
 * The files pgb-setup manages on a host, with the mode and owner it gives each. Rollback restores
 * only these, to these paths, with these modes and owners, whatever a backup's manifest says.
 */
import { posix } from 'node:path';
import type { DistroSpec, ServiceUser } from '../facts/distro/index.js';
import { DROP_IN_NAME } from './open-files.js';
import { tlsPaths } from '../profile/tls-layer.js';

export interface ManagedFile {
  path: string;
  mode: number;
  uid: number | undefined;
  gid: number | undefined;
  role: 'ini' | 'userlist' | 'unit' | 'tls';
}

const GROUP_UNIT = '/etc/systemd/system/pgbouncer@.service';
const GROUP_TARGET = '/etc/systemd/system/pgbouncer-group.target';
const MAX_GROUP = 64;

function withSuffix(path: string, id: number): string {
  const ext = posix.extname(path);
  return `${path.slice(0, path.length - ext.length)}-${id}${ext}`;
}

/** A clean absolute path (no "..", no "."): only such a path can name a managed file. */
function isCleanAbsolute(path: string): boolean {
  return path.startsWith('/') && posix.normalize(path) === path && !path.endsWith('/') && !path.split('/').includes('..');
}

/**
 * Every file pgb-setup may write on this host: the distro's pgbouncer.ini (and the per-process
 * inis of --processes), userlist.txt and any auth_file the configs name, and its systemd files.
 */
export function managedFiles(distro: DistroSpec, serviceUser: ServiceUser, authFiles: readonly string[] = []): Map<string, ManagedFile> {
  const svc = { uid: serviceUser.uid, gid: serviceUser.gid };
  const files: ManagedFile[] = [
    { path: distro.iniPath, mode: 0o640, ...svc, role: 'ini' },
    ...Array.from({ length: MAX_GROUP }, (_, i) => ({ path: withSuffix(distro.iniPath, i + 1), mode: 0o640, ...svc, role: 'ini' as const })),
    { path: distro.userlistPath, mode: 0o600, ...svc, role: 'userlist' },
    ...authFiles.filter(isCleanAbsolute).map((path) => ({ path, mode: 0o600, ...svc, role: 'userlist' as const })),
    { path: posix.join(distro.systemdDropInDir, DROP_IN_NAME), mode: 0o644, uid: 0, gid: 0, role: 'unit' },
    { path: GROUP_UNIT, mode: 0o644, uid: 0, gid: 0, role: 'unit' },
    { path: GROUP_TARGET, mode: 0o644, uid: 0, gid: 0, role: 'unit' },
    ...tlsFiles(distro, serviceUser),
  ];
  return new Map(files.map((f) => [f.path, f]));
}

/** The TLS key and certificates and the HBA file --tls writes next to pgbouncer.ini (plan/tls.ts gives the same modes). */
function tlsFiles(distro: DistroSpec, serviceUser: ServiceUser): ManagedFile[] {
  const p = tlsPaths(distro.iniPath);
  const svc = { uid: serviceUser.uid, gid: serviceUser.gid };
  const root = { uid: 0, gid: 0 };
  return [
    { path: p.caCert, mode: 0o644, ...root, role: 'tls' },
    { path: p.caKey, mode: 0o600, ...root, role: 'tls' },
    { path: p.serverCert, mode: 0o644, ...root, role: 'tls' },
    { path: p.serverKey, mode: 0o600, ...svc, role: 'tls' },
    { path: p.serverCa, mode: 0o644, ...root, role: 'tls' },
    { path: p.hba, mode: 0o640, ...svc, role: 'tls' },
  ];
}
