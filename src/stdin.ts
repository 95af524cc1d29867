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

/**
 * Successive lines of a stream, one per call (for --current-password-stdin followed by
 * --password-stdin): the first call returns the first line, the next the second; '' at the end.
 */
export function lineReader(stream: Readable): () => Promise<string> {
  const chunks = stream[Symbol.asyncIterator]();
  // Invalid UTF-8 is refused, not turned into U+FFFD (a password would silently change).
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const decode = (chunk: unknown, last = false): string => {
    try {
      return typeof chunk === 'string' ? chunk : decoder.decode(chunk as Uint8Array, { stream: !last });
    } catch {
      throw new InputError('standard input is not valid UTF-8; pipe the password as UTF-8 text', 'stdin');
    }
  };
  let buffer = '';
  let ended = false;
  return async () => {
    for (;;) {
      const nl = buffer.search(/\r?\n/);
      if (nl >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(buffer[nl] === '\r' ? nl + 2 : nl + 1);
        return line;
      }
      if (ended) {
        const rest = buffer;
        buffer = '';
        return rest;
      }
      const next = await chunks.next();
      if (next.done) {
        ended = true;
        buffer += decode(new Uint8Array(), true);
      } else buffer += decode(next.value);
    }
  };
}
