/**
 * `pgb-setup size`: pool sizes from Little's law, L = λ × W — the number of server connections
 * busy on average equals the transaction rate (per second) times the seconds each transaction
 * holds a server connection. Then headroom, the database's useful concurrency (about
 * 2 × cores + spindles), PostgreSQL's max_connections budget and the app's client count.
 *
 * The integration guide's `pool_size = users / request_seconds × safety` divides a count by a time,
 * which is a rate, not a number of connections (errata #1): 1000 / 0.2 × 1.5 = 7,500. Read as
 * λ = 1000 transactions/s and W = 0.2 s, the right answer is L = 200 busy connections, 300 with
 * the 1.5 headroom, before the database's limits are applied.
 */
import { InputError, InputErrors } from '../text/errors.js';
import { fmt } from './pools.js';
import { printable } from '../text/printable.js';

interface SizeInputs {
  /** λ: peak transactions per second. */
  tps: number;
  /** W: mean seconds a transaction holds a server connection. */
  xactSeconds: number;
  headroom: number;
  cores?: number;
  spindles: number;
  maxConnections?: number;
  superuserReserved: number;
  directConnections: number;
  /** database/user pairs = pools. */
  pools: number;
  /** Extra pools auth_query opens as auth_user (one per database). */
  authUserConnections: number;
  appHosts?: number;
  appProcesses?: number;
  appThreads?: number;
  extraClients: number;
}

interface SizeStep {
  title: string;
  working: string;
}

export interface SizeRecommendation {
  default_pool_size: number;
  reserve_pool_size: number;
  max_db_connections: number;
  max_client_conn?: number;
}

interface SizeResult {
  inputs: SizeInputs;
  /** L = λW, unrounded. */
  busy: number;
  steps: SizeStep[];
  recommended: SizeRecommendation;
  /** Server connections the recommendation can open in total (pools + reserves + auth_user pools). */
  serverConnections: number;
  /** max_connections PostgreSQL needs for it: serverConnections + superuser reserved + direct. */
  maxConnectionsNeeded: number;
  /** pgbouncer's own estimate of file descriptors (max_client_conn + 10 + Σ pool sizes). */
  fdEstimate?: number;
  warnings: string[];
}

const RESERVE_FRACTION = 0.2;
const MAX_XACT_SECONDS = 60;

const n = (x: number) => fmt(x, 6);
const int = (x: number) => x.toLocaleString('en-US');

export function computeSize(i: SizeInputs): SizeResult {
  const steps: SizeStep[] = [];
  const warnings: string[] = [];
  const step = (title: string, working: string) => steps.push({ title, working });

  // 1. Little's law.
  const busy = i.tps * i.xactSeconds;
  step("Little's law L = λ × W", `${n(i.tps)} transactions/s × ${n(i.xactSeconds)} s held each = ${fmt(busy, 3)} server connections busy on average at that rate`);

  // 2. Headroom.
  const need = Math.max(1, Math.ceil(busy * i.headroom - 1e-9));
  step('headroom for bursts', `ceil(${fmt(busy, 3)} × ${n(i.headroom)}) = ${need} connections per pool`);
  let pool = need;

  // 3. What the database can run at once.
  if (i.cores !== undefined) {
    const useful = 2 * i.cores + i.spindles;
    const perPool = Math.max(1, Math.floor(useful / i.pools));
    const share = i.pools > 1 ? `, shared by ${i.pools} pools: floor(${useful} / ${i.pools}) = ${perPool} each` : '';
    if (pool > perPool) {
      step('database concurrency (2 × cores + spindles)', `2 × ${i.cores} + ${i.spindles} = ${useful}${share}; ${pool} is more, so the pool is capped at ${perPool}`);
      warnings.push(
        `the load needs ${pool} busy connections per pool but PostgreSQL on ${i.cores} cores runs about ${useful} at once: more server connections would queue inside PostgreSQL instead of in pgbouncer and not raise throughput. ` +
          `Expect clients waiting in pgbouncer (cl_waiting, maxwait) at this peak; shorten transactions (W), or add cores. If W is mostly waiting on the client or on I/O rather than CPU, raise --spindles.`,
      );
      pool = perPool;
    } else {
      step('database concurrency (2 × cores + spindles)', `2 × ${i.cores} + ${i.spindles} = ${useful}${share}; ${pool} fits`);
    }
  } else {
    step('database concurrency (2 × cores + spindles)', 'not checked: pass --cores (and --spindles) of the PostgreSQL server');
  }

  // 4. Reserve.
  let reserve = Math.max(1, Math.ceil(pool * RESERVE_FRACTION - 1e-9));
  step('reserve pool', `ceil(${pool} × ${RESERVE_FRACTION}) = ${reserve}, opened only after a client waited reserve_pool_timeout`);

  // 5. Total against PostgreSQL's budget.
  const total = (p: number, r: number) => i.pools * (p + r) + i.authUserConnections;
  const authNote = i.authUserConnections ? ` + ${i.authUserConnections} auth_user` : '';
  let serverConnections = total(pool, reserve);
  step('server connections in total', `${i.pools} pool${i.pools === 1 ? '' : 's'} × (${pool} + ${reserve})${authNote} = ${serverConnections}`);
  if (i.maxConnections !== undefined) {
    const available = i.maxConnections - i.superuserReserved - i.directConnections;
    const budgetText = `max_connections ${i.maxConnections} − ${i.superuserReserved} superuser_reserved_connections − ${i.directConnections} direct connections = ${available}`;
    if (available - i.authUserConnections < i.pools) {
      throw new InputError(
        `--max-connections: ${i.maxConnections} leaves ${Math.max(0, available)} connections after ${i.superuserReserved} superuser-reserved and ${i.directConnections} direct ones, not even one per pool (${i.pools}); raise max_connections`,
        '--max-connections',
      );
    }
    if (serverConnections > available) {
      const wanted = serverConnections;
      const perPool = Math.floor((available - i.authUserConnections) / i.pools);
      if (pool >= perPool) {
        pool = perPool;
        reserve = 0;
      } else {
        reserve = perPool - pool;
      }
      serverConnections = total(pool, reserve);
      step('PostgreSQL budget', `${budgetText}; ${wanted} do not fit, so: default_pool_size ${pool}, reserve_pool_size ${reserve} (${serverConnections} in total)`);
      warnings.push(
        `the pools would open ${wanted} server connections but PostgreSQL allows ${available} (${budgetText.replace(/ = \d+$/, '')}); ` +
          `the sizes were lowered to fit. To keep them, raise max_connections to at least ${wanted + i.superuserReserved + i.directConnections} (a PostgreSQL restart).`,
      );
    } else {
      step('PostgreSQL budget', `${budgetText}; ${serverConnections} fit`);
    }
  } else {
    step('PostgreSQL budget', 'not checked: pass --max-connections (SHOW max_connections on the server)');
  }
  const maxDb = serverConnections;
  const maxConnectionsNeeded = serverConnections + i.superuserReserved + i.directConnections;
  step('max_db_connections', `${maxDb}: the most this database's pools may open together, a hard cap against PostgreSQL's limit`);

  // 6. Clients.
  let maxClient: number | undefined;
  if (i.appHosts !== undefined && i.appProcesses !== undefined) {
    const threads = i.appThreads ?? 1;
    const appClients = i.appHosts * i.appProcesses * threads;
    maxClient = appClients + i.extraClients;
    step(
      'max_client_conn',
      `${i.appHosts} hosts × ${i.appProcesses} processes × ${threads} threads = ${appClients} persistent client connections (CONN_MAX_AGE > 0) + ${i.extraClients} for admin/monitoring = ${maxClient}`,
    );
    if (appClients < busy) {
      warnings.push(
        `${int(appClients)} app threads cannot keep ${fmt(busy, 1)} transactions in flight: a thread holds at most one connection. --tps or --xact-seconds is off, or the app has more workers than given.`,
      );
    }
    if (appClients < i.pools * pool) {
      warnings.push(`only ${appClients} app connections exist, fewer than the ${i.pools * pool} pool slots: the pools will never fill; a default_pool_size of ${Math.max(1, Math.ceil(appClients / i.pools))} would do`);
    }
  } else {
    step('max_client_conn', 'not computed: pass --app-hosts and --app-processes (and --app-threads)');
  }
  const fdEstimate = maxClient !== undefined ? maxClient + 10 + i.pools * pool + i.authUserConnections : undefined;
  if (fdEstimate !== undefined) {
    step('file descriptors', `${maxClient} + 10 + ${i.pools} × ${pool}${authNote} = ${fdEstimate}: keep pgbouncer's open-files limit (LimitNOFILE / ulimit -n) above it`);
  }

  return {
    inputs: i,
    busy,
    steps,
    recommended: { default_pool_size: pool, reserve_pool_size: reserve, max_db_connections: maxDb, ...(maxClient !== undefined ? { max_client_conn: maxClient } : {}) },
    serverConnections,
    maxConnectionsNeeded,
    ...(fdEstimate !== undefined ? { fdEstimate } : {}),
    warnings,
  };
}

// ---- input checks ---------------------------------------------------------------------------

interface NumberRule {
  flag: string;
  integer?: boolean;
  min?: number;
  /** The value must be greater than this (not equal). */
  above?: number;
  max?: number;
  maxWhy?: string;
  unit?: string;
}

/** Parses one flag; returns a one-line problem naming the flag and why, or the number. */
export function checkNumber(raw: string, rule: NumberRule): number | string {
  const text = raw.trim();
  const value = Number(text);
  if (text === '' || !Number.isFinite(value)) return `${rule.flag}: "${raw}" is not a number`;
  if (rule.integer && !Number.isInteger(value)) return `${rule.flag}: ${raw} must be a whole number`;
  if (value < 0) return `${rule.flag}: ${raw} is negative; it must be ${rule.above !== undefined ? `more than ${rule.above}` : `at least ${rule.min ?? 0}`}`;
  if (rule.above !== undefined && value <= rule.above) return `${rule.flag}: must be more than ${rule.above}${rule.unit ? ` ${rule.unit}` : ''} (got ${raw})`;
  if (rule.min !== undefined && value < rule.min) return `${rule.flag}: must be at least ${rule.min}${rule.unit ? ` ${rule.unit}` : ''} (got ${raw})`;
  if (rule.max !== undefined && value > rule.max) return rule.maxWhy ? `${rule.flag}: ${rule.maxWhy.replaceAll('{v}', raw)}` : `${rule.flag}: must be at most ${rule.max}${rule.unit ? ` ${rule.unit}` : ''} (got ${raw})`;
  return value;
}

export interface SizeFlags {
  tps?: string;
  xactSeconds?: string;
  headroom?: string;
  cores?: string;
  spindles?: string;
  maxConnections?: string;
  superuserReserved?: string;
  directConnections?: string;
  pools?: string;
  appHosts?: string;
  appProcesses?: string;
  appThreads?: string;
  extraClients?: string;
}

const RULES: Record<keyof SizeFlags, NumberRule> = {
  tps: { flag: '--tps', above: 0, max: 10_000_000, unit: 'transactions per second' },
  xactSeconds: {
    flag: '--xact-seconds',
    above: 0,
    max: MAX_XACT_SECONDS,
    unit: 'seconds',
    maxWhy: `{v} seconds per transaction is not plausible (more than ${MAX_XACT_SECONDS}); the unit is seconds: 200 ms is 0.2`,
  },
  headroom: { flag: '--headroom', min: 1, max: 10, maxWhy: '{v} is more headroom than makes sense (at most 10); 1.5 means 50% above the peak' },
  cores: { flag: '--cores', integer: true, min: 1, max: 4096, unit: 'core' },
  spindles: { flag: '--spindles', integer: true, min: 0, max: 10_000 },
  maxConnections: { flag: '--max-connections', integer: true, min: 1, max: 262_143 },
  superuserReserved: { flag: '--superuser-reserved', integer: true, min: 0, max: 262_143 },
  directConnections: { flag: '--direct-connections', integer: true, min: 0, max: 262_143 },
  pools: { flag: '--pools', integer: true, min: 1, max: 100_000, unit: 'pool' },
  appHosts: { flag: '--app-hosts', integer: true, min: 1, max: 100_000, unit: 'host' },
  appProcesses: { flag: '--app-processes', integer: true, min: 1, max: 100_000, unit: 'process' },
  appThreads: { flag: '--app-threads', integer: true, min: 1, max: 100_000, unit: 'thread' },
  extraClients: { flag: '--extra-clients', integer: true, min: 0, max: 100_000 },
};

export interface SizeDefaults {
  tps?: number;
  xactSeconds?: number;
  /** Name of the source of tps/xact-seconds when they came from a live pgbouncer (for messages). */
  measuredBy?: string;
  maxConnections?: number;
  superuserReserved?: number;
  pools?: number;
  authUserConnections?: number;
}

/** Flags (strings) + defaults → inputs, or every problem at once, one line each (exit 2). */
export function parseSizeInputs(flags: SizeFlags, defaults: SizeDefaults = {}): SizeInputs {
  const problems: string[] = [];
  const values: Partial<Record<keyof SizeFlags, number>> = {};
  for (const key of Object.keys(RULES) as (keyof SizeFlags)[]) {
    const raw = flags[key];
    if (raw === undefined) continue;
    const r = checkNumber(String(raw), RULES[key]);
    if (typeof r === 'string') problems.push(r);
    else values[key] = r;
  }
  // Measured rates go through the same checks, named after where they came from.
  for (const key of ['tps', 'xactSeconds'] as const) {
    if (values[key] !== undefined || flags[key] !== undefined) continue;
    const d = defaults[key];
    if (d === undefined) continue;
    const r = checkNumber(String(d), { ...RULES[key], flag: `${defaults.measuredBy ?? 'default'} (${RULES[key].flag.slice(2)})` });
    if (typeof r === 'string') problems.push(r);
    else values[key] = r;
  }
  if (values.tps === undefined && flags.tps === undefined && !problems.some((p) => p.includes('(tps)'))) {
    problems.push('--tps: missing; give the peak transactions per second (or --from-stats to read them from a running pgbouncer)');
  }
  if (values.xactSeconds === undefined && flags.xactSeconds === undefined && !problems.some((p) => p.includes('(xact-seconds)'))) {
    problems.push('--xact-seconds: missing; give the mean seconds a transaction holds a server connection (or --from-stats)');
  }
  const hostsGiven = values.appHosts !== undefined || flags.appHosts !== undefined;
  const procsGiven = values.appProcesses !== undefined || flags.appProcesses !== undefined;
  if (hostsGiven && !procsGiven) problems.push('--app-processes: needed with --app-hosts (worker processes per app host)');
  if (procsGiven && !hostsGiven) problems.push('--app-hosts: needed with --app-processes (number of app hosts)');
  if (flags.appThreads !== undefined && !hostsGiven) problems.push('--app-threads: needs --app-hosts and --app-processes');
  if (flags.spindles !== undefined && flags.cores === undefined) problems.push('--spindles: needs --cores (the limit is 2 × cores + spindles)');
  if (problems.length === 1) throw new InputError(problems[0]!, problems[0]!.split(':')[0]);
  if (problems.length > 1) throw new InputErrors(problems);

  return {
    tps: values.tps!,
    xactSeconds: values.xactSeconds!,
    headroom: values.headroom ?? 1.5,
    ...(values.cores !== undefined ? { cores: values.cores } : {}),
    spindles: values.spindles ?? 0,
    ...(values.maxConnections !== undefined ? { maxConnections: values.maxConnections } : defaults.maxConnections !== undefined ? { maxConnections: defaults.maxConnections } : {}),
    superuserReserved: values.superuserReserved ?? defaults.superuserReserved ?? 3,
    directConnections: values.directConnections ?? 5,
    pools: values.pools ?? defaults.pools ?? 1,
    authUserConnections: defaults.authUserConnections ?? 0,
    ...(values.appHosts !== undefined ? { appHosts: values.appHosts } : {}),
    ...(values.appProcesses !== undefined ? { appProcesses: values.appProcesses } : {}),
    ...(values.appThreads !== undefined ? { appThreads: values.appThreads } : {}),
    extraClients: values.extraClients ?? 10,
  };
}

// ---- output ---------------------------------------------------------------------------------

export interface CurrentSettings {
  environment: string;
  values: Partial<Record<keyof SizeRecommendation, number>>;
}

function setFlags(r: SizeRecommendation): string {
  return Object.entries(r)
    .map(([k, v]) => `--set ${k}=${v}`)
    .join(' ');
}

export function formatSize(result: SizeResult, current?: CurrentSettings, notes: string[] = []): string {
  const lines: string[] = ["Pool sizing with Little's law: busy server connections L = λ (transactions/s) × W (seconds each holds a connection)", ''];
  for (const note of notes) lines.push(`note: ${printable(note)}`);
  if (notes.length) lines.push('');
  const width = Math.max(...result.steps.map((s) => s.title.length));
  result.steps.forEach((s, idx) => lines.push(`${String(idx + 1).padStart(2)}. ${s.title.padEnd(width)}  ${s.working}`));
  lines.push('', 'Recommended settings');
  const keys: (keyof SizeRecommendation)[] = ['default_pool_size', 'reserve_pool_size', 'max_db_connections', 'max_client_conn'];
  for (const k of keys) {
    const v = result.recommended[k];
    const now = current?.values[k];
    const was = current ? `   (profile ${current.environment}: ${now ?? 'not set'})` : '';
    lines.push(`  ${k.padEnd(19)} ${v === undefined ? '-' : String(v)}${v === undefined ? '' : was}`);
  }
  lines.push('', `PostgreSQL needs max_connections >= ${result.maxConnectionsNeeded} for this (${result.serverConnections} from pgbouncer + ${result.inputs.superuserReserved} superuser-reserved + ${result.inputs.directConnections} direct).`);
  if (result.warnings.length) {
    lines.push('');
    for (const w of result.warnings) lines.push(`warning: ${w}`);
  }
  lines.push('', `Apply with: pgb-setup apply ${current?.environment ?? '<environment>'} ${setFlags(result.recommended)}`);
  return `${lines.join('\n')}\n`;
}

export function sizeJson(result: SizeResult, current?: CurrentSettings, notes: string[] = []): object {
  return {
    inputs: result.inputs,
    busy_connections: result.busy,
    steps: result.steps,
    recommended: result.recommended,
    server_connections: result.serverConnections,
    max_connections_needed: result.maxConnectionsNeeded,
    fd_estimate: result.fdEstimate ?? null,
    profile: current ?? null,
    notes,
    warnings: result.warnings,
    set_flags: setFlags(result.recommended),
  };
}
