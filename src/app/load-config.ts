import type { Context } from '../system/context.js';
import { InputError, InputErrors } from '../text/errors.js';
import { parseVersionArg } from '../settings/pgbouncer-version.js';
import { pgbouncerOnPath } from '../facts/pgbouncer-binary.js';
import { ENV_FILE_MAX_BYTES, envLayer, loadBuiltinProfile, parseEnvFile, profileFileLayer, setLayer, type Layer } from '../profile/layers.js';
import { readInputBytes, readInputFile } from '../system/input-file.js';
import { DEBIAN_PATHS, handoverDefaultsLayer, hostDefaultsLayer, type HostPaths } from '../profile/host-defaults.js';
import { resolveConfig, type ResolvedConfig, type TargetVersion } from '../profile/resolve.js';
import { crossCheck } from '../preflight/cross-checks.js';
import { NEWEST_KNOWN, OLDEST_SUPPORTED } from '../settings/catalogue.js';
import { versionAtLeast } from '../settings/version.js';

/** The flags every command that reads a profile accepts. */
export interface ProfileOptions {
  profile?: string;
  envFile?: string;
  set?: string[];
  pgbouncerVersion?: string;
}

interface LoadConfigExtras {
  hostPaths?: HostPaths;
  /** Known pgbouncer version from host facts (skips detection). */
  detectedVersion?: string;
  /** Set with --root: the running machine's pgbouncer says nothing about the image, so never ask it. */
  noLiveDetection?: boolean;
  /** Values asked at a prompt: above everything but --set. */
  answers?: Layer;
  /** Values from host facts that the profile cannot know (server max_connections, nofile limit). */
  facts?: Layer;
  /** What the --tls options stand for (above the environment, below --set). */
  tls?: Layer;
}

/** `--env-file FILE`: read (a regular file of sane size, checked by input-file) and parsed. */
export function readEnvFile(path: string): Record<string, string> {
  return parseEnvFile(readInputBytes(path, `--env-file ${path}`, ENV_FILE_MAX_BYTES), path);
}

function profileLayers(environment: string, opts: ProfileOptions, ctx: Context, extras: LoadConfigExtras = {}): Layer[] {
  const layers: Layer[] = [hostDefaultsLayer(extras.hostPaths ?? DEBIAN_PATHS), handoverDefaultsLayer()];
  if (extras.facts) layers.push(extras.facts);
  layers.push(loadBuiltinProfile(environment));
  if (opts.profile) layers.push(profileFileLayer(readInputFile(opts.profile, `--profile ${opts.profile}`), opts.profile));
  if (opts.envFile) layers.push(envLayer(readEnvFile(opts.envFile), `--env-file ${opts.envFile}`));
  layers.push(envLayer(ctx.env, 'environment'));
  if (extras.tls) layers.push(extras.tls);
  if (extras.answers) layers.push(extras.answers);
  if (opts.set && opts.set.length > 0) layers.push(setLayer(opts.set));
  return layers;
}

/** The pgbouncer version to render for: the flag, else the installed binary, else the oldest we support. */
async function targetVersion(opts: ProfileOptions, ctx: Context, detected?: string, noLiveDetection = false): Promise<TargetVersion & { warning?: string }> {
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
  const installed = noLiveDetection ? undefined : await pgbouncerOnPath(ctx.system);
  if (installed?.version) return { version: installed.version, source: `${installed.binary} --version` };
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
  const config = resolvedAndChecked(environment, layers, target);
  if (target.warning) config.warnings.unshift(target.warning);
  return config;
}

/** The profile resolved, then checked across its settings (preflight); their warnings come first. */
export function resolvedAndChecked(environment: string, layers: readonly Layer[], target: TargetVersion): ResolvedConfig {
  const config = resolveConfig(environment, layers, target);
  const checks = crossCheck(config);
  if (checks.errors.length > 0) throw new InputErrors(checks.errors);
  config.warnings.unshift(...checks.warnings);
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
