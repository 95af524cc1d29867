/**
 * Limits on what the admin console may send, checked on the raw bytes before node-postgres
 * buffers them: pg's parser keeps a whole message in memory before it looks at it, and keeps every
 * row of a result, so a console announcing a 2 GB DataRow or sending 100,000 pools would make us
 * allocate whatever it asks for. The guard reads only the 5-byte message headers (type + length)
 * as the bytes pass, and ends the connection the moment a message, a result or the session goes
 * past its cap; the caller reports the reason instead of a generic "connection terminated".
 */

export interface ConsoleLimits {
  /** Rows in one answer. A pgbouncer with this many pools is far beyond anything pgb-setup sets up. */
  maxRows: number;
  /** Bytes in one protocol message (one row of SHOW POOLS is well under 1 KB). */
  maxMessageBytes: number;
  /** Bytes the console may send in one session. */
  maxSessionBytes: number;
}

export const CONSOLE_LIMITS: ConsoleLimits = {
  maxRows: 10_000,
  maxMessageBytes: 1024 * 1024,
  maxSessionBytes: 32 * 1024 * 1024,
};

/** Feeds on the server's bytes; returns why the session must end, or undefined while within limits. */
export function consoleGuard(limits: ConsoleLimits = CONSOLE_LIMITS): (chunk: Buffer) => string | undefined {
  let total = 0;
  let rows = 0;
  /** Bytes of the current message body still to skip. */
  let skip = 0;
  /** A message header split across chunks. */
  let header = Buffer.alloc(0);
  const mb = (n: number) => `${Math.round((n / 1024 / 1024) * 10) / 10} MB`;
  return (chunk) => {
    total += chunk.length;
    if (total > limits.maxSessionBytes) return `the console sent more than ${mb(limits.maxSessionBytes)} in one session (cap)`;
    let pos = 0;
    while (pos < chunk.length) {
      if (skip > 0) {
        const n = Math.min(skip, chunk.length - pos);
        skip -= n;
        pos += n;
        continue;
      }
      const need = 5 - header.length;
      header = Buffer.concat([header, chunk.subarray(pos, pos + need)]);
      pos += Math.min(need, chunk.length - pos);
      if (header.length < 5) break;
      const type = String.fromCharCode(header[0]!);
      const length = header.readInt32BE(1);
      header = Buffer.alloc(0);
      if (length < 4) return `the console sent a malformed message (length ${length})`;
      if (length - 4 > limits.maxMessageBytes) return `the console announced a ${type === 'D' ? 'row' : 'message'} of ${mb(length - 4)}, over the ${mb(limits.maxMessageBytes)} cap`;
      skip = length - 4;
      if (type === 'T' || type === 'Z') rows = 0;
      else if (type === 'D' && ++rows > limits.maxRows) return `the console sent more than ${limits.maxRows.toLocaleString('en-US')} rows in one answer (cap)`;
    }
    return undefined;
  };
}
