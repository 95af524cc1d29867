/**
 * Safety net: every postgres / pgbouncer the harness starts is registered here by PID, and is
 * killed (by that PID only) when the test process exits without having stopped it, together with
 * its temp directories. Normal tests call stop() themselves; this only catches leaks.
 */
import { rmSync } from 'node:fs';
import { isAlive, waitForExitSync } from './proc.js';

export interface TrackedProcess {
  kind: 'postgres' | 'pgbouncer' | string;
  pid: number;
  /** Signal used for the emergency stop (postgres: SIGQUIT = immediate shutdown). */
  signal: NodeJS.Signals;
  /** Directories to delete after the process is gone. */
  dirs: string[];
}

const tracked = new Map<number, TrackedProcess>();
const strayDirs = new Set<string>();
let installed = false;

export function trackProcess(p: TrackedProcess): () => void {
  installHandlers();
  tracked.set(p.pid, p);
  return () => {
    tracked.delete(p.pid);
  };
}

/** Registers a temp dir to delete on exit (if its owner forgot). Returns an unregister function. */
export function trackDir(dir: string): () => void {
  installHandlers();
  strayDirs.add(dir);
  return () => {
    strayDirs.delete(dir);
  };
}

export function trackedPids(): number[] {
  return [...tracked.keys()];
}

/** Kills every still-registered process (by PID) and removes registered dirs. Synchronous. */
export function cleanupAllSync(): void {
  const procs = [...tracked.values()];
  tracked.clear();
  for (const p of procs) {
    try {
      if (isAlive(p.pid)) process.kill(p.pid, p.signal);
    } catch {
      /* already gone */
    }
  }
  for (const p of procs) {
    if (!waitForExitSync(p.pid, 3_000)) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      waitForExitSync(p.pid, 1_000);
    }
    for (const d of p.dirs) rmQuiet(d);
  }
  for (const d of strayDirs) rmQuiet(d);
  strayDirs.clear();
}

function rmQuiet(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    /* best effort */
  }
}

function installHandlers(): void {
  if (installed) return;
  installed = true;
  process.on('exit', cleanupAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = (): void => {
      cleanupAllSync();
      // Re-raise with the default disposition so the exit status stays what it would have been.
      process.removeListener(sig, handler);
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, handler);
  }
}
