/** A systemd unit's open-files limits, as `systemctl show` reports them. */
export type Limit = number | 'infinity';

export interface UnitNofile {
  soft: Limit;
  hard: Limit;
}

/** Parses `systemctl show -p LimitNOFILESoft -p LimitNOFILE UNIT` output. */
export function parseUnitNofile(stdout: string): UnitNofile | undefined {
  const value = (key: string): Limit | undefined => {
    const m = new RegExp(`^${key}=(\\S+)$`, 'm').exec(stdout);
    if (!m) return undefined;
    if (m[1] === 'infinity') return 'infinity';
    const n = Number(m[1]);
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  };
  const soft = value('LimitNOFILESoft');
  const hard = value('LimitNOFILE');
  return soft !== undefined && hard !== undefined ? { soft, hard } : undefined;
}
