import { constants } from 'node:fs';
import { access, chmod, chown, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { delimiter, join } from 'node:path';
import type { ExecOptions, ExecResult, FileStat, System, WriteFileOptions } from './system.js';
import { writeFileAtomic } from './atomic-write.js';

export interface NodeSystemOptions {
  /** Treat this folder as / for every file read or written (image builds, tests). Commands are not mapped. */
  root?: string;
  /** Called with every command before it runs (argv only: secrets go through stdin). */
  onExec?: (cmd: string, args: readonly string[]) => void;
}

/** The real machine, through node:child_process and fs/promises. */
export function createNodeSystem(options: NodeSystemOptions = {}): System & { root: string | undefined } {
  const root = options.root;
  const at = (path: string) => (root ? join(root, path) : path);
  return {
    root,
    async exec(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
      options.onExec?.(cmd, args);
      return spawnCollect(cmd, args, opts);
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

/**
 * Runs a program and collects its output. Hand-written on node:child_process rather than execa:
 * importing execa costs about 150 ms, twice the whole budget of a no-op re-run.
 */
function spawnCollect(cmd: string, args: readonly string[], opts: ExecOptions): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, [...args], {
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
      cwd: opts.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: opts.timeoutMs,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    let settled = false;
    const finish = (exitCode: number, extra = '') => {
      if (settled) return;
      settled = true;
      resolve({ exitCode, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') + extra });
    };
    child.on('error', (e: NodeJS.ErrnoException) => finish(e.code === 'ENOENT' ? 127 : 126, `${cmd}: ${e.message}`));
    child.on('close', (code, signal) => finish(code ?? (signal ? 128 : 1)));
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}
