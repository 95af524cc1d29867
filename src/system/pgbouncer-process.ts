import { posix } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { System } from './system.js';

export async function pidFromFile(system: System, pidfile: string): Promise<number | undefined> {
  const pid = Number((await system.readFile(pidfile))?.trim());
  return Number.isInteger(pid) && pid > 1 ? pid : undefined;
}

export async function isAlive(system: System, pid: number): Promise<boolean> {
  // A zombie answers kill -0 too; /proc/<pid>/stat says whether it is really running.
  if ((await system.exec('kill', ['-0', String(pid)])).exitCode !== 0) return false;
  const stat = await system.readFile(`/proc/${pid}/stat`).catch(() => undefined);
  return !stat || !/^\d+ \(.*\) Z /.test(stat);
}

/** Stops one pgbouncer by PID: SIGINT (let servers finish), then SIGKILL after the grace time. */
export async function stopPid(system: System, pid: number, graceMs = 5000): Promise<void> {
  await system.exec('kill', ['-INT', String(pid)]);
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!(await isAlive(system, pid))) return;
    await sleep(50);
  }
  await system.exec('kill', ['-KILL', String(pid)]);
}

/**
 * What a PID really is, from /proc: the executable (/proc/<pid>/exe), the kernel's process name
 * (/proc/<pid>/comm) and the arguments (/proc/<pid>/cmdline). Every place that signals a process or
 * trusts a pidfile asks pgbouncerProcess() first: a name that merely contains "pgbouncer"
 * (pgbouncer_exporter) or a PID reused by another program must never get SIGHUP/SIGINT.
 */
interface ProcessIdentity {
  pid: number;
  alive: boolean;
  /** Path of the executable (" (deleted)" dropped: an upgraded package replaces the running file). */
  exe?: string;
  comm?: string;
  argv?: string[];
  /** Working folder, to resolve a relative config argument. */
  cwd?: string;
}

async function processIdentity(system: System, pid: number): Promise<ProcessIdentity> {
  if (!(await isAlive(system, pid))) return { pid, alive: false };
  const [exe, comm, cmdline, cwd] = await Promise.all([
    system.readLink?.(`/proc/${pid}/exe`).catch(() => undefined),
    system.readFile(`/proc/${pid}/comm`).catch(() => undefined),
    system.readFile(`/proc/${pid}/cmdline`).catch(() => undefined),
    system.readLink?.(`/proc/${pid}/cwd`).catch(() => undefined),
  ]);
  const argv = cmdline ? cmdline.replace(/\0$/, '').split('\0') : undefined;
  return {
    pid,
    alive: true,
    ...(exe ? { exe: exe.replace(/ \(deleted\)$/, '') } : {}),
    ...(comm?.trim() ? { comm: comm.trim() } : {}),
    ...(argv?.length ? { argv } : {}),
    ...(cwd ? { cwd } : {}),
  };
}

/** One line saying what a process is, for messages: `"sleep" (/tmp/x/pgbouncer_exporter 300)`. */
function describeProcess(p: ProcessIdentity): string {
  if (!p.alive) return `PID ${p.pid} is not running`;
  const name = p.exe ? posix.basename(p.exe) : p.comm;
  const program = p.exe ?? p.argv?.[0];
  const shown = program === undefined ? '' : [program, ...(p.argv?.slice(1) ?? [])].join(' ');
  const detail = shown.length > 200 ? `${shown.slice(0, 200)}...` : shown;
  return `PID ${p.pid} is "${sanitize(name ?? 'unknown')}"${detail ? ` (${sanitize(detail)})` : ''}`;
}

function sanitize(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

/**
 * The config file a pgbouncer command line names: its one non-option argument
 * (`pgbouncer [-d] [-R] [-q] [-v] [-u user] file.ini`), made absolute against the process's cwd.
 */
export function pgbouncerConfigArg(p: ProcessIdentity): string | undefined {
  const args = p.argv?.slice(1) ?? [];
  let file: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--user' || /^-[^-]*u$/.test(a)) i++; // -u USER, also in a cluster such as -du USER
    else if (!a.startsWith('-')) file = a;
  }
  if (file === undefined) return undefined;
  if (file.startsWith('/')) return posix.normalize(file);
  return p.cwd ? posix.resolve(p.cwd, file) : undefined;
}

type PgbouncerProcess = { ok: true; pid: number; identity: ProcessIdentity } | { ok: false; pid: number | undefined; reason: string; /** Nothing runs under that PID (as opposed to something else). */ gone: boolean };

/**
 * Whether `pid` is a pgbouncer (its executable is named exactly `pgbouncer`, and so is its comm),
 * running `expectedIni` when that is known. `reason` says what it is instead.
 */
export async function pgbouncerProcess(system: System, pid: number, expectedIni?: string): Promise<PgbouncerProcess> {
  const p = await processIdentity(system, pid);
  if (!p.alive) return { ok: false, pid, reason: `PID ${pid} is not running`, gone: true };
  const exeName = p.exe ? posix.basename(p.exe) : undefined;
  if (exeName === undefined && p.comm === undefined) {
    // It may have exited between the liveness check and the reads.
    if (!(await isAlive(system, pid))) return { ok: false, pid, reason: `PID ${pid} is not running`, gone: true };
    return { ok: false, pid, reason: `cannot tell what PID ${pid} is (/proc/${pid}/exe and comm are unreadable)`, gone: false };
  }
  if ((exeName !== undefined && exeName !== 'pgbouncer') || (p.comm !== undefined && p.comm !== 'pgbouncer')) {
    return { ok: false, pid, reason: `${describeProcess(p)}, not pgbouncer`, gone: false };
  }
  if (expectedIni) {
    const config = pgbouncerConfigArg(p);
    if (config !== undefined && config !== posix.normalize(expectedIni)) {
      return { ok: false, pid, reason: `PID ${pid} is a pgbouncer running ${sanitize(config)}, not ${expectedIni}`, gone: false };
    }
  }
  return { ok: true, pid, identity: p };
}

/** The pgbouncer a pidfile names, checked with pgbouncerProcess(). */
export async function pgbouncerFromPidfile(system: System, pidfile: string, expectedIni?: string): Promise<PgbouncerProcess> {
  const pid = await pidFromFile(system, pidfile).catch(() => undefined);
  if (pid === undefined) return { ok: false, pid: undefined, reason: `no process id in ${pidfile}`, gone: true };
  const found = await pgbouncerProcess(system, pid, expectedIni);
  return found.ok ? found : { ...found, reason: `${found.reason} (from ${pidfile})` };
}

/** The last ERROR/FATAL line pgbouncer logged: what a user needs to see when it refused a config. */
export function pgbouncerError(log: string): string | undefined {
  const lines = log.split('\n').filter((l) => /\b(FATAL|ERROR)\b/.test(l));
  return lines.at(-1)?.replace(/^.*?\b(FATAL|ERROR)\b\s*/, '$1 ').trim();
}
