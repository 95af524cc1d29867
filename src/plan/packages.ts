import type { HostFacts } from '../facts/host-facts.js';
import type { PackageStep, PlanCommand } from './types.js';

/** Installing pgbouncer: through the distro's (or PGDG's) repositories, or skipped with the reason. */
export function planPackages(facts: HostFacts, options: { skipInstall: boolean; repo: 'distro' | 'pgdg' }): { step?: PackageStep; notes: string[] } {
  const { distro } = facts;
  const notes: string[] = [];
  let step: PackageStep | undefined;
  if (!facts.pgbouncer.installed) {
    if (options.skipInstall) {
      step = { kind: 'package', action: 'skip', packages: [distro.pgbouncerPackage], commands: [], reason: '--skip-install: pgbouncer is not installed; install it yourself' };
    } else if (!facts.live) {
      step = { kind: 'package', action: 'skip', packages: [distro.pgbouncerPackage], commands: [], reason: '--root: packages are not installed into a folder; install pgbouncer in the image' };
    } else {
      const repo = distro.repoSetup(options.repo);
      const commands: PlanCommand[] = [];
      if (repo.prerequisites.length > 0) commands.push(...distro.installCommands(repo.prerequisites));
      commands.push(...repo.commands);
      for (const f of repo.files) commands.push({ cmd: 'write', args: [f.path], why: `repository definition (${f.content.split('\n')[0]})` });
      commands.push(...distro.installCommands([distro.pgbouncerPackage], { refreshIndex: distro.needsIndexRefresh }));
      step = { kind: 'package', action: 'install', packages: [distro.pgbouncerPackage], commands, reason: `pgbouncer is not installed (${options.repo === 'pgdg' ? 'PostgreSQL community repository' : `${distro.prettyName} repositories`})` };
      notes.push(...repo.notes);
    }
  } else if (options.repo === 'pgdg') {
    notes.push(`pgbouncer ${facts.pgbouncer.version ?? ''} is installed already; --repo pgdg only matters for a fresh install (upgrade it with your package manager)`);
  }
  return { ...(step ? { step } : {}), notes };
}
