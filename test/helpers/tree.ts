/**
 * Whole-tree snapshots for "nothing was written" checks: every entry under a folder with its type,
 * permission bits, owner, group and (for files) a hash of its bytes, or (for links) its target.
 * Timestamps are left out: a rejected run may read files and take the lock, which only touches
 * access and directory times.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

export interface TreeEntry {
  type: 'file' | 'dir' | 'link' | 'other';
  mode: string;
  uid: number;
  gid: number;
  sha256?: string;
  size?: number;
  target?: string;
}

export function snapshotTree(root: string): Record<string, TreeEntry> {
  const out: Record<string, TreeEntry> = {};
  const walk = (rel: string) => {
    const abs = join(root, rel);
    const st = lstatSync(abs);
    const base = { mode: (st.mode & 0o7777).toString(8).padStart(4, '0'), uid: st.uid, gid: st.gid };
    if (st.isSymbolicLink()) out[rel || '.'] = { type: 'link', ...base, target: readlinkSync(abs) };
    else if (st.isFile()) out[rel || '.'] = { type: 'file', ...base, size: st.size, sha256: createHash('sha256').update(readFileSync(abs)).digest('hex') };
    else if (st.isDirectory()) {
      out[rel || '.'] = { type: 'dir', ...base };
      for (const name of readdirSync(abs).sort()) walk(rel ? `${rel}/${name}` : name);
    } else out[rel || '.'] = { type: 'other', ...base };
  };
  walk('');
  return out;
}

/** Copies a tree keeping modes and owners (cp -a), replacing `to`. */
export function copyTree(from: string, to: string): void {
  execFileSync('rm', ['-rf', to]);
  execFileSync('cp', ['-a', from, to]);
}

/** Every file under root whose name looks like an atomic-write temp file (`.<name>.<...>.tmp`). */
export function tempFiles(root: string): { path: string; mode: number; uid: number }[] {
  return Object.entries(snapshotTree(root))
    .filter(([p, e]) => e.type === 'file' && /(^|\/)\.[^/]+\.tmp$/.test(p))
    .map(([p, e]) => ({ path: p, mode: parseInt(e.mode, 8), uid: e.uid }));
}
