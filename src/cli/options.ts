import type { Command } from 'commander';

/** Options shared by several commands; each command file declares its own. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** --profile, --env-file, --set and --pgbouncer-version: every command that reads a profile. */
export function withProfileOptions(cmd: Command): Command {
  return cmd
    .option('--profile <file>', 'your own JSON profile, layered over the built-in one')
    .option('--env-file <file>', 'read DBNAME, DBUSER, DBPASS, DBHOST, DBPORT, PGBOUNCER_HOST, PGBOUNCER_PORT from a dotenv file')
    .option('--set <key=value>', 'override one setting (repeatable), e.g. --set default_pool_size=40', collect, [])
    .option('--pgbouncer-version <x.y>', 'render for this pgbouncer version instead of the installed one');
}
