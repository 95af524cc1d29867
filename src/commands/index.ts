import type { RegisterCommands } from '../cli-types.js';
import { registerCredentialsCommands } from './credentials.cli.js';
import { registerDjangoCommands } from './django.cli.js';
import { registerOpsCommands } from './ops.cli.js';

/** Subcommand groups beyond the core ones in cli.ts; each file only declares options (cheap to load). */
export const EXTRA_COMMANDS: RegisterCommands[] = [registerCredentialsCommands, registerDjangoCommands, registerOpsCommands];
