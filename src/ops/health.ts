/**
 * `pgb-setup health [environment]`: one Nagios-style status line with perfdata, from the admin
 * console's SHOW POOLS / STATS / DATABASES / USERS (read by column name). Utilisation is computed
 * here, client-side: the console has no SQL (errata #2).
 *
 * Exit codes are Nagios' (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), returned as the command's
 * exit code. Everything that stops the check from judging the pools (pgbouncer unreachable, login
 * refused, a bad flag, a profile that does not resolve) is UNKNOWN, on stdout, in the same format.
 * No systemctl here: the check is a real login, so it works with and without systemd.
 */
import type { Context } from '../system/context.js';
import { PgbSetupError } from '../text/errors.js';
import type { ResolvedConfig } from '../profile/resolve.js';
import { ConsoleError, consoleSnapshot, describeTarget } from './console.js';
import { databaseStats, fmt, poolFigures, versionText, type DatabaseStats, type PoolFigures, type Snapshot } from './pools.js';
import { resolveConsoleTarget, type ConsoleFlags } from './target.js';
import { profilePoolSize } from './profile-pools.js';
import { eachMember, groupMembers } from './group.js';
import { untrustedAnswer } from './console-trust.js';
import { printable, printableLine } from '../text/printable.js';

export const NAGIOS = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 } as const;
export type NagiosStatus = keyof typeof NAGIOS;

export interface Thresholds {
  warnUtilisation: number;
  critUtilisation: number;
  warnWaiting: number;
  critWaiting: number;
  warnMaxwait: number;
  critMaxwait: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = {
  warnUtilisation: 80,
  critUtilisation: 100,
  warnWaiting: 5,
  critWaiting: 20,
  warnMaxwait: 1,
  critMaxwait: 5,
};

export interface HealthOptions extends ConsoleFlags {
  warnUtilisation?: string;
  critUtilisation?: string;
  warnWaiting?: string;
  critWaiting?: string;
  warnMaxwait?: string;
  critMaxwait?: string;
  database?: string;
  json?: boolean;
  /** `--processes N|auto`: every process of the group, each through its own socket folder. */
  processes?: string;
}

/** A flag problem: reported as UNKNOWN (Nagios' rule for bad arguments), not as exit 2. */
export class HealthUsageError extends Error {}

export function parseThresholds(opts: Partial<Record<keyof Thresholds, string>>): Thresholds {
  const out = { ...DEFAULT_THRESHOLDS };
  const flagName = (k: string) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  for (const key of Object.keys(DEFAULT_THRESHOLDS) as (keyof Thresholds)[]) {
    const raw = opts[key];
    if (raw === undefined) continue;
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || n <= 0) {
      throw new HealthUsageError(`${flagName(key)}: "${raw}" must be a number greater than 0`);
    }
    if (key.endsWith('Waiting') && !Number.isInteger(n)) throw new HealthUsageError(`${flagName(key)}: "${raw}" must be a whole number of clients`);
    out[key] = n;
  }
  for (const [w, c] of [['warnUtilisation', 'critUtilisation'], ['warnWaiting', 'critWaiting'], ['warnMaxwait', 'critMaxwait']] as const) {
    if (out[w] > out[c]) throw new HealthUsageError(`${flagName(w)}: ${out[w]} is above ${flagName(c)} ${out[c]}; the warning level must not exceed the critical one`);
  }
  return out;
}

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

function worse(a: NagiosStatus, b: NagiosStatus): NagiosStatus {
  return NAGIOS[a] >= NAGIOS[b] ? a : b;
}

function level(value: number, warn: number, crit: number): NagiosStatus {
  return value >= crit ? 'CRITICAL' : value >= warn ? 'WARNING' : 'OK';
}

export function judgePool(pool: PoolFigures, t: Thresholds): PoolVerdict {
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

/** One line for Nagios: the shared sanitiser, and no '|' (it starts the perfdata). */
const oneLine = (s: string) => printableLine(s.replace(/\|/g, ' '));

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

function healthJson(r: HealthResult): object {
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

function groupHealthJson(r: GroupHealthResult): object {
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

const HEALTH_COMMANDS = {
  version: 'SHOW VERSION',
  pools: 'SHOW POOLS',
  stats: 'SHOW STATS',
  databases: 'SHOW DATABASES',
  users: 'SHOW USERS',
} as const;

async function runGroupHealth(config: ResolvedConfig | undefined, n: number, thresholds: Thresholds, opts: HealthOptions, ctx: Context): Promise<NagiosStatus> {
  const members = groupMembers(config, n, opts, ctx);
  const outcomes = await eachMember(members, async (m) => {
    const where = describeTarget(m.target);
    const snapshot = await consoleSnapshot(m.target, HEALTH_COMMANDS);
    const untrusted = untrustedAnswer(snapshot);
    if (untrusted) throw new ConsoleError('command', `${where} sent an answer health cannot trust: ${untrusted}`);
    if (opts.database && !snapshot.databases.rows.some((r) => r['name'] === opts.database)) {
      throw new ConsoleError('command', `database ${opts.database} is not in pgbouncer's [databases] at ${where}`);
    }
    const pc = m.process?.config;
    return evaluateHealth(snapshot, thresholds, where, {
      ...(opts.database ? { database: opts.database } : {}),
      ...(pc ? { fallbackPoolSize: profilePoolSize(pc) } : {}),
      labelPrefix: processLabel(m.id),
    });
  });
  const processes: ProcessHealth[] = outcomes.map((o) => {
    const target = describeTarget(o.member.target);
    if (o.error === undefined) return { id: o.member.id, target, result: o.value };
    const e = o.error as Error;
    const known = e instanceof ConsoleError || e instanceof PgbSetupError;
    return { id: o.member.id, target, error: known ? e.message : `internal error: ${e.message}` };
  });
  const result = combineGroupHealth(processes, thresholds);
  if (opts.json) ctx.stdout.write(`${JSON.stringify(groupHealthJson(result), null, 2)}\n`);
  else ctx.stdout.write(formatNagios(result.status, result.summary, result.perfdata));
  return result.status;
}

function unknown(message: string, opts: HealthOptions, ctx: Context, target?: string): NagiosStatus {
  if (opts.json) ctx.stdout.write(`${JSON.stringify({ status: 'UNKNOWN', exit_code: 3, summary: oneLine(message), target: target ?? null }, null, 2)}\n`);
  else ctx.stdout.write(formatNagios('UNKNOWN', message));
  return 'UNKNOWN';
}

/**
 * An error before or during the check, said as Nagios UNKNOWN (its rule for bad arguments and
 * unreachable services alike), on stdout like every other verdict.
 */
export function healthUnknown(err: unknown, opts: HealthOptions, ctx: Context, where?: string): NagiosStatus {
  if (err instanceof ConsoleError || err instanceof HealthUsageError || err instanceof PgbSetupError) {
    return unknown(err.message, opts, ctx, where);
  }
  return unknown(`internal error: ${(err as Error).message}`, opts, ctx, where);
}

/** The pools of one pgbouncer (or of a group of `processes`), judged against the thresholds; prints the verdict. */
export async function checkHealth(config: ResolvedConfig | undefined, processes: number, thresholds: Thresholds, opts: HealthOptions, ctx: Context): Promise<NagiosStatus> {
  let where: string | undefined;
  try {
    if (processes > 1) return await runGroupHealth(config, processes, thresholds, opts, ctx);
    const target = resolveConsoleTarget(config, opts, ctx);
    where = describeTarget(target);
    const snapshot = await consoleSnapshot(target, HEALTH_COMMANDS);
    const untrusted = untrustedAnswer(snapshot);
    if (untrusted) return unknown(`pgbouncer at ${where} sent an answer health cannot trust: ${untrusted}`, opts, ctx, where);
    if (opts.database && !snapshot.databases.rows.some((r) => r['name'] === opts.database)) {
      return unknown(`database ${opts.database} is not in pgbouncer's [databases] at ${where}`, opts, ctx, where);
    }
    const result = evaluateHealth(snapshot, thresholds, where, {
      ...(opts.database ? { database: opts.database } : {}),
      ...(config ? { fallbackPoolSize: profilePoolSize(config) } : {}),
    });
    if (opts.json) ctx.stdout.write(`${JSON.stringify(healthJson(result), null, 2)}\n`);
    else ctx.stdout.write(formatNagios(result.status, result.summary, result.perfdata));
    return result.status;
  } catch (err) {
    return healthUnknown(err, opts, ctx, where);
  }
}
