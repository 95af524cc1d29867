import type { HostFacts } from '../facts/host-facts.js';
import { describeBridge, type StaleBridge } from '../facts/handover-bridges.js';
import type { ServingProcess, StaleBridgeStep } from './types.js';

/** What happens to each bridge of the step, one line each (the plan text and apply's progress). */
export function staleBridgeLines(step: Pick<StaleBridgeStep, 'bridges'>): string[] {
  return step.bridges.map((b) => {
    if (b.pid !== undefined) return `a handover bridge left by an interrupted run (pid ${b.pid}${b.unit ? `, unit ${b.unit}` : ''}) is stopped after pgbouncer serves`;
    if (b.unit) return `the unit ${b.unit} of a handover bridge left by an interrupted run (no process runs in it) is stopped`;
    return `the folder ${b.dir} of a handover bridge left by an interrupted run (nothing runs from it) is removed`;
  });
}

/** The bridges to stop, and a note for each one left alone (its PID runs something else now). */
export function bridgesToStop(found: readonly StaleBridge[]): { bridges: StaleBridgeStep['bridges']; notes: string[] } {
  const notes = found.filter((b) => b.leftAlone).map((b) => `a handover bridge left by an interrupted run (${describeBridge(b)}) is left alone: ${b.leftAlone}`);
  const bridges = found.filter((b) => !b.leftAlone).map((b) => ({ dir: b.dir, ...(b.pid !== undefined ? { pid: b.pid } : {}), ...(b.unit ? { unit: b.unit } : {}) }));
  return { bridges, notes };
}

/**
 * The stale-bridges step, after the service and verify steps: a bridge may be the only process on
 * the port (its run was killed after the old process stopped), so it stops only once the real
 * pgbouncer serves. Bridges whose PID is something else are left alone (a note).
 */
export function planStaleBridges(
  facts: HostFacts,
  serving: ServingProcess[],
  hasService: boolean,
  on: { port: number; version: string; login: StaleBridgeStep['login'] },
): { step?: StaleBridgeStep; notes: string[] } {
  const { bridges, notes } = bridgesToStop(facts.staleBridges);
  if (bridges.length === 0) return { notes };
  if (!hasService) {
    notes.push(`--skip-service: the handover bridge(s) left by an interrupted run (${bridges.map(describeBridge).join('; ')}) are left as they are; a run that starts or checks pgbouncer stops them once it serves`);
    return { notes };
  }
  return { step: { kind: 'stale-bridges', manager: facts.systemd ? 'systemd' : 'daemon', port: on.port, version: on.version, bridges, serving, login: on.login }, notes };
}
