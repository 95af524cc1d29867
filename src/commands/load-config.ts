import type { Context } from '../context.js';
import { InputError } from '../errors.js';
import { parsePgbouncerVersion, parseVersionArg } from '../facts/pgbouncer-version.js';
import { envLayer, loadBuiltinProfile, loadProfileFile, readEnvFile, setLayer, type Layer } from '../profile/layers.js';
import { DEBIAN_PATHS, handoverDefaultsLayer, hostDefaultsLayer, type HostPaths } from '../profile/host-defaults.js';
import { resolveConfig, type ResolvedConfig, type TargetVersion } from '../profile/resolve.js';
import { NEWEST_KNOWN, OLDEST_SUPPORTED } from '../settings/catalogue.js';
import { versionAtLeast } from '../settings/version.js';

/** The flags every command that reads a profile accepts. */
export interface ProfileOptions {
  profile?: string;
  envFile?: string;
  set?: string[];
  pgbouncerVersion?: string;
}

export interface LoadConfigExtras {
  hostPaths?: HostPaths;
  /** Known pgbouncer version from host facts (skips detection). */
  detectedVersion?: string;
  /** Set with --root: the running machine's pgbouncer says nothing about the image, so never ask it. */
  noLiveDetection?: boolean;
  /** Values asked at a prompt: above everything but --set. */
  answers?: Layer;
  /** Values from host facts that the profile cannot know (server max_connections, nofile limit). */
  facts?: Layer;
}

export function profileLayers(environment: string, opts: ProfileOptions, ctx: Context, extras: LoadConfigExtras = {}): Layer[] {
  const layers: Layer[] = [hostDefaultsLayer(extras.hostPaths ?? DEBIAN_PATHS), handoverDefaultsLayer()];
  if (extras.facts) layers.push(extras.facts);
  layers.push(loadBuiltinProfile(environment));
  if (opts.profile) layers.push(loadProfileFile(opts.profile));
  if (opts.envFile) layers.push(envLayer(readEnvFile(opts.envFile), `--env-file ${opts.envFile}`));
  layers.push(envLayer(ctx.env, 'environment'));
  if (extras.answers) layers.push(extras.answers);
  if (opts.set && opts.set.length > 0) layers.push(setLayer(opts.set));
  return layers;
}

/** The pgbouncer version to render for: the flag, else the installed binary, else the oldest we support. */
export async function targetVersion(opts: ProfileOptions, ctx: Context, detected?: string, noLiveDetection = false): Promise<TargetVersion & { warning?: string }> {
  if (opts.pgbouncerVersion !== undefined) {
    const v = parseVersionArg(opts.pgbouncerVersion);
    const version = `${v.major}.${v.minor}.${v.patch}`;
    // A flag names a release pgb-setup must know: pgbouncer has been 1.x since 2010 and adds a
    // handful of settings per minor release, so a newer 1.x gets what is known (with a warning);
    // another major is a different program as far as the catalogue is concerned.
    if (v.major !== 1) {
      throw new InputError(`--pgbouncer-version: ${v.text} is not a pgbouncer release pgb-setup knows (${OLDEST_SUPPORTED} to ${NEWEST_KNOWN}); name the version of the pgbouncer you run`, '--pgbouncer-version');
    }
    if (!versionAtLeast(NEWEST_KNOWN, `${v.major}.${v.minor}`)) {
      return { version, source: '--pgbouncer-version', warning: `pgbouncer ${v.major}.${v.minor} is newer than ${NEWEST_KNOWN}, the newest pgb-setup knows: rendering only the settings ${NEWEST_KNOWN} has` };
    }
    return { version, source: '--pgbouncer-version' };
  }
  if (detected) return { version: detected, source: 'installed pgbouncer' };
  const binary = noLiveDetection ? undefined : await ctx.system.which('pgbouncer');
  if (binary) {
    const result = await ctx.system.exec(binary, ['--version']);
    const v = parsePgbouncerVersion(`${result.stdout}\n${result.stderr}`);
    if (v) return { version: `${v.major}.${v.minor}.${v.patch}`, source: `${binary} --version` };
  }
  return {
    version: `${OLDEST_SUPPORTED}.0`,
    source: 'no pgbouncer found',
    warning: `pgbouncer is not installed here: rendering for ${OLDEST_SUPPORTED}, the oldest supported version; pass --pgbouncer-version X.Y for another`,
  };
}

export async function loadConfig(environment: string | undefined, opts: ProfileOptions, ctx: Context, extras: LoadConfigExtras = {}): Promise<ResolvedConfig> {
  if (!environment) throw new InputError('environment: missing; name one of production, staging, development', 'environment');
  const layers = profileLayers(environment, opts, ctx, extras);
  const target = await targetVersion(opts, ctx, extras.detectedVersion, extras.noLiveDetection);
  const config = resolveConfig(environment, layers, target);
  if (target.warning) config.warnings.unshift(target.warning);
  return config;
}

/** Values the main job cannot do without, named as the environment variables that supply them. */
export function missingConnectionValues(config: ResolvedConfig): string[] {
  const db = config.profile.database;
  const missing: string[] = [];
  if (!db.name) missing.push('DBNAME (database name)');
  if (!db.host) missing.push('DBHOST (PostgreSQL host)');
  if (!db.user) missing.push('DBUSER (database user)');
  if (!db.password && !config.settings.some((s) => s.key === 'auth_user')) missing.push('DBPASS (database password)');
  return missing;
}
