/**
 * Shared pieces of the trust tests (test/unit/trust, test/integration/trust-*): a fake `/` for
 * `--root`, the CLI in-process, and the CLI as a real child process built from the current src/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/main.js';
import type { Context } from '../../src/system/context.js';
import { captureContext } from './context.js';

export const REPO = join(import.meta.dirname, '../..');
export const FIXTURES = join(REPO, 'test/fixtures/os-release');
export const PRELOAD = join(import.meta.dirname, 'crash-preload.mjs');

/** A new folder that looks like a fresh Debian 12 `/` to `--root`. */
export function makeRoot(prefix = 'pgb-trust-root-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  mkdirSync(join(dir, 'etc'), { recursive: true });
  writeFileSync(join(dir, 'etc/os-release'), readFileSync(join(FIXTURES, 'debian-12'), 'utf8'));
  return dir;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in this process (fast), like `pgb-setup ...args` with only `env` in the environment. */
export async function runInProcess(args: readonly string[], env: Record<string, string> = {}, overrides: Partial<Context> = {}): Promise<CliResult> {
  const ctx = captureContext({ env, ...overrides });
  const code = await main(['node', 'pgb-setup', ...args], ctx);
  return { code, stdout: ctx.out(), stderr: ctx.err() };
}

let built: string | undefined;

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Bundles the current src/ with esbuild into a private folder (the same build as `npm run build`,
 * but not in dist/, which other test runs and builds replace while we use it) and returns an entry
 * script equivalent to bin/pgb-setup.js. The folder sits inside the package so templates/ and
 * profiles/ are found the same way as from dist/.
 */
export async function buildCli(): Promise<string> {
  if (built) return built;
  const { build } = await import('esbuild');
  const cache = join(REPO, 'node_modules/.cache/pgb-setup-trust');
  // Bundles of test processes that are gone (vitest may end a worker without its exit hook).
  for (const name of existsSync(cache) ? readdirSync(cache) : []) {
    if (/^\d+$/.test(name) && !isRunning(Number(name))) rmSync(join(cache, name), { recursive: true, force: true });
  }
  const out = join(cache, `${process.pid}`);
  rmSync(out, { recursive: true, force: true });
  await build({
    entryPoints: { cli: join(REPO, 'src/main.ts') },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outdir: join(out, 'dist'),
    external: ['pg-native'],
    banner: { js: "import { createRequire as __pgbCreateRequire } from 'node:module'; const require = __pgbCreateRequire(import.meta.url);" },
    logLevel: 'error',
  });
  const entry = join(out, 'pgb-setup.mjs');
  writeFileSync(entry, "import { main } from './dist/cli.js';\nmain(process.argv).then((code) => { process.exitCode = code; });\n");
  process.on('exit', () => rmSync(out, { recursive: true, force: true }));
  built = entry;
  return entry;
}

export interface ChildOptions {
  env?: Record<string, string>;
  /** SIGKILL itself just before its n-th filesystem mutation (see crash-preload.mjs). */
  crashAt?: number;
  /** Append a trace of mutations and exec'd argv to this file. */
  trace?: string;
  /** Write the number of mutations to this file at exit. */
  countFile?: string;
  /** Written to the child's stdin (then closed); without it stdin is closed from the start. */
  input?: string;
}

function childEnv(opts: ChildOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: process.env['HOME'] ?? '/root', ...opts.env };
  if (opts.crashAt) env['PGB_TRUST_CRASH_AT'] = String(opts.crashAt);
  if (opts.trace) env['PGB_TRUST_TRACE'] = opts.trace;
  if (opts.countFile) env['PGB_TRUST_COUNT'] = opts.countFile;
  return env;
}

export interface ChildRun {
  child: ChildProcess;
  done: Promise<CliResult & { signal: NodeJS.Signals | null }>;
}

/** Starts `node --import crash-preload.mjs <entry> ...args`; stdin is closed (no terminal). */
export function startChild(entry: string, args: readonly string[], opts: ChildOptions = {}): ChildRun {
  const child = spawn(process.execPath, ['--import', PRELOAD, entry, ...args], { env: childEnv(opts), stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  if (opts.input !== undefined) child.stdin!.end(opts.input);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
  const done = new Promise<CliResult & { signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code: code ?? -1, signal, stdout, stderr }));
  });
  return { child, done };
}

export async function runChild(entry: string, args: readonly string[], opts: ChildOptions = {}): Promise<CliResult & { signal: NodeJS.Signals | null }> {
  return startChild(entry, args, opts).done;
}

/**
 * Figures for RELIABILITY.md: when PGB_TRUST_FIGURES names a file (scripts/reliability.mjs sets
 * it), each test appends one JSON line with what it generated, killed or ran concurrently.
 */
export function recordFigures(test: string, figures: Record<string, number>): void {
  const file = process.env['PGB_TRUST_FIGURES'];
  if (file) appendFileSync(file, `${JSON.stringify({ test, ...figures })}\n`);
}
