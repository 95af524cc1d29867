/** The checklist as text: one line per check, the fix under each failure. */
import { printable } from '../../text/printable.js';
import type { Check, CheckStatus } from './types.js';

const MARK: Record<CheckStatus, string> = { pass: 'PASS', fail: 'FAIL', skip: 'SKIP', note: 'NOTE' };

export function formatChecklist(checks: readonly Check[], header: string): string {
  const width = Math.max(...checks.map((c) => c.title.length));
  const lines = [header, ''];
  for (const c of checks) {
    // Details quote what was found (file lines, SHOW CONFIG values, database names): the shared sanitiser.
    lines.push(`${MARK[c.status]}  ${c.title.padEnd(width)}  ${printable(c.detail)}`);
    if (c.fix && (c.status === 'fail' || c.status === 'note')) lines.push(`${' '.repeat(6 + width)}  fix: ${printable(c.fix)}`);
  }
  const count = (s: CheckStatus) => checks.filter((c) => c.status === s).length;
  lines.push('', `${checks.length} checks: ${count('pass')} passed, ${count('fail')} failed, ${count('skip')} skipped, ${count('note')} notes`);
  return `${lines.join('\n')}\n`;
}
