import type { System } from './system.js';

export interface Output {
  write(text: string): void;
}

/** Everything a command needs from the outside world, built once in cli.ts and passed down. */
export interface Context {
  system: System;
  /** Data: plans, JSON, rendered snippets. */
  stdout: Output;
  /** Progress, warnings, errors. */
  stderr: Output;
  env: Readonly<Record<string, string | undefined>>;
  isTTY: boolean;
  cwd: string;
  /** Reads the next line of standard input (for --password-stdin; --current-password-stdin comes first). */
  readStdin: () => Promise<string>;
  /** The host-wide lock of apply and rollback without --root (tests give each fake host its own). */
  hostLockPath: string;
}

export const HOST_LOCK_PATH = '/run/pgb-setup.lock';
