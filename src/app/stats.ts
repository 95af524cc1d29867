import type { Context } from '../system/context.js';
import { showStats, statsRequest, type StatsOptions, type StatsRuntime } from '../ops/stats.js';
import { loadConfig, type ProfileOptions } from './load-config.js';

type StatsCommandOptions = StatsOptions & ProfileOptions;

/** `pgb-setup stats [environment]`: the flags checked, the profile (if named) loaded, then the snapshot. */
export async function runStats(environment: string | undefined, opts: StatsCommandOptions, ctx: Context, runtime: StatsRuntime = {}): Promise<number> {
  const request = statsRequest(opts);
  const config = environment ? await loadConfig(environment, opts, ctx) : undefined;
  return showStats(config, request, opts, ctx, runtime);
}
