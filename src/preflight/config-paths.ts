import { setting, type ResolvedConfig } from '../profile/resolve.js';
import type { System } from '../system/system.js';
import type { Problem } from './problems.js';

/** The file settings pgbouncer opens, and whether each names a file or a folder. */
const PATH_SETTINGS: readonly (readonly [string, 'file' | 'folder'])[] = [
  ['auth_file', 'file'],
  ['auth_hba_file', 'file'],
  ['logfile', 'file'],
  ['pidfile', 'file'],
  ['unix_socket_dir', 'folder'],
];

/**
 * A file setting that names a folder on the host, or a path under an existing file (a folder the
 * plan would have to create where a file is): one problem per setting, found before anything is
 * read from those paths or written. Relative paths are pgbouncer's to resolve and not looked at.
 */
export async function configPathProblems(config: ResolvedConfig, stat: System['stat']): Promise<Problem[]> {
  const problems: Problem[] = [];
  for (const [key, kind] of PATH_SETTINGS) {
    const path = setting(config, key);
    if (typeof path !== 'string' || !path.startsWith('/')) continue;
    const problem = await pathProblem(path, kind, stat);
    if (problem) problems.push({ field: `pgbouncer.${key}`, message: `pgbouncer.${key}: ${problem}` });
  }
  return problems;
}

async function pathProblem(path: string, kind: 'file' | 'folder', stat: System['stat']): Promise<string | undefined> {
  if (kind === 'file' && /\/\.{0,2}$/.test(path)) return `${path} names a folder; name a file`;
  // Top down, so that a file in the middle is found before a stat below it fails with ENOTDIR.
  const parts = path.split('/').filter(Boolean);
  for (let i = 1; i <= parts.length; i++) {
    const at = `/${parts.slice(0, i).join('/')}`;
    const st = await stat(at);
    if (!st) return undefined;
    const last = i === parts.length;
    if (!last && !st.isDirectory) return `${at} is a file on this host, so ${path} cannot be under it; name another path`;
    if (last && kind === 'file' && st.isDirectory) return `${path} is a folder on this host; name a file`;
    if (last && kind === 'folder' && !st.isDirectory) return `${path} is a file on this host; name a folder`;
  }
  return undefined;
}
