import type { RegisterCommands } from '../cli-types.js';

/** Subcommands of the django group. Declare options here; import the implementation inside each action. */
export const registerDjangoCommands: RegisterCommands = (_program, _run, _withProfileOptions) => {};
