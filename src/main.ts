import { CommanderError } from 'commander';
import { HOST_LOCK_PATH, type Context } from './system/context.js';
import { EXIT, InputError, InputErrors, PgbSetupError } from './text/errors.js';
import { createNodeSystem } from './system/node-system.js';
import { printable } from './text/printable.js';
import { JsonInputError } from './profile/json-input.js';
import { buildProgram, printableLines } from './cli/program.js';

/** The entry: runs the program and is the only place that maps errors to exit codes. */
let stdinLines: (() => Promise<string>) | undefined;

/** Each call reads the next line of standard input (a current password, then a new one). */
async function nextStdinLine(): Promise<string> {
  stdinLines ??= (await import('./system/stdin.js')).lineReader(process.stdin);
  return stdinLines();
}

export function defaultContext(): Context {
  return {
    system: createNodeSystem(),
    stdout: { write: (t) => void process.stdout.write(t) },
    stderr: { write: (t) => void process.stderr.write(t) },
    env: process.env,
    isTTY: Boolean(process.stdin.isTTY && process.stderr.isTTY),
    cwd: process.cwd(),
    readStdin: nextStdinLine,
    hostLockPath: HOST_LOCK_PATH,
  };
}

/**
 * An error from the file system or the runtime that no check turned into a PgbSetupError: said in
 * one line with the path and the reason (exit 1), not as a stack trace. Anything else is a bug.
 */
function systemErrorLine(e: unknown): string | undefined {
  const err = e as NodeJS.ErrnoException;
  if (typeof err?.code === 'string' && typeof err.syscall === 'string') {
    const reason = err.message.replace(/^[A-Z]+: /, '').replace(/, [a-z]+ '.*$/s, '');
    return `${err.path ?? err.syscall}: ${reason} (${err.syscall})`;
  }
  if (e instanceof RangeError && /call stack/i.test(e.message)) return 'the input is nested too deeply to process';
  return undefined;
}

/** Runs the CLI; returns the exit code instead of exiting, so tests can drive it in-process. */
export async function main(argv: readonly string[], ctx: Context = defaultContext()): Promise<number> {
  let code = EXIT.ok as number;
  const writeErr = (text: string) => ctx.stderr.write(text);
  const program = buildProgram(async () => ctx, (c) => (code = c), { writeOut: (s) => ctx.stdout.write(s), writeErr });
  try {
    await program.parseAsync([...argv]);
    return code;
  } catch (caught) {
    let e = caught;
    if (e instanceof JsonInputError) e = await e.located();
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return EXIT.ok;
      return EXIT.usage;
    }
    // The one place errors are printed: every line made printable, so nothing a user typed can
    // move the cursor or fake a line of its own.
    if (e instanceof PgbSetupError) {
      // Input errors are one line each by design, so a line break in one is the input's own.
      const lines = e instanceof InputErrors ? e.problems : e instanceof InputError ? [e.message] : e.message.split('\n');
      writeErr(printableLines(lines).map((l) => `pgb-setup: ${l}\n`).join(''));
      return e.exitCode;
    }
    const known = systemErrorLine(e);
    if (known) {
      writeErr(`pgb-setup: ${printable(known)}\n`);
      return EXIT.failed;
    }
    writeErr(`pgb-setup: internal error (this is a bug, please report it):\n${printable((e as Error).stack ?? String(e)).replace(/\\u000a/g, '\n')}\n`);
    return EXIT.failed;
  }
}
