import { readdir } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { BACKUP_ROOT } from '../plan/build-plan.js';
import type { System } from '../system/system.js';

export interface BackupManifest {
  version: 1;
  files: { name: string; path: string; mode: number; uid: number; gid: number }[];
}

export interface Backup {
  stamp: string;
  dir: string;
  restored: boolean;
  manifest: BackupManifest | undefined;
}

/** Backups newest first. A restored one keeps its folder, renamed with a `.restored` suffix. */
export async function listBackups(system: System, root: string | undefined): Promise<Backup[]> {
  let names: string[] = [];
  try {
    names = await readdir(root ? join(root, BACKUP_ROOT) : BACKUP_ROOT);
  } catch {
    return [];
  }
  const backups = await Promise.all(
    names
      .filter((n) => /^\d{4}-\d\d-\d\dT[\d-]+Z(\.restored)?$/.test(n))
      .map(async (n) => {
        const dir = posix.join(BACKUP_ROOT, n);
        const text = await system.readFile(posix.join(dir, 'manifest.json'));
        let manifest: BackupManifest | undefined;
        try {
          manifest = text ? (JSON.parse(text) as BackupManifest) : undefined;
        } catch {
          manifest = undefined;
        }
        return { stamp: n.replace(/\.restored$/, ''), dir, restored: n.endsWith('.restored'), manifest };
      }),
  );
  return backups.sort((a, b) => b.stamp.localeCompare(a.stamp));
}
