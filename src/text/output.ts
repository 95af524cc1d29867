import { printable } from './printable.js';

/** Where warnings go: the context's stderr, or anything else with write(). */
export function printWarnings(warnings: readonly string[], ctx: { stderr: { write(text: string): void } }): void {
  for (const w of new Set(warnings)) ctx.stderr.write(`warning: ${printable(w)}\n`);
}

/**
 * Left-aligned columns separated by two spaces; no truncation (gh's rule for piped output). Cells
 * may come from outside (database names from the admin console): each goes through printable().
 */
export function formatTable(rawRows: readonly (readonly string[])[]): string {
  const rows = rawRows.map((row) => row.map((cell) => printable(cell)));
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}
