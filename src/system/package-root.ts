import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** The folder holding package.json, templates/ and profiles/, wherever the package is installed. */
function packageRoot(): string {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'profiles'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('pgb-setup: cannot find its own package folder (templates/, profiles/)');
    dir = parent;
  }
  cached = dir;
  return dir;
}

export function packagePath(...parts: string[]): string {
  return join(packageRoot(), ...parts);
}
