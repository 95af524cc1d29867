import type { RegisterCommands } from '../cli-types.js';

/** Subcommands of the fleet group. Declare options here; import the implementation inside each action. */
export const registerFleetCommands: RegisterCommands = (_program, _run, _withProfileOptions) => {};
