import type { Context } from '../system/context.js';
import { SETTINGS } from '../settings/catalogue.js';
import { formatTable } from '../text/output.js';

/** `pgb-setup settings`: every pgbouncer setting pgb-setup can emit, the first version that knows it, and reload vs restart. */
export function runSettings(ctx: Context): number {
  const rows = SETTINGS.map((d) => [d.key, d.type.kind, `${d.since}+`, d.reloadable ? 'reload' : 'restart']);
  ctx.stdout.write(formatTable([['setting', 'type', 'since', 'change needs'], ...rows]));
  return 0;
}
