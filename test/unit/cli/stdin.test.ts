import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { lineReader } from '../../../src/system/stdin.js';

const readFirstLine = (stream: Readable) => lineReader(stream)();

describe('lineReader (--password-stdin)', () => {
  it('keeps a character split across chunks whole', async () => {
    const bytes = Buffer.from('pä\r\nrest');
    const split = Readable.from([bytes.subarray(0, 2), bytes.subarray(2)]);
    expect(await readFirstLine(split)).toBe('pä');
  });

  it.each([[[0x78, 0xff, 0xfe]], [[0x63, 0x61, 0x66, 0xe9, 0x0a]], [[0xed, 0xa0, 0x80]]])('refuses invalid UTF-8 %j without echoing it', async (bytes) => {
    await expect(readFirstLine(Readable.from([Buffer.from(bytes)]))).rejects.toThrow(/^--password-stdin: the password is not valid UTF-8/);
  });

  it('stops at 64 KiB without a line break', async () => {
    async function* endless() {
      for (;;) yield Buffer.alloc(8192, 0x61);
    }
    await expect(readFirstLine(Readable.from(endless()))).rejects.toThrow(/--password-stdin: a line is longer than 64 KiB/);
  });
});
