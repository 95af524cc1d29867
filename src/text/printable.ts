/**
 * The one sanitiser for text from outside (a database or user name from the admin console or a
 * userlist, a server's error message, a key or file name in an error) on its way to a terminal: every character that could move
 * the cursor, clear the screen, set the window title, fake a new line or reorder the text (C0
 * controls, DEL, C1 controls including CSI and NEL, the Unicode line/paragraph separators and the
 * bidirectional overrides/isolates, a BOM) is shown as a visible escape, `\x1b` or `\u202e`. Everything
 * else passes unchanged, so ordinary names (Unicode letters included) print as they are.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;

export function printable(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** printable(), on one line: runs of white space (line breaks, tabs) become one space first. */
export function printableLine(text: string): string {
  return printable(text.replace(/[\s\u0085]+/g, ' ').trim());
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
