import { setTimeout as sleep } from 'node:timers/promises';
import type { System } from '../system/system.js';

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

/** The last ERROR/FATAL line pgbouncer logged: what a user needs to see when it refused a config. */
export function pgbouncerError(log: string): string | undefined {
  const lines = log.split('\n').filter((l) => /\b(FATAL|ERROR)\b/.test(l));
  return lines.at(-1)?.replace(/^.*?\b(FATAL|ERROR)\b\s*/, '$1 ').trim();
}
