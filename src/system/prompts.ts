/**
 * The only place that talks to a person. Loaded lazily: inquirer costs start-up time.
 * Prompts go to stderr: stdout carries data (plans, JSON, userlist lines) and may be redirected.
 */
const context = { output: process.stderr };

export async function askText(message: string, defaultValue?: string): Promise<string> {
  const { input } = await import('@inquirer/prompts');
  return input({ message, ...(defaultValue ? { default: defaultValue } : {}), required: true }, context);
}

export async function askSecret(message: string): Promise<string> {
  const { password } = await import('@inquirer/prompts');
  return password({ message, mask: '*', validate: (v) => (v.length > 0 ? true : 'must not be empty') }, context);
}

/** A hidden prompt with nothing echoed, left on screen once answered (hash-user, credentials: see password-input.ts). */
export async function askHidden(message: string): Promise<string> {
  const { password } = await import('@inquirer/prompts');
  return password({ message }, { ...context, clearPromptOnDone: false });
}
