import { posix } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RuntimeError } from '../text/errors.js';
import { iniPathSetting, pidfileOf, type HostFacts } from '../facts/host-facts.js';
import type { System } from '../system/system.js';
import { systemctlStart } from '../system/systemctl.js';
import type { FileStep, Plan, PlanCommand, ServiceStep, StaleBridgeStep, Step } from '../plan/types.js';
import { checkCandidate, requiresClientTls } from './candidate-check.js';
import { handover, HandoverError } from './handover.js';
import { bridgesLeftRunning, cleanStaleBridges } from './stale-bridges.js';
import { MAX_BACKUP_FILE_BYTES, sha256, type BackupManifest, type ManifestFile } from './backups.js';
import { tryLogin, waitForListen } from '../system/net.js';
import { reloadPgbouncer, startPgbouncerDaemon } from '../system/pgbouncer-service.js';
import { pgbouncerError, pgbouncerFromPidfile, pgbouncerProcess, pidFromFile, stopPid } from '../system/pgbouncer-process.js';

type StepStatus = 'changed' | 'unchanged' | 'skipped' | 'failed' | 'rolled-back';

interface StepResult {
  kind: Step['kind'];
  target: string;
  status: StepStatus;
  detail?: string;
}

interface ApplyResult {
  changed: boolean;
  results: StepResult[];
}

interface ApplyDeps {
  system: System;
  facts: HostFacts;
  /** The app user's password, for the candidate and final logins (never logged). */
  password?: string;
  progress: (line: string) => void;
  /** Called as each step starts (a spinner on a terminal). */
  begin?: (label: string) => void;
  /** Handover: how long clients may stay on the old process (pgbouncer 1.23+). */
  drainMs?: number;
}

interface Undo {
  path: string;
  previous: { bytes: Buffer; mode: number; uid: number; gid: number } | undefined;
}

function describe(step: Step): string {
  switch (step.kind) {
    case 'package': return step.packages.join(' ');
    case 'backup': return step.dir;
    case 'directory':
    case 'file': return step.path;
    case 'candidate-check': return 'candidate config';
    case 'firewall': return `${step.tool} port ${step.port}`;
    case 'service': return `pgbouncer ${step.action}`;
    case 'verify': return `${step.host}:${step.port}`;
    case 'stale-bridges': return 'handover bridges of an interrupted run';
  }
}

async function run(system: System, c: PlanCommand): Promise<void> {
  const startsUnit = c.cmd === 'systemctl' && (c.args[0] === 'restart' || c.args[0] === 'start') && c.args.length === 2;
  const r = startsUnit ? await systemctlStart(system, c.args[0] as 'start' | 'restart', c.args[1]!, c.env) : await system.exec(c.cmd, c.args, { env: c.env });
  if (r.exitCode !== 0) {
    const tail = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-3).join(' | ');
    throw new RuntimeError(`${c.cmd} ${c.args.join(' ')} failed (exit ${r.exitCode}): ${tail}`);
  }
}

/**
 * Runs the plan's steps in order through the System. A failure after config files were written
 * puts the previous files back and brings pgbouncer back on them before the error is reported.
 */
export async function applyPlan(plan: Plan, deps: ApplyDeps): Promise<ApplyResult> {
  const { system, facts } = deps;
  const results: StepResult[] = [];
  const undo: Undo[] = [];
  /** This run's backup folder and the files in it, removed again when the run fails and is undone. */
  let backup: { dir: string; names: string[] } | undefined;
  let service: { step: ServiceStep; done: boolean } | undefined;
  const record = (step: Step, status: StepStatus, detail?: string) => {
    results.push({ kind: step.kind, target: describe(step), status, ...(detail ? { detail } : {}) });
    if (status !== 'unchanged' && status !== 'skipped') deps.progress(`${status === 'failed' ? '✗' : '✓'} ${step.kind} ${describe(step)}${detail ? `: ${detail}` : ''}`);
  };

  const configFiles = plan.steps.filter((s): s is FileStep => s.kind === 'file' && s.notify === 'reload');
  const ini = configFiles.find((f) => !f.secret);
  const userlist = configFiles.find((f) => f.secret);

  for (const step of plan.steps) {
    deps.begin?.(`${step.kind} ${describe(step)}`);
    try {
      switch (step.kind) {
        case 'package': {
          if (step.action === 'skip') { record(step, 'skipped', step.reason); break; }
          for (const c of step.commands) {
            if (c.cmd === 'write') continue;
            await run(system, c);
          }
          record(step, 'changed');
          break;
        }
        case 'directory': {
          if (step.action === 'unchanged') { record(step, 'unchanged'); break; }
          await system.mkdir(step.path, { mode: step.mode, ...(step.uid !== undefined ? { uid: step.uid } : {}), ...(step.gid !== undefined ? { gid: step.gid } : {}) });
          await system.setPermissions(step.path, step.mode, step.uid, step.gid);
          record(step, 'changed');
          break;
        }
        case 'backup': {
          // Filled under a name rollback never reads and renamed into place with its manifest: a run
          // killed half-way leaves no backup without a manifest (which would block rollback).
          const partial = partialBackupDir(step.dir);
          await removeAbandonedPartials(system, posix.dirname(step.dir));
          await system.mkdir(partial, { mode: 0o700 });
          backup = { dir: partial, names: [] };
          const manifest: BackupManifest = { version: 2, files: [] };
          const used = new Set<string>();
          for (const path of step.files) {
            // Byte copies, read without following a link (the plan already refused one).
            const got = await system.readManaged(path, MAX_BACKUP_FILE_BYTES);
            if (!got) continue;
            let name = posix.basename(path);
            for (let n = 2; used.has(name); n++) name = `${n}-${posix.basename(path)}`;
            used.add(name);
            // Backups are only ever readable by root (their folder is 0700) and never wider than the original.
            await system.writeFile(posix.join(partial, name), got.bytes, { mode: got.stat.mode & 0o600, uid: 0, gid: 0 });
            backup.names.push(name);
            manifest.files.push({ name, path, sha256: sha256(got.bytes), size: got.bytes.length });
          }
          for (const path of step.created ?? []) manifest.files.push({ path, created: true } as ManifestFile);
          await system.writeFile(posix.join(partial, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
          backup.names.push('manifest.json');
          await system.rename(partial, step.dir);
          backup.dir = step.dir;
          record(step, 'changed', step.files.map((f) => posix.basename(f)).join(', '));
          break;
        }
        case 'candidate-check': {
          if (!ini || !userlist || facts.serviceUser.uid === undefined || facts.serviceUser.gid === undefined) { record(step, 'skipped'); break; }
          await checkCandidate({
            system,
            binary: facts.pgbouncer.binary ?? facts.distro.pgbouncerBinary,
            ini: ini.content,
            userlist: userlist.bytes ?? userlist.content,
            user: facts.serviceUser.user,
            uid: facts.serviceUser.uid,
            gid: facts.serviceUser.gid,
            files: configFiles.filter((f) => f.setting !== undefined).map((f) => ({ setting: f.setting!, content: f.bytes ?? f.content })),
            ...(step.login && deps.password ? { login: { ...step.login, password: deps.password } } : {}),
          });
          record(step, 'changed', step.login && deps.password ? 'started and accepted a login' : 'started');
          break;
        }
        case 'file': {
          if (step.action === 'unchanged') { record(step, 'unchanged'); break; }
          // A permissions fix is not undone on failure: the narrower mode and right owner are kept.
          const previous = step.action === 'fix-permissions' ? undefined : await system.readManaged(step.path, MAX_BACKUP_FILE_BYTES);
          if (step.action === 'fix-permissions') await system.setPermissions(step.path, step.mode, step.uid, step.gid);
          else await system.writeFile(step.path, step.bytes ?? step.content, { mode: step.mode, ...(step.uid !== undefined ? { uid: step.uid } : {}), ...(step.gid !== undefined ? { gid: step.gid } : {}) });
          // Recorded once the write happened: a failed atomic write changed nothing to undo.
          if (step.action !== 'fix-permissions') undo.push({ path: step.path, previous: previous ? { bytes: previous.bytes, mode: previous.stat.mode, uid: previous.stat.uid, gid: previous.stat.gid } : undefined });
          record(step, 'changed', step.action);
          break;
        }
        case 'firewall': {
          if (step.commands.length === 0) { record(step, 'unchanged'); break; }
          for (const c of step.commands) await run(system, c);
          record(step, 'changed', `${step.commands.length} rule change(s)`);
          break;
        }
        case 'service': {
          service = { step, done: false };
          if (step.action === 'none') { record(step, 'unchanged'); break; }
          await runService(step, deps, ini, () => restoreFiles(undo, deps));
          service.done = true;
          record(step, 'changed');
          break;
        }
        case 'verify': {
          const up = await waitForListen(step.host, step.port, 10_000);
          if (!up) throw new RuntimeError(`pgbouncer is not listening on ${step.host}:${step.port}${await logHint(system, ini)}`);
          if (step.login && deps.password) {
            const error = await tryLogin({ host: step.host, port: step.port, user: step.login.user, password: deps.password, database: step.login.database, tls: requiresClientTls(ini?.content) });
            if (error) throw new RuntimeError(`a login as ${step.login.user} through pgbouncer failed: ${error}${await logHint(system, ini)}`);
          }
          record(step, 'changed', step.login && deps.password ? 'listening, login works' : 'listening');
          break;
        }
        case 'stale-bridges': {
          const { uid, gid, user } = facts.serviceUser;
          if (uid === undefined || gid === undefined) throw new RuntimeError(`the service user ${user} does not exist: the handover bridges are left as they are`);
          const done = await cleanStaleBridges(step, { system, account: { name: user, uid, gid }, ...(deps.password ? { password: deps.password } : {}), progress: deps.progress, ...(deps.drainMs !== undefined ? { drainMs: deps.drainMs } : {}) });
          record(step, 'changed', done.join('; '));
          break;
        }
      }
    } catch (e) {
      record(step, 'failed', (e as Error).message);
      const bridges = plan.steps.find((s): s is StaleBridgeStep => s.kind === 'stale-bridges');
      const left = bridges && bridges !== step ? bridgesLeftRunning(bridges.bridges) : undefined;
      if (left) deps.progress(`! ${left}`);
      // A failed handover left the running pgbouncer serving (or brought it back on the previous
      // files itself): the files go back, the service is not restarted on top of that.
      const restored = undo.length > 0 ? await rollBack(undo, e instanceof HandoverError ? undefined : service, deps) : true;
      if (backup) await dropBackup(system, backup, restored, deps);
      throw e;
    }
  }
  return { changed: results.some((r) => r.status === 'changed' && r.kind !== 'verify' && !(r.kind === 'candidate-check')), results };
}

async function logHint(system: System, ini: FileStep | undefined): Promise<string> {
  const logfile = iniPathSetting(ini?.content, 'logfile');
  if (!logfile) return '';
  const line = pgbouncerError((await system.readFile(logfile)) ?? '');
  return line ? ` (pgbouncer: ${line})` : '';
}

async function runService(step: ServiceStep, deps: ApplyDeps, ini: FileStep | undefined, restore: () => Promise<void>): Promise<void> {
  const { system } = deps;
  if (step.action === 'handover' && step.handover) {
    for (const c of step.commands) await run(system, c);
    const { uid, gid, user } = deps.facts.serviceUser;
    if (uid === undefined || gid === undefined) throw new RuntimeError(`the service user ${user} does not exist: no handover`);
    await handover(step.handover, { system, account: { name: user, uid, gid }, ...(deps.password ? { password: deps.password } : {}), progress: deps.progress, restoreFiles: restore, ...(deps.drainMs !== undefined ? { drainMs: deps.drainMs } : {}) });
    return;
  }
  for (const c of step.commands) {
    if (c.cmd === 'kill') {
      // The PID was read when planning; make sure it is still that pgbouncer before signalling it.
      const found = await pgbouncerProcess(system, Number(c.args[1]));
      if (!found.ok && !(found.gone && c.args[0] === '-INT')) throw new RuntimeError(`${found.reason}; not sending it ${c.args[0]!.slice(1)} (${c.why})`);
      if (c.args[0] === '-INT') {
        if (found.ok) await stopPid(system, found.pid, 30_000);
        continue;
      }
    }
    await run(system, c);
  }
  if (step.manager === 'systemd') return;
  // pgbouncer -d returns once it forked; the pidfile and the socket follow shortly.
  await sleep(step.action === 'reload' ? 200 : 0);
  for (const pidfile of step.pidfiles) {
    for (let i = 0; i < 50 && (await pidFromFile(system, pidfile)) === undefined; i++) await sleep(50);
    const found = await pgbouncerFromPidfile(system, pidfile);
    if (!found.ok) {
      throw new RuntimeError(`pgbouncer (${pidfile}) did not stay up after the ${step.action}${found.gone ? '' : ` (${found.reason})`}${await logHint(system, ini)}`);
    }
  }
}

const PARTIAL_PREFIX = '.partial-';

function partialBackupDir(dir: string): string {
  return posix.join(posix.dirname(dir), `${PARTIAL_PREFIX}${posix.basename(dir)}`);
}

/** Backup folders a killed run left half-filled (byte copies of secrets nobody will restore). */
async function removeAbandonedPartials(system: System, backupRoot: string): Promise<void> {
  for (const name of (await system.readdir(backupRoot)) ?? []) {
    if (!name.startsWith(PARTIAL_PREFIX)) continue;
    const at = posix.join(backupRoot, name);
    if ((await system.lstat(at))?.kind === 'directory') await system.remove(at, { recursive: true });
  }
}

/**
 * A failed run whose files were put back leaves no backup behind: it would hold the very files that
 * are in place again, and `rollback` would then "restore" them instead of the previous run's.
 */
async function dropBackup(system: System, backup: { dir: string; names: string[] }, restored: boolean, deps: ApplyDeps): Promise<void> {
  if (!restored) {
    deps.progress(`backup ${backup.dir} kept: not every file could be put back, it holds the files as they were before this run`);
    return;
  }
  try {
    for (const name of backup.names) await system.remove(posix.join(backup.dir, name));
    await system.remove(backup.dir, { directory: true });
    deps.progress(`↺ removed this run's backup ${backup.dir} (the files are as they were)`);
  } catch (e) {
    deps.progress(`backup ${backup.dir} left in place (${(e as Error).message}); it holds the files as they are now`);
  }
}

/** Puts the previous files back (a failed handover does so before it starts pgbouncer on them again). */
async function restoreFiles(undo: Undo[], deps: ApplyDeps): Promise<void> {
  for (const u of [...undo].reverse()) {
    if (u.previous) await deps.system.writeFile(u.path, u.previous.bytes, { mode: u.previous.mode, uid: u.previous.uid, gid: u.previous.gid });
    else await deps.system.remove(u.path);
  }
}

/** Puts the previous files back and brings the service back on them; false when a file could not be put back. */
async function rollBack(undo: Undo[], service: { step: ServiceStep; done: boolean } | undefined, deps: ApplyDeps): Promise<boolean> {
  const { system, facts } = deps;
  const failed: string[] = [];
  for (const u of [...undo].reverse()) {
    try {
      if (u.previous) await system.writeFile(u.path, u.previous.bytes, { mode: u.previous.mode, uid: u.previous.uid, gid: u.previous.gid });
      else await system.remove(u.path);
    } catch (e) {
      failed.push(`${u.path} (${(e as Error).message})`);
    }
  }
  deps.progress(failed.length === 0 ? `↺ restored ${undo.map((u) => u.path).join(', ')}` : `✗ could not restore ${failed.join(', ')}`);
  if (!service || service.step.action === 'none') return failed.length === 0;
  try {
    if (service.step.manager === 'systemd') {
      await system.exec('systemctl', [facts.running ? 'restart' : 'stop', facts.distro.serviceName]);
    }
    for (const pidfile of service.step.manager === 'daemon' ? service.step.pidfiles : []) {
      const ini = [...facts.iniFiles.values()].find((f) => pidfileOf(f.content) === pidfile);
      // Only a pgbouncer on this config is stopped or signalled; anything else under that PID is left alone.
      const found = await pgbouncerFromPidfile(system, pidfile, ini?.path);
      const before = facts.runningByPidfile.get(pidfile);
      if (before === undefined) {
        if (found.ok) await stopPid(system, found.pid, 5000);
      } else if (found.ok) {
        await reloadPgbouncer(system, { pid: found.pid });
      } else if (found.gone) {
        const binary = facts.pgbouncer.binary ?? facts.distro.pgbouncerBinary;
        if (ini) await startPgbouncerDaemon(system, binary, ini.path, facts.serviceUser.user);
      } else {
        deps.progress(`✗ ${found.reason}: left alone`);
      }
    }
    const single = facts.running;
    const singleNow = single && service.step.manager === 'daemon' && !service.step.pidfiles.includes(single.pidfile) ? await pgbouncerProcess(system, single.pid) : undefined;
    if (singleNow && !singleNow.ok && singleNow.gone) {
      await startPgbouncerDaemon(system, facts.pgbouncer.binary ?? facts.distro.pgbouncerBinary, facts.distro.iniPath, facts.serviceUser.user);
    }
    deps.progress(`↺ pgbouncer ${facts.running ? 'back on the previous config' : 'stopped again (it was not running before)'}`);
  } catch (e) {
    deps.progress(`✗ could not bring pgbouncer back: ${(e as Error).message}`);
  }
  return failed.length === 0;
}
