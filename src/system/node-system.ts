import { constants } from 'node:fs';
import { access, chmod, chown, mkdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import type { ExecOptions, ExecResult, FileStat, System, WriteFileOptions } from './system.js';
import { writeFileAtomic } from './atomic-write.js';

export interface NodeSystemOptions {
  /** Treat this folder as / for every file read or written (image builds, tests). Commands are not mapped. */
  root?: string;
  /** Called with every command before it runs (argv only: secrets go through stdin). */
  onExec?: (cmd: string, args: readonly string[]) => void;
}

/** The real machine: programs through execa (src/system/run-program.ts), files through fs/promises. */
export function createNodeSystem(options: NodeSystemOptions = {}): System & { root: string | undefined } {
  const root = options.root;
  const at = (path: string) => (root ? join(root, path) : path);
  return {
    root,
    async exec(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
      options.onExec?.(cmd, args);
      // Loaded on first use: commands that run no program never pay for execa.
      const { runProgram } = await import('./run-program.js');
      return runProgram(cmd, args, opts);
    },
    async readFile(path: string): Promise<string | undefined> {
      try {
        return await readFile(at(path), 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw e;
      }
    },
    async stat(path: string): Promise<FileStat | undefined> {
      try {
        const s = await stat(at(path));
        return {
          mode: s.mode & 0o7777,
          uid: s.uid,
          gid: s.gid,
          size: s.size,
          mtimeMs: s.mtimeMs,
          isFile: s.isFile(),
          isDirectory: s.isDirectory(),
        };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw e;
      }
    },
    async writeFile(path: string, data: string, opts: WriteFileOptions): Promise<void> {
      await writeFileAtomic(at(path), data, opts);
    },
    async mkdir(path: string, opts: { mode?: number; uid?: number; gid?: number } = {}): Promise<void> {
      await mkdir(at(path), { recursive: true, mode: opts.mode ?? 0o755 });
      if (opts.uid !== undefined || opts.gid !== undefined) await chown(at(path), opts.uid ?? -1, opts.gid ?? -1);
    },
    async setPermissions(path: string, mode: number, uid?: number, gid?: number): Promise<void> {
      if (uid !== undefined || gid !== undefined) await chown(at(path), uid ?? -1, gid ?? -1);
      await chmod(at(path), mode);
    },
    async remove(path: string): Promise<void> {
      await rm(at(path), { force: true });
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
    scramLogin: async (target) => (await import('../pg/scram-login.js')).scramLogin(target),
  };
}
