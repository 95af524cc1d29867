import type { Context } from '../system/context.js';
import { checkVerifyRoot, reportVerify, verifyChecks as runChecks } from '../ops/verify.js';
import type { VerifyOptions } from '../ops/verify/types.js';
import { loadConfig, type ProfileOptions } from './load-config.js';

type VerifyCommandOptions = VerifyOptions & ProfileOptions;

/** The checklist for an environment: --root checked, the profile loaded, every check run. */
export async function verifyChecks(environment: string, opts: VerifyCommandOptions, ctx: Context): ReturnType<typeof runChecks> {
  await checkVerifyRoot(opts, ctx);
  return runChecks(await loadConfig(environment, opts, ctx), opts, ctx);
}

/** `pgb-setup verify <environment>`: the checklist printed; true when no check failed. */
export async function runVerify(environment: string, opts: VerifyCommandOptions, ctx: Context): Promise<boolean> {
  await checkVerifyRoot(opts, ctx);
  return reportVerify(await loadConfig(environment, opts, ctx), opts, ctx);
}
