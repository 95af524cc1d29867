/**
 * Temp directories for the harness (optionally owned by the `postgres` OS user), and the tail of a
 * log written into one.
 */
import { chmod, chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lookupUser } from './proc.js';
import { trackDir } from './registry.js';

export interface TempDir {
  path: string;
  /** Removes the directory and everything in it (idempotent). */
  cleanup(): Promise<void>;
}

export interface TempDirOptions {
  /** chown the directory to this OS user (needs root). */
  owner?: 'postgres' | string;
  /** Directory mode; default 0o755 when owned by another user (so others can traverse), else 0o700. */
  mode?: number;
  /** Keep the dir when the process exits without cleanup() (default false: the exit hook removes it). */
  keepOnExit?: boolean;
}

export async function makeTempDir(prefix: string, opts: TempDirOptions = {}): Promise<TempDir> {
  const safe = prefix.replace(/[^A-Za-z0-9_.-]/g, '_');
  const path = await mkdtemp(join(tmpdir(), `pgb-test-${safe}-`));
  if (opts.owner) {
    const u = lookupUser(opts.owner);
    await chown(path, u.uid, u.gid);
  }
  await chmod(path, opts.mode ?? (opts.owner ? 0o755 : 0o700));
  const untrack = opts.keepOnExit ? () => {} : trackDir(path);
  return {
    path,
    async cleanup() {
      untrack();
      await rm(path, { recursive: true, force: true });
    },
  };
}

/** chown a path to an OS user (needs root). */
export async function chownTo(path: string, owner: string): Promise<void> {
  const u = lookupUser(owner);
  await chown(path, u.uid, u.gid);
}

/** The last `n` lines of `text` (a final newline does not count as an empty last line). */
export function lastLines(text: string, n: number): string {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.slice(-n).join('\n');
}

/** The last `n` lines of a file; '' when it cannot be read. */
export async function tailFile(file: string, n: number): Promise<string> {
  return lastLines(await readFile(file, 'utf8').catch(() => ''), n);
}
