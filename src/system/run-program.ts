/**
 * The one process runner behind System.exec: execa, bundled into its own chunk that is loaded only
 * when a command really runs a program (`--version`, `--help` and `render` never load it).
 *
 * - Secrets reach a child through stdin (`input`) or the environment, never argv.
 * - Each program leads its own process group (execa's `detached`, i.e. setsid), so a timeout or
 *   the death of pgb-setup reaches whatever the program started too, not only the program.
 * - Timeout: execa's `timeout` sends SIGTERM; the group gets it too, and SIGKILL after
 *   KILL_GRACE_MS if anything in it is still alive (execa's `forceKillAfterDelay` does the same for
 *   the program itself).
 * - pgb-setup exiting or killed by a catchable signal (SIGINT, SIGTERM, SIGHUP, ...) sends SIGTERM
 *   to the group of every program still running (signal-exit, the hook execa's own `cleanup` uses;
 *   execa skips it for detached children, so it is registered here). SIGKILL cannot be caught:
 *   nothing can clean up after that.
 * - A program that ends normally keeps whatever it left behind (`pgbouncer -d` forks its daemon).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { onExit } from 'signal-exit';
import type { ExecOptions, ExecResult } from './system.js';

/** Time a program (and its group) gets between SIGTERM and SIGKILL. */
export const KILL_GRACE_MS = 2000;
/**
 * Output kept per stream. execa's default (100 MB) is more than any program pgb-setup runs prints,
 * and past it execa builds its error message from the whole output: V8 aborted on 200 MB here.
 */
export const MAX_OUTPUT = 16 * 1024 * 1024;
/** Exit code reported for a program stopped by its timeout (as coreutils' timeout does). */
export const TIMED_OUT_EXIT = 124;

export async function runProgram(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  // Hooked before the spawn: a signal that arrives while there is no listener kills us outright.
  let group: number | undefined;
  const removeExitHook = onExit(() => {
    if (group !== undefined) signalGroup(group, 'SIGTERM');
  });
  try {
    return await run(cmd, args, opts, (pid) => (group = pid));
  } finally {
    removeExitHook();
  }
}

async function run(cmd: string, args: readonly string[], opts: ExecOptions, started: (pid: number) => void): Promise<ExecResult> {
  const subprocess = execa(cmd, args, {
    input: opts.input ?? '',
    ...(opts.env ? { env: opts.env } : {}),
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    ...(opts.timeoutMs ? { timeout: opts.timeoutMs } : {}),
    killSignal: 'SIGTERM',
    forceKillAfterDelay: KILL_GRACE_MS,
    detached: true,
    reject: false,
    stripFinalNewline: false,
    maxBuffer: MAX_OUTPUT,
  });
  const group = subprocess.pid;
  let escalation: Promise<void> | undefined;
  if (group !== undefined) {
    started(group);
    // execa's timeout calls subprocess.kill(); route it (and any other kill) to the whole group.
    const killProgram = subprocess.kill.bind(subprocess) as (signal?: NodeJS.Signals | number, error?: Error) => boolean;
    subprocess.kill = ((signal?: NodeJS.Signals | number, error?: Error) => {
      const sig = signal ?? 'SIGTERM';
      signalGroup(group, sig);
      if (sig !== 'SIGKILL' && sig !== constants.signals.SIGKILL) escalation ??= killGroupAfterGrace(group);
      return error ? killProgram(sig, error) : killProgram(sig);
    }) as typeof subprocess.kill;
  }
  const r = await subprocess;
  await escalation;
  const stdout = typeof r.stdout === 'string' ? r.stdout : '';
  const stderr = typeof r.stderr === 'string' ? r.stderr : '';
  if (r.timedOut) return { exitCode: TIMED_OUT_EXIT, stdout, stderr: `${stderr}${cmd}: timed out after ${opts.timeoutMs} ms; stopped it and everything it started (SIGTERM, then SIGKILL after ${KILL_GRACE_MS} ms)` };
  if (r.isMaxBuffer) return { exitCode: typeof r.exitCode === 'number' && r.exitCode !== 0 ? r.exitCode : 1, stdout, stderr: `${stderr}${cmd}: printed more than ${MAX_OUTPUT} characters on one stream; stopped it` };
  if (typeof r.exitCode === 'number') return { exitCode: r.exitCode, stdout, stderr };
  if (r.signal) return { exitCode: 128 + (constants.signals[r.signal] ?? 0), stdout, stderr: `${stderr}${cmd}: killed by ${r.signal}` };
  // Could not start it: the shell's codes (127 not found, 126 not runnable).
  const code = (r as { code?: string }).code;
  return { exitCode: code === 'ENOENT' ? 127 : 126, stdout, stderr: `${stderr}${cmd}: ${r.originalMessage || r.shortMessage}` };
}

function signalGroup(group: number, signal: NodeJS.Signals | number): boolean {
  try {
    process.kill(-group, signal);
    return true;
  } catch {
    return false; // ESRCH: the group is empty
  }
}

/** SIGKILL to the group if anything in it outlives the grace time; returns once the group is empty. */
async function killGroupAfterGrace(group: number): Promise<void> {
  const deadline = Date.now() + KILL_GRACE_MS;
  while (Date.now() < deadline) {
    if (!groupHasLiveMember(group)) return;
    await sleep(25);
  }
  signalGroup(group, 'SIGKILL');
  for (let i = 0; i < 40 && groupHasLiveMember(group); i++) await sleep(25);
}

/**
 * kill(-group, 0) succeeds while any member is a zombie, and an orphan's zombie may never be reaped
 * when PID 1 is not an init (containers); /proc tells the living from the dead.
 */
function groupHasLiveMember(group: number): boolean {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return signalGroup(group, 0);
  }
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // "pid (comm) state ppid pgrp ..."; comm may hold spaces and parentheses.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === group && state !== 'Z' && state !== 'X') return true;
  }
  return false;
}
