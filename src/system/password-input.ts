/**
 * Where passwords come from: a hidden prompt on a terminal, or the first line of standard input
 * with --password-stdin. Never from argv (other users can read it in `ps`).
 */
import type { Context } from './context.js';
import { CancelledError, InputError } from '../text/errors.js';

export type AskSecret = (message: string) => Promise<string>;

/**
 * Hidden prompt written to stderr: stdout carries the userlist line, so `hash-user ... >> file`
 * must not capture the question. Ctrl-C at the prompt ends the command with exit 130.
 */
export const askSecretOnStderr: AskSecret = async (message) => {
  const { askHidden } = await import('./prompts.js');
  try {
    return await askHidden(message);
  } catch (e) {
    if ((e as Error).name === 'ExitPromptError' || (e as Error).name === 'AbortPromptError') {
      throw new CancelledError('cancelled at the password prompt; nothing was changed');
    }
    throw e;
  }
};

/** Characters no PostgreSQL client can send in a password. */
function checkPassword(password: string, what: string): void {
  if (password === '') throw new InputError(`${what} is empty; PostgreSQL clients never send an empty password`, 'password');
  if (password.includes('\0')) throw new InputError(`${what} contains a NUL character, which PostgreSQL clients cannot send`, 'password');
  // What a terminal or a pipe of non-UTF-8 bytes becomes once decoded: the verifier would be for other text.
  if (password.includes('\ufffd')) throw new InputError(`${what} is not valid UTF-8 (or contains U+FFFD); use UTF-8 text`, 'password');
}

interface PasswordSourceOptions {
  passwordStdin?: boolean;
}

/**
 * A new password for `who`: stdin's first line with --password-stdin, else asked twice at a hidden
 * prompt on a terminal. Without either: InputError (exit 2) saying how to pipe it.
 */
export async function readNewPassword(who: string, opts: PasswordSourceOptions, ctx: Context, ask: AskSecret = askSecretOnStderr): Promise<string> {
  if (opts.passwordStdin) {
    const line = await ctx.readStdin();
    if (line === '') {
      throw new InputError('--password-stdin: standard input was empty; pipe the password as its first line, e.g. printf \'%s\\n\' "$PW" | pgb-setup ...', '--password-stdin');
    }
    checkPassword(line, 'the password on standard input');
    return line;
  }
  if (!ctx.isTTY) {
    throw new InputError(
      `no password for ${who}: standard input is not a terminal, so pgb-setup cannot ask for it; pipe it with --password-stdin (printf '%s\\n' "$PW" | pgb-setup ... --password-stdin). Passwords are never taken as arguments`,
      '--password-stdin',
    );
  }
  const first = await ask(`New password for ${who}:`);
  checkPassword(first, 'the password');
  const second = await ask(`Repeat the password for ${who}:`);
  if (first !== second) throw new InputError('the two passwords differ; nothing was changed, run it again', 'password');
  return first;
}
