/**
 * Reloading a running pgbouncer so it re-reads userlist.txt (1.17+ reads auth_file only on reload).
 * In order: the admin console's RELOAD (answers when it is done), `systemctl reload` when systemd
 * is PID 1 and the unit is active, SIGHUP to the pidfile's process. Children get no secret.
 */
import { pgbouncerFromPidfile } from '../apply/pgbouncer-process.js';
import type { Context } from '../context.js';
import { RuntimeError } from '../errors.js';
import { describePg, errorText, type Connect } from './pg-admin.js';
import type { PgbouncerTarget } from './pgbouncer-target.js';

export interface ReloadOutcome {
  /** How it was reloaded, for the report, e.g. "admin console RELOAD". */
  method: string;
  /** True when pgbouncer itself confirmed (console); a signal is only delivered. */
  confirmed: boolean;
}

async function viaConsole(target: PgbouncerTarget, connect: Connect): Promise<ReloadOutcome> {
  const login = target.console!;
  const where = { host: target.host, port: target.port, user: login.user, database: 'pgbouncer' };
  let client;
  try {
    client = await connect(where, login.password);
  } catch (e) {
    throw new Error(`admin console ${describePg(where)}: ${e instanceof RuntimeError ? e.message : errorText(e)}`);
  }
  try {
    // Simple query protocol, no parameters: the console accepts nothing else.
    await client.query('RELOAD');
  } catch (e) {
    throw new Error(`admin console RELOAD refused: ${errorText(e)}`);
  } finally {
    await client.end().catch(() => {});
  }
  return { method: `admin console RELOAD (${describePg(where)})`, confirmed: true };
}

async function viaSystemd(target: PgbouncerTarget, ctx: Context): Promise<ReloadOutcome> {
  const pid1 = (await ctx.system.readFile('/proc/1/comm').catch(() => undefined))?.trim();
  if (pid1 !== 'systemd') throw new Error(`systemd is not PID 1 here (PID 1 is ${pid1 || 'unknown'})`);
  const active = await ctx.system.exec('systemctl', ['is-active', '--quiet', target.service]);
  if (active.exitCode !== 0) throw new Error(`systemd unit ${target.service} is not active`);
  const r = await ctx.system.exec('systemctl', ['reload', target.service]);
  if (r.exitCode !== 0) throw new Error(`systemctl reload ${target.service} exited ${r.exitCode}: ${(r.stderr || r.stdout).trim()}`);
  return { method: `systemctl reload ${target.service}`, confirmed: false };
}

async function viaSignal(target: PgbouncerTarget, ctx: Context): Promise<ReloadOutcome> {
  if (!target.pidfile) throw new Error('no pidfile known (--pidfile, or pidfile in the profile)');
  const found = await pgbouncerFromPidfile(ctx.system, target.pidfile);
  if (!found.ok) throw new Error(`${found.reason}; not signalling it`);
  const { pid } = found;
  const r = await ctx.system.exec('kill', ['-HUP', String(pid)]);
  if (r.exitCode !== 0) throw new Error(`kill -HUP ${pid} exited ${r.exitCode}: ${r.stderr.trim()}`);
  return { method: `SIGHUP to pgbouncer process ${pid} (${target.pidfile})`, confirmed: false };
}

type Way = (target: PgbouncerTarget, ctx: Context, connect: Connect) => Promise<ReloadOutcome>;

export interface ReloadPlan {
  /** The ways that look usable now, in order of preference. */
  ways: { name: string; run: () => Promise<ReloadOutcome> }[];
  /** Why the others cannot be used. */
  skipped: string[];
}

async function consoleUsable(target: PgbouncerTarget, connect: Connect): Promise<void> {
  if (!target.console) throw new Error(`admin console: ${target.consoleMissing ?? 'not configured'}`);
  const where = { host: target.host, port: target.port, user: target.console.user, database: 'pgbouncer' };
  let client;
  try {
    client = await connect(where, target.console.password);
  } catch (e) {
    throw new Error(`admin console ${describePg(where)}: ${e instanceof RuntimeError ? e.message : errorText(e)}`);
  }
  await client.end().catch(() => {});
}

async function systemdUsable(target: PgbouncerTarget, ctx: Context): Promise<void> {
  const pid1 = (await ctx.system.readFile('/proc/1/comm').catch(() => undefined))?.trim();
  if (pid1 !== 'systemd') throw new Error(`systemctl: systemd is not PID 1 here (PID 1 is ${pid1 || 'unknown'})`);
  const active = await ctx.system.exec('systemctl', ['is-active', '--quiet', target.service]);
  if (active.exitCode !== 0) throw new Error(`systemctl: unit ${target.service} is not active`);
}

async function signalUsable(target: PgbouncerTarget, ctx: Context): Promise<number> {
  if (!target.pidfile) throw new Error('SIGHUP: no pidfile known (--pidfile, or pidfile in the profile)');
  const found = await pgbouncerFromPidfile(ctx.system, target.pidfile);
  if (!found.ok) throw new Error(`SIGHUP: ${found.reason}`);
  return found.pid;
}

/**
 * Finds the ways to reload that work right now (console login succeeds, unit active, pidfile
 * process alive), before anything is changed. Throws RuntimeError when there is none.
 */
export async function planReload(target: PgbouncerTarget, ctx: Context, connect: Connect): Promise<ReloadPlan> {
  const plan: ReloadPlan = { ways: [], skipped: [] };
  const checks: [string, () => Promise<unknown>, Way][] = [
    ['admin console RELOAD', () => consoleUsable(target, connect), (t, _c, conn) => viaConsole(t, conn)],
    [`systemctl reload ${target.service}`, () => systemdUsable(target, ctx), (t, c) => viaSystemd(t, c)],
    ['SIGHUP via pidfile', () => signalUsable(target, ctx), (t, c) => viaSignal(t, c)],
  ];
  for (const [name, usable, way] of checks) {
    try {
      await usable();
      plan.ways.push({ name, run: () => way(target, ctx, connect) });
    } catch (e) {
      plan.skipped.push((e as Error).message);
    }
  }
  if (plan.ways.length === 0) throw new RuntimeError(`cannot reload pgbouncer, so nothing was changed:\n  - ${plan.skipped.join('\n  - ')}`);
  return plan;
}

/** Runs the planned ways in order until one works; throws RuntimeError listing every failure. */
export async function runReload(plan: ReloadPlan): Promise<ReloadOutcome> {
  const failed: string[] = [];
  for (const way of plan.ways) {
    try {
      return await way.run();
    } catch (e) {
      failed.push((e as Error).message);
    }
  }
  throw new RuntimeError(`reloading pgbouncer failed:\n  - ${failed.join('\n  - ')}`);
}
