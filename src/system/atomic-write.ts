import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { lstat, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { RuntimeError } from '../errors.js';
import type { WriteFileOptions } from './system.js';

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function failure(path: string, e: unknown, note = ''): RuntimeError {
  const err = new RuntimeError(`could not write ${path}${note}: ${errorText(e)}`);
  err.cause = e;
  return err;
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

/** Makes the rename durable. Filesystems that cannot fsync a directory are tolerated. */
async function syncDirectory(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (e) {
    const code = errno(e);
    if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw e;
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/**
 * Replaces `path` atomically: a private temp file (created with O_EXCL and mode 0600) in the same
 * directory is written, chowned and chmodded to the requested owner and mode, fsynced and renamed
 * over the target; then the directory is fsynced. Readers see either the old or the new file.
 *
 * - Owner: `uid`/`gid` when given; otherwise the existing target's owner is kept; a new file gets
 *   the process's owner. Mode is exactly `options.mode` (umask does not apply).
 * - On any failure before the rename the temp file is removed and the target is left untouched.
 *   Failures are thrown as RuntimeError (`could not write <path>: <reason>`, original in `cause`).
 * - A symbolic link at `path` is refused rather than replaced or followed.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, options: WriteFileOptions): Promise<void> {
  const { mode } = options;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw new RangeError(`writeFileAtomic: mode must be an integer from 0 to 0o7777, got ${String(mode)}`);
  }

  let existing: Stats | undefined;
  try {
    existing = await lstat(path);
  } catch (e) {
    if (errno(e) !== 'ENOENT') throw failure(path, e);
  }
  if (existing?.isSymbolicLink()) {
    throw new RuntimeError(
      `could not write ${path}: it is a symbolic link, which pgb-setup will neither follow nor replace; replace the link with a regular file`,
    );
  }
  const keepOwner = existing?.isFile() === true;
  const uid = options.uid ?? (keepOwner ? existing!.uid : undefined);
  const gid = options.gid ?? (keepOwner ? existing!.gid : undefined);

  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: FileHandle | undefined;
  let created = false;
  try {
    handle = await open(temp, 'wx', 0o600);
    created = true;
    await handle.writeFile(data);
    if (uid !== undefined || gid !== undefined) {
      const st = await handle.stat();
      const wantUid = uid ?? st.uid;
      const wantGid = gid ?? st.gid;
      if (wantUid !== st.uid || wantGid !== st.gid) await handle.chown(wantUid, wantGid);
    }
    // After chown, which may clear set-id bits.
    await handle.chmod(mode);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(temp, path);
    created = false;
  } catch (e) {
    await handle?.close().catch(() => undefined);
    if (created) await unlink(temp).catch(() => undefined);
    throw failure(path, e);
  }

  try {
    await syncDirectory(dir);
  } catch (e) {
    throw failure(path, e, ' (the new content is in place but its directory could not be synced)');
  }
}
