// src/ is type-checked against Node.js 18.19's API (@types/node 18). process.noDeprecation exists
// at run time since Node.js 0.8; only @types/node 18 lacks its declaration.
declare global {
  namespace NodeJS {
    interface Process {
      noDeprecation?: boolean;
    }
  }
}
export {};
