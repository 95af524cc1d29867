/** The verdict as Nagios text (one status line with perfdata) or JSON. */
import { printableLine } from '../../text/printable.js';
import type { HealthResult } from './evaluate.js';
import type { GroupHealthResult } from './group.js';
import { NAGIOS, type NagiosStatus, type Thresholds } from './thresholds.js';

/** One line for Nagios: the shared sanitiser, and no '|' (it starts the perfdata). */
export const oneLine = (s: string) => printableLine(s.replace(/\|/g, ' '));

export function formatNagios(status: NagiosStatus, summary: string, perfdata = ''): string {
  return `PGBOUNCER ${status} - ${oneLine(summary)}${perfdata ? ` | ${perfdata}` : ''}\n`;
}

function thresholdsJson(t: Thresholds): object {
  return {
    utilisation_percent: { warning: t.warnUtilisation, critical: t.critUtilisation },
    waiting_clients: { warning: t.warnWaiting, critical: t.critWaiting },
    maxwait_seconds: { warning: t.warnMaxwait, critical: t.critMaxwait },
  };
}

export function healthJson(r: HealthResult): object {
  return {
    status: r.status,
    exit_code: r.exitCode,
    summary: r.summary,
    target: r.target,
    version: r.version ?? null,
    thresholds: thresholdsJson(r.thresholds),
    pools: r.pools.map(({ pool: p, status, reasons }) => ({
      database: p.database,
      user: p.user,
      status,
      reasons,
      pool_mode: p.poolMode ?? null,
      clients_active: p.clientsActive,
      clients_waiting: p.clientsWaiting,
      servers_active: p.serversActive,
      servers_idle: p.serversIdle,
      servers_used: p.serversUsed,
      pool_size: p.poolSize ?? null,
      pool_size_source: p.poolSizeSource,
      pool_size_unlimited: p.unlimited,
      reserve_pool: p.reservePool ?? null,
      utilisation_percent: p.utilisation ?? null,
      maxwait_seconds: p.maxwaitSeconds,
    })),
    databases: r.databases.map((d) => ({
      database: d.database,
      xact_per_second: d.xactPerSecond,
      queries_per_second: d.queriesPerSecond,
      avg_xact_seconds: d.avgXactSeconds,
      avg_query_seconds: d.avgQuerySeconds,
      avg_wait_seconds: d.avgWaitSeconds,
    })),
  };
}


export function groupHealthJson(r: GroupHealthResult): object {
  return {
    status: r.status,
    exit_code: r.exitCode,
    summary: r.summary,
    processes: r.processes.map((p) =>
      p.result && p.error === undefined
        ? { process: p.id, ...(healthJson(p.result) as Record<string, unknown>) }
        : { process: p.id, status: 'UNKNOWN', exit_code: NAGIOS.UNKNOWN, summary: oneLine(p.error ?? 'no result'), target: p.target },
    ),
    thresholds: thresholdsJson(r.thresholds),
  };
}
