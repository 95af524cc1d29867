import type { HostFacts } from '../facts/host-facts.js';
import type { FirewallStep } from './types.js';
import { planUfw } from './ufw.js';
import { planFirewalld } from './firewalld.js';

/** The firewall step for pgbouncer's port (ufw or firewalld), or the note saying why the firewall is left alone. */
export function planFirewall(facts: HostFacts, options: { skipFirewall: boolean; allowFrom: string[]; enableFirewall: boolean }, port: number): { step?: FirewallStep; note?: string } {
  if (options.skipFirewall) return { note: '--skip-firewall: firewall left alone' };
  else if (!facts.live && facts.firewall.tool !== 'ufw') return { note: '--root: firewall left alone' };
  else if (!facts.firewall.tool) return { note: 'no ufw or firewalld on this host: no firewall rules written' };
  else if (options.allowFrom.length === 0) return { note: 'no --allow-from networks: firewall left alone' };
  else if (!facts.live) return { note: '--root: firewall rules are planned against the folder but only applied on the live system' };
  else if (facts.firewall.tool === 'ufw') {
    const p = planUfw(facts.firewall.ufwRules, port, options.allowFrom, facts.firewall.active, options.enableFirewall);
    return { step: { kind: 'firewall', tool: 'ufw', active: facts.firewall.active, port, allowFrom: options.allowFrom, commands: p.commands.map((args) => ({ cmd: 'ufw', args, why: 'firewall rule' })), notes: p.notes } };
  } else {
    const p = planFirewalld(facts.firewall.richRules, port, options.allowFrom, facts.firewall.active, options.enableFirewall);
    return { step: { kind: 'firewall', tool: 'firewalld', active: facts.firewall.active, port, allowFrom: options.allowFrom, commands: p.commands.map(([cmd, ...args]) => ({ cmd: cmd!, args, why: 'firewall rule' })), notes: p.notes } };
  }
}
