import { randomBytes } from 'node:crypto';
import { link, lstat, rm, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { RuntimeError } from '../errors.js';
import { describeKind, fileKind, readRegularFile } from '../system/safe-read.js';

/**
 * One apply at a time per root: an exclusive lock file holding our PID. A lock left by a process
 * that no longer runs (killed half-way) is taken over.
 *
 * - The lock appears with its PID already in it (written to a private file, then link()ed into
 *   place, which fails if the lock exists), so nobody ever sees an empty lock and takes it for stale.
 * - A stale lock is removed only under a second exclusive file, `<lock>.takeover`, and only if it
 *   still holds the dead PID that was read: two runs racing for a stale lock cannot both win.
 *   A `.takeover` file whose PID is dead (a run killed inside those few instructions) is removed.
 */
export async function acquireLock(path: string): Promise<() => Promise<void>> {
  for (let attempt = 0; attempt < 50; attempt++) {
    if (await createHolding(path)) {
      return async () => {
        if ((await holderOf(path)) === process.pid) await rm(path, { force: true });
      };
    }
    const holder = await holderOf(path);
    if (holder === 'gone') continue;
    if (holder !== undefined && isRunning(holder)) {
      throw new RuntimeError(`another pgb-setup (PID ${holder}) is applying to this host; wait for it to finish (lock ${path})`);
    }
    // Stale: its holder is dead, or it holds no PID (left by something else than this code).
    const guard = `${path}.takeover`;
    if (await createHolding(guard)) {
      try {
        if ((await holderOf(path)) === holder) await rm(path, { force: true });
      } finally {
        await rm(guard, { force: true });
      }
    } else {
      const taker = await holderOf(guard);
      if (typeof taker === 'number' && !isRunning(taker)) await rm(guard, { force: true });
      else await sleep(10);
    }
  }
  throw new RuntimeError(`could not take the lock ${path}: it was replaced 50 times while pgb-setup tried (runs starting all the time, or something recreating it); check what writes it and try again`);
}

/** Creates `path` holding our PID, atomically; false when it exists. */
async function createHolding(path: string): Promise<boolean> {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(temp, `${process.pid}\n`, { mode: 0o600, flag: 'wx' });
  try {
    await link(temp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    await rm(temp, { force: true });
  }
}

/**
 * The PID in a lock file; undefined when it holds none; 'gone' when the file does not exist.
 * A symbolic link there (even a dangling one) is no lock this code wrote: it holds no PID, so it is
 * taken over (the link removed, its target never read). A FIFO, device or directory is refused
 * before it is opened: reading a FIFO would hang, and removing a directory is not ours to do.
 */
async function holderOf(path: string): Promise<number | undefined | 'gone'> {
  let kind;
  try {
    kind = fileKind(await lstat(path));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw new RuntimeError(`could not read the lock ${path}: ${(e as Error).message}`);
  }
  if (kind === 'symlink') return undefined;
  if (kind !== 'file') {
    throw new RuntimeError(`the lock ${path} is ${describeKind(kind)}, not a lock file pgb-setup wrote; remove it once you know no pgb-setup is running`);
  }
  let got;
  try {
    got = await readRegularFile(path, { noFollow: true, maxBytes: 64 });
  } catch {
    return undefined; // replaced by something else, or over 64 bytes: not our lock; stale
  }
  if (!got) return 'gone';
  const pid = Number(got.bytes.toString('latin1').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
