import type { Command } from 'commander';
import type { Context } from '../system/context.js';

/** Runs a command body with the context and records its exit code; bodies lazy-import their modules. */
export type RunCommand = (body: (ctx: Context) => Promise<number>) => Promise<void>;

/** Adds --profile, --env-file, --set and --pgbouncer-version. */
export type WithProfileOptions = (cmd: Command) => Command;

/**
 * A module that adds one or more subcommands. It should only declare arguments and options here
 * (cheap), and `await import()` its implementation inside the action, so start-up stays fast.
 */
export type RegisterCommands = (program: Command, run: RunCommand, withProfileOptions: WithProfileOptions) => void;
