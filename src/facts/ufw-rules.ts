import type { System } from '../system/system.js';

/** One rule as ufw stores it in /etc/ufw/user.rules (`### tuple ### ...`), in file order. */
export interface UfwRule {
  action: string; // allow, deny, reject, limit
  proto: string; // tcp, udp, any
  dport: string;
  dst: string;
  sport: string;
  src: string;
  v6: boolean;
}

function parseUfwRules(text: string, v6: boolean): UfwRule[] {
  const rules: UfwRule[] = [];
  for (const line of text.split('\n')) {
    const m = /^### tuple ### (\S+) (\S+) (\S+) (\S+) (\S+) (\S+)/.exec(line);
    if (!m) continue;
    const [, action, proto, dport, dst, sport, src] = m as unknown as [string, string, string, string, string, string, string];
    rules.push({ action: action.replace(/_log(-all)?$/, ''), proto, dport, dst, sport, src, v6 });
  }
  return rules;
}

export async function readUfwRules(system: System): Promise<UfwRule[]> {
  const [v4, v6] = await Promise.all([system.readFile('/etc/ufw/user.rules'), system.readFile('/etc/ufw/user6.rules')]);
  return [...parseUfwRules(v4 ?? '', false), ...parseUfwRules(v6 ?? '', true)];
}
