interface FirewalldPlan {
  commands: string[][];
  notes: string[];
}

function richRule(cidr: string, port: number): string {
  const family = cidr.includes(':') ? 'ipv6' : 'ipv4';
  return `rule family="${family}" source address="${cidr}" port port="${port}" protocol="tcp" accept`;
}

/**
 * firewalld's default zone rejects what no rule accepts, so only the allows are needed: one rich
 * rule per network, added once (permanent, then a reload so the running firewall has it too).
 */
export function planFirewalld(existing: readonly string[], port: number, allowFrom: readonly string[], active: boolean, enableFirewall: boolean): FirewalldPlan {
  const have = new Set(existing.map((r) => r.trim()));
  const commands: string[][] = [];
  const notes: string[] = [];
  const missing = [...new Set(allowFrom)].map((c) => richRule(c, port)).filter((r) => !have.has(r));
  if (!active && !enableFirewall) {
    notes.push('firewalld is not running: no rules changed; pass --enable-firewall to start it (SSH is allowed first)');
    return { commands, notes };
  }
  if (!active) {
    commands.push(['firewall-offline-cmd', '--add-service=ssh']);
    for (const r of missing) commands.push(['firewall-offline-cmd', `--add-rich-rule=${r}`]);
    commands.push(['systemctl', 'enable', '--now', 'firewalld']);
    return { commands, notes };
  }
  for (const r of missing) commands.push(['firewall-cmd', '--permanent', `--add-rich-rule=${r}`]);
  if (missing.length > 0) commands.push(['firewall-cmd', '--reload']);
  return { commands, notes };
}
