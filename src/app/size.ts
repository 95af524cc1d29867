import type { Context } from '../system/context.js';
import { recommendSize, type SizeOptions } from '../ops/size-command.js';
import { loadConfig, type ProfileOptions } from './load-config.js';

type SizeCommandOptions = SizeOptions & ProfileOptions;

/** `pgb-setup size [environment]`: the profile (if named) loaded, then the recommendation. */
export async function runSize(environment: string | undefined, opts: SizeCommandOptions, ctx: Context): Promise<number> {
  const config = environment ? await loadConfig(environment, opts, ctx) : undefined;
  return recommendSize(config, opts, ctx);
}
