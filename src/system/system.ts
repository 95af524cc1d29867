import type { ScramLoginResult, ScramLoginTarget } from './scram-login.js';

/**
 * The one seam between pgb-setup and the machine. Planning code never touches the machine;
 * apply/verify code touches it only through this interface, so tests can swap in a fake.
 * Paths are absolute host paths; an implementation with a `root` maps them under that root.
 */
export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Written to the child's stdin (the only way a secret may reach a child). */
  input?: string;
  env?: Record<string, string | undefined>;
  cwd?: string;
  timeoutMs?: number;
}

export type FileKind = 'file' | 'directory' | 'symlink' | 'fifo' | 'socket' | 'char-device' | 'block-device';

export interface FileStat {
  mode: number; // permission bits only (mode & 0o7777)
  uid: number;
  gid: number;
  size: number;
  mtimeMs: number;
  isFile: boolean;
  isDirectory: boolean;
  /** What is there (lstat tells 'symlink'; stat never does). */
  kind?: FileKind;
}

export interface WriteFileOptions {
  mode: number;
  uid?: number;
  gid?: number;
}

export interface System {
  /** Runs a program; never throws on a non-zero exit (the caller decides what is a failure). */
  exec(cmd: string, args: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  /** A regular file's text (links followed); a FIFO, device or directory there is a RuntimeError, never a hang. */
  readFile(path: string): Promise<string | undefined>;
  /**
   * A file pgb-setup manages (or a backup, lock, manifest): its exact bytes and the stat of what was
   * read. Refused with a one-line RuntimeError before anything is read when it is a symbolic link,
   * not a regular file, larger than `maxBytes`, or (under a root) reached through a folder outside it.
   */
  readManaged(path: string, maxBytes?: number): Promise<{ bytes: Buffer; stat: FileStat } | undefined>;
  stat(path: string): Promise<FileStat | undefined>;
  /** Like stat, but a symbolic link is reported as one (kind 'symlink'), not followed. */
  lstat(path: string): Promise<FileStat | undefined>;
  /** Atomic: private temp file in the same folder, fsync, chown/chmod, rename. Bytes are written as given. */
  writeFile(path: string, data: string | Uint8Array, options: WriteFileOptions): Promise<void>;
  mkdir(path: string, options?: { mode?: number; uid?: number; gid?: number }): Promise<void>;
  exists(path: string): Promise<boolean>;
  /** chmod, and chown when uid/gid are given, without touching the content. */
  setPermissions(path: string, mode: number, uid?: number, gid?: number): Promise<void>;
  /** Removes a file (or, with `directory`, an empty folder; with `recursive`, a folder and all in it); no error when it is already gone. */
  remove(path: string, options?: { directory?: boolean; recursive?: boolean }): Promise<void>;
  /** The names in a folder; undefined when no folder is there (or it cannot be read). */
  readdir(path: string): Promise<string[] | undefined>;
  /** Renames a file or folder in place (one file system: atomic). */
  rename(from: string, to: string): Promise<void>;
  /** Creates a new private (0700) folder in the temp folder, named `prefix` and six random characters; returns its path. */
  mkdtemp(prefix: string): Promise<string>;
  which(cmd: string): Promise<string | undefined>;
  /** The target of a symbolic link (e.g. /proc/<pid>/exe); undefined when it is not one or is gone. Optional: without it, /proc/<pid>/comm alone names a process. */
  readLink?(path: string): Promise<string | undefined>;
  /**
   * Logs in to PostgreSQL with a password over SCRAM and reports the verifier the server proved
   * to hold (the network, not the machine; optional so that fakes without it skip server checks).
   */
  scramLogin?(target: ScramLoginTarget): Promise<ScramLoginResult>;
}
