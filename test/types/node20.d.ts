// Tests run on the development Node.js 20+, while src is type-checked against @types/node 18.19 (the
// oldest runtime the CLI supports): these are the few Node 20 APIs the tests use. src must not use them;
// `tsc -p tsconfig.json` (src alone, without this file) keeps it honest.

interface ImportMeta {
  /** Node.js 20.11+: the folder of the current module file. */
  dirname: string;
  /** Node.js 20.11+: the absolute path of the current module file. */
  filename: string;
}

interface String {
  /** ES2024, Node.js 20+: false when the string holds a lone surrogate. */
  isWellFormed(): boolean;
}

declare module 'node:util' {
  /** Node.js 20.12+: the dotenv reader behind `node --env-file`. */
  function parseEnv(content: string): NodeJS.Dict<string>;
}
