/**
 * Small process helpers for the real-system test harness: run a command (optionally as another OS
 * user), look up OS users, check whether a PID is alive, wait for a PID to exit.
 * Processes are only ever addressed by PID.
 */
import { spawn, type SpawnOptions } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface OsUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

const userCache = new Map<string, OsUser>();

/** Looks a user up in /etc/passwd (no NSS, synchronous, cached). Throws if absent. */
export function lookupUser(name: string): OsUser {
  const hit = userCache.get(name);
  if (hit) return hit;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`OS user ${name} does not exist (is postgresql-common installed?)`);
  const f = line.split(':');
  const user: OsUser = { name, uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '/' };
  userCache.set(name, user);
  return user;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** spawn options that make the child run as `user` (only possible as root; no-op if we already are that user). */
export function asUser(user: string | undefined): Pick<SpawnOptions, 'uid' | 'gid'> {
  if (!user) return {};
  const u = lookupUser(user);
  if (typeof process.getuid === 'function' && process.getuid() === u.uid) return {};
  if (!isRoot()) throw new Error(`cannot run as ${user}: the test harness needs root for that`);
  return { uid: u.uid, gid: u.gid };
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Run as this OS user (requires root). */
  user?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string;
  timeoutMs?: number;
  /** Reject when the exit code is not 0 (default true). */
  check?: boolean;
}

/** Runs a command without a shell, collects its output. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const { check = true } = opts;
  return new Promise((resolve, reject) => {
    const env = { ...process.env, ...opts.env };
    if (opts.user) {
      const u = lookupUser(opts.user);
      env.HOME = u.home;
      env.USER = u.name;
      env.LOGNAME = u.name;
    }
    const child = spawn(cmd, [...args], {
      cwd: opts.cwd ?? (opts.user ? '/' : undefined),
      env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      ...asUser(opts.user),
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) {
      timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    }
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const res: RunResult = { code, signal, stdout, stderr };
      if (check && code !== 0) {
        const err = new Error(
          `command failed (${code ?? signal}): ${cmd} ${args.join(' ')}\n${stderr.trim()}\n${stdout.trim()}`.trim(),
        ) as Error & { result: RunResult };
        err.result = res;
        reject(err);
      } else {
        resolve(res);
      }
    });
    if (child.stdin) {
      child.stdin.on('error', () => {}); // the command may exit without reading its input
      child.stdin.end(opts.input);
    }
  });
}

/** True if `pid` exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM means it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Sends `signal` to `pid` if it is alive; returns false if it was already gone. */
export function signalPid(pid: number, signal: NodeJS.Signals): boolean {
  if (!isAlive(pid)) return false;
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Resolves true once `pid` has exited, false after `timeoutMs`. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(25);
  }
  return true;
}

/** Synchronous variant for exit handlers (busy-waits with Atomics.wait). */
export function waitForExitSync(pid: number, timeoutMs: number): boolean {
  const deadline = Date.now() + timeoutMs;
  const cell = new Int32Array(new SharedArrayBuffer(4));
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    Atomics.wait(cell, 0, 0, 20);
  }
  return true;
}

/**
 * Stops `pid` with an escalating list of signals, waiting `graceMs` after each one.
 * Resolves true if the process is gone.
 */
export async function stopPid(
  pid: number,
  signals: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGKILL'],
  graceMs = 5_000,
): Promise<boolean> {
  for (const sig of signals) {
    if (!signalPid(pid, sig)) return true;
    if (await waitForExit(pid, graceMs)) return true;
  }
  return !isAlive(pid);
}

/**
 * TCP ports on which `pid` itself holds a LISTEN socket (from /proc/<pid>/fd and /proc/net/tcp{,6}).
 * Needs root (or the same uid) to read another process's fd table.
 */
export function listeningTcpPorts(pid: number): Set<number> {
  const inodes = new Set<string>();
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return new Set();
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1]) inodes.add(m[1]);
    } catch {
      /* fd closed meanwhile */
    }
  }
  const ports = new Set<number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // cols: sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      if (cols.length < 10 || cols[3] !== '0A' || !inodes.has(cols[9]!)) continue;
      const port = parseInt(cols[1]!.split(':')[1] ?? '', 16);
      if (Number.isFinite(port)) ports.add(port);
    }
  }
  return ports;
}
