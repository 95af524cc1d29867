import type { RegisterCommands } from './types.js';
import { registerCredentialsCommands } from './credentials-commands.js';
import { registerDjangoCommands } from './django-commands.js';
import { registerOpsCommands } from './ops-commands.js';

/** Subcommand groups beyond the core ones in cli.ts; each file only declares options (cheap to load). */
export const EXTRA_COMMANDS: RegisterCommands[] = [registerCredentialsCommands, registerDjangoCommands, registerOpsCommands];
