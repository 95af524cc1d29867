import type { Command } from 'commander';
import type { Context } from '../system/context.js';

/** Runs a command body with the context and records its exit code; bodies lazy-import their modules. */
export type RunCommand = (body: (ctx: Context) => Promise<number>) => Promise<void>;

/**
 * A module that adds one or more subcommands (src/cli/commands/). It should only declare arguments
 * and options here (cheap), and `await import()` its implementation inside the action, so start-up
 * stays fast: `--version` and `--help` load no handlebars, zod, pg, inquirer or execa.
 */
export type RegisterCommands = (program: Command, run: RunCommand) => void;
