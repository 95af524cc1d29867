import { createTwoFilesPatch } from 'diff';

const ENTRY = /^(\s*"(?:[^"]|"")*"\s+)"(?:[^"]|"")*"(.*)$/;

/** userlist.txt with every secret replaced by a mask, so a diff of it can be printed. */
export function maskUserlist(text: string): string {
  return text
    .split('\n')
    .map((line) => line.replace(ENTRY, (_m, head: string, tail: string) => `${head}"********"${tail}`))
    .join('\n');
}

export function unifiedDiff(path: string, before: string | undefined, after: string, secret: boolean): string {
  const mask = secret ? maskUserlist : (s: string) => s;
  const patch = createTwoFilesPatch(before === undefined ? '/dev/null' : path, path, mask(before ?? ''), mask(after), '', '', { context: 2 });
  // Drop the "Index:"/"===" preamble; keep ---/+++ and hunks.
  return patch
    .split('\n')
    .filter((l) => !l.startsWith('Index:') && !/^=+$/.test(l))
    .join('\n')
    .trimEnd();
}
