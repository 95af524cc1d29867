/**
 * Handover: a restart without a refused connection or a failed transaction.
 *
 * Every process listens with so_reuseport, so a new pgbouncer can bind the same port beside the
 * running one. Two things cannot be shared: the pidfile (pgbouncer refuses one naming a live
 * process) and the unix socket folder (it refuses a socket another process answers on). So a
 * process replaced in place goes through a bridge:
 *
 *   1. bridge: the NEW config, but its own pidfile and socket folder in a private temp folder,
 *      started beside the old process (systemd: a transient unit, so nothing runs outside a unit);
 *      it must accept a real login through its own socket, or it is stopped and the old process
 *      was never touched;
 *   2. the old process shuts down gracefully (graceful-stop.ts) while the bridge serves the port;
 *   3. the final process starts on the real files (systemd: the unit itself) and must accept a login;
 *   4. the bridge shuts down gracefully.
 *
 * A process with new paths (1 → N processes, N → 1) needs no bridge: it starts beside the old ones
 * directly. Unix-socket clients of a replaced process are refused between 2 and 3; TCP clients never.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RuntimeError } from '../text/errors.js';
import type { OsAccount } from '../system/os-user-socket.js';
import type { HandoverProcess, HandoverSpec } from '../plan/types.js';
import type { System } from '../system/system.js';
import { systemctlStart } from '../system/systemctl.js';
import { overrideIniSettings } from './candidate-check.js';
import { gracefulStop } from './graceful-stop.js';
import { tryLogin } from '../system/net.js';
import { openPeerConsole } from './peer-console.js';
import { startPgbouncerDaemon } from '../system/pgbouncer-service.js';
import { BRIDGE_PREFIX, bridgeIni } from '../facts/handover-bridges.js';
import { isAlive, pgbouncerError, pgbouncerFromPidfile, pgbouncerProcess, pidFromFile, stopPid } from '../system/pgbouncer-process.js';

export interface HandoverDeps {
  system: System;
  account: OsAccount;
  /** The app user's password for the login checks (never logged); without it the console answers instead. */
  password?: string;
  progress: (line: string) => void;
  /** Puts the previous files back: called when a final process fails after its old one stopped. */
  restoreFiles?: () => Promise<void>;
  drainMs?: number;
  serverWaitMs?: number;
  /** How long a new process may take to accept a login. */
  startMs?: number;
}

/** Raised when the handover failed; `oldUntouched`: every old process still serves, unchanged. */
export class HandoverError extends RuntimeError {
  constructor(message: string, readonly oldUntouched: boolean, readonly filesRestored = false) {
    super(message);
  }
}

interface Running {
  label: string;
  pid: number;
  socketDir: string;
  unit?: string;
  dir?: string;
}

export interface HandoverReport {
  steps: string[];
}

export async function handover(spec: HandoverSpec, deps: HandoverDeps): Promise<HandoverReport> {
  const { system } = deps;
  const steps: string[] = [];
  const t0 = Date.now();
  const say = (line: string) => {
    steps.push(line);
    deps.progress(`  ${line} (at ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  };
  const drainMs = deps.drainMs ?? 5000;
  const serverWaitMs = deps.serverWaitMs ?? 30_000;
  const stopOpts = { drainMs, serverWaitMs };
  const started: Running[] = [];
  const bridges = new Map<HandoverProcess, Running>();

  // 1. Everything new starts beside the old processes and must accept a login.
  try {
    for (const next of spec.next) {
      const inPlace = spec.old.some((o) => o.pidfile === next.pidfile || (o.socketDir !== '' && o.socketDir === next.socketDir));
      if (inPlace) {
        const bridge = await startBridge(spec, next, deps);
        started.push(bridge);
        bridges.set(next, bridge);
        await acceptsLogin(spec, bridge, deps);
        say(`bridge pgbouncer (pid ${bridge.pid}${bridge.unit ? `, unit ${bridge.unit}` : ''}) on the new config serves port ${spec.port} beside the old process`);
      } else {
        const fin = await startFinal(spec, next, deps);
        started.push(fin);
        await acceptsLogin(spec, fin, deps);
        say(`${fin.label} (pid ${fin.pid}) on the new config serves port ${spec.port}`);
      }
    }
  } catch (e) {
    for (const r of started.reverse()) {
      await stopStarted(spec, r, deps, { drainMs: 0, serverWaitMs: 5000 }).catch(() => {});
      // A unit of the new layout (pgbouncer@N) was enabled when it started: not any more.
      if (r.unit && !r.dir) await system.exec('systemctl', ['disable', r.unit]);
    }
    if (spec.manager === 'systemd') await system.exec('systemctl', ['daemon-reload']);
    throw new HandoverError(`handover stopped, the running pgbouncer was not touched: ${(e as Error).message}`, true);
  }

  // 2. The old processes leave gracefully; a process replaced in place comes back on its real files.
  for (const old of spec.old) {
    const stop = await gracefulStop({ system, pid: old.pid, version: spec.version, socketDir: old.socketDir, port: spec.port, account: deps.account, ...stopOpts });
    say(`old pgbouncer pid ${old.pid} stopped: ${stop.how}, ${stop.ms} ms`);
    if (spec.manager === 'systemd' && old.unit) await waitInactive(system, old.unit);
    const next = spec.next.find((n) => bridges.has(n) && (n.pidfile === old.pidfile || (old.socketDir !== '' && old.socketDir === n.socketDir)));
    if (!next) {
      if (spec.manager === 'systemd' && old.unit && !spec.next.some((n) => n.unit === old.unit)) await system.exec('systemctl', ['disable', old.unit]);
      continue;
    }
    try {
      const fin = await startFinal(spec, next, deps);
      await acceptsLogin(spec, fin, deps);
      say(`${fin.label} (pid ${fin.pid}) on the new config serves port ${spec.port}`);
    } catch (e) {
      // The bridge still serves; the previous files go back and the final process starts on them.
      const why = (e as Error).message;
      let back = 'the previous files could not be put back';
      if (deps.restoreFiles) {
        await deps.restoreFiles();
        try {
          const fin = await startFinal(spec, next, deps);
          await acceptsLogin(spec, fin, deps);
          back = `pgbouncer pid ${fin.pid} serves on the previous files`;
        } catch (e2) {
          back = `pgbouncer did not come back on the previous files either: ${(e2 as Error).message}`;
        }
      }
      for (const b of bridges.values()) await stopStarted(spec, b, deps, stopOpts).catch(() => {});
      throw new HandoverError(`the new config did not start in place of the old process: ${why}; ${back}`, false, deps.restoreFiles !== undefined);
    }
  }

  // 3. The bridges leave gracefully, their clients go to the final processes.
  for (const b of bridges.values()) {
    const stop = await stopStarted(spec, b, deps, stopOpts);
    say(`bridge pid ${b.pid} stopped: ${stop}`);
  }
  if (spec.manager === 'systemd') {
    for (const unit of spec.enable) await system.exec('systemctl', ['enable', unit]);
    for (const unit of spec.disable) await system.exec('systemctl', ['disable', unit]);
  }
  say('handover done');
  return { steps };
}

async function startBridge(spec: HandoverSpec, next: HandoverProcess, deps: HandoverDeps): Promise<Running> {
  const { system, account } = deps;
  const dir = await system.mkdtemp(BRIDGE_PREFIX);
  await system.setPermissions(dir, 0o700, account.uid, account.gid);
  const text = (await system.readFile(next.iniPath)) ?? '';
  if (!text) throw new RuntimeError(`${next.iniPath} is empty or missing`);
  const ini = join(dir, 'pgbouncer.ini');
  const pidfile = join(dir, 'pgbouncer.pid');
  await system.writeFile(ini, overrideIniSettings(text, { pidfile, unix_socket_dir: dir, so_reuseport: '1' }), { mode: 0o600, uid: account.uid, gid: account.gid });
  const running: Running = { label: 'bridge pgbouncer', pid: 0, socketDir: dir, dir };
  if (spec.manager === 'systemd') {
    const unit = `pgbouncer-handover-${process.pid}-${Date.now().toString(36)}`;
    const r = await system.exec('systemd-run', [
      `--unit=${unit}`, '--collect', `--uid=${account.uid}`, `--gid=${account.gid}`,
      '--description=pgb-setup handover bridge: serves the pgbouncer port while the main unit restarts',
      '-p', 'KillSignal=SIGINT', ...(spec.nofile ? ['-p', `LimitNOFILE=${spec.nofile}`] : []),
      spec.binary, ini,
    ]);
    if (r.exitCode !== 0) {
      await system.remove(dir, { recursive: true });
      throw new RuntimeError(`systemd-run could not start the bridge: ${(r.stderr.trim() || r.stdout.trim()).split('\n').slice(-1)[0]}`);
    }
    running.unit = unit;
  } else {
    const r = await startPgbouncerDaemon(system, spec.binary, ini, process.getuid?.() === 0 ? account.name : undefined);
    if (r.exitCode !== 0) {
      await system.remove(dir, { recursive: true });
      throw new RuntimeError(`the bridge pgbouncer refused the new config: ${pgbouncerError(r.stderr) ?? r.stderr.trim().split('\n').slice(-1)[0] ?? `exit ${r.exitCode}`}`);
    }
  }
  running.pid = await waitPid(system, pidfile, deps.startMs ?? 10_000, running.unit);
  return running;
}

async function startFinal(spec: HandoverSpec, next: HandoverProcess, deps: HandoverDeps): Promise<Running> {
  const { system, account } = deps;
  const label = next.unit ? `pgbouncer (unit ${next.unit})` : `pgbouncer ${next.iniPath}`;
  if (spec.manager === 'systemd' && next.unit) {
    const r = await systemctlStart(system, 'start', next.unit);
    if (r.exitCode !== 0) throw new RuntimeError(`systemctl start ${next.unit} failed: ${(r.stderr.trim() || r.stdout.trim()).split('\n').slice(-1)[0]}`);
    await system.exec('systemctl', ['enable', next.unit]);
  } else {
    const r = await startPgbouncerDaemon(system, spec.binary, next.iniPath, process.getuid?.() === 0 ? account.name : undefined);
    if (r.exitCode !== 0) throw new RuntimeError(`pgbouncer refused ${next.iniPath}: ${pgbouncerError(r.stderr) ?? r.stderr.trim().split('\n').slice(-1)[0] ?? `exit ${r.exitCode}`}`);
  }
  const pid = await waitPid(system, next.pidfile, deps.startMs ?? 10_000, next.unit);
  return { label, pid, socketDir: next.socketDir, ...(next.unit ? { unit: next.unit } : {}) };
}

async function waitPid(system: System, pidfile: string, ms: number, unit?: string): Promise<number> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const pid = await pidFromFile(system, pidfile);
    if (pid !== undefined && (await pgbouncerFromPidfile(system, pidfile)).ok) return pid;
    if (unit) {
      const r = await system.exec('systemctl', ['show', '-p', 'ActiveState', '--value', unit]);
      if (/^(failed|inactive)$/m.test(r.stdout.trim())) throw new RuntimeError(`${unit} did not stay up (${r.stdout.trim()})${await journalTail(system, unit)}`);
    }
    await sleep(50);
  }
  throw new RuntimeError(`no pgbouncer wrote ${pidfile} within ${ms} ms${unit ? await journalTail(system, unit) : ''}`);
}

async function journalTail(system: System, unit: string): Promise<string> {
  const r = await system.exec('journalctl', ['-u', unit, '-n', '20', '--no-pager', '-o', 'cat']);
  const line = pgbouncerError(r.stdout);
  return line ? ` (pgbouncer: ${line})` : '';
}

/** The process answers a real login through its own socket (or its console, without the password). */
export async function acceptsLogin(spec: Pick<HandoverSpec, 'port' | 'login'>, r: Pick<Running, 'label' | 'pid' | 'socketDir'>, deps: Pick<HandoverDeps, 'system' | 'account' | 'password' | 'startMs'>): Promise<void> {
  const deadline = Date.now() + (deps.startMs ?? 10_000);
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (!(await isAlive(deps.system, r.pid))) throw new RuntimeError(`${r.label} (pid ${r.pid}) exited`);
    // Without a unix socket there is no way to reach this very process (the shared TCP port lands
    // on any of them): alive and past its pidfile is all that can be checked.
    if (!r.socketDir) return;
    if (spec.login && deps.password) {
      const error = await tryLogin({ host: r.socketDir, port: spec.port, user: spec.login.user, password: deps.password, database: spec.login.database });
      if (!error) return;
      last = error;
      if (/password|authentication|no such user|not allowed|does not exist/i.test(error)) break;
    } else {
      const c = await openPeerConsole(r.socketDir, spec.port, deps.account, 2000).catch((e: Error) => {
        last = e.message;
        return undefined;
      });
      if (c) {
        await c.query('SHOW VERSION').finally(() => c.close());
        return;
      }
    }
    await sleep(100);
  }
  throw new RuntimeError(`${r.label} (pid ${r.pid}) did not accept a login${spec.login && deps.password ? ` as ${spec.login.user}` : ''}: ${last}`);
}

/**
 * Stops a bridge left by an interrupted run (src/facts/handover-bridges.ts) the way step 4 stops
 * one: gracefully, then its unit and folder go. A PID that no longer is that bridge's pgbouncer is
 * not signalled; a unit without a process is only stopped.
 */
export async function stopStaleBridge(
  bridge: { dir: string; pid?: number; unit?: string },
  on: Pick<HandoverSpec, 'version' | 'port'>,
  deps: Pick<HandoverDeps, 'system' | 'account' | 'drainMs' | 'serverWaitMs'>,
): Promise<string> {
  const { system } = deps;
  const ours = bridge.pid !== undefined && bridge.dir !== '' && (await pgbouncerProcess(system, bridge.pid, bridgeIni(bridge.dir))).ok;
  if (!ours) {
    if (bridge.unit) await system.exec('systemctl', ['stop', bridge.unit]);
    if (bridge.dir) await system.remove(bridge.dir, { recursive: true });
    return bridge.pid !== undefined ? 'already gone' : bridge.unit ? 'unit stopped' : 'folder removed';
  }
  const r: Running = { label: 'bridge pgbouncer', pid: bridge.pid!, socketDir: bridge.dir, dir: bridge.dir, ...(bridge.unit ? { unit: bridge.unit } : {}) };
  return stopStarted(on, r, deps, { drainMs: deps.drainMs ?? 5000, serverWaitMs: deps.serverWaitMs ?? 30_000 });
}

async function stopStarted(spec: Pick<HandoverSpec, 'version' | 'port'>, r: Running, deps: Pick<HandoverDeps, 'system' | 'account'>, opts: { drainMs: number; serverWaitMs: number }): Promise<string> {
  const { system } = deps;
  try {
    if (await isAlive(system, r.pid)) {
      const stop = opts.drainMs === 0 && opts.serverWaitMs <= 5000
        ? (await stopPid(system, r.pid, opts.serverWaitMs), { how: 'SIGINT', ms: 0 })
        : await gracefulStop({ system, pid: r.pid, version: spec.version, socketDir: r.socketDir, port: spec.port, account: deps.account, ...opts });
      if (r.unit) await waitInactive(system, r.unit);
      return `${stop.how}, ${stop.ms} ms`;
    }
    return 'already gone';
  } finally {
    if (r.unit && r.dir) await system.exec('systemctl', ['stop', r.unit]);
    if (r.dir) await system.remove(r.dir, { recursive: true });
  }
}

async function waitInactive(system: System, unit: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const r = await system.exec('systemctl', ['show', '-p', 'ActiveState', '--value', unit]);
    if (r.exitCode !== 0 || /^(inactive|failed)$/.test(r.stdout.trim())) return;
    await sleep(50);
  }
}
