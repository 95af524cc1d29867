/** What every verify check shares: its result, the flags, and what a check is handed. */
import type { Context } from '../../system/context.js';
import type { DistroSpec } from '../../facts/distro/index.js';
import type { ProcessGroup } from '../../render/pgbouncer-ini.js';
import type { ResolvedConfig } from '../../profile/resolve.js';
import type { System } from '../../system/system.js';

export type CheckStatus = 'pass' | 'fail' | 'skip' | 'note';

export interface Check {
  id: string;
  title: string;
  status: CheckStatus;
  detail: string;
  fix?: string;
  /** The process of a --processes group this item is about (ids then end in `@<process>`). */
  process?: number;
}

export interface VerifyOptions {
  root?: string;
  ini?: string;
  serviceUser?: string;
  timeout?: string;
  json?: boolean;
  /** `--processes N|auto`: check every process of the group (pgbouncer-<i>.ini next to --ini). */
  processes?: string;
  /** false with --no-peers (the group was installed without [peers]). */
  peers?: boolean;
}

export const octal = (mode: number) => `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;

export interface Paths {
  ini: string;
  userlist: string | undefined;
  pidfile: string | undefined;
}

export interface Env {
  ctx: Context;
  config: ResolvedConfig;
  system: System;
  live: boolean;
  spec: DistroSpec | undefined;
  paths: Paths;
  timeoutMs: number;
  environment: string;
  /** Set for one process of a --processes group. */
  member?: Member;
}

/** One process of a --processes group, as splitIntoProcesses defines it. */
export interface Member {
  id: number;
  count: number;
  group: ProcessGroup;
  socketDir: string;
  /** systemd template instance. */
  unit: string;
}
