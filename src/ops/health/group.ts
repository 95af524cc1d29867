/** A --processes group judged as one: the worst process decides. */
import { type HealthResult, type PoolVerdict, describePool, poolName, worse } from './evaluate.js';
import { NAGIOS, type NagiosStatus, type Thresholds } from './thresholds.js';

// ---- a --processes group ------------------------------------------------------------------------

/** One process of a group: its verdict, or why it could not be judged. */
export interface ProcessHealth {
  id: number;
  target: string;
  result?: HealthResult;
  error?: string;
}

export interface GroupHealthResult {
  status: NagiosStatus;
  exitCode: number;
  summary: string;
  perfdata: string;
  processes: ProcessHealth[];
  thresholds: Thresholds;
}

/** The perfdata label prefix of process `id`: `'p2 appdb/app_user utilisation'`. */
export const processLabel = (id: number) => `p${id} `;

/**
 * One verdict for a group: the worst process decides; a process that cannot be judged (not
 * answering, login refused) makes the whole check UNKNOWN, as a single unreachable pgbouncer does.
 * Each process is judged against its own pool share: the kernel spreads clients over the processes,
 * not over their pools, so one saturated process makes its clients wait however idle the others are.
 */
export function combineGroupHealth(processes: readonly ProcessHealth[], t: Thresholds): GroupHealthResult {
  const n = processes.length;
  const failed = processes.filter((p) => p.error !== undefined || !p.result);
  const judged = processes.filter((p): p is ProcessHealth & { result: HealthResult } => p.result !== undefined && p.error === undefined);
  let status: NagiosStatus = failed.length ? 'UNKNOWN' : 'OK';
  for (const p of judged) status = worse(status, p.result.status);
  const verdicts = judged.flatMap((p) => p.result.pools.map((v) => ({ id: p.id, v })));
  const order = (x: { v: PoolVerdict }) => NAGIOS[x.v.status] * 1e6 + (x.v.pool.utilisation ?? 0) + x.v.pool.clientsWaiting;
  const sorted = [...verdicts].sort((a, b) => order(b) - order(a));
  const parts: string[] = [];
  if (failed.length) {
    parts.push(`${failed.length} of ${n} processes not answering: ${failed.map((p) => `p${p.id} ${p.error ?? 'no result'}`).join('; ')}`);
    for (const p of judged) parts.push(`p${p.id} ${p.result.status}: ${p.result.summary}`);
  } else if (verdicts.length === 0) {
    parts.push(`${n} processes, no client pools yet (no client has connected since pgbouncer started)`);
  } else if (status === 'OK') {
    const top = sorted[0]!;
    parts.push(`${n} processes, ${verdicts.length} pool${verdicts.length === 1 ? '' : 's'}, busiest p${top.id} ${describePool(top.v.pool)}`);
  } else {
    const bad = sorted.filter((x) => x.v.status !== 'OK');
    parts.push(...bad.slice(0, 3).map((x) => `p${x.id} ${poolName(x.v.pool)}: ${x.v.reasons.join(', ')}`));
    if (bad.length > 3) parts.push(`${bad.length - 3} more pools ${bad[3]!.v.status === 'CRITICAL' ? 'CRITICAL' : 'not OK'}`);
    const ok = verdicts.length - bad.length;
    if (ok > 0) parts.push(`${ok} other pool${ok === 1 ? '' : 's'} OK (of ${n} processes)`);
  }
  return {
    status,
    exitCode: NAGIOS[status],
    summary: parts.join('; '),
    perfdata: judged.map((p) => p.result.perfdata).filter(Boolean).join(' '),
    processes: [...processes],
    thresholds: t,
  };
}
