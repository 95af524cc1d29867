/**
 * Every error the user should see without a stack trace. Only main.ts turns them into exit codes.
 * 0 done, 1 failed at run time, 2 bad usage or invalid input (nothing written), 130 cancelled by
 * the user (Ctrl-C, 128 + SIGINT, as a shell reports it).
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

export class PgbSetupError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.name = new.target.name;
    this.exitCode = exitCode;
  }
}

/** Bad input: a flag, a profile value, an env value, a file the user gave us. Exit 2, nothing written. */
export class InputError extends PgbSetupError {
  /** Dot-path of the offending field, e.g. `pgbouncer.listen_port`. */
  readonly field: string | undefined;
  constructor(message: string, field?: string) {
    super(message, EXIT.usage);
    this.field = field;
  }
}

/** Several input problems found at once; printed one per line. */
export class InputErrors extends InputError {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.join('\n'));
    this.problems = problems;
  }
}

/** Something failed while running (a command, a service, a login). Exit 1. */
export class RuntimeError extends PgbSetupError {
  constructor(message: string) {
    super(message, EXIT.failed);
  }
}

/** The host is not one we support (distro, package manager). Exit 1: the input was fine, the machine is not. */
export class UnsupportedHostError extends PgbSetupError {
  constructor(message: string) {
    super(message, EXIT.failed);
  }
}

/** The user stopped the command (Ctrl-C at a prompt) before anything changed. Exit 130, as for SIGINT. */
export class CancelledError extends PgbSetupError {
  constructor(message: string) {
    super(message, EXIT.interrupted);
  }
}
