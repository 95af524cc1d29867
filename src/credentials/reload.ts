/**
 * Reloading a running pgbouncer so it re-reads userlist.txt (1.17+ reads auth_file only on reload).
 * In order: the admin console's RELOAD (answers when it is done), `systemctl reload` when systemd
 * is PID 1 and the unit is active, SIGHUP to the pidfile's process. Children get no secret.
 */
import { pgbouncerFromPidfile } from '../system/pgbouncer-process.js';
import type { Context } from '../system/context.js';
import { RuntimeError } from '../text/errors.js';
import { describePg, errorText, type Connect, type SqlClient } from '../facts/pg-admin.js';
import { reloadPgbouncer } from '../system/pgbouncer-service.js';
import type { PgbouncerTarget } from './pgbouncer-target.js';

export interface ReloadOutcome {
  /** How it was reloaded, for the report, e.g. "admin console RELOAD". */
  method: string;
  /** True when pgbouncer itself confirmed (console); a signal is only delivered. */
  confirmed: boolean;
}

/** Bound on each wait on the admin console here (login, RELOAD, close): a console that never answers must not hang the command after the userlist was written. */
const CONSOLE_WAIT_MS = 10_000;

/** `p`, or a rejection after `ms` (then `onTimeout` runs, to drop the connection). */
async function within<T>(p: Promise<T>, ms: number, message: string, onTimeout: () => void = () => {}): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(new Error(message));
    }, ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Closes a console connection without waiting on the server: a console may never answer Terminate. */
async function drop(client: SqlClient): Promise<void> {
  const socket = (client as { connection?: { stream?: { destroy(): void } } }).connection?.stream;
  await within(client.end(), 1000, 'close', () => socket?.destroy()).catch(() => socket?.destroy());
}

/** Raised when a RELOAD was sent but pgbouncer did not confirm it in time: it may or may not have reloaded. */
class ReloadUnconfirmed extends Error {}

async function viaConsole(target: PgbouncerTarget, connect: Connect, waitMs: number): Promise<ReloadOutcome> {
  const login = target.console!;
  const where = { host: target.host, port: target.port, user: login.user, database: 'pgbouncer' };
  const seconds = `${waitMs / 1000}s`;
  let client: SqlClient;
  const connecting = connect(where, login.password);
  try {
    client = await within(connecting, waitMs, `no answer within ${seconds}`);
  } catch (e) {
    connecting.then(drop, () => {});
    throw new Error(`admin console ${describePg(where)}: ${e instanceof RuntimeError ? e.message : errorText(e)}`);
  }
  let answered = false;
  try {
    // Simple query protocol, no parameters: the console accepts nothing else.
    await within(client.query('RELOAD'), waitMs, 'no answer');
    answered = true;
  } catch (e) {
    if ((e as Error).message === 'no answer') {
      throw new ReloadUnconfirmed(`admin console RELOAD sent to ${describePg(where)} but not answered within ${seconds}: pgbouncer may or may not have re-read its files (unconfirmed)`);
    }
    throw new Error(`admin console RELOAD refused: ${errorText(e)}`);
  } finally {
    await drop(client);
  }
  return { method: `admin console RELOAD (${describePg(where)})`, confirmed: answered };
}

async function viaSystemd(target: PgbouncerTarget, ctx: Context): Promise<ReloadOutcome> {
  const pid1 = (await ctx.system.readFile('/proc/1/comm').catch(() => undefined))?.trim();
  if (pid1 !== 'systemd') throw new Error(`systemd is not PID 1 here (PID 1 is ${pid1 || 'unknown'})`);
  const active = await ctx.system.exec('systemctl', ['is-active', '--quiet', target.service]);
  if (active.exitCode !== 0) throw new Error(`systemd unit ${target.service} is not active`);
  const r = await reloadPgbouncer(ctx.system, { unit: target.service });
  if (r.exitCode !== 0) throw new Error(`systemctl reload ${target.service} exited ${r.exitCode}: ${(r.stderr || r.stdout).trim()}`);
  return { method: `systemctl reload ${target.service}`, confirmed: false };
}

async function viaSignal(target: PgbouncerTarget, ctx: Context): Promise<ReloadOutcome> {
  if (!target.pidfile) throw new Error('no pidfile known (--pidfile, or pidfile in the profile)');
  const found = await pgbouncerFromPidfile(ctx.system, target.pidfile);
  if (!found.ok) throw new Error(`${found.reason}; not signalling it`);
  const { pid } = found;
  const r = await reloadPgbouncer(ctx.system, { pid });
  if (r.exitCode !== 0) throw new Error(`kill -HUP ${pid} exited ${r.exitCode}: ${r.stderr.trim()}`);
  return { method: `SIGHUP to pgbouncer process ${pid} (${target.pidfile})`, confirmed: false };
}

type Way = (target: PgbouncerTarget, ctx: Context, connect: Connect, waitMs: number) => Promise<ReloadOutcome>;

export interface ReloadPlan {
  /** The ways that look usable now, in order of preference. */
  ways: { name: string; run: () => Promise<ReloadOutcome> }[];
  /** Why the others cannot be used. */
  skipped: string[];
}

async function consoleUsable(target: PgbouncerTarget, connect: Connect, waitMs: number): Promise<void> {
  if (!target.console) throw new Error(`admin console: ${target.consoleMissing ?? 'not configured'}`);
  const where = { host: target.host, port: target.port, user: target.console.user, database: 'pgbouncer' };
  let client;
  const connecting = connect(where, target.console.password);
  try {
    client = await within(connecting, waitMs, `no answer within ${waitMs / 1000}s`);
  } catch (e) {
    connecting.then(drop, () => {});
    throw new Error(`admin console ${describePg(where)}: ${e instanceof RuntimeError ? e.message : errorText(e)}`);
  }
  await drop(client);
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
export async function planReload(target: PgbouncerTarget, ctx: Context, connect: Connect, waitMs = CONSOLE_WAIT_MS): Promise<ReloadPlan> {
  const plan: ReloadPlan = { ways: [], skipped: [] };
  const checks: [string, () => Promise<unknown>, Way][] = [
    ['admin console RELOAD', () => consoleUsable(target, connect, waitMs), (t, _c, conn, ms) => viaConsole(t, conn, ms)],
    [`systemctl reload ${target.service}`, () => systemdUsable(target, ctx), (t, c) => viaSystemd(t, c)],
    ['SIGHUP via pidfile', () => signalUsable(target, ctx), (t, c) => viaSignal(t, c)],
  ];
  for (const [name, usable, way] of checks) {
    try {
      await usable();
      plan.ways.push({ name, run: () => way(target, ctx, connect, waitMs) });
    } catch (e) {
      plan.skipped.push((e as Error).message);
    }
  }
  if (plan.ways.length === 0) throw new RuntimeError(`cannot reload pgbouncer, so nothing was changed:\n  - ${plan.skipped.join('\n  - ')}`);
  return plan;
}

/** Every planned way failed; `unconfirmed` when a RELOAD was sent but never answered (pgbouncer may have reloaded). */
export class ReloadFailed extends RuntimeError {
  readonly unconfirmed: boolean;
  constructor(message: string, unconfirmed: boolean) {
    super(message);
    this.unconfirmed = unconfirmed;
  }
}

/** Runs the planned ways in order until one works; throws ReloadFailed listing every failure. */
export async function runReload(plan: ReloadPlan): Promise<ReloadOutcome> {
  const failed: string[] = [];
  let unconfirmed = false;
  for (const way of plan.ways) {
    try {
      return await way.run();
    } catch (e) {
      if (e instanceof ReloadUnconfirmed) unconfirmed = true;
      failed.push((e as Error).message);
    }
  }
  throw new ReloadFailed(`reloading pgbouncer failed:\n  - ${failed.join('\n  - ')}`, unconfirmed);
}
