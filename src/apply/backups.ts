/**
 * Backups of the files an apply changes, and what rollback may trust of them.
 *
 * A backup folder holds byte copies of the managed files as they were before the run, and a
 * manifest.json naming them. Rollback trusts neither the manifest's paths nor any mode or owner in
 * it: every entry must name a file pgb-setup manages (ManagedFile), which decides where it goes and
 * with which mode and owner; the folders on the way must be root's and not writable by others.
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { z } from 'zod';
import { BACKUP_ROOT } from '../plan/build-plan.js';
import { MAX_USERLIST_BYTES } from '../facts/host-facts.js';
import { describeKind } from '../system/safe-read.js';
import type { System } from '../system/system.js';

/** Largest backed-up file read back (the largest managed file pgb-setup reads). */
export const MAX_BACKUP_FILE_BYTES = MAX_USERLIST_BYTES;
const MAX_MANIFEST_BYTES = 64 * 1024;

export interface ManifestFile {
  /** File name inside the backup folder; absent for a file the run created (rollback removes it). */
  name?: string;
  path: string;
  sha256?: string;
  size?: number;
}

export interface BackupManifest {
  version: 1 | 2;
  files: ManifestFile[];
}

const NAME = /^(?!\.{1,2}$)(?!manifest\.json$)[A-Za-z0-9._@-]{1,255}$/;
const manifestSchema = z.object({
  version: z.union([z.literal(1), z.literal(2)]),
  files: z
    .array(
      z.object({
        name: z.string().regex(NAME).optional(),
        path: z.string().min(1).max(4096),
        sha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
        size: z.number().int().nonnegative().optional(),
        created: z.boolean().optional(),
      }).passthrough(),
    )
    .min(1),
}).passthrough();

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The manifest, or why it cannot be used (one line). */
function parseManifest(bytes: Uint8Array): BackupManifest | string {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return 'manifest.json is not valid JSON';
  }
  const r = manifestSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    return `manifest.json is not a pgb-setup manifest (${issue.path.join('.') || 'top level'}: ${issue.message.toLowerCase()})`;
  }
  const files: ManifestFile[] = [];
  for (const f of r.data.files) {
    if (f.name === undefined && f.created !== true) return `manifest.json: the entry for ${JSON.stringify(f.path)} names no file`;
    files.push({ path: f.path, ...(f.name !== undefined && f.created !== true ? { name: f.name } : {}), ...(f.sha256 ? { sha256: f.sha256 } : {}), ...(f.size !== undefined ? { size: f.size } : {}) });
  }
  return { version: r.data.version, files };
}

export interface Backup {
  stamp: string;
  dir: string;
  restored: boolean;
  manifest: BackupManifest | undefined;
  /** Why the backup cannot be used, when it cannot. */
  problem?: string;
}

const STAMP = /^\d{4}-\d\d-\d\dT[\d-]+Z(\.restored)?$/;

/**
 * The folders from the root down to `dir` must be directories (not links), owned by root (or by
 * the user running pgb-setup, for a --root tree of its own) and writable by nobody else: otherwise
 * another user could have put files (or a manifest) there that root would then restore. Returns
 * why not, or undefined when they are fine; `missing` when the backups folder does not exist.
 */
export async function untrustedFolder(system: System, dir: string): Promise<string | 'missing' | undefined> {
  const me = process.getuid?.() ?? 0;
  const parts = dir.split('/').filter(Boolean);
  for (let i = 1; i <= parts.length; i++) {
    const at = `/${parts.slice(0, i).join('/')}`;
    const st = await system.lstat(at);
    if (!st) return 'missing';
    const kind = st.kind ?? (st.isDirectory ? 'directory' : 'file');
    if (kind !== 'directory') return `${at} is ${describeKind(kind)}, not a folder`;
    if (st.uid !== 0 && st.uid !== me) return `${at} is owned by uid ${st.uid}, not root`;
    if (st.mode & 0o022) return `${at} is writable by ${st.mode & 0o002 ? 'every user' : 'its group'} (mode ${st.mode.toString(8).padStart(4, '0')})`;
  }
  return undefined;
}

/** A backup's manifest, or why it cannot be used. Reads one small file; never follows a link. */
async function readBackupManifest(system: System, dir: string): Promise<BackupManifest | string> {
  let got;
  try {
    got = await system.readManaged(posix.join(dir, 'manifest.json'), MAX_MANIFEST_BYTES);
  } catch (e) {
    return (e as Error).message.replace(/^.*?manifest\.json/, 'manifest.json');
  }
  if (!got) return 'manifest.json is missing';
  return parseManifest(got.bytes);
}

/**
 * Backups newest first. A restored one keeps its folder, renamed with a `.restored` suffix. The
 * manifests are read one at a time (a thousand backups never mean a thousand open files); with
 * `onlyNewestAvailable`, only the one rollback would restore.
 */
export async function listBackups(system: System, options: { onlyNewestAvailable?: boolean } = {}): Promise<Backup[]> {
  const names = (await system.readdir(BACKUP_ROOT)) ?? [];
  const backups: Backup[] = names
    .filter((n) => STAMP.test(n))
    .map((n) => ({ stamp: n.replace(/\.restored$/, ''), dir: posix.join(BACKUP_ROOT, n), restored: n.endsWith('.restored'), manifest: undefined }))
    .sort((a, b) => b.stamp.localeCompare(a.stamp) || Number(a.restored) - Number(b.restored));
  const wanted = options.onlyNewestAvailable ? backups.filter((b) => !b.restored).slice(0, 1) : backups;
  for (const b of wanted) {
    const folder = await system.lstat(b.dir);
    if (folder?.kind !== undefined && folder.kind !== 'directory') {
      b.problem = `${b.dir} is ${describeKind(folder.kind)}, not a folder`;
      continue;
    }
    const m = await readBackupManifest(system, b.dir);
    if (typeof m === 'string') b.problem = m;
    else b.manifest = m;
  }
  return backups;
}
