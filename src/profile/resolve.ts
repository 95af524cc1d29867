import type { z } from 'zod';
import { InputErrors } from '../text/errors.js';
import { OLDEST_SUPPORTED, SETTINGS } from '../settings/catalogue.js';
import { versionAtLeast } from '../settings/version.js';
import { flatten, mergeLayers, type Layer } from './layers.js';
import { profileSchema, SECRET_PATHS, type Profile } from './schema.js';
import type { SettingValue } from '../settings/values.js';
import type { ResolvedConfig, ResolvedSetting, TargetVersion } from './types.js';
export type { ResolvedConfig, ResolvedSetting, TargetVersion } from './types.js';
import { Secret } from './secret.js';
import { securityWarnings } from './security.js';

const DBUSER_TOKEN = '$DBUSER';

/**
 * Merges the layers, validates the result with the one schema and gates settings on the target
 * pgbouncer version. Every problem found is reported at once. The checks across settings are
 * preflight's (src/preflight/cross-checks.ts, run by app/load-config.ts).
 */
export function resolveConfig(environment: string, layers: readonly Layer[], target: TargetVersion): ResolvedConfig {
  if (!versionAtLeast(target.version, OLDEST_SUPPORTED)) {
    throw new InputErrors([
      `pgbouncer-version: ${target.version} (${target.source}) is older than ${OLDEST_SUPPORTED}, the oldest pgb-setup supports; install a newer pgbouncer (--repo pgdg)`,
    ]);
  }
  const merged = mergeLayers(layers);
  const parsed = profileSchema.safeParse(merged.data);
  if (!parsed.success) throw new InputErrors(formatZodIssues(parsed.error.issues, merged.sources));
  const profile = parsed.data;

  const problems: string[] = [];
  const omitted: { key: string; since: string }[] = [];
  const settings: ResolvedSetting[] = [];
  for (const def of SETTINGS) {
    const value = profile.pgbouncer[def.key];
    if (value === undefined) continue;
    const source = merged.sources.get(`pgbouncer.${def.key}`) ?? 'default';
    if (!versionAtLeast(target.version, def.since)) {
      if (isBuiltin(source)) {
        omitted.push({ key: def.key, since: def.since });
        continue;
      }
      problems.push(
        `pgbouncer.${def.key}: needs pgbouncer ${def.since} or newer, the target is ${target.version} (${target.source}); remove it (from ${source}) or target a newer pgbouncer`,
      );
      continue;
    }
    if (def.type.kind === 'enum' && typeof value === 'string') {
      const since = def.type.valuesSince?.[value];
      if (since && !versionAtLeast(target.version, since)) {
        problems.push(`pgbouncer.${def.key}: "${value}" needs pgbouncer ${since} or newer, the target is ${target.version} (from ${source})`);
        continue;
      }
    }
    // $DBUSER stands for database.user in a list of names: the user must be one item as pgbouncer
    // splits the list (on commas and spaces), or it would add other names (e.g. to admin_users).
    const user = profile.database.user;
    if (def.type.kind === 'list' && Array.isArray(value) && value.includes(DBUSER_TOKEN) && user !== undefined && /[\s,]/.test(user)) {
      problems.push(
        `database.user: ${JSON.stringify(user)} cannot stand for $DBUSER in pgbouncer.${def.key} (from ${source}): pgbouncer splits that list on commas and spaces, ` +
          `so it would read other names than this one user; use a user name without them, or set ${def.key} yourself`,
      );
      continue;
    }
    settings.push({ key: def.key, value: substituteDbUser(value, profile), source });
  }
  if (problems.length > 0) throw new InputErrors(problems);

  const resolved: ResolvedConfig = { environment, target, profile, settings, sources: merged.sources, omitted, warnings: [] };
  resolved.warnings.push(...securityWarnings(resolved));
  return resolved;
}

function isBuiltin(source: string): boolean {
  return source.startsWith('profile:') || source.startsWith('host:') || source === 'default';
}

function substituteDbUser(value: SettingValue, profile: Profile): SettingValue {
  if (!Array.isArray(value)) return value;
  const user = profile.database.user;
  const out = value.flatMap((v) => (v === DBUSER_TOKEN ? (user ? [user] : []) : [v]));
  return [...new Set(out)];
}

export function setting(config: ResolvedConfig, key: string): SettingValue | undefined {
  return config.settings.find((s) => s.key === key)?.value;
}

/** One line per field: the first problem found with a value is the one to fix (the rest follow from it). */
function formatZodIssues(issues: readonly z.ZodIssue[], sources: Map<string, string>): string[] {
  const seen = new Set<string>();
  const firstPerField = issues.filter((issue) => {
    if (issue.code === 'unrecognized_keys') return true;
    const path = issue.path.map(String).join('.');
    if (seen.has(path)) return false;
    seen.add(path);
    return true;
  });
  return firstPerField.flatMap((issue) => {
    const path = issue.path.map(String).join('.');
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') {
      const keys = (issue as { keys: string[] }).keys;
      const where = path ? `${path}.` : '';
      const hint = path === 'pgbouncer' ? ' (not a pgbouncer setting pgb-setup knows; run "pgb-setup settings")' : '';
      return keys.map((k) => `${where}${k}: unknown key${hint}${sourceNote(sources, `${where}${k}`)}`);
    }
    if (issue.code === 'invalid_type' && message.includes('received undefined')) message = 'is required';
    return [`${path || 'profile'}: ${message}${sourceNote(sources, path)}`];
  });
}

function sourceNote(sources: Map<string, string>, path: string): string {
  const direct = sources.get(path);
  if (direct) return ` (from ${direct})`;
  for (const [p, s] of sources) if (p.startsWith(`${path}.`)) return ` (from ${s})`;
  return '';
}

/** Every final value with where it came from; secrets masked. For `config --explain`. */
export function explainConfig(config: ResolvedConfig): { path: string; value: string; source: string }[] {
  const rows: { path: string; value: string; source: string }[] = [];
  const { pgbouncer: _ignored, why: _why, description: _d, $schema: _s, ...rest } = config.profile;
  for (const [path, value] of flatten(rest as Record<string, unknown>)) {
    const emptySection = typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Secret) && Object.keys(value).length === 0;
    if (value === undefined || emptySection) continue;
    rows.push({
      path,
      value: SECRET_PATHS.has(path) ? '******** (set)' : JSON.stringify(value),
      source: config.sources.get(path) ?? 'default',
    });
  }
  for (const s of config.settings) {
    rows.push({ path: `pgbouncer.${s.key}`, value: JSON.stringify(s.value), source: s.source });
  }
  for (const o of config.omitted) {
    rows.push({ path: `pgbouncer.${o.key}`, value: `(left out: needs ${o.since}+)`, source: config.sources.get(`pgbouncer.${o.key}`) ?? 'default' });
  }
  return rows;
}

