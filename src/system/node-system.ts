import { constants } from 'node:fs';
import { access, lstat, mkdir, mkdtemp, open, readdir, readlink, realpath, rename, rm, rmdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, posix, sep } from 'node:path';
import { RuntimeError } from '../text/errors.js';
import type { ExecOptions, ExecResult, FileStat, System, WriteFileOptions } from './system.js';
import { writeFileAtomic } from './atomic-write.js';
import { fileKind, notRegularFile, readRegularFile, toFileStat } from './safe-read.js';

interface NodeSystemOptions {
  /** Treat this folder as / for every file read or written (image builds, tests). Commands are not mapped. */
  root?: string;
  /** Called with every command before it runs (argv only: secrets go through stdin). */
  onExec?: (cmd: string, args: readonly string[]) => void;
}

/** The System every command uses: the caller's own, or the real machine under `root` when --root is given. */
export function systemAt(base: System, root: string | undefined): System {
  return root === undefined ? base : createNodeSystem({ root });
}

/** The real machine: programs through execa (src/system/run-program.ts), files through fs/promises. */
export function createNodeSystem(options: NodeSystemOptions = {}): System & { root: string | undefined } {
  const root = options.root;
  // A path with ".." cannot climb out of the root: it is resolved against "/" first.
  const at = (path: string) => (root ? join(root, posix.resolve('/', path)) : path);
  /**
   * Under a root, the folder a file is written to (or a managed file read from) must be inside the
   * root once links are resolved: R/etc/pgbouncer -> /etc/pgbouncer would otherwise reach the host.
   */
  const inside = async (path: string): Promise<void> => {
    if (!root) return;
    const realRoot = await realpath(root);
    for (let dir = dirname(at(path)); ; dir = dirname(dir)) {
      let real: string;
      try {
        real = await realpath(dir);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if ((code === 'ENOENT' || code === 'ENOTDIR') && dir !== dirname(dir)) continue;
        throw e;
      }
      if (real !== realRoot && !real.startsWith(realRoot + sep)) {
        throw new RuntimeError(`${path}: a folder on its path leads out of --root ${root} (through a symbolic link); pgb-setup neither reads nor writes through it`);
      }
      return;
    }
  };
  return {
    root,
    async exec(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
      options.onExec?.(cmd, args);
      // Loaded on first use: commands that run no program never pay for execa.
      const { runProgram } = await import('./run-program.js');
      return runProgram(cmd, args, opts);
    },
    async readFile(path: string): Promise<string | undefined> {
      return (await readRegularFile(at(path), { noFollow: false, display: path }))?.bytes.toString('utf8');
    },
    async readManaged(path: string, maxBytes?: number): Promise<{ bytes: Buffer; stat: FileStat } | undefined> {
      await inside(path);
      return readRegularFile(at(path), { noFollow: true, display: path, ...(maxBytes !== undefined ? { maxBytes } : {}) });
    },
    stat: (path: string) => statOrMissing(stat(at(path))),
    lstat: (path: string) => statOrMissing(lstat(at(path))),
    async writeFile(path: string, data: string | Uint8Array, opts: WriteFileOptions): Promise<void> {
      await inside(path);
      await writeFileAtomic(at(path), data, opts);
    },
    async mkdir(path: string, opts: { mode?: number; uid?: number; gid?: number } = {}): Promise<void> {
      await inside(path);
      await mkdir(at(path), { recursive: true, mode: opts.mode ?? 0o755 });
      if (opts.uid !== undefined || opts.gid !== undefined) await changeNoFollow(at(path), path, undefined, opts.uid, opts.gid);
    },
    async setPermissions(path: string, mode: number, uid?: number, gid?: number): Promise<void> {
      await inside(path);
      await changeNoFollow(at(path), path, mode, uid, gid);
    },
    async remove(path: string, opts: { directory?: boolean; recursive?: boolean } = {}): Promise<void> {
      await inside(path);
      if (opts.recursive) await rm(at(path), { recursive: true, force: true });
      else if (opts.directory) await rmdir(at(path)).catch((e: NodeJS.ErrnoException) => { if (e.code !== 'ENOENT') throw e; });
      else await rm(at(path), { force: true });
    },
    async readdir(path: string): Promise<string[] | undefined> {
      try {
        return await readdir(at(path));
      } catch {
        return undefined;
      }
    },
    async rename(from: string, to: string): Promise<void> {
      await inside(from);
      await inside(to);
      await rename(at(from), at(to));
    },
    async mkdtemp(prefix: string): Promise<string> {
      const path = join(tmpdir(), prefix);
      await inside(path);
      const made = await mkdtemp(at(path));
      return path + made.slice(at(path).length);
    },
    async readLink(path: string): Promise<string | undefined> {
      try {
        return await readlink(at(path));
      } catch {
        return undefined;
      }
    },
    async exists(path: string): Promise<boolean> {
      try {
        await access(at(path), constants.F_OK);
        return true;
      } catch {
        return false;
      }
    },
    async which(cmd: string): Promise<string | undefined> {
      const dirs = (process.env['PATH'] ?? '').split(delimiter).concat(['/usr/sbin', '/sbin', '/usr/bin', '/bin']);
      for (const dir of dirs) {
        if (!dir) continue;
        const candidate = join(dir, cmd);
        try {
          await access(candidate, constants.X_OK);
          return candidate;
        } catch {
          // not here
        }
      }
      return undefined;
    },
    // Not mapped under root: it is a network login, and callers skip it under --root.
    scramLogin: async (target) => (await import('./scram-login.js')).scramLogin(target),
  };
}

/** A stat, or undefined when nothing is there (or a folder on the way is a file). */
async function statOrMissing(pending: Promise<import('node:fs').Stats>): Promise<FileStat | undefined> {
  try {
    return toFileStat(await pending);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
}

/**
 * chown/chmod of the file or folder itself, never of what a symbolic link there points to (chown
 * follows links: a logfile linked to /etc/shadow would hand that file to the service user).
 */
async function changeNoFollow(hostPath: string, display: string, mode: number | undefined, uid?: number, gid?: number): Promise<void> {
  let handle;
  try {
    handle = await open(hostPath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') throw notRegularFile(display, 'symlink');
    throw e;
  }
  try {
    const s = await handle.stat();
    const kind = fileKind(s);
    if (kind !== 'file' && kind !== 'directory') throw notRegularFile(display, kind);
    if (uid !== undefined || gid !== undefined) await handle.chown(uid ?? -1, gid ?? -1);
    if (mode !== undefined) await handle.chmod(mode);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

