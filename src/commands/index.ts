import type { RegisterCommands } from '../cli-types.js';

/** Subcommand groups beyond the core ones in cli.ts; each file only declares options (cheap to load). */
export const EXTRA_COMMANDS: RegisterCommands[] = [];
