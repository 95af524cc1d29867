/** One pgbouncer judged: every pool against the thresholds, as a status, a summary and perfdata. */
import { databaseStats, fmt, poolFigures, versionText, type DatabaseStats, type PoolFigures, type Snapshot } from '../pools.js';
import { printable } from '../../text/printable.js';
import { NAGIOS, type NagiosStatus, type Thresholds } from './thresholds.js';

export interface PoolVerdict {
  pool: PoolFigures;
  status: NagiosStatus;
  reasons: string[];
}

export interface HealthResult {
  status: NagiosStatus;
  exitCode: number;
  summary: string;
  perfdata: string;
  target: string;
  version: string | undefined;
  pools: PoolVerdict[];
  databases: DatabaseStats[];
  thresholds: Thresholds;
}

export function worse(a: NagiosStatus, b: NagiosStatus): NagiosStatus {
  return NAGIOS[a] >= NAGIOS[b] ? a : b;
}

function level(value: number, warn: number, crit: number): NagiosStatus {
  return value >= crit ? 'CRITICAL' : value >= warn ? 'WARNING' : 'OK';
}

function judgePool(pool: PoolFigures, t: Thresholds): PoolVerdict {
  let status: NagiosStatus = 'OK';
  const reasons: string[] = [];
  const check = (value: number, warn: number, crit: number, text: (limit: number) => string) => {
    const s = level(value, warn, crit);
    if (s !== 'OK') reasons.push(text(s === 'CRITICAL' ? crit : warn));
    status = worse(status, s);
  };
  if (pool.utilisation !== undefined) {
    check(pool.utilisation, t.warnUtilisation, t.critUtilisation, (lim) => `${pool.serversActive}/${pool.poolSize} servers busy (${fmt(pool.utilisation!, 0)}% >= ${fmt(lim)}%)`);
  }
  check(pool.clientsWaiting, t.warnWaiting, t.critWaiting, (lim) => `${pool.clientsWaiting} clients waiting (>= ${lim})`);
  check(pool.maxwaitSeconds, t.warnMaxwait, t.critMaxwait, (lim) => `maxwait ${fmt(pool.maxwaitSeconds, 1)}s (>= ${fmt(lim)}s)`);
  return { pool, status, reasons };
}

/** A perfdata label: quoted, with the characters Nagios reserves (' and =) replaced. */
function label(text: string): string {
  // eslint-disable-next-line no-control-regex
  return `'${text.replace(/['=\u0000-\u001f]/g, '_')}'`;
}

function perf(name: string, value: number, uom = '', warn?: number, crit?: number, min?: number, max?: number): string {
  const f = (n: number | undefined) => (n === undefined ? '' : fmt(n, 6));
  return `${label(name)}=${fmt(value, 6)}${uom};${f(warn)};${f(crit)};${f(min)};${f(max)}`.replace(/;+$/, '');
}

export function poolName(p: Pick<PoolFigures, 'database' | 'user'>): string {
  return printable(`${p.database}/${p.user}`);
}

export function describePool(p: PoolFigures): string {
  const size = p.unlimited ? 'unlimited' : p.poolSize !== undefined ? String(p.poolSize) : '?';
  const util = p.utilisation !== undefined ? ` (${fmt(p.utilisation, 0)}%)` : '';
  return `${poolName(p)} ${p.serversActive}/${size} servers busy${util}, ${p.clientsWaiting} waiting, maxwait ${fmt(p.maxwaitSeconds, 1)}s`;
}

export function evaluateHealth(snapshot: Snapshot, t: Thresholds, target: string, options: { database?: string; fallbackPoolSize?: (db: string) => number | undefined; labelPrefix?: string } = {}): HealthResult {
  let pools = poolFigures(snapshot, options.fallbackPoolSize);
  let databases = databaseStats(snapshot);
  if (options.database) {
    pools = pools.filter((p) => p.database === options.database);
    databases = databases.filter((d) => d.database === options.database);
  }
  const verdicts = pools.map((p) => judgePool(p, t));
  const status = verdicts.reduce<NagiosStatus>((s, v) => worse(s, v.status), 'OK');
  const order = (v: PoolVerdict) => NAGIOS[v.status] * 1e6 + (v.pool.utilisation ?? 0) + v.pool.clientsWaiting;
  const sorted = [...verdicts].sort((a, b) => order(b) - order(a));

  let summary: string;
  if (verdicts.length === 0) {
    summary = options.database ? `no pool for database ${options.database} yet (no client has connected since pgbouncer started)` : 'no client pools yet (no client has connected since pgbouncer started)';
  } else if (status === 'OK') {
    const busiest = sorted[0]!.pool;
    summary = verdicts.length === 1 ? `1 pool: ${describePool(busiest)}` : `${verdicts.length} pools, busiest ${describePool(busiest)}`;
  } else {
    const bad = sorted.filter((v) => v.status !== 'OK');
    const shown = bad.slice(0, 3).map((v) => `${poolName(v.pool)}: ${v.reasons.join(', ')}`);
    if (bad.length > 3) shown.push(`${bad.length - 3} more pools ${bad[3]!.status === 'CRITICAL' ? 'CRITICAL' : 'not OK'}`);
    const ok = verdicts.length - bad.length;
    summary = shown.join('; ') + (ok > 0 ? `; ${ok} other pool${ok === 1 ? '' : 's'} OK` : '');
  }

  const perfdata: string[] = [];
  const prefix = options.labelPrefix ?? '';
  for (const v of verdicts) {
    const p = v.pool;
    const n = `${prefix}${poolName(p)}`;
    if (p.utilisation !== undefined) perfdata.push(perf(`${n} utilisation`, p.utilisation, '%', t.warnUtilisation, t.critUtilisation, 0));
    perfdata.push(perf(`${n} cl_active`, p.clientsActive, '', undefined, undefined, 0));
    perfdata.push(perf(`${n} cl_waiting`, p.clientsWaiting, '', t.warnWaiting, t.critWaiting, 0));
    perfdata.push(perf(`${n} sv_active`, p.serversActive, '', undefined, undefined, 0, p.poolSize));
    perfdata.push(perf(`${n} sv_idle`, p.serversIdle, '', undefined, undefined, 0));
    perfdata.push(perf(`${n} maxwait`, p.maxwaitSeconds, 's', t.warnMaxwait, t.critMaxwait, 0));
  }
  // Totals on every line, also with no pool yet, so graphs have no holes.
  const sum = (f: (p: PoolFigures) => number) => pools.reduce((a, p) => a + f(p), 0);
  perfdata.push(perf(`${prefix}pools`, pools.length, '', undefined, undefined, 0));
  perfdata.push(perf(`${prefix}clients`, sum((p) => p.clientsActive + p.clientsWaiting), '', undefined, undefined, 0));
  perfdata.push(perf(`${prefix}clients_waiting`, sum((p) => p.clientsWaiting), '', undefined, undefined, 0));
  perfdata.push(perf(`${prefix}servers`, sum((p) => p.serversActive + p.serversIdle + p.serversUsed), '', undefined, undefined, 0));
  perfdata.push(perf(`${prefix}servers_active`, sum((p) => p.serversActive), '', undefined, undefined, 0));
  for (const d of databases) {
    perfdata.push(perf(`${prefix}${d.database} xact_per_s`, d.xactPerSecond, '', undefined, undefined, 0));
    perfdata.push(perf(`${prefix}${d.database} avg_xact_time`, d.avgXactSeconds, 's', undefined, undefined, 0));
  }
  return {
    status,
    exitCode: NAGIOS[status],
    summary,
    perfdata: perfdata.join(' '),
    target,
    version: versionText(snapshot),
    pools: verdicts,
    databases,
    thresholds: t,
  };
}
