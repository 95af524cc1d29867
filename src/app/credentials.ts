import type { Context } from '../system/context.js';
import type { ResolvedConfig } from '../profile/resolve.js';
import { authQuery, type AuthQueryDeps, type AuthQueryOptions } from '../credentials/auth-query.js';
import { hashUser, hashUserRequest, type HashUserDeps, type HashUserOptions } from '../credentials/hash-user.js';
import { checkUsers, type UsersCheckDeps, type UsersCheckOptions } from '../credentials/users-check.js';
import { defaultEnvironment } from './default-environment.js';
import { loadConfig, type ProfileOptions } from './load-config.js';

export type HashUserCommandOptions = HashUserOptions & ProfileOptions;
type UsersCheckCommandOptions = UsersCheckOptions & ProfileOptions;
type AuthQueryCommandOptions = AuthQueryOptions & ProfileOptions;

/** `pgb-setup hash-user <username> [environment]`: the flags checked, then the profile if one is needed. */
export async function runHashUser(username: string, environment: string | undefined, opts: HashUserCommandOptions, ctx: Context, deps: Partial<HashUserDeps> = {}): Promise<number> {
  const request = hashUserRequest(username, opts);
  // Without an environment the profile is needed only to find userlist.txt (--userlist without FILE):
  // then the installed pgbouncer.ini's environment is used, else production (said on stderr).
  const profileEnvironment = environment ?? (opts.userlist === true ? await defaultEnvironment(ctx, 'hash-user') : undefined);
  const config: ResolvedConfig | undefined = profileEnvironment ? await loadConfig(profileEnvironment, opts, ctx) : undefined;
  return hashUser(username, config, request, opts, ctx, deps);
}

/** `pgb-setup users check [environment]`: true when every secret matches PostgreSQL's. */
export async function runUsersCheck(environment: string | undefined, opts: UsersCheckCommandOptions, ctx: Context, deps: Partial<UsersCheckDeps> = {}): Promise<boolean> {
  const config = environment ? await loadConfig(environment, opts, ctx) : undefined;
  return checkUsers(config, opts, ctx, deps);
}

/** `pgb-setup auth-query [environment]`. */
export async function runAuthQuery(environment: string | undefined, opts: AuthQueryCommandOptions, ctx: Context, deps: Partial<AuthQueryDeps> = {}): Promise<number> {
  const config = environment ? await loadConfig(environment, opts, ctx) : undefined;
  return authQuery(config, opts, ctx, deps);
}
