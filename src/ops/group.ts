/**
 * `--processes N` for the ops commands: the same group the main job installs (src/render/processes.ts),
 * each process reached through its own unix socket folder `<unix_socket_dir>/pgbouncer-<i>`.
 * The shared TCP port cannot be used to reach one process: the kernel hands each new connection
 * to any process of the so_reuseport group.
 *
 * The group is named explicitly (`--processes N`, as for the main job), never guessed from the
 * pidfiles or ini files present: a process that died and took its pidfile with it must show up as
 * missing, not silently shrink the group.
 */
import { availableParallelism } from 'node:os';
import { posix } from 'node:path';
import type { Context } from '../system/context.js';
import type { System } from '../system/system.js';
import { InputError } from '../text/errors.js';
import type { ResolvedConfig } from '../profile/resolve.js';
import { setting } from '../profile/resolve.js';
import { parseProcesses, splitIntoProcesses, type ProcessConfig } from '../render/processes.js';
import { resolveConsoleTarget, type ConsoleFlags, type ResolvedTarget } from './target.js';

export interface GroupMember {
  /** 1-based process id (peer_id). */
  id: number;
  socketDir: string;
  target: ResolvedTarget;
  /** What splitIntoProcesses promises this process; undefined without a profile. */
  process: ProcessConfig | undefined;
}

/** `--processes` as the main job reads it: N (1-64) or auto (one per core); 1 when absent. */
export function processCount(value: string | undefined): number {
  return parseProcesses(value, availableParallelism());
}

/** `pgbouncer.ini` → `pgbouncer-<id>.ini` (the same naming as the main job's). */
export function memberPath(path: string, id: number): string {
  const ext = posix.extname(path);
  return `${path.slice(0, path.length - ext.length)}-${id}${ext}`;
}

/**
 * The processes of a group of `n` and the console target of each. With a profile, the split is
 * splitIntoProcesses' (socket folders, pidfiles, pool shares); `--host DIR` replaces the base
 * socket folder (`DIR/pgbouncer-<i>`). Without a profile, `--host DIR` is required.
 */
export function groupMembers(config: ResolvedConfig | undefined, n: number, flags: ConsoleFlags, ctx: Context, options: { peers?: boolean; iniPath?: string; defaultTimeoutSeconds?: number } = {}): GroupMember[] {
  if (n < 2) throw new Error('groupMembers needs at least 2 processes');
  if (flags.host !== undefined && !flags.host.startsWith('/')) {
    throw new InputError(
      `--host ${flags.host}: with --processes every process is reached through its own unix socket folder (<dir>/pgbouncer-<i>); the shared TCP port lands on any one of them. Pass the base socket folder (the profile's unix_socket_dir), or leave --host out`,
      '--host',
    );
  }
  const procs = config ? splitIntoProcesses(config, n, options.iniPath ?? '/etc/pgbouncer/pgbouncer.ini', { peers: options.peers ?? false }) : undefined;
  if (!procs && !flags.host) {
    throw new InputError('--processes: without an environment, pass --host with the base unix socket folder (the processes listen in <dir>/pgbouncer-<i>)', '--host');
  }
  const port = flags.port ?? (config ? String(setting(config, 'listen_port') ?? 6432) : undefined);
  return Array.from({ length: n }, (_, i) => {
    const id = i + 1;
    const socketDir = flags.host ? posix.join(flags.host, `pgbouncer-${id}`) : procs![i]!.socketDir;
    const target = resolveConsoleTarget(procs?.[i]?.config ?? config, { ...flags, host: socketDir, ...(port ? { port } : {}) }, ctx, options.defaultTimeoutSeconds);
    return { id, socketDir, target, process: procs?.[i] };
  });
}

/** Runs `fn` for every member at once; each outcome kept (a failure does not hide the others). */
export async function eachMember<T>(members: readonly GroupMember[], fn: (m: GroupMember) => Promise<T>): Promise<({ member: GroupMember; value: T; error?: undefined } | { member: GroupMember; value?: undefined; error: unknown })[]> {
  const settled = await Promise.allSettled(members.map((m) => fn(m)));
  return settled.map((s, i) => (s.status === 'fulfilled' ? { member: members[i]!, value: s.value } : { member: members[i]!, error: s.reason as unknown }));
}

/** TCP ports `pid` listens on, from /proc (undefined when /proc cannot be read, e.g. another user's process without root). */
export async function tcpListenPorts(system: System, pid: number): Promise<Set<number> | undefined> {
  const fds = await system.readdir(`/proc/${pid}/fd`);
  if (fds === undefined) return undefined;
  const inodes = new Set<string>();
  for (const fd of fds) {
    const link = (await system.readLink?.(`/proc/${pid}/fd/${fd}`)) ?? '';
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (m) inodes.add(m[1]!);
  }
  const ports = new Set<number>();
  for (const table of [`/proc/${pid}/net/tcp`, `/proc/${pid}/net/tcp6`]) {
    const text = (await system.readFile(table).catch(() => undefined)) ?? '';
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || cols[3] !== '0A' || !inodes.has(cols[9]!)) continue;
      ports.add(parseInt(cols[1]!.split(':')[1] ?? '', 16));
    }
  }
  return ports;
}
