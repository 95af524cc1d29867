import type { Readable } from 'node:stream';
import { InputError } from '../text/errors.js';

/** A password line is short; reading stops here rather than filling memory from an endless pipe. */
const MAX_LINE_BYTES = 64 * 1024;

const tooLong = () =>
  new InputError(`--password-stdin: a line is longer than ${MAX_LINE_BYTES / 1024} KiB; pipe only the password`, '--password-stdin');

/**
 * Successive lines of a stream without their line endings, one per call (--current-password-stdin
 * reads the first, --password-stdin the next); '' at the end. Bytes are decoded strictly: invalid
 * UTF-8 is refused (naming the option, never echoing it) rather than turned into U+FFFD, which
 * would silently change the password; a character split across chunks stays whole.
 */
export function lineReader(stream: Readable): () => Promise<string> {
  const chunks = stream[Symbol.asyncIterator]();
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  const decode = (chunk: unknown, last = false): string => {
    try {
      return typeof chunk === 'string' ? chunk : decoder.decode(chunk as Uint8Array, { stream: !last });
    } catch {
      throw new InputError('--password-stdin: the password is not valid UTF-8; PostgreSQL clients send UTF-8, so the secret would not match what is typed', '--password-stdin');
    }
  };
  let buffer = '';
  let ended = false;
  return async () => {
    for (;;) {
      const nl = buffer.search(/\r?\n/);
      if (nl >= 0) {
        if (Buffer.byteLength(buffer.slice(0, nl)) > MAX_LINE_BYTES) throw tooLong();
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(buffer[nl] === '\r' ? nl + 2 : nl + 1);
        return line;
      }
      if (Buffer.byteLength(buffer) > MAX_LINE_BYTES) throw tooLong();
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
