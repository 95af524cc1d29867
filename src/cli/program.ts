import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import type { Context } from '../system/context.js';
import { packagePath } from '../system/package-root.js';
import type { RegisterCommands, RunCommand } from './types.js';
import { registerCredentialsCommands } from './commands/credentials.js';
import { registerDjangoCommands } from './commands/django.js';
import { registerOpsCommands } from './commands/ops.js';
import { registerRollbackCommand, registerSettingsCommand, registerSetupCommands } from './commands/setup.js';
import { printable, withoutOptionValues } from '../text/printable.js';

/**
 * The command tree, assembled from src/cli/commands/ in the order --help lists them. Each command
 * file only declares options; its action lazy-imports the app, so `--version` and `--help` do not
 * pay for handlebars, zod, pg or inquirer.
 */
const COMMANDS: readonly RegisterCommands[] = [
  registerSetupCommands,
  registerRollbackCommand,
  registerSettingsCommand,
  registerCredentialsCommands,
  registerDjangoCommands,
  registerOpsCommands,
];

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

  for (const register of COMMANDS) register(program, run);
  return program;
}

/** Each line made printable, and each said once: several checks can find the same problem. */
export function printableLines(lines: readonly string[]): string[] {
  return [...new Set(lines.map(printable))];
}
