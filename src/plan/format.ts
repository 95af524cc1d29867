import { isChange, type Plan, type Step } from './types.js';
import { staleBridgeLines } from './stale-bridges.js';

/** A plan on a terminal shows this much of a file's diff; a 150,000-line old config is not read by anyone. */
const MAX_DIFF_LINES = 400;

const MARK: Record<string, string> = { create: '+', update: '~', 'fix-permissions': '~', unchanged: '=' };

function quote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

function shellLine(cmd: string, args: readonly string[], env?: Record<string, string>): string {
  const prefix = env ? Object.entries(env).map(([k, v]) => `${k}=${quote(v)} `).join('') : '';
  return prefix + [cmd, ...args].map(quote).join(' ');
}

function mode(m: number): string {
  return m.toString(8).padStart(4, '0');
}

function stepLines(step: Step, verbose: boolean): string[] {
  switch (step.kind) {
    case 'package':
      if (step.action === 'skip') return [`= package ${step.packages.join(' ')}: ${step.reason}`];
      return [`+ package ${step.packages.join(' ')}: ${step.reason}`, ...step.commands.map((c) => `    $ ${shellLine(c.cmd, c.args, Object.keys(c.env ?? {}).length ? c.env : undefined)}`)];
    case 'directory':
      if (step.action === 'unchanged' && !verbose) return [];
      return [`${step.action === 'create' ? '+' : '='} directory ${step.path} ${mode(step.mode)} ${step.owner}:${step.group} (${step.why})`];
    case 'backup':
      return [`+ backup ${step.files.join(', ')} -> ${step.dir}/${step.created?.length ? ` (rollback removes ${step.created.join(', ')})` : ''}`];
    case 'candidate-check':
      return [`? check the new config in a throwaway pgbouncer on a spare port${step.login ? `, and log in as ${step.login.user}` : ''}`];
    case 'file': {
      if (step.action === 'unchanged' && !verbose) return [];
      const head = `${MARK[step.action]} file ${step.path} ${mode(step.mode)} ${step.owner}:${step.group} (${step.action}${step.secret ? ', secrets masked' : ''})`;
      if (!step.diff) return [head];
      const diff = step.diff.split('\n');
      const shown = diff.slice(0, MAX_DIFF_LINES).map((l) => `    ${l}`);
      if (diff.length > MAX_DIFF_LINES) shown.push(`    … ${diff.length - MAX_DIFF_LINES} more diff lines not shown (--dry-run --json has the whole diff)`);
      return [head, ...shown];
    }
    case 'firewall':
      return [
        ...(step.commands.length > 0 ? [`+ firewall ${step.tool}: allow ${step.allowFrom.join(', ')} to port ${step.port}, deny the rest`] : verbose ? [`= firewall ${step.tool}: rules in place`] : []),
        ...step.commands.map((c) => `    $ ${shellLine(c.cmd, c.args)}`),
        ...step.notes.map((n) => `    note: ${n}`),
      ];
    case 'service':
      if (step.action === 'none') return verbose ? [`= service: ${step.reason}`] : [];
      return [
        `↻ service ${step.action} (${step.manager}): ${step.reason}`,
        ...(step.methods ?? []).map((m) => `    ${m.target}: ${m.method} (${m.why})`),
        ...step.commands.map((c) => `    $ ${shellLine(c.cmd, c.args)}`),
      ];
    case 'stale-bridges':
      return staleBridgeLines(step).map((l) => `- ${l}`);
    case 'verify':
      return [`? verify pgbouncer listens on ${step.host}:${step.port}${step.login ? ` and ${step.login.user} can log in to ${step.login.database}` : ''}`];
  }
}

/** The plan as people read it: one line per step, commands shell-quoted, diffs with secrets masked. */
export function formatPlan(plan: Plan, verbose = false): string {
  const lines = [
    `pgb-setup ${plan.environment}: pgbouncer ${plan.pgbouncerVersion} on ${plan.host.distro}${plan.host.root ? ` (root ${plan.host.root})` : ''}`,
    `  service user ${plan.host.serviceUser}, service manager ${plan.host.serviceManager}, firewall ${plan.host.firewall}`,
  ];
  // A loop, not push(...spread): a diff of a 150,000-line file would overflow the call stack.
  for (const step of plan.steps) for (const line of stepLines(step, verbose)) lines.push(line);
  for (const n of plan.notes) lines.push(`note: ${n}`);
  for (const w of plan.warnings) lines.push(`warning: ${w}`);
  const changes = plan.steps.filter(isChange).length;
  lines.push(plan.changed ? `${changes} change(s) to make` : 'nothing to do: the host already matches the profile');
  return `${lines.join('\n')}\n`;
}

/** The plan as JSON, with file contents of secret files left out. */
export function planToJson(plan: Plan): object {
  return {
    ...plan,
    steps: plan.steps.map((s) => (s.kind === 'file' ? { ...s, bytes: undefined, ...(s.secret ? { content: undefined } : {}) } : s)),
  };
}
