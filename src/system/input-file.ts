import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { InputError } from '../text/errors.js';
import { describeKind, fileKind, formatBytes } from './safe-read.js';

/**
 * Reading a file the user named (--profile, --env-file): only a regular file, at most `maxBytes`,
 * valid UTF-8. A FIFO, a device or a directory is refused from its stat, before it is opened
 * (opening a FIFO blocks; reading /dev/zero never ends); the open is non-blocking and checked
 * again on the descriptor, so a file swapped in between is refused the same way. Errors name the
 * file and a line, never a byte of it: the file may be a symlink to /etc/shadow.
 */
const PROFILE_MAX_BYTES = 1024 * 1024;

function errnoText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ENOTDIR') return 'a part of the path is not a folder';
  if (code === 'ELOOP') return 'too many levels of symbolic links';
  if (code === 'ENAMETOOLONG') return 'the path is too long';
  return code ?? 'cannot read it';
}

function checkStat(s: Stats, label: string, maxBytes: number): void {
  if (!s.isFile()) throw new InputError(`${label}: is ${describeKind(fileKind(s))}, not a regular file; give a file`, label);
  if (s.size > maxBytes) throw new InputError(`${label}: is ${s.size} bytes, more than the ${formatBytes(maxBytes)} this file may have`, label);
}

/** The first line that is not valid UTF-8 (1-based), or undefined. */
function firstNonUtf8Line(bytes: Buffer): number | undefined {
  if (isUtf8(bytes)) return undefined;
  let start = 0;
  let line = 1;
  for (;;) {
    const nl = bytes.indexOf(0x0a, start);
    const end = nl < 0 ? bytes.length : nl;
    if (!isUtf8(bytes.subarray(start, end))) return line;
    if (nl < 0) return line;
    start = nl + 1;
    line++;
  }
}

export function readInputFile(path: string, label: string, maxBytes = PROFILE_MAX_BYTES): string {
  const bytes = readInputBytes(path, label, maxBytes);
  const bad = firstNonUtf8Line(bytes);
  if (bad !== undefined) throw new InputError(`${label}: line ${bad} is not valid UTF-8; save the file as UTF-8`, label);
  const text = bytes.toString('utf8');
  return text.startsWith('\ufeff') ? text.slice(1) : text;
}

/** The bytes of a regular file of at most maxBytes, checked before and after opening (no FIFO, device or folder is read). */
export function readInputBytes(path: string, label: string, maxBytes = PROFILE_MAX_BYTES): Buffer {
  let fd: number;
  try {
    checkStat(statSync(path), label, maxBytes);
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(`${label}: cannot read it (${errnoText(e)})`, label);
  }
  let bytes: Buffer;
  try {
    checkStat(fstatSync(fd), label, maxBytes);
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (;;) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
      if (length > maxBytes) throw new InputError(`${label}: is more than the ${formatBytes(maxBytes)} this file may have`, label);
    }
    bytes = buffer.subarray(0, length);
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(`${label}: cannot read it (${errnoText(e)})`, label);
  } finally {
    closeSync(fd);
  }
  return bytes;
}
