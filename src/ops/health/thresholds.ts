/** Nagios' statuses and the thresholds health judges by, parsed from the flags. */

export const NAGIOS = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 } as const;
export type NagiosStatus = keyof typeof NAGIOS;

export interface Thresholds {
  warnUtilisation: number;
  critUtilisation: number;
  warnWaiting: number;
  critWaiting: number;
  warnMaxwait: number;
  critMaxwait: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = {
  warnUtilisation: 80,
  critUtilisation: 100,
  warnWaiting: 5,
  critWaiting: 20,
  warnMaxwait: 1,
  critMaxwait: 5,
};

/** A flag problem: reported as UNKNOWN (Nagios' rule for bad arguments), not as exit 2. */
export class HealthUsageError extends Error {}

export function parseThresholds(opts: Partial<Record<keyof Thresholds, string>>): Thresholds {
  const out = { ...DEFAULT_THRESHOLDS };
  const flagName = (k: string) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  for (const key of Object.keys(DEFAULT_THRESHOLDS) as (keyof Thresholds)[]) {
    const raw = opts[key];
    if (raw === undefined) continue;
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || n <= 0) {
      throw new HealthUsageError(`${flagName(key)}: "${raw}" must be a number greater than 0`);
    }
    if (key.endsWith('Waiting') && !Number.isInteger(n)) throw new HealthUsageError(`${flagName(key)}: "${raw}" must be a whole number of clients`);
    out[key] = n;
  }
  for (const [w, c] of [['warnUtilisation', 'critUtilisation'], ['warnWaiting', 'critWaiting'], ['warnMaxwait', 'critMaxwait']] as const) {
    if (out[w] > out[c]) throw new HealthUsageError(`${flagName(w)}: ${out[w]} is above ${flagName(c)} ${out[c]}; the warning level must not exceed the critical one`);
  }
  return out;
}
