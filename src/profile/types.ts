import type { SettingValue } from '../settings/values.js';
import type { Profile } from './schema.js';

/** The resolved profile: what every stage after the profile works from. */
export interface TargetVersion {
  version: string;
  source: string;
}

export interface ResolvedSetting {
  key: string;
  value: SettingValue;
  source: string;
}

export interface ResolvedConfig {
  environment: string;
  target: TargetVersion;
  profile: Profile;
  /** Final [pgbouncer] settings in file order, only those the target version knows. */
  settings: ResolvedSetting[];
  /** Where each leaf of the profile came from (dot paths). */
  sources: Map<string, string>;
  /** Built-in values left out because the target is too old for them. */
  omitted: { key: string; since: string }[];
  warnings: string[];
}
