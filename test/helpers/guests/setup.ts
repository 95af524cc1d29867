/**
 * Global setup of the `guests` project: host tools, the cached root filesystems, and the tarball a
 * new user would install (`npm pack` of the dist/ that `npm test` has just built).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE, ensureHostTools, ensureRootfs } from './guest.js';

const REPO = join(import.meta.dirname, '../../..');
export const PACK_DIR = join(CACHE, 'pack');

export default async function setup(): Promise<void> {
  await ensureHostTools();
  await ensureRootfs('bookworm');
  await ensureRootfs('trixie');
  if (!existsSync(join(REPO, 'dist/cli.js'))) execFileSync('npm', ['run', 'build'], { cwd: REPO, stdio: 'inherit' });
  rmSync(PACK_DIR, { recursive: true, force: true });
  mkdirSync(PACK_DIR, { recursive: true });
  // --ignore-scripts: prepack would rebuild dist/ under the other test projects.
  execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', PACK_DIR], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] });
  if (!readdirSync(PACK_DIR).some((f) => /^pgb-setup-.*\.tgz$/.test(f))) throw new Error('npm pack made no tarball');
}
