import { accessSync, constants, lstatSync, statSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { InputError } from '../text/errors.js';
import { describeKind, fileKind } from './safe-read.js';

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new InputError(`${path}: cannot look at it (${(e as NodeJS.ErrnoException).code ?? String(e)})`, '--out');
  }
}

/**
 * The folder `--out` names, checked before anything is written: not empty, a folder (or one that
 * can be made), writable by this user. Exit 2 with one line instead of a failure half-way.
 */
export function checkOutDir(out: string | undefined, cwd: string): string {
  if (out === undefined || out.trim() === '') throw new InputError('--out: empty; name the folder to write into, e.g. --out ./pgbouncer', '--out');
  const dir = resolve(cwd, out);
  let existing = dir;
  for (;;) {
    let st: Stats | undefined;
    try {
      st = statSync(existing);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new InputError(`--out ${out}: cannot use ${existing} (${code ?? String(e)})`, '--out');
    }
    if (st) {
      if (!st.isDirectory()) {
        throw new InputError(`--out ${out}: ${existing === dir ? 'is' : `${existing} is`} ${describeKind(fileKind(st))}, not a folder; name a folder`, '--out');
      }
      break;
    }
    if (dirname(existing) === existing) break;
    existing = dirname(existing);
  }
  try {
    accessSync(existing, constants.W_OK | constants.X_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'EROFS' ? 'it is on a read-only file system' : code === 'EACCES' || code === 'EPERM' ? 'this user may not write there' : (code ?? String(e));
    throw new InputError(`--out ${out}: cannot write into ${existing} (${why})`, '--out');
  }
  return dir;
}

/**
 * Every file render is about to replace: absent, or a regular file. A symbolic link (even a
 * dangling one), a folder, a FIFO or a device is refused for all of them before the first is
 * written, so a refusal never leaves half an output.
 */
/** userlist.txt is read before it is replaced (other users' lines are kept): far above any real one. */
const MAX_EXISTING_BYTES = 64 * 1024 * 1024;

export function checkTargets(paths: readonly string[]): void {
  for (const path of paths) {
    const st = lstatOrUndefined(path);
    if (st?.isFile() && st.size > MAX_EXISTING_BYTES) {
      throw new InputError(`${path}: is ${st.size} bytes, more than the ${MAX_EXISTING_BYTES / (1024 * 1024)} MiB pgb-setup reads from a file it replaces; move it away`, '--out');
    }
    if (!st || st.isFile()) continue;
    if (st.isSymbolicLink()) {
      throw new InputError(`${path}: is a symbolic link, which pgb-setup neither follows nor replaces; remove it or choose another --out`, '--out');
    }
    throw new InputError(`${path}: is ${describeKind(fileKind(st))}, not a regular file; remove it or choose another --out`, '--out');
  }
}
