/**
 * Text that reaches the terminal from what a user (or an attacker) typed: a key, a file name, a
 * value in an error. Control characters (C0, DEL, C1 including U+0085), the Unicode line and
 * paragraph separators and the bidirectional overrides are shown as \u escapes, so input can
 * neither move the cursor, clear the screen, nor start a line that looks like pgb-setup's own.
 */
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;

export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * A commander message without the value of an option: `--password=SECRET` becomes `--password`,
 * `argument 'SECRET' is invalid` becomes `argument is invalid`. Values are never echoed: a
 * mistyped flag is a common way for a secret to end up on the command line.
 */
export function withoutOptionValues(message: string): string {
  return message
    .replace(/(unknown option ')(--[^=']*)=[\s\S]*'/, '$1$2\'')
    .replace(/(unknown option ')(-[^-'])[^'][\s\S]*'/, '$1$2\'')
    .replace(/ argument '[\s\S]*' is invalid\./, ' argument is invalid.')
    .replace(/ value '[\s\S]*' from env '/, " value from env '")
    .replace(/command-argument value '[\s\S]*' is invalid for/, 'command-argument value is invalid for');
}
