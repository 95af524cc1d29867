/**
 * Reading files pgb-setup finds on disk without being led astray by them: a FIFO must not hang the
 * run, a directory or device must not crash it, a symbolic link must not make a managed file's read
 * (and so its diff or backup) show another file's bytes, and a huge file must not exhaust memory.
 *
 * The file is checked with lstat before it is opened, opened with O_NONBLOCK (a FIFO swapped in
 * between cannot block the open) and O_NOFOLLOW when links are refused, and checked again with
 * fstat on the open descriptor, so what is read is the regular file that was checked.
 */
import { constants, type Stats } from 'node:fs';
import { lstat, open, stat } from 'node:fs/promises';
import { RuntimeError } from '../text/errors.js';
import type { FileKind, FileStat } from './system.js';

interface SafeReadOptions {
  /** Refuse a symbolic link at the path itself (files pgb-setup manages), instead of following it. */
  noFollow: boolean;
  /** Refuse a file larger than this many bytes (before reading it). */
  maxBytes?: number;
  /** How the path is named in messages (under --root: the path inside the root). */
  display?: string;
}

export function fileKind(s: Stats): FileKind {
  if (s.isFile()) return 'file';
  if (s.isDirectory()) return 'directory';
  if (s.isSymbolicLink()) return 'symlink';
  if (s.isFIFO()) return 'fifo';
  if (s.isSocket()) return 'socket';
  if (s.isCharacterDevice()) return 'char-device';
  return 'block-device';
}

const KIND_TEXT: Record<FileKind, string> = {
  file: 'a regular file',
  directory: 'a directory',
  symlink: 'a symbolic link',
  fifo: 'a FIFO (named pipe)',
  socket: 'a socket',
  'char-device': 'a character device',
  'block-device': 'a block device',
};

export function describeKind(kind: FileKind): string {
  return KIND_TEXT[kind];
}

export function toFileStat(s: Stats, kind: FileKind = fileKind(s)): FileStat {
  return { mode: s.mode & 0o7777, uid: s.uid, gid: s.gid, size: s.size, mtimeMs: s.mtimeMs, isFile: kind === 'file', isDirectory: kind === 'directory', kind };
}

/** The one-line refusal for a path that is not a regular file. */
export function notRegularFile(display: string, kind: FileKind): RuntimeError {
  const why = kind === 'symlink'
    ? 'pgb-setup does not follow links for the files it manages (nothing was read through it); replace the link with a regular file'
    : 'pgb-setup reads only regular files there (nothing was opened); move it away';
  return new RuntimeError(`${display} is ${describeKind(kind)}, not a regular file: ${why}`);
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

export function formatBytes(n: number): string {
  return n >= 1024 * 1024 ? `${Math.round(n / 1024 / 1024)} MiB` : n >= 1024 ? `${Math.round(n / 1024)} KiB` : `${n} bytes`;
}

/**
 * The bytes of a regular file and its stat (from the open descriptor), or undefined when nothing is
 * at `path`. Anything else (FIFO, socket, device, directory, a link when `noFollow`, too large) is a
 * RuntimeError naming the path and what is there, raised before any byte is read.
 */
export async function readRegularFile(path: string, options: SafeReadOptions): Promise<{ bytes: Buffer; stat: FileStat } | undefined> {
  const display = options.display ?? path;
  let first: Stats;
  try {
    first = options.noFollow ? await lstat(path) : await stat(path);
  } catch (e) {
    if (errno(e) === 'ENOENT') return undefined;
    if (errno(e) === 'ENOTDIR') throw new RuntimeError(`${display}: a folder on its path is a file; move it away`);
    if (errno(e) === 'ELOOP') throw notRegularFile(display, 'symlink');
    throw new RuntimeError(`could not read ${display}: ${(e as Error).message}`);
  }
  const kind = fileKind(first);
  if (kind !== 'file') throw notRegularFile(display, kind);
  checkSize(display, first.size, options.maxBytes);
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | (options.noFollow ? constants.O_NOFOLLOW : 0));
  } catch (e) {
    if (errno(e) === 'ENOENT') return undefined;
    if (errno(e) === 'ELOOP') throw notRegularFile(display, 'symlink');
    throw new RuntimeError(`could not read ${display}: ${(e as Error).message}`);
  }
  try {
    const s = await handle.stat();
    const k = fileKind(s);
    if (k !== 'file') throw notRegularFile(display, k);
    checkSize(display, s.size, options.maxBytes);
    const bytes = await readAll(handle, display, options.maxBytes);
    return { bytes, stat: toFileStat(s, k) };
  } finally {
    await handle.close().catch(() => undefined);
  }
}

function checkSize(display: string, size: number, max: number | undefined): void {
  if (max !== undefined && size > max) {
    throw new RuntimeError(`${display} is ${formatBytes(size)}, more than the ${formatBytes(max)} pgb-setup reads there; move it away or trim it`);
  }
}

/** Reads to EOF (files in /proc report size 0), never more than `max` bytes. */
async function readAll(handle: import('node:fs/promises').FileHandle, display: string, max: number | undefined): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const buf = Buffer.allocUnsafe(64 * 1024);
    const { bytesRead } = await handle.read(buf, 0, buf.length, null);
    if (bytesRead === 0) break;
    total += bytesRead;
    if (max !== undefined && total > max) checkSize(display, total, max);
    chunks.push(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead));
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
}
