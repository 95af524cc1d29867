import { join, posix, resolve } from 'node:path';
import type { Context } from '../system/context.js';
import { InputError, RuntimeError } from '../text/errors.js';
import { listBackups, MAX_BACKUP_FILE_BYTES, sha256, untrustedFolder, type Backup } from '../apply/backups.js';
import { acquireLock } from '../system/host-lock.js';
import { stopPid } from '../system/pgbouncer-process.js';
import { managedFiles, type ManagedFile } from '../plan/managed-files.js';
import { detectServiceUser, resolveDistro, type ServiceUser } from '../facts/distro/index.js';
import type { DistroSpec } from '../facts/distro/types.js';
import { findRunning, iniPathSetting, pidfileOf } from '../facts/host-facts.js';
import { readOsRelease } from '../facts/os-release.js';
import { BACKUP_ROOT, restartKeysBetween } from '../plan/build-plan.js';
import { systemAt } from '../system/node-system.js';
import type { System } from '../system/system.js';
import { systemctlStart } from '../system/systemctl.js';
import { reloadPgbouncer, startPgbouncerDaemon } from '../system/pgbouncer-service.js';
import { formatTable } from '../text/output.js';

interface RollbackOptions {
  list?: boolean;
  root?: string;
  json?: boolean;
}

export interface Restore {
  file: ManagedFile;
  /** The bytes to put back; undefined: the run created the file, so it is removed. */
  bytes: Buffer | undefined;
  /** What is there now, to put back if a later restore fails. */
  now: { bytes: Buffer; mode: number; uid: number; gid: number } | undefined;
}

/** The distro and service user, resolved once per rollback (live: the host's units and accounts count). */
interface RollbackHost {
  distro: DistroSpec;
  serviceUser: ServiceUser;
}

async function resolveHost(system: System, live: boolean): Promise<RollbackHost> {
  const distro = resolveDistro(await readOsRelease(system));
  return { distro, serviceUser: await detectServiceUser(system, distro, { live }) };
}

function state(b: Backup): string {
  return b.problem ? `unusable: ${b.problem}` : b.restored ? 'restored' : 'available';
}

/** `pgb-setup rollback [--list]`: put the newest backup's files back and reload pgbouncer. */
export async function runRollback(opts: RollbackOptions, ctx: Context): Promise<number> {
  const root = opts.root ? resolve(ctx.cwd, opts.root) : undefined;
  if (root && !(await ctx.system.stat(root))?.isDirectory) throw new InputError(`--root ${opts.root}: no such folder`, '--root');
  const system = systemAt(ctx.system, root);
  const where = posix.join(root ?? '/', BACKUP_ROOT);
  const untrusted = await untrustedFolder(system, BACKUP_ROOT);
  if (untrusted !== undefined && untrusted !== 'missing') {
    throw new RuntimeError(`refusing the backups in ${where}: ${untrusted}; another user could have written what root would restore. Fix the folder (chown root:root, chmod 0700) after checking its content`);
  }
  const backups = untrusted === 'missing' ? [] : await listBackups(system, { onlyNewestAvailable: !opts.list });
  if (opts.list) {
    if (opts.json) ctx.stdout.write(`${JSON.stringify(backups.map((b) => ({ stamp: b.stamp, dir: b.dir, restored: b.restored, ...(b.problem ? { problem: b.problem } : {}), files: b.manifest?.files.map((f) => f.path) ?? [] })), null, 2)}\n`);
    else if (backups.length === 0) ctx.stdout.write('no backups yet\n');
    else ctx.stdout.write(formatTable([['backup', 'state', 'files'], ...backups.map((b) => [b.stamp, state(b), b.manifest?.files.map((f) => f.path).join(', ') ?? '-'])]));
    return 0;
  }
  const newest = backups.find((b) => !b.restored);
  if (!newest) throw new RuntimeError(`no backup to restore in ${where}; run "pgb-setup rollback --list"`);
  if (newest.problem || !newest.manifest) {
    throw new RuntimeError(`the newest backup ${newest.stamp} cannot be used: ${newest.problem ?? 'no manifest'}; nothing restored. Look at ${posix.join(root ?? '/', newest.dir)}; to roll back to an older backup, move this one out of ${where} first`);
  }
  const untrustedDir = await untrustedFolder(system, newest.dir);
  if (untrustedDir !== undefined) throw new RuntimeError(`refusing backup ${newest.stamp}: ${untrustedDir === 'missing' ? 'its folder is gone' : untrustedDir}; nothing restored`);

  const release = await acquireLock(root ? join(root, '.pgb-setup.lock') : ctx.hostLockPath, (l) => ctx.stderr.write(`! ${l}\n`));
  try {
    const host = await resolveHost(system, root === undefined);
    const restores = await loadRestores(system, newest, host);
    await restoreAll(system, restores, newest.stamp, ctx);
    await system.rename(newest.dir, `${newest.dir}.restored`);
    if (!root) await matchService(system, restores, ctx, host);
    return 0;
  } finally {
    await release();
  }
}

/**
 * Everything the backup would restore, read and checked before anything is written: every entry
 * names a managed file, every backed-up copy is there, a regular file, and has the bytes the
 * manifest recorded. One problem and nothing is restored.
 */
async function loadRestores(system: System, backup: Backup, { distro, serviceUser }: RollbackHost): Promise<Restore[]> {
  const refuse = (why: string) => new RuntimeError(`backup ${backup.stamp} ${why}; nothing restored`);
  const copies = new Map<string, Buffer>();
  for (const f of backup.manifest!.files) {
    if (f.name === undefined) continue;
    let got;
    try {
      got = await system.readManaged(posix.join(backup.dir, f.name), MAX_BACKUP_FILE_BYTES);
    } catch (e) {
      throw refuse(`has an unusable copy of ${f.path}: ${(e as Error).message}`);
    }
    if (!got) throw refuse(`lacks ${f.name} (the copy of ${f.path})`);
    if ((f.sha256 !== undefined && sha256(got.bytes) !== f.sha256) || (f.size !== undefined && got.bytes.length !== f.size)) {
      throw refuse(`has a copy of ${f.path} that is not what was backed up (its checksum differs)`);
    }
    copies.set(f.path, got.bytes);
  }
  // auth_file of the configs being restored (and of the current one) is managed too.
  const authFiles: string[] = [];
  const distroIni = copies.get(distro.iniPath) ?? (await system.readManaged(distro.iniPath).catch(() => undefined))?.bytes;
  for (const bytes of [...copies.values(), distroIni]) {
    const auth = bytes ? iniPathSetting(bytes.toString('utf8'), 'auth_file') : undefined;
    if (auth) authFiles.push(auth);
  }
  const managed = managedFiles(distro, serviceUser, authFiles);
  const restores: Restore[] = [];
  for (const f of backup.manifest!.files) {
    const file = managed.get(f.path);
    if (!file) throw refuse(`names ${JSON.stringify(f.path)}, which is not a file pgb-setup manages`);
    if (restores.some((r) => r.file.path === f.path)) throw refuse(`names ${f.path} twice`);
    let now;
    try {
      now = await system.readManaged(f.path, MAX_BACKUP_FILE_BYTES);
    } catch (e) {
      throw refuse(`cannot be restored over what is there now: ${(e as Error).message}`);
    }
    restores.push({ file, bytes: copies.get(f.path), now: now ? { bytes: now.bytes, mode: now.stat.mode, uid: now.stat.uid, gid: now.stat.gid } : undefined });
  }
  return restores;
}

/** All or nothing: a failed write puts back what was already restored, and says so. */
async function restoreAll(system: System, restores: Restore[], stamp: string, ctx: Context): Promise<void> {
  const done: Restore[] = [];
  for (const r of restores) {
    try {
      if (r.bytes === undefined) await system.remove(r.file.path);
      else await system.writeFile(r.file.path, r.bytes, { mode: r.file.mode, ...(r.file.uid !== undefined ? { uid: r.file.uid } : {}), ...(r.file.gid !== undefined ? { gid: r.file.gid } : {}) });
      done.push(r);
    } catch (e) {
      const undone: string[] = [];
      const stuck: string[] = [];
      for (const d of done.reverse()) {
        try {
          if (d.now) await system.writeFile(d.file.path, d.now.bytes, { mode: d.now.mode, uid: d.now.uid, gid: d.now.gid });
          else await system.remove(d.file.path);
          undone.push(d.file.path);
        } catch {
          stuck.push(d.file.path);
        }
      }
      const after = stuck.length > 0 ? `; could NOT put back ${stuck.join(', ')} (they hold the backup's content now)` : done.length > 0 ? `; ${undone.join(', ')} put back as they were` : '';
      throw new RuntimeError(`rollback to ${stamp} failed at ${r.file.path}: ${(e as Error).message}${after}; nothing else was changed and the backup stays available`);
    }
  }
  for (const r of restores) ctx.stderr.write(r.bytes === undefined ? `✓ removed ${r.file.path} (the run had created it)\n` : `✓ restored ${r.file.path} from ${stamp} (${r.file.mode.toString(8).padStart(4, '0')})\n`);
}

/**
 * Brings pgbouncer onto the restored files: a reload, or a restart when a restored systemd file or a
 * setting a reload cannot apply (listen_port, unix_socket_dir, ...) differs from what was running.
 */
export async function matchService(system: System, restores: Restore[], ctx: Context, resolved?: RollbackHost): Promise<void> {
  const iniRestore = restores.find((r) => r.file.role === 'ini' && r.bytes);
  const ini = iniRestore?.bytes?.toString('utf8');
  const replaced = iniRestore?.now?.bytes.toString('utf8');
  const systemd = await system.exists('/run/systemd/system');
  const unitsChanged = restores.some((r) => r.file.role === 'unit');
  if (systemd && unitsChanged) {
    const r = await system.exec('systemctl', ['daemon-reload']);
    if (r.exitCode !== 0) throw new RuntimeError(`restored the files but systemctl daemon-reload failed: ${r.stderr.trim()}`);
  }
  const distro = resolved?.distro ?? resolveDistro(await readOsRelease(system));
  const currentIni = replaced ?? (await system.readManaged(distro.iniPath).catch(() => undefined))?.bytes.toString('utf8');
  // The running pgbouncer wrote the pidfile named by the config it was started with.
  const running = await findRunning(system, pidfileOf(currentIni) ?? pidfileOf(ini));
  if (!running) {
    ctx.stderr.write('pgbouncer is not running: start it with "pgb-setup <environment>" or your service manager\n');
    return;
  }
  const restartKeys = ini !== undefined && replaced !== undefined ? restartKeysBetween(replaced, ini) : [];
  const why = unitsChanged ? 'its systemd files changed' : `a reload cannot apply ${restartKeys.join(', ')}`;
  if (!unitsChanged && restartKeys.length === 0) {
    const r = await reloadPgbouncer(system, systemd ? { unit: distro.serviceName } : { pid: running.pid });
    if (r.exitCode !== 0) throw new RuntimeError(`restored the files but the reload failed: ${r.stderr.trim()}`);
    ctx.stderr.write(`✓ reloaded pgbouncer (PID ${running.pid})\n`);
    return;
  }
  if (systemd) {
    const r = await systemctlStart(system, 'restart', distro.serviceName);
    if (r.exitCode !== 0) throw new RuntimeError(`restored the files but the restart failed: ${r.stderr.trim()}`);
  } else {
    await stopPid(system, running.pid, 30_000);
    const r = await startPgbouncerDaemon(system, distro.pgbouncerBinary, iniRestore?.file.path ?? distro.iniPath, resolved?.serviceUser.user ?? (await detectServiceUser(system, distro)).user);
    if (r.exitCode !== 0) throw new RuntimeError(`restored the files but pgbouncer did not start on them: ${(r.stderr.trim() || r.stdout.trim()).split('\n')[0]}`);
  }
  ctx.stderr.write(`✓ restarted pgbouncer (${why})\n`);
}
