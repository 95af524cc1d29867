import type { Limit, UnitNofile } from '../facts/unit-nofile.js';
export type { Limit } from '../facts/unit-nofile.js';

/**
 * pgbouncer's open-files limit under systemd: the LimitNOFILE drop-in rule.
 * - The drop-in is written only when the unit's effective soft limit is below what pgbouncer needs,
 *   and then raises it: soft to the need, hard to the larger of the need and the current hard limit.
 * - It never lowers anything: an admin's own drop-in sorts after ours (see DROP_IN_NAME) and wins,
 *   and a limit already high enough (an admin's, the distro's or our earlier one) is left alone.
 * - Its bytes depend only on the values it sets, so a change of pool sizes that still fits rewrites
 *   nothing and needs no daemon-reload or restart.
 */

/**
 * Drop-ins apply in file-name order and a later LimitNOFILE wins: the "00-" prefix puts ours first,
 * so an admin's `override.conf` or `limits.conf` overrides it, never the other way round.
 */
export const DROP_IN_NAME = '00-pgb-setup-limits.conf';

/** The drop-in earlier pgb-setup releases wrote; sorting after ours, its LimitNOFILE would win. */
export const LEGACY_DROP_IN_NAME = 'pgb-setup.conf';

/** A warning when an earlier pgb-setup's own drop-in is still there (its first line says it wrote it). */
export function legacyDropInWarning(path: string, content: string | undefined): string | undefined {
  if (content === undefined || !content.startsWith('# Written by pgb-setup')) return undefined;
  const limit = /^LimitNOFILE=(\S+)/m.exec(content)?.[1] ?? '?';
  return `${path} was written by an earlier pgb-setup (LimitNOFILE=${limit}) and overrides ${DROP_IN_NAME}: remove it, then run pgb-setup again (rm ${path} && systemctl daemon-reload)`;
}


export interface OpenFilesDecision {
  /** Open files pgbouncer needs with headroom, rounded up to a multiple of 1024. */
  needed: number;
  /** The unit's soft limit before this run, when known. */
  current: Limit | undefined;
  /** The soft limit pgbouncer runs with after this run, when known. */
  planned: Limit | undefined;
  /** The drop-in's bytes when it must be written (created or raised); undefined: leave it as it is. */
  dropIn: string | undefined;
  note: string;
}

/** max_client_conn plus server connections (the pool budget's estimate) with 20% headroom, in steps of 1024. */
export function neededOpenFiles(fdEstimate: number): number {
  return Math.max(1024, Math.ceil((fdEstimate * 1.2) / 1024) * 1024);
}

const atLeast = (limit: Limit, n: number): boolean => limit === 'infinity' || limit >= n;

export function dropInContent(soft: number, hard: Limit): string {
  return `# Written by pgb-setup: raises pgbouncer's open-files limit; a later drop-in overrides it.\n[Service]\nLimitNOFILE=${soft}:${hard}\n`;
}

/**
 * @param existing our drop-in as on disk, if any
 */
export function decideOpenFiles(fdEstimate: number, unit: UnitNofile | undefined, existing: string | undefined): OpenFilesDecision {
  const needed = neededOpenFiles(fdEstimate);
  const ours = existing === undefined ? undefined : ownLimit(existing);
  if (!unit) {
    // The limit cannot be read (systemctl show failed): keep ours if it asks for enough, else write the need.
    const dropIn = ours !== undefined && ours >= needed ? undefined : dropInContent(needed, needed);
    return { needed, current: undefined, planned: dropIn ? needed : ours, dropIn, note: `open files: pgbouncer needs about ${needed}; the unit's limit could not be read` };
  }
  if (atLeast(unit.soft, needed)) {
    return { needed, current: unit.soft, planned: unit.soft, dropIn: undefined, note: `open files: the unit's limit ${unit.soft} covers the ${needed} pgbouncer needs; no drop-in written` };
  }
  if (ours !== undefined && ours >= needed) {
    // Ours already asks for enough, yet the unit has less: a later drop-in (an admin's) sets it lower.
    return { needed, current: unit.soft, planned: unit.soft, dropIn: undefined, note: `open files: another drop-in of pgbouncer.service sets LimitNOFILE=${unit.soft}, below the ${needed} pgbouncer needs; pgb-setup does not override it, raise it there` };
  }
  const hard: Limit = atLeast(unit.hard, needed) ? unit.hard : needed;
  return { needed, current: unit.soft, planned: needed, dropIn: dropInContent(needed, hard), note: `open files: the unit's limit ${unit.soft} is below the ${needed} pgbouncer needs; the drop-in raises it` };
}

/** The soft limit our own drop-in sets (LimitNOFILE=N or N:M), if it is one of ours. */
function ownLimit(content: string): number | undefined {
  const m = /^LimitNOFILE=(\d+)(?::\S+)?$/m.exec(content);
  return m ? Number(m[1]) : undefined;
}
