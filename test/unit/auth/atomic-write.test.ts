import { chmod, chown, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RuntimeError } from '../../../src/text/errors.js';
import { writeFileAtomic } from '../../../src/system/atomic-write.js';

const isRoot = process.getuid?.() === 0;
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pgb-atomic-'));
});

afterEach(async () => {
  await chmod(dir, 0o700).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

describe('writeFileAtomic', () => {
  it('creates a file with the content and exactly the requested mode, whatever the umask', async () => {
    const old = process.umask(0o077);
    try {
      for (const mode of [0o600, 0o640, 0o644, 0o755, 0o400]) {
        const path = join(dir, `f-${mode.toString(8)}`);
        await writeFileAtomic(path, `mode ${mode}\n`, { mode });
        expect(await readFile(path, 'utf8')).toBe(`mode ${mode}\n`);
        expect((await stat(path)).mode & 0o7777).toBe(mode);
      }
    } finally {
      process.umask(old);
    }
    expect((await readdir(dir)).sort()).toEqual(['f-400', 'f-600', 'f-640', 'f-644', 'f-755']);
  });

  it('replaces an existing file and applies the new mode; leaves no temp file', async () => {
    const path = join(dir, 'userlist.txt');
    await writeFile(path, 'old content that is longer than the new one\n', { mode: 0o644 });
    await writeFileAtomic(path, '"a" "b"\n', { mode: 0o640 });
    expect(await readFile(path, 'utf8')).toBe('"a" "b"\n');
    expect((await stat(path)).mode & 0o7777).toBe(0o640);
    expect(await readdir(dir)).toEqual(['userlist.txt']);
  });

  it('writes bytes exactly', async () => {
    const path = join(dir, 'bin');
    const data = Uint8Array.from([0, 255, 10, 13, 0xef, 0xbb, 0xbf]);
    await writeFileAtomic(path, data, { mode: 0o600 });
    expect(new Uint8Array(await readFile(path))).toEqual(data);
  });

  it.skipIf(!isRoot)('sets the requested owner (root)', async () => {
    const path = join(dir, 'owned');
    await writeFileAtomic(path, 'x', { mode: 0o640, uid: 4242, gid: 4343 });
    const s = await stat(path);
    expect([s.uid, s.gid, s.mode & 0o7777]).toEqual([4242, 4343, 0o640]);
  });

  it.skipIf(!isRoot)('keeps the existing owner when uid/gid are not given (root)', async () => {
    const path = join(dir, 'existing');
    await writeFile(path, 'old');
    await chown(path, 4242, 4343);
    await writeFileAtomic(path, 'new', { mode: 0o640 });
    let s = await stat(path);
    expect([s.uid, s.gid]).toEqual([4242, 4343]);
    // Only uid given: gid still comes from the existing file.
    await writeFileAtomic(path, 'newer', { mode: 0o600, uid: 5555 });
    s = await stat(path);
    expect([s.uid, s.gid, s.mode & 0o7777]).toEqual([5555, 4343, 0o600]);
  });

  it('gives a new file the process owner when uid/gid are not given', async () => {
    const path = join(dir, 'new');
    await writeFileAtomic(path, 'x', { mode: 0o600 });
    const s = await stat(path);
    expect(s.uid).toBe(process.getuid!());
  });

  it('leaves the target untouched and removes the temp file when the rename fails (target is a directory)', async () => {
    const path = join(dir, 'target');
    await mkdir(path);
    await writeFile(join(path, 'inside'), 'keep me');
    const err = await rejection(writeFileAtomic(path, 'new', { mode: 0o640 }));
    expect(err).toBeInstanceOf(RuntimeError);
    expect(err.message).toMatch(new RegExp(`^could not write ${path}: `));
    expect(err.message).not.toContain('\n');
    expect((err as Error & { cause?: NodeJS.ErrnoException }).cause?.code).toMatch(/^(EISDIR|ENOTEMPTY|EEXIST)$/);
    expect((await stat(path)).isDirectory()).toBe(true);
    expect(await readFile(join(path, 'inside'), 'utf8')).toBe('keep me');
    expect(await readdir(dir)).toEqual(['target']);
  });

  it.skipIf(isRoot)('leaves the target untouched when the directory is read-only (non-root)', async () => {
    const path = join(dir, 'userlist.txt');
    await writeFile(path, 'old');
    await chmod(dir, 0o500);
    const err = await rejection(writeFileAtomic(path, 'new', { mode: 0o640 }));
    expect(err).toBeInstanceOf(RuntimeError);
    await chmod(dir, 0o700);
    expect(await readFile(path, 'utf8')).toBe('old');
    expect(await readdir(dir)).toEqual(['userlist.txt']);
  });

  it('fails cleanly when the directory does not exist', async () => {
    const err = await rejection(writeFileAtomic(join(dir, 'missing', 'f'), 'x', { mode: 0o600 }));
    expect(err).toBeInstanceOf(RuntimeError);
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses to write through or over a symbolic link', async () => {
    const real = join(dir, 'real');
    const link = join(dir, 'link');
    await writeFile(real, 'real content');
    await symlink(real, link);
    const err = await rejection(writeFileAtomic(link, 'new', { mode: 0o600 }));
    expect(err).toBeInstanceOf(RuntimeError);
    expect(err.message).toMatch(/symbolic link/);
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(await readlink(link)).toBe(real);
    expect(await readFile(real, 'utf8')).toBe('real content');
    expect((await readdir(dir)).sort()).toEqual(['link', 'real']);
  });

  it('rejects an invalid mode before touching anything', async () => {
    await expect(writeFileAtomic(join(dir, 'f'), 'x', { mode: 0o10000 })).rejects.toThrow(RangeError);
    await expect(writeFileAtomic(join(dir, 'f'), 'x', { mode: -1 })).rejects.toThrow(RangeError);
    expect(await readdir(dir)).toEqual([]);
  });

  it('concurrent writers: the file ends up as exactly one of the writes, with no temp files left', async () => {
    const path = join(dir, 'race');
    const contents = Array.from({ length: 20 }, (_, i) => `writer ${i} `.repeat(500));
    await Promise.all(contents.map((c) => writeFileAtomic(path, c, { mode: 0o640 })));
    expect(contents).toContain(await readFile(path, 'utf8'));
    expect(await readdir(dir)).toEqual(['race']);
  });
});
