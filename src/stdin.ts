import type { Readable } from 'node:stream';
import { InputError } from './errors.js';

/** A password line is short; reading stops here rather than filling memory from an endless pipe. */
const MAX_LINE_BYTES = 64 * 1024;

/**
 * The first line of a stream, without its line ending; for --password-stdin. Bytes are collected
 * and decoded once, strictly: invalid UTF-8 is refused (naming the option, never echoing it)
 * rather than turned into U+FFFD, and a character split across chunks stays whole.
 */
export async function readFirstLine(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    const nl = b.indexOf(0x0a);
    chunks.push(nl >= 0 ? b.subarray(0, nl) : b);
    length += nl >= 0 ? nl : b.length;
    if (nl >= 0) break;
    if (length > MAX_LINE_BYTES) throw new InputError(`--password-stdin: the first line is longer than ${MAX_LINE_BYTES / 1024} KiB; pipe only the password`, '--password-stdin');
  }
  let bytes = Buffer.concat(chunks);
  if (bytes.length > MAX_LINE_BYTES) throw new InputError(`--password-stdin: the first line is longer than ${MAX_LINE_BYTES / 1024} KiB; pipe only the password`, '--password-stdin');
  if (bytes.at(-1) === 0x0d) bytes = bytes.subarray(0, -1);
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new InputError('--password-stdin: the password is not valid UTF-8; PostgreSQL clients send UTF-8, so the secret would not match what is typed', '--password-stdin');
  }
}
