import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseProcesses, splitIntoProcesses } from '../render/processes.js';
import type { Context } from '../system/context.js';
import { InputErrors } from '../text/errors.js';
import { renderPgbouncerIni } from '../render/pgbouncer-ini.js';
import { renderUserlist, userlistEntries } from '../render/userlist.js';
import { loadConfig, missingConnectionValues, type ProfileOptions } from './load-config.js';
import { printWarnings } from '../text/output.js';
import { checkOutDir, checkTargets } from '../system/out-dir.js';

interface RenderOptions extends ProfileOptions {
  out: string;
  processes?: string;
  peers?: boolean;
}

/** `pgb-setup render <environment> --out DIR`: pgbouncer.ini (0640) and userlist.txt (0600) into DIR. */
export async function runRender(environment: string, opts: RenderOptions, ctx: Context): Promise<number> {
  const outDir = checkOutDir(opts.out, ctx.cwd);
  const config = await loadConfig(environment, opts, ctx);
  const missing = missingConnectionValues(config);
  if (missing.length > 0) {
    throw new InputErrors(missing.map((m) => `${m}: missing; set it in the environment or an --env-file`));
  }
  printWarnings(config.warnings, ctx);
  const userlistPath = join(outDir, 'userlist.txt');
  const processes = parseProcesses(opts.processes, availableParallelism());
  const inis =
    processes > 1
      ? splitIntoProcesses(config, processes, join(outDir, 'pgbouncer.ini'), { peers: opts.peers !== false }).map((p) => ({ path: p.iniPath, text: renderPgbouncerIni(p.config, p.group) }))
      : [{ path: join(outDir, 'pgbouncer.ini'), text: renderPgbouncerIni(config) }];
  checkTargets([...inis.map((i) => i.path), userlistPath]);
  const existing = await ctx.system.readFile(userlistPath);
  const userlist = renderUserlist(config, userlistEntries(config, existing));
  await ctx.system.mkdir(outDir, { mode: 0o750 });
  for (const ini of inis) await ctx.system.writeFile(ini.path, ini.text, { mode: 0o640 });
  await ctx.system.writeFile(userlistPath, userlist, { mode: 0o600 });
  ctx.stderr.write(`wrote ${inis.map((i) => i.path).join(', ')} (0640) and ${userlistPath} (0600) for pgbouncer ${config.target.version}\n`);
  return 0;
}
