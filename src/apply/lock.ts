import { open, readFile, rm } from 'node:fs/promises';
import { RuntimeError } from '../errors.js';

/**
 * One apply at a time per root: an exclusive lock file holding our PID. A lock left by a process
 * that no longer runs (killed half-way) is taken over.
 */
export async function acquireLock(path: string): Promise<() => Promise<void>> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return async () => {
        await rm(path, { force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(holder) && holder > 0 && isRunning(holder)) {
        throw new RuntimeError(`another pgb-setup (PID ${holder}) is applying to this host; wait for it to finish (lock ${path})`);
      }
      await rm(path, { force: true });
    }
  }
  throw new RuntimeError(`could not take the lock ${path}`);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
