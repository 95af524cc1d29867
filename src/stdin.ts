import type { Readable } from 'node:stream';

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
