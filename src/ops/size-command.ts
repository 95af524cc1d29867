import type { Context } from '../system/context.js';
import { InputError, RuntimeError } from '../text/errors.js';
import { poolBudget } from '../profile/pool-budget.js';
import { setting, type ResolvedConfig } from '../profile/resolve.js';
import { computeSize, formatSize, parseSizeInputs, sizeJson, type CurrentSettings, type SizeDefaults, type SizeFlags } from './size.js';
import type { ConsoleFlags } from './target.js';
import { printable } from '../text/printable.js';

export interface SizeOptions extends ConsoleFlags, SizeFlags {
  fromStats?: boolean;
  database?: string;
  json?: boolean;
}

function current(config: ResolvedConfig): CurrentSettings {
  const values: CurrentSettings['values'] = {};
  for (const key of ['default_pool_size', 'reserve_pool_size', 'max_db_connections', 'max_client_conn'] as const) {
    const v = setting(config, key);
    if (typeof v === 'number') values[key] = v;
  }
  return { environment: config.environment, values };
}

/** λ and W from a running pgbouncer: SHOW STATS avg_xact_count (per second) and avg_xact_time (µs). */
async function measuredRates(config: ResolvedConfig | undefined, opts: SizeOptions, ctx: Context, notes: string[]): Promise<SizeDefaults> {
  const [{ resolveConsoleTarget }, { consoleSnapshot, ConsoleError, describeTarget, num, str }, { configValue, fmt }] = await Promise.all([
    import('./target.js'),
    import('./console.js'),
    import('./pools.js'),
  ]);
  const target = resolveConsoleTarget(config, opts, ctx);
  let snap;
  try {
    snap = await consoleSnapshot(target, { stats: 'SHOW STATS', config: 'SHOW CONFIG' });
  } catch (err) {
    if (err instanceof ConsoleError) throw new RuntimeError(`--from-stats: ${err.message}`);
    throw err;
  }
  // A row without a database name is not one pgbouncer sends; it cannot be named or chosen.
  const rows = snap.stats.rows.filter((r) => typeof r['database'] === 'string' && r['database'] !== 'pgbouncer');
  const wanted = opts.database ?? config?.profile.database.name;
  const row = wanted ? rows.find((r) => str(r, 'database') === wanted) : [...rows].sort((a, b) => (num(b, 'avg_xact_count') ?? 0) - (num(a, 'avg_xact_count') ?? 0))[0];
  if (!row) {
    throw new InputError(`--from-stats: pgbouncer at ${describeTarget(target)} has no statistics for ${wanted ? `database ${printable(wanted)}` : 'any database'} yet; run it under load, or give --tps and --xact-seconds`, '--from-stats');
  }
  const database = printable(str(row, 'database')!);
  const tps = num(row, 'avg_xact_count') ?? 0;
  const xactSeconds = (num(row, 'avg_xact_time') ?? 0) / 1e6;
  const rawPeriod = configValue(snap, 'stats_period');
  const period = rawPeriod === undefined ? 'stats_period (60 s unless set)' : /^\d{1,9}$/.test(rawPeriod) ? `stats_period (${rawPeriod} s)` : 'stats_period (not reported as a number of seconds)';
  notes.push(
    `--from-stats: database ${database} at ${describeTarget(target)}: avg_xact_count ${fmt(tps, 3)}/s, avg_xact_time ${fmt(xactSeconds * 1000, 3)} ms, averaged over the last ${period}. ` +
      'That is the recent average, not your peak: pass --tps with the peak rate if this was not taken at peak.',
  );
  if (tps === 0 && opts.tps === undefined) {
    throw new InputError(`--from-stats: pgbouncer counted no transactions for database ${database} in the last ${period}; run it under load, or give --tps`, '--from-stats');
  }
  return { tps, xactSeconds, measuredBy: '--from-stats' };
}

/** Pool sizes recommended from the flags, the profile's pools (if any) and --from-stats; prints the working. */
export async function recommendSize(config: ResolvedConfig | undefined, opts: SizeOptions, ctx: Context): Promise<number> {
  const notes: string[] = [];
  const defaults: SizeDefaults = {};
  if (config) {
    const budget = poolBudget(config);
    defaults.pools = Math.max(1, budget.databases.reduce((a, d) => a + d.pools, 0));
    defaults.authUserConnections = budget.authUserConnections;
    if (config.profile.server.max_connections !== undefined) defaults.maxConnections = config.profile.server.max_connections;
    defaults.superuserReserved = config.profile.server.superuser_reserved_connections;
    notes.push(
      `profile ${config.environment}: ${defaults.pools} pool${defaults.pools === 1 ? '' : 's'} (database/user pairs)` +
        (budget.authUserConnections ? ` + ${budget.authUserConnections} auth_user pool` : '') +
        (defaults.maxConnections !== undefined ? `, PostgreSQL max_connections ${defaults.maxConnections}` : ''),
    );
  }
  if (opts.fromStats) Object.assign(defaults, await measuredRates(config, opts, ctx, notes));
  const inputs = parseSizeInputs(opts, defaults);
  const result = computeSize(inputs);
  const now = config ? current(config) : undefined;
  if (opts.json) ctx.stdout.write(`${JSON.stringify(sizeJson(result, now, notes), null, 2)}\n`);
  else ctx.stdout.write(formatSize(result, now, notes));
  return 0;
}
