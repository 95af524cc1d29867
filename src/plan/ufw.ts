import type { UfwRule } from '../facts/ufw-rules.js';

const ANYWHERE = new Set(['0.0.0.0/0', '::/0']);

function coversPort(rule: UfwRule, port: number): boolean {
  if (rule.proto !== 'tcp' && rule.proto !== 'any') return false;
  return rule.dport.split(',').some((part) => {
    const [lo, hi] = part.split(':').map(Number);
    return hi === undefined ? lo === port : lo! <= port && port <= hi;
  });
}

function isV6(cidr: string): boolean {
  return cidr.includes(':');
}

/** ufw writes a bare address without /32 or /128 in its tuples. */
function normaliseSource(cidr: string): string {
  return cidr.replace(/\/32$/, '').replace(/\/128$/, '');
}

interface UfwPlan {
  commands: string[][];
  notes: string[];
}

/**
 * The ufw commands that make `allowFrom` reach `port` and deny everyone else, with every allow
 * ahead of any deny for the port (ufw stops at the first match), and nothing added twice.
 */
export function planUfw(rules: readonly UfwRule[], port: number, allowFrom: readonly string[], active: boolean, enableFirewall: boolean): UfwPlan {
  const commands: string[][] = [];
  const notes: string[] = [];
  const spec = (cidr: string) => ['allow', 'from', cidr, 'to', 'any', 'port', String(port), 'proto', 'tcp'];
  for (const v6 of [false, true]) {
    const family = rules.filter((r) => r.v6 === v6);
    const denyIndex = family.findIndex((r) => (r.action === 'deny' || r.action === 'reject') && coversPort(r, port));
    for (const cidr of [...new Set(allowFrom)].filter((c) => isV6(c) === v6)) {
      const src = normaliseSource(cidr);
      const allowIndex = family.findIndex((r) => r.action === 'allow' && r.src === src && coversPort(r, port));
      if (allowIndex >= 0 && (denyIndex < 0 || allowIndex < denyIndex)) continue;
      if (allowIndex >= 0) {
        notes.push(`the allow for ${cidr} stood after a deny for port ${port} and never matched: moving it first`);
        commands.push(['delete', ...spec(cidr)]);
      }
      commands.push(denyIndex >= 0 ? ['prepend', ...spec(cidr)] : [...spec(cidr)]);
    }
  }
  const hasDeny = (v6: boolean) => rules.some((r) => r.v6 === v6 && (r.action === 'deny' || r.action === 'reject') && coversPort(r, port) && ANYWHERE.has(r.src));
  if (!hasDeny(false) || !hasDeny(true)) commands.push(['deny', `${port}/tcp`]);
  if (!active) {
    if (enableFirewall) {
      const sshAllowed = rules.some((r) => (r.action === 'allow' || r.action === 'limit') && coversPort(r, 22) && ANYWHERE.has(r.src));
      if (!sshAllowed) commands.push(['limit', '22/tcp']);
      commands.push(['--force', 'enable']);
    } else {
      notes.push('ufw is inactive: rules are stored but not enforced; pass --enable-firewall to enable it (SSH is allowed first)');
    }
  }
  return { commands: commands.map((c) => (c[0] === '--force' || c[0] === 'delete' ? c : [...c, 'comment', 'pgb-setup'])), notes };
}
