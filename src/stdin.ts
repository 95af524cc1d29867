import type { Readable } from 'node:stream';
import { InputError } from './errors.js';

/** The first line of a stream, without its line ending; for --password-stdin. */
export async function readFirstLine(stream: Readable): Promise<string> {
  let buffer = '';
  for await (const chunk of stream) {
    buffer += String(chunk);
    const nl = buffer.search(/\r?\n/);
    if (nl >= 0) return buffer.slice(0, nl);
  }
  return buffer;
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
