/**
 * Handover bridges (src/apply/handover.ts) left by a run that was killed before it stopped them:
 * a pgbouncer on the new config in a private temp folder, beside (or instead of) the real one on
 * the port, under systemd in a transient unit. Read-only: what to stop is decided by the plan and
 * done by apply once the real pgbouncer serves. Callers hold the host lock, so no bridge found here
 * belongs to a run in progress.
 */
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import type { System } from '../system/system.js';
import { pgbouncerConfigArg, pgbouncerProcess, pidFromFile } from '../system/pgbouncer-process.js';

export const BRIDGE_PREFIX = 'pgb-setup-handover-';
export const BRIDGE_UNIT_PATTERN = 'pgbouncer-handover-*';

/** A transient bridge unit as `systemctl show` reports it. */
export interface BridgeUnit {
  unit: string;
  /** 0 when it has no running main process. */
  mainPid: number;
}

export interface StaleBridge {
  /** Its private folder ('' when only its unit is left). */
  dir: string;
  /** A live pgbouncer running this bridge's config (checked in /proc); undefined when none runs. */
  pid?: number;
  unit?: string;
  /** Why it is left as it is (what runs under its PID instead); nothing is signalled or removed then. */
  leftAlone?: string;
}

export function bridgeIni(dir: string): string {
  return join(dir, 'pgbouncer.ini');
}

function bridgePidfile(dir: string): string {
  return join(dir, 'pgbouncer.pid');
}

function isBridgeDir(path: string): boolean {
  return posix.dirname(path) === tmpdir() && posix.basename(path).startsWith(BRIDGE_PREFIX);
}

async function folderBridge(system: System, dir: string): Promise<StaleBridge> {
  let pid: number | undefined;
  try {
    pid = await pidFromFile(system, bridgePidfile(dir));
  } catch (e) {
    return { dir, leftAlone: `its pidfile cannot be read (${(e as Error).message})` };
  }
  if (pid === undefined) return { dir };
  const found = await pgbouncerProcess(system, pid, bridgeIni(dir));
  if (found.ok) return { dir, pid };
  return found.gone ? { dir } : { dir, leftAlone: found.reason };
}

async function unitBridge(system: System, unit: BridgeUnit): Promise<StaleBridge> {
  if (unit.mainPid <= 1) return { dir: '', unit: unit.unit };
  const found = await pgbouncerProcess(system, unit.mainPid);
  if (!found.ok) return found.gone ? { dir: '', unit: unit.unit } : { dir: '', unit: unit.unit, leftAlone: found.reason };
  const config = pgbouncerConfigArg(found.identity);
  const dir = config ? posix.dirname(config) : '';
  if (!config || !isBridgeDir(dir) || config !== bridgeIni(dir)) {
    return { dir: '', unit: unit.unit, leftAlone: `PID ${unit.mainPid} is a pgbouncer running ${config ?? 'an unknown config'}, not a handover bridge` };
  }
  return { dir, pid: unit.mainPid, unit: unit.unit };
}

/**
 * Bridges of interrupted runs: every `pgb-setup-handover-*` folder in the temp folder, with the
 * pgbouncer its pidfile names when that really is a pgbouncer on the folder's config, and every
 * listed bridge unit (matched to its folder through its main process). One readdir when there is none.
 */
export async function detectStaleBridges(system: System, units: BridgeUnit[]): Promise<StaleBridge[]> {
  const names = ((await system.readdir(tmpdir())) ?? []).filter((n) => n.startsWith(BRIDGE_PREFIX)).sort();
  const bridges = await Promise.all(names.map((n) => folderBridge(system, join(tmpdir(), n))));
  for (const u of await Promise.all(units.map((u) => unitBridge(system, u)))) {
    const same = u.dir ? bridges.find((b) => b.dir === u.dir) : undefined;
    if (same && same.pid === u.pid) same.unit = u.unit;
    else bridges.push(u);
  }
  return bridges;
}

/** `pid N, unit U` for messages. */
export function describeBridge(b: StaleBridge): string {
  return [b.pid !== undefined ? `pid ${b.pid}` : undefined, b.unit ? `unit ${b.unit}` : undefined, b.dir ? `folder ${b.dir}` : undefined].filter(Boolean).join(', ');
}
