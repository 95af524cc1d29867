import type { Context } from '../system/context.js';
import { checkHealth, healthUnknown, type HealthOptions } from '../ops/health.js';
import { parseThresholds, type NagiosStatus } from '../ops/health/thresholds.js';
import { processCount } from '../ops/group.js';
import type { ResolvedConfig } from '../profile/resolve.js';
import { loadConfig, type ProfileOptions } from './load-config.js';

type HealthCommandOptions = HealthOptions & ProfileOptions;

/**
 * `pgb-setup health [environment]`: the Nagios verdict. Bad flags and a profile that does not load
 * are UNKNOWN too, printed like every other verdict, never an error of the command.
 */
export async function runHealth(environment: string | undefined, opts: HealthCommandOptions, ctx: Context): Promise<NagiosStatus> {
  let config: ResolvedConfig | undefined;
  let thresholds;
  let processes;
  try {
    thresholds = parseThresholds(opts);
    processes = processCount(opts.processes);
    if (environment) config = await loadConfig(environment, opts, ctx);
  } catch (err) {
    return healthUnknown(err, opts, ctx);
  }
  return checkHealth(config, processes, thresholds, opts, ctx);
}
