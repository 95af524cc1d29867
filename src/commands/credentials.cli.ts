import type { RegisterCommands } from '../cli-types.js';

/** Subcommands of the credentials group. Declare options here; import the implementation inside each action. */
export const registerCredentialsCommands: RegisterCommands = (_program, _run, _withProfileOptions) => {};
