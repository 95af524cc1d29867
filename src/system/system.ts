import type { ScramLoginResult, ScramLoginTarget } from '../pg/scram-login.js';

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

export interface FileStat {
  mode: number; // permission bits only (mode & 0o7777)
  uid: number;
  gid: number;
  size: number;
  mtimeMs: number;
  isFile: boolean;
  isDirectory: boolean;
}

export interface WriteFileOptions {
  mode: number;
  uid?: number;
  gid?: number;
}

export interface System {
  /** Runs a program; never throws on a non-zero exit (the caller decides what is a failure). */
  exec(cmd: string, args: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  readFile(path: string): Promise<string | undefined>;
  stat(path: string): Promise<FileStat | undefined>;
  /** Atomic: private temp file in the same folder, fsync, chown/chmod, rename. */
  writeFile(path: string, data: string, options: WriteFileOptions): Promise<void>;
  mkdir(path: string, options?: { mode?: number; uid?: number; gid?: number }): Promise<void>;
  exists(path: string): Promise<boolean>;
  /** chmod, and chown when uid/gid are given, without touching the content. */
  setPermissions(path: string, mode: number, uid?: number, gid?: number): Promise<void>;
  /** Removes a file; no error when it is already gone. */
  remove(path: string): Promise<void>;
  which(cmd: string): Promise<string | undefined>;
  /**
   * Logs in to PostgreSQL with a password over SCRAM and reports the verifier the server proved
   * to hold (the network, not the machine; optional so that fakes without it skip server checks).
   */
  scramLogin?(target: ScramLoginTarget): Promise<ScramLoginResult>;
}
