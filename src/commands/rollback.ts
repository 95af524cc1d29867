import { rename } from 'node:fs/promises';
import { join, posix, resolve } from 'node:path';
import type { Context } from '../context.js';
import { InputError, RuntimeError } from '../errors.js';
import { listBackups } from '../apply/backups.js';
import { acquireLock } from '../apply/lock.js';
import { findRunning, pidfileOf } from '../facts/host-facts.js';
import { createNodeSystem } from '../system/node-system.js';
import { formatTable } from './output.js';

export interface RollbackOptions {
  list?: boolean;
  root?: string;
  json?: boolean;
}

/** `pgb-setup rollback [--list]`: put the newest backup's files back and reload pgbouncer. */
export async function runRollback(opts: RollbackOptions, ctx: Context): Promise<number> {
  const root = opts.root ? resolve(ctx.cwd, opts.root) : undefined;
  if (root && !(await ctx.system.stat(root))?.isDirectory) throw new InputError(`--root ${opts.root}: no such folder`, '--root');
  const system = root ? createNodeSystem({ root }) : ctx.system;
  const backups = await listBackups(system, root);
  if (opts.list) {
    if (opts.json) ctx.stdout.write(`${JSON.stringify(backups.map((b) => ({ stamp: b.stamp, dir: b.dir, restored: b.restored, files: b.manifest?.files.map((f) => f.path) ?? [] })), null, 2)}\n`);
    else if (backups.length === 0) ctx.stdout.write('no backups yet\n');
    else ctx.stdout.write(formatTable([['backup', 'state', 'files'], ...backups.map((b) => [b.stamp, b.restored ? 'restored' : 'available', b.manifest?.files.map((f) => f.path).join(', ') ?? '(no manifest)'])]));
    return 0;
  }
  const backup = backups.find((b) => !b.restored && b.manifest);
  if (!backup?.manifest) throw new RuntimeError(`no backup to restore in ${posix.join(root ?? '', '/var/backups/pgb-setup')}; run "pgb-setup rollback --list"`);
  const release = await acquireLock(root ? join(root, '.pgb-setup.lock') : '/run/pgb-setup.lock', (l) => ctx.stderr.write(`! ${l}\n`));
  try {
    let iniText: string | undefined;
    let iniPath: string | undefined;
    for (const f of backup.manifest.files) {
      const content = await system.readFile(posix.join(backup.dir, f.name));
      if (content === undefined) throw new RuntimeError(`backup ${backup.stamp} lacks ${f.name}; nothing restored`);
      await system.writeFile(f.path, content, { mode: f.mode, uid: f.uid, gid: f.gid });
      if (f.name.endsWith('.ini')) [iniText, iniPath] = [content, f.path];
      ctx.stderr.write(`✓ restored ${f.path} from ${backup.stamp}\n`);
    }
    await rename(join(root ?? '/', backup.dir), join(root ?? '/', `${backup.dir}.restored`));
    if (!root) {
      const running = await findRunning(system, pidfileOf(iniText), iniPath);
      if (running) {
        const r = (await system.exists('/run/systemd/system'))
          ? await system.exec('systemctl', ['reload', 'pgbouncer'])
          : await system.exec('kill', ['-HUP', String(running.pid)]);
        if (r.exitCode !== 0) throw new RuntimeError(`restored the files but the reload failed: ${r.stderr.trim()}`);
        ctx.stderr.write(`✓ reloaded pgbouncer (PID ${running.pid})\n`);
      } else {
        ctx.stderr.write('pgbouncer is not running: start it with "pgb-setup <environment>" or your service manager\n');
      }
    }
    return 0;
  } finally {
    await release();
  }
}
