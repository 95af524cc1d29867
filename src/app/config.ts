import type { Context } from '../system/context.js';
import { explainConfig } from '../profile/resolve.js';
import { loadConfig, type ProfileOptions } from './load-config.js';
import { formatTable, printWarnings } from '../text/output.js';

interface ConfigOptions extends ProfileOptions {
  explain?: boolean;
  json?: boolean;
}

/** `pgb-setup config <environment> [--explain] [--json]`: every final value and where it came from. */
export async function runConfig(environment: string, opts: ConfigOptions, ctx: Context): Promise<number> {
  const config = await loadConfig(environment, opts, ctx);
  printWarnings(config.warnings, ctx);
  const rows = explainConfig(config);
  if (opts.json) {
    ctx.stdout.write(`${JSON.stringify({ environment, target: config.target, values: rows, warnings: config.warnings }, null, 2)}\n`);
    return 0;
  }
  ctx.stdout.write(`# environment ${environment}, pgbouncer ${config.target.version} (${config.target.source})\n`);
  const table = opts.explain ? rows.map((r) => [r.path, r.value, r.source]) : rows.map((r) => [r.path, r.value]);
  ctx.stdout.write(formatTable(opts.explain ? [['setting', 'value', 'from'], ...table] : table));
  return 0;
}
