import type { Context } from '../system/context.js';
import type { BenchOptions } from '../ops/bench.js';
import { loadConfig, type ProfileOptions } from './load-config.js';

type BenchCommandOptions = BenchOptions & ProfileOptions;

/**
 * `pgb-setup bench <environment>`: direct vs pgbouncer, or with --processes 1 process vs N. The
 * flags are checked first, then the profile is loaded (with --processes, for the binary's version).
 */
export async function runBench(environment: string, opts: BenchCommandOptions, ctx: Context): Promise<number> {
  if (opts.processes !== undefined) {
    const { benchProcesses, benchProcessesRequest } = await import('../ops/bench-processes.js');
    const request = await benchProcessesRequest(opts, ctx);
    const config = await loadConfig(environment, opts, ctx, { detectedVersion: request.version });
    return benchProcesses(config, request, opts, ctx);
  }
  const { benchDirectVsPgbouncer, benchRequest } = await import('../ops/bench.js');
  const request = benchRequest(opts);
  const config = await loadConfig(environment, opts, ctx);
  return benchDirectVsPgbouncer(config, request, opts, ctx);
}
