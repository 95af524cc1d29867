import { InputError, InputErrors } from '../text/errors.js';

/** One thing wrong with the input, found before anything is written: the field to fix and the one-line message. */
export interface Problem {
  field: string;
  message: string;
}

/** Bad input (exit 2): one problem as an InputError naming its field, several as one line each. */
export function throwProblems(problems: readonly Problem[]): void {
  if (problems.length === 1) throw new InputError(problems[0]!.message, problems[0]!.field);
  if (problems.length > 1) throw new InputErrors(problems.map((p) => p.message));
}
