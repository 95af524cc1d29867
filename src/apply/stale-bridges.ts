import { setTimeout as sleep } from 'node:timers/promises';
import { RuntimeError } from '../text/errors.js';
import type { OsAccount } from '../system/os-user-socket.js';
import type { System } from '../system/system.js';
import type { ServingProcess, StaleBridgeStep } from '../plan/types.js';
import { pgbouncerFromPidfile } from '../system/pgbouncer-process.js';
import { acceptsLogin, stopStaleBridge } from './handover.js';

export interface StaleBridgeDeps {
  system: System;
  account: OsAccount;
  /** The app user's password for the login checks (never logged); without it the console answers instead. */
  password?: string;
  progress: (line: string) => void;
  drainMs?: number;
  /** How long a real process may take to write its pidfile and accept a login. */
  startMs?: number;
}

type Bridge = StaleBridgeStep['bridges'][number];

function running(bridges: Bridge[]): string {
  return bridges.filter((b) => b.pid !== undefined).map((b) => `pid ${b.pid}${b.unit ? `, unit ${b.unit}` : ''}`).join('; ');
}

/** Said when the real pgbouncer does not serve: the bridges keep the port. */
export function bridgesLeftRunning(bridges: Bridge[]): string | undefined {
  const live = running(bridges);
  return live ? `the handover bridge left by an interrupted run (${live}) keeps serving the port: it stops once pgbouncer serves` : undefined;
}

/**
 * Each real process serves: its pidfile names a pgbouncer on its config, and it accepts a login
 * through its own unix socket (a TCP login may land on a bridge: they share the port).
 */
async function realProcessesServe(serving: ServingProcess[], on: Pick<StaleBridgeStep, 'port' | 'login'>, deps: StaleBridgeDeps): Promise<void> {
  for (const p of serving) {
    const deadline = Date.now() + (deps.startMs ?? 10_000);
    let found = await pgbouncerFromPidfile(deps.system, p.pidfile, p.iniPath);
    while (!found.ok && Date.now() < deadline) {
      await sleep(100);
      found = await pgbouncerFromPidfile(deps.system, p.pidfile, p.iniPath);
    }
    if (!found.ok) throw new RuntimeError(`pgbouncer ${p.iniPath} does not run (${found.reason})`);
    await acceptsLogin(on, { label: `pgbouncer ${p.iniPath}`, pid: found.pid, socketDir: p.socketDir }, deps);
  }
}

/**
 * Stops the bridges of an interrupted run once every real process serves; when one does not, the
 * bridges keep serving and the error says so. Returns what happened to each.
 */
export async function cleanStaleBridges(step: Pick<StaleBridgeStep, 'bridges' | 'serving' | 'port' | 'login' | 'version'>, deps: StaleBridgeDeps): Promise<string[]> {
  try {
    await realProcessesServe(step.serving, step, deps);
  } catch (e) {
    const left = bridgesLeftRunning(step.bridges);
    throw new RuntimeError(`${(e as Error).message}${left ? `; ${left}` : ''}`);
  }
  const done: string[] = [];
  for (const b of step.bridges) {
    const how = await stopStaleBridge(b, step, deps);
    const line = `stale handover bridge ${[b.pid !== undefined ? `pid ${b.pid}` : '', b.unit ?? '', b.dir].filter(Boolean).join(', ')}: ${how}`;
    deps.progress(`  ${line}`);
    done.push(line);
  }
  return done;
}
