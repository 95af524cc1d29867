import { createTwoFilesPatch } from 'diff';

const ENTRY = /^(\s*"((?:[^"]|"")*)"\s+)"((?:[^"]|"")*)"(.*)$/;

/**
 * userlist.txt with every secret replaced by a mask, so a diff of it can be printed. A secret that
 * differs from `previous` (same user) is masked differently, so the diff still shows that it changes.
 */
function maskUserlist(text: string, previous?: string): string {
  const before = new Map<string, string>();
  for (const line of (previous ?? '').split('\n')) {
    const m = ENTRY.exec(line);
    if (m) before.set(m[2]!, m[3]!);
  }
  return text
    .split('\n')
    .map((line) =>
      line.replace(ENTRY, (_m, head: string, user: string, secret: string, tail: string) => {
        const changed = previous !== undefined && before.get(user) !== secret;
        return `${head}"${changed ? '******** (new secret)' : '********'}"${tail}`;
      }),
    )
    .join('\n');
}

/** Past this many lines on either side, the plan gives line counts instead of a diff (a diff is not linear). */
const MAX_DIFF_INPUT_LINES = 20_000;

function lineCount(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n + (text.length > 0 && !text.endsWith('\n') ? 1 : 0);
}

export function unifiedDiff(path: string, before: string | undefined, after: string, secret: boolean): string {
  const old = before ?? '';
  const [a0, b0] = [lineCount(old), lineCount(after)];
  if (a0 > MAX_DIFF_INPUT_LINES || b0 > MAX_DIFF_INPUT_LINES) {
    return `--- ${before === undefined ? '/dev/null' : path}\n+++ ${path}\n(${a0} lines before, ${b0} after: too large to diff here)`;
  }
  const a = secret ? maskUserlist(old) : old;
  const b = secret ? maskUserlist(after, before) : after;
  const patch = createTwoFilesPatch(before === undefined ? '/dev/null' : path, path, a, b, '', '', { context: 2 });
  // Drop the "Index:"/"===" preamble; keep ---/+++ and hunks.
  return patch
    .split('\n')
    .filter((l) => !l.startsWith('Index:') && !/^=+$/.test(l))
    .join('\n')
    .trimEnd();
}
