import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { lstat, open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { RuntimeError } from '../text/errors.js';
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

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errno(e) === 'EPERM';
  }
}

/**
 * Temp files of `path` left by a writer that was killed before its rename (their name carries the
 * writer's PID) are removed, so a crash leaves no debris after the next write of the same file.
 */
async function removeStaleTemps(dir: string, base: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  const prefix = `.${base}.`;
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const m = /^(\d+)\.[0-9a-f]{12}\.tmp$/.exec(name.slice(prefix.length));
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid !== process.pid && !isRunning(pid)) await unlink(join(dir, name)).catch(() => undefined);
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
 * - Killed half-way (SIGKILL, power loss), the target is the old or the new file, never partial.
 *   The temp file (`.<name>.<pid>.<random>.tmp`) stays 0600 until just before the rename, so one
 *   left behind is never readable by more than the target would be; the next write of the same
 *   file removes it once its writer's PID is gone.
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
  await removeStaleTemps(dir, basename(path));
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: FileHandle | undefined;
  let created = false;
  try {
    handle = await open(temp, 'wx', 0o600);
    created = true;
    await handle.writeFile(data);
    await handle.sync();
    if (uid !== undefined || gid !== undefined) {
      const st = await handle.stat();
      const wantUid = uid ?? st.uid;
      const wantGid = gid ?? st.gid;
      if (wantUid !== st.uid || wantGid !== st.gid) await handle.chown(wantUid, wantGid);
    }
    // After chown, which may clear set-id bits; last before the rename, so the temp file spends as
    // little time as possible with a mode wider than 0600. (Metadata is journaled before the rename.)
    await handle.chmod(mode);
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
