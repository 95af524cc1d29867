/**
 * Who holds the apply lock, with real processes: a live PID in the lock counts as "another
 * pgb-setup" only when it is one (the very process that wrote the lock, by PID + start time; for a
 * lock without a start time, a Node.js process). A `sleep` under that PID, or a PID reused after the
 * writer died, makes the lock stale: it is taken over and the note says what the PID really is.
 * Symlinks (dangling too) where the lock belongs are removed, never followed; FIFOs and folders are refused.
 * Every process here is started by the test and stopped by its PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireLock } from '../../src/system/host-lock.js';
import { main } from '../../src/main.js';
import { captureContext } from '../helpers/context.js';
import { makeRoot } from '../helpers/trust.js';
import { isAlive, run, stopPid } from '../helpers/proc.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

let tmp: TempDir;
const children: ChildProcess[] = [];
let n = 0;

beforeAll(async () => {
  tmp = await makeTempDir('lock');
});
afterAll(async () => {
  for (const c of children) if (c.pid) await stopPid(c.pid, ['SIGKILL'], 2000);
  await tmp?.cleanup();
});

async function start(cmd: string, args: string[]): Promise<number> {
  const child = spawn(cmd, args, { stdio: 'ignore' });
  children.push(child);
  await new Promise((res, rej) => child.once('spawn', res).once('error', rej));
  return child.pid!;
}

const lockPath = () => join(tmp.path, `lock-${++n}`);
const startTime = (pid: number) => {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return s.slice(s.lastIndexOf(')') + 2).split(' ')[19]!;
};
const bootId = () => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

async function take(path: string): Promise<{ notes: string[]; release: () => Promise<void> }> {
  const notes: string[] = [];
  const release = await acquireLock(path, (l) => notes.push(l));
  expect(readFileSync(path, 'utf8').split('\n')[0]).toBe(String(process.pid));
  return { notes, release };
}

describe('the holder of a lock is identified', () => {
  it('a live sleep under the PID of a lock without start time: taken over, the note says it is sleep; sleep is left alone', async () => {
    const pid = await start('sleep', ['300']);
    const path = lockPath();
    writeFileSync(path, `${pid}\n`, { mode: 0o600 });
    const { notes, release } = await take(path);
    expect(notes).toEqual([`took over the lock ${path}: PID ${pid} in it is "sleep" (sleep 300), not pgb-setup`]);
    expect(isAlive(pid)).toBe(true);
    await release();
    expect(existsSync(path)).toBe(false);
  });

  it('a PID reused after the writer died (start time differs): taken over, naming what holds the PID now', async () => {
    const pid = await start('sleep', ['301']);
    const path = lockPath();
    writeFileSync(path, `${pid}\nstart=1 boot=${bootId()}\n`, { mode: 0o600 });
    const { notes, release } = await take(path);
    expect(notes).toEqual([`took over the lock ${path}: its holder, PID ${pid}, is gone; that PID now belongs to another process ("sleep": sleep 301)`]);
    await release();
  });

  it('the process that wrote the lock (PID and start time match) holds it, whatever its name', async () => {
    const pid = await start('sleep', ['302']);
    const path = lockPath();
    writeFileSync(path, `${pid}\nstart=${startTime(pid)} boot=${bootId()}\n`, { mode: 0o600 });
    await expect(acquireLock(path)).rejects.toThrow(`another pgb-setup (PID ${pid}) is applying to this host (sleep 302); wait for it to finish (lock ${path})`);
    expect(readFileSync(path, 'utf8')).toContain(`${pid}\n`);
  });

  it('a lock without start time held by a live Node.js process is respected', async () => {
    const pid = await start(process.execPath, ['-e', 'setTimeout(() => {}, 300000)']);
    const path = lockPath();
    writeFileSync(path, `${pid}\n`, { mode: 0o600 });
    await expect(acquireLock(path)).rejects.toThrow(new RegExp(`another pgb-setup \\(PID ${pid}\\) is applying to this host \\(\\S*node -e`));
  });

  it('a dead holder: taken over, and said so', async () => {
    const dead = await run(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    const path = lockPath();
    writeFileSync(path, `${dead.stdout}\n`, { mode: 0o600 });
    const { notes, release } = await take(path);
    expect(notes).toEqual([`took over the lock ${path}: its holder, PID ${dead.stdout}, is no longer running`]);
    await release();
  });
});

describe('what sits where the lock belongs', () => {
  it('a dangling symlink is removed and the lock taken (it used to fail with no reason)', async () => {
    const path = lockPath();
    symlinkSync(join(tmp.path, 'nowhere'), path);
    const { notes, release } = await take(path);
    expect(notes).toEqual([`took over the lock ${path}: it was a symlink, not a regular file`]);
    expect(lstatSync(path).isFile()).toBe(true);
    expect(existsSync(join(tmp.path, 'nowhere'))).toBe(false);
    await release();
  });

  it('a symlink to a file outside: the link is removed, the target untouched', async () => {
    const target = join(tmp.path, 'precious');
    writeFileSync(target, 'keep me\n');
    const path = lockPath();
    symlinkSync(target, path);
    const { release } = await take(path);
    expect(readFileSync(target, 'utf8')).toBe('keep me\n');
    await release();
  });

  it('a FIFO is refused with the reason, never opened (no hang)', async () => {
    const path = lockPath();
    await run('mkfifo', [path]);
    await expect(acquireLock(path)).rejects.toThrow(`could not take the lock ${path}: it is a FIFO, not a file; remove it (rm ${path}) if no pgb-setup is running`);
  });

  it('a folder is refused with the reason', async () => {
    const path = lockPath();
    mkdirSync(path);
    await expect(acquireLock(path)).rejects.toThrow(`could not take the lock ${path}: it is a folder, not a file; remove it (rmdir ${path}) if no pgb-setup is running`);
  });
});

describe('apply --root with a lock naming a sleep', () => {
  it('runs, and tells the user what the lock held', async () => {
    const root = makeRoot('pgb-lock-root-');
    try {
      const pid = await start('sleep', ['303']);
      writeFileSync(join(root, '.pgb-setup.lock'), `${pid}\n`, { mode: 0o600 });
      const ctx = captureContext({ env: { DBNAME: 'appdb', DBUSER: 'app_user', DBHOST: '10.0.0.20', DBPASS: 'lock-test-Pass-1' } });
      const code = await main(['node', 'pgb-setup', 'production', '--root', root, '--yes'], ctx);
      expect(code, ctx.err()).toBe(0);
      expect(ctx.err()).toContain(`took over the lock ${join(root, '.pgb-setup.lock')}: PID ${pid} in it is "sleep" (sleep 303), not pgb-setup`);
      expect(ctx.err()).not.toContain('another pgb-setup');
      expect(existsSync(join(root, '.pgb-setup.lock'))).toBe(false);
      expect(isAlive(pid)).toBe(true);
    } finally {
      await run('rm', ['-rf', root]);
    }
  });
});
