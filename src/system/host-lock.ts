import { randomBytes } from 'node:crypto';
import { constants, readFileSync, readlinkSync } from 'node:fs';
import { link, lstat, open, readFile, rm, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RuntimeError } from '../text/errors.js';

/**
 * One apply at a time per root: an exclusive lock file holding our PID. A lock left by a process
 * that no longer runs (killed half-way) is taken over.
 *
 * - The lock appears with its PID already in it (written to a private file, then link()ed into
 *   place, which fails if the lock exists), so nobody ever sees an empty lock and takes it for stale.
 * - A stale lock is removed only under a second exclusive file, `<lock>.takeover`, and only if it
 *   still holds the dead PID that was read: two runs racing for a stale lock cannot both win.
 *   A `.takeover` file whose PID is dead (a run killed inside those few instructions) is removed.
 * - The lock also records the holder's start time and the boot it ran in, so a PID reused by another
 *   program after a crash is recognised: the lock is then stale, and we say what holds the PID now.
 *   A lock without them (older pgb-setup, or written by hand) counts as held while its PID is a
 *   Node.js process or names pgb-setup; any other live process cannot be a pgb-setup run, so the
 *   lock is taken over and the note says what that process is (refusing would block every apply
 *   on a reused PID until someone removes the file by hand).
 * - A symlink where the lock belongs (dangling or not) is removed, never followed; a folder, FIFO,
 *   socket or device is refused with the reason, never opened (a FIFO would hang the read).
 */
export async function acquireLock(path: string, note: (line: string) => void = () => {}): Promise<() => Promise<void>> {
  for (let attempt = 0; attempt < 50; attempt++) {
    if (await createHolding(path)) {
      return async () => {
        const h = await holderOf(path);
        if (typeof h === 'object' && h.pid === process.pid) await rm(path, { force: true });
      };
    }
    const holder = await holderOf(path);
    if (holder === 'gone') continue;
    if (holder === 'directory' || holder === 'FIFO' || holder === 'socket' || holder === 'device') {
      const [what, remove] = holder === 'directory' ? ['a folder', 'rmdir'] : [`a ${holder}`, 'rm'];
      throw new RuntimeError(`could not take the lock ${path}: it is ${what}, not a file; remove it (${remove} ${path}) if no pgb-setup is running`);
    }
    const verdict = typeof holder === 'object' ? judge(holder) : undefined;
    if (verdict?.held) {
      throw new RuntimeError(`another pgb-setup (PID ${verdict.pid}) is applying to this host${verdict.what ? ` (${verdict.what})` : ''}; wait for it to finish (lock ${path})`);
    }
    // Stale: its holder is dead or not pgb-setup, it holds no PID, or it is a symlink.
    const guard = `${path}.takeover`;
    if (await createHolding(guard)) {
      try {
        if (sameHolder(await holderOf(path), holder)) {
          await rm(path, { force: true });
          const why = typeof holder === 'string' ? `it was ${holder === 'empty' ? 'empty' : `a ${holder}, not a regular file`}` : verdict?.why;
          if (why) note(`took over the lock ${path}: ${why}`);
        }
      } finally {
        await rm(guard, { force: true });
      }
    } else {
      const taker = await holderOf(guard);
      if (typeof taker === 'object' && !judge(taker).held) await rm(guard, { force: true });
      else await sleep(10);
    }
  }
  throw new RuntimeError(`could not take the lock ${path}: other runs kept taking it; try again`);
}

interface LockRecord {
  pid: number;
  /** /proc/<pid>/stat starttime (clock ticks since boot) and the boot id, when the writer recorded them. */
  start?: string;
  boot?: string;
}

type Holder = LockRecord | 'gone' | 'empty' | 'symlink' | 'FIFO' | 'socket' | 'device' | 'directory';

/** Creates `path` holding our PID (and start time), atomically; false when it exists. */
async function createHolding(path: string): Promise<boolean> {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  const me = await selfRecord();
  await writeFile(temp, `${me.pid}\n${me.start ? `start=${me.start} boot=${me.boot ?? ''}\n` : ''}`, { mode: 0o600, flag: 'wx' });
  try {
    await link(temp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    await rm(temp, { force: true });
  }
}

let self: Promise<LockRecord> | undefined;
function selfRecord(): Promise<LockRecord> {
  self ??= (async () => {
    const [start, boot] = await Promise.all([startTimeOf(process.pid), readFile('/proc/sys/kernel/random/boot_id', 'utf8').then((s) => s.trim(), () => undefined)]);
    return { pid: process.pid, ...(start ? { start } : {}), ...(boot ? { boot } : {}) };
  })();
  return self;
}

/** What the lock file holds, read without following a symlink or opening a FIFO. */
async function holderOf(path: string): Promise<Holder> {
  let st;
  try {
    st = await lstat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw e;
  }
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'FIFO';
  if (st.isSocket()) return 'socket';
  if (st.isDirectory()) return 'directory';
  if (!st.isFile()) return 'device';
  let text: string;
  try {
    const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      if (!(await fh.stat()).isFile()) return 'device';
      const buf = Buffer.alloc(256);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      text = buf.subarray(0, bytesRead).toString('latin1');
    } finally {
      await fh.close();
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'gone';
    if (code === 'ELOOP') return 'symlink';
    throw e;
  }
  const [first = '', second = ''] = text.split('\n');
  const pid = Number(first.trim());
  if (!Number.isInteger(pid) || pid <= 0) return 'empty';
  const start = /(?:^|\s)start=(\d+)/.exec(second)?.[1];
  const boot = /(?:^|\s)boot=([0-9a-f-]+)/.exec(second)?.[1];
  return { pid, ...(start ? { start } : {}), ...(boot ? { boot } : {}) };
}

function sameHolder(a: Holder, b: Holder): boolean {
  return typeof a === 'object' && typeof b === 'object' ? a.pid === b.pid && a.start === b.start : a === b;
}

interface Verdict {
  pid: number;
  held: boolean;
  /** The holder, for the refusal: its command line. */
  what?: string;
  /** Why the lock is stale, for the takeover note. */
  why?: string;
}

/** Whether the lock's holder is a pgb-setup run that is still going. Synchronous /proc reads: a few small files. */
function judge(h: LockRecord): Verdict {
  const proc = readProc(h.pid);
  if (!proc) return { pid: h.pid, held: false, why: `its holder, PID ${h.pid}, is no longer running` };
  // Alive but hidden (/proc mounted hidepid=, another user's process): it may be a run; never take its lock.
  if (!proc.visible) return { pid: h.pid, held: true, what: `a process of another user; /proc/${h.pid} cannot be read` };
  const what = proc.cmdline ? clip(proc.cmdline) : proc.comm;
  if (h.start && proc.start) {
    const sameBoot = !h.boot || !proc.boot || h.boot === proc.boot;
    if (sameBoot && h.start === proc.start) return { pid: h.pid, held: true, what };
    return { pid: h.pid, held: false, why: `its holder, PID ${h.pid}, is gone; that PID now belongs to another process ("${proc.name}": ${what})` };
  }
  if (looksLikePgbSetup(proc)) return { pid: h.pid, held: true, what };
  return { pid: h.pid, held: false, why: `PID ${h.pid} in it is "${proc.name}" (${what}), not pgb-setup` };
}

interface ProcInfo {
  /** /proc/<pid>/stat could be read. */
  visible: boolean;
  name: string;
  comm?: string;
  cmdline?: string;
  exe?: string;
  start?: string;
  boot?: string;
}

function readProc(pid: number): ProcInfo | undefined {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
  }
  const stat = readSync(`/proc/${pid}/stat`);
  const fields = stat ? stat.slice(stat.lastIndexOf(')') + 2).split(' ') : undefined;
  if (fields?.[0] === 'Z' || fields?.[0] === 'X') return undefined;
  const comm = readSync(`/proc/${pid}/comm`)?.trim();
  const cmdline = readSync(`/proc/${pid}/cmdline`)?.replace(/\0+$/, '').replaceAll('\0', ' ');
  const exe = readlinkSyncSafe(`/proc/${pid}/exe`);
  const start = fields?.[19];
  const boot = readSync('/proc/sys/kernel/random/boot_id')?.trim();
  return { visible: stat !== undefined, name: exe ? basename(exe.replace(/ \(deleted\)$/, '')) : comm ?? 'unknown', ...(comm ? { comm } : {}), ...(cmdline ? { cmdline } : {}), ...(exe ? { exe } : {}), ...(start ? { start } : {}), ...(boot ? { boot } : {}) };
}

/** A pgb-setup run: the Node.js binary (any name starting with node) or a command line naming pgb-setup. */
function looksLikePgbSetup(p: ProcInfo): boolean {
  return /^node/.test(p.name) || p.comm === 'node' || /pgb-setup/.test(p.cmdline ?? '');
}

async function startTimeOf(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

function clip(s: string): string {
  const clean = s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  return clean.length > 160 ? `${clean.slice(0, 160)}...` : clean;
}

function readSync(path: string): string | undefined {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return undefined;
  }
}

function readlinkSyncSafe(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}
