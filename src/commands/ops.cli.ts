import type { RegisterCommands } from '../cli-types.js';

/** Subcommands of the ops group. Declare options here; import the implementation inside each action. */
export const registerOpsCommands: RegisterCommands = (_program, _run, _withProfileOptions) => {};
