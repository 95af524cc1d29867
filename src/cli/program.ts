import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import type { Context } from '../system/context.js';
import { packagePath } from '../system/package-root.js';
import type { RunCommand } from './types.js';
import { EXTRA_COMMANDS } from './extra-commands.js';
import { printable, withoutOptionValues } from '../text/printable.js';
import { withTlsOptions } from './tls-options.js';

/**
 * The command tree. Each action lazy-imports its module so that `--version` and `--help` do not
 * pay for handlebars, zod, pg or inquirer.
 */
function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function withProfileOptions(cmd: Command): Command {
  return cmd
    .option('--profile <file>', 'your own JSON profile, layered over the built-in one')
    .option('--env-file <file>', 'read DBNAME, DBUSER, DBPASS, DBHOST, DBPORT, PGBOUNCER_HOST, PGBOUNCER_PORT from a dotenv file')
    .option('--set <key=value>', 'override one setting (repeatable), e.g. --set default_pool_size=40', collect, [])
    .option('--pgbouncer-version <x.y>', 'render for this pgbouncer version instead of the installed one');
}

function version(): string {
  return (JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { version: string }).version;
}

export function buildProgram(getCtx: () => Promise<Context>, setCode: (code: number) => void, output?: { writeOut: (s: string) => void; writeErr: (s: string) => void }): Command {
  const run: RunCommand = async (body) => setCode(await body(await getCtx()));
  const program = new Command('pgb-setup');
  // Before the subcommands are added: they copy these settings from their parent when created.
  if (output) {
    program.configureOutput({
      ...output,
      outputError: (text, write) => write(printableLines(withoutOptionValues(text).replace(/\n$/, '').split('\n')).map((l) => `${l}\n`).join('')),
    });
  }
  program
    .description('Put a production-grade PgBouncer in front of PostgreSQL for Django, in one command.')
    .version(version(), '-V, --version')
    .showHelpAfterError('(run pgb-setup --help for usage)')
    .exitOverride();

  withProfileOptions(
    program
      .command('apply', { isDefault: true })
      .argument('<environment>', 'production, staging or development')
      .description('install, configure, secure, start and verify pgbouncer on this host (the main job)'),
  )
    .option('--dry-run', 'print the plan and change nothing')
    .option('--json', 'print the plan (or the result) as JSON')
    .option('--root <dir>', 'treat DIR as / for every file read or written; skip live-system steps')
    .option('-y, --yes', 'never prompt; fail with exit 2 when a value is missing')
    .option('--allow-from <cidr>', 'allow this network to the listen port (repeatable)', collect, [])
    .option('--enable-firewall', 'enable an inactive firewall (after allowing SSH)')
    .option('--skip-install', 'do not install packages')
    .option('--skip-firewall', 'do not touch the firewall')
    .option('--skip-service', 'do not start or reload the service')
    .option('--skip-verify', 'do not check the new config in a throwaway pgbouncer first')
    .option('--copy-server-secret', "read DBUSER's verifier from pg_authid (PG* admin credentials, or as root on the PostgreSQL host the local postgres account) instead of logging in as DBUSER to learn it")
    .option('-v, --verbose', 'also show the steps with nothing to do')
    .addOption(new Option('--repo <repo>', 'package repository for pgbouncer').choices(['distro', 'pgdg']).default('distro'))
    .option('--processes <n>', 'run N pgbouncer processes on one port (so_reuseport + peers), or auto (one per core)')
    .option('--no-peers', 'with --processes on pgbouncer < 1.19: run without [peers] (cancel requests may get lost)');
  withTlsOptions(program.commands.find((c) => c.name() === 'apply')!, true)
    .action(async (environment: string, opts) => {
      const { runApply } = await import('../app/setup.js');
      setCode(await runApply(environment, opts, await getCtx()));
    });

  withProfileOptions(program.command('render').argument('<environment>').description('write pgbouncer.ini and userlist.txt into a folder'))
    .requiredOption('--out <dir>', 'folder to write into')
    .option('--processes <n>', 'one config per process on the same port (so_reuseport + peers), N or auto')
    .option('--no-peers', 'with --processes on pgbouncer < 1.19: run without [peers] (cancel requests may get lost)')
    .action(async (environment: string, opts) => {
      const { runRender } = await import('../app/render.js');
      setCode(await runRender(environment, opts, await getCtx()));
    });

  withProfileOptions(program.command('config').argument('<environment>').description('print the resolved settings'))
    .option('--explain', 'show where every value came from')
    .option('--json', 'print JSON')
    .action(async (environment: string, opts) => {
      const { runConfig } = await import('../app/config.js');
      setCode(await runConfig(environment, opts, await getCtx()));
    });

  program
    .command('rollback')
    .description('restore the newest backup of pgbouncer.ini and userlist.txt and reload pgbouncer')
    .option('--list', 'list the backups instead')
    .option('--json', 'with --list: print JSON')
    .option('--root <dir>', 'treat DIR as /')
    .action(async (opts) => {
      const { runRollback } = await import('../app/rollback.js');
      setCode(await runRollback(opts, await getCtx()));
    });

  program
    .command('settings')
    .description('list the pgbouncer settings pgb-setup knows, with the version that introduced each')
    .action(async () => {
      const { runSettings } = await import('../app/settings.js');
      setCode(runSettings(await getCtx()));
    });

  for (const register of EXTRA_COMMANDS) register(program, run, withProfileOptions);
  return program;
}

/** Each line made printable, and each said once: several checks can find the same problem. */
export function printableLines(lines: readonly string[]): string[] {
  return [...new Set(lines.map(printable))];
}
