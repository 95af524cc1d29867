/**
 * `pgb-setup health [environment]`: one Nagios-style status line with perfdata, from the admin
 * console's SHOW POOLS / STATS / DATABASES / USERS (read by column name). Utilisation is computed
 * here, client-side: the console has no SQL (errata #2).
 *
 * Statuses are Nagios' (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN, ops/health/thresholds.ts), which
 * the command maps to its exit code. Everything that stops the check from judging the pools (pgbouncer unreachable, login
 * refused, a bad flag, a profile that does not resolve) is UNKNOWN, on stdout, in the same format.
 * No systemctl here: the check is a real login, so it works with and without systemd.
 */
import type { Context } from '../system/context.js';
import { PgbSetupError } from '../text/errors.js';
import { setting, type ResolvedConfig } from '../profile/resolve.js';
import { ConsoleError, consoleSnapshot, describeTarget } from './console.js';
import { resolveConsoleTarget, type ConsoleFlags } from './target.js';
import { profilePoolSize } from './profile-pools.js';
import { eachMember, groupMembers } from './group.js';
import { untrustedAnswer } from './console-trust.js';
import { evaluateHealth, worse, type HealthResult } from './health/evaluate.js';
import { type ProcessHealth, combineGroupHealth, processLabel } from './health/group.js';
import { formatNagios, groupHealthJson, healthJson, oneLine } from './health/output.js';
import { HealthUsageError, NAGIOS, type NagiosStatus, type Thresholds } from './health/thresholds.js';

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
    const result = await withCertificateExpiry(
      evaluateHealth(snapshot, thresholds, where, {
        ...(opts.database ? { database: opts.database } : {}),
        ...(config ? { fallbackPoolSize: profilePoolSize(config) } : {}),
      }),
      config,
      ctx,
    );
    if (opts.json) ctx.stdout.write(`${JSON.stringify(healthJson(result), null, 2)}\n`);
    else ctx.stdout.write(formatNagios(result.status, result.summary, result.perfdata));
    return result.status;
  } catch (err) {
    return healthUnknown(err, opts, ctx, where);
  }
}

/**
 * Days to expiry of pgbouncer's client TLS certificate, when health runs where the file is: the one
 * the profile names, else the one the installed pgbouncer.ini names. WARNING within 30 days,
 * CRITICAL within 7 (or expired); nothing is added when neither names a certificate.
 */
async function withCertificateExpiry(result: HealthResult, config: ResolvedConfig | undefined, ctx: Context): Promise<HealthResult> {
  const { certificateExpiry, clientCertPath, expiryStatus } = await import('./tls-expiry.js');
  const fromProfile = config ? setting(config, 'client_tls_cert_file') : undefined;
  let path = typeof fromProfile === 'string' ? fromProfile : undefined;
  if (!path) {
    const installed = await ctx.system.readFile('/etc/pgbouncer/pgbouncer.ini').catch(() => undefined);
    path = clientCertPath(installed);
  }
  if (!path) return result;
  const verdict = expiryStatus(await certificateExpiry(ctx.system, path, new Date()));
  const status = worse(result.status, verdict.status);
  return { ...result, status, exitCode: NAGIOS[status], summary: `${result.summary}; ${verdict.summary}`, perfdata: [result.perfdata, verdict.perfdata].filter(Boolean).join(' ') };
}
