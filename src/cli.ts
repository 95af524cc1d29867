import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { HOST_LOCK_PATH, type Context } from './context.js';
import { EXIT, InputError, InputErrors, PgbSetupError } from './errors.js';
import { packagePath } from './package-root.js';
import { createNodeSystem } from './system/node-system.js';
import type { RunCommand } from './cli-types.js';
import { EXTRA_COMMANDS } from './commands/index.js';
import { printable, withoutOptionValues } from './ui/printable.js';
import { JsonInputError } from './profile/json-input.js';

/**
 * The command tree. Each action lazy-imports its module so that `--version` and `--help` do not
 * pay for handlebars, zod, pg or inquirer. This is the only place that maps errors to exit codes.
 */
function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function withProfileOptions(cmd: Command): Command {
  return cmd
    .option('--profile <file>', 'your own JSON profile, layered over the built-in one')
    .option('--env-file <file>', 'read DBNAME, DBUSER, DBPASS, DBHOST, DBPORT, PGBOUNCER_HOST, PGBOUNCER_PORT from a dotenv file')
    .option('--set <key=value>', 'override one setting (repeatable), e.g. --set default_pool_size=40', collect, [])
    .option('--pgbouncer-version <x.y>', 'render for this pgbouncer version instead of the installed one');
}

function version(): string {
  return (JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { version: string }).version;
}

export function buildProgram(getCtx: () => Promise<Context>, setCode: (code: number) => void, output?: { writeOut: (s: string) => void; writeErr: (s: string) => void }): Command {
  const run: RunCommand = async (body) => setCode(await body(await getCtx()));
  const program = new Command('pgb-setup');
  // Before the subcommands are added: they copy these settings from their parent when created.
  if (output) {
    program.configureOutput({
      ...output,
      outputError: (text, write) => write(printableLines(withoutOptionValues(text).replace(/\n$/, '').split('\n')).map((l) => `${l}\n`).join('')),
    });
  }
  program
    .description('Put a production-grade PgBouncer in front of PostgreSQL for Django, in one command.')
    .version(version(), '-V, --version')
    .showHelpAfterError('(run pgb-setup --help for usage)')
    .exitOverride();

  withProfileOptions(
    program
      .command('apply', { isDefault: true })
      .argument('<environment>', 'production, staging or development')
      .description('install, configure, secure, start and verify pgbouncer on this host (the main job)'),
  )
    .option('--dry-run', 'print the plan and change nothing')
    .option('--json', 'print the plan (or the result) as JSON')
    .option('--root <dir>', 'treat DIR as / for every file read or written; skip live-system steps')
    .option('-y, --yes', 'never prompt; fail with exit 2 when a value is missing')
    .option('--allow-from <cidr>', 'allow this network to the listen port (repeatable)', collect, [])
    .option('--enable-firewall', 'enable an inactive firewall (after allowing SSH)')
    .option('--skip-install', 'do not install packages')
    .option('--skip-firewall', 'do not touch the firewall')
    .option('--skip-service', 'do not start or reload the service')
    .option('--drain <seconds>', 'handover, pgbouncer 1.23+: how long clients may stay on the old process before the rest are disconnected between transactions (default 5; Django clients leave by themselves within CONN_MAX_AGE)')
    .option('--skip-verify', 'do not check the new config in a throwaway pgbouncer first')
    .option('--copy-server-secret', "read DBUSER's verifier from pg_authid (PG* admin credentials, or as root on the PostgreSQL host the local postgres account) instead of logging in as DBUSER to learn it")
    .option('-v, --verbose', 'also show the steps with nothing to do')
    .addOption(new Option('--repo <repo>', 'package repository for pgbouncer').choices(['distro', 'pgdg']).default('distro'))
    .option('--processes <n>', 'run N pgbouncer processes on one port (so_reuseport + peers), or auto (one per core)')
    .option('--no-peers', 'with --processes on pgbouncer < 1.19: run without [peers] (cancel requests may get lost)')
    .action(async (environment: string, opts) => {
      const { runApply } = await import('./commands/apply.js');
      setCode(await runApply(environment, opts, await getCtx()));
    });

  withProfileOptions(program.command('render').argument('<environment>').description('write pgbouncer.ini and userlist.txt into a folder'))
    .requiredOption('--out <dir>', 'folder to write into')
    .option('--processes <n>', 'one config per process on the same port (so_reuseport + peers), N or auto')
    .option('--no-peers', 'with --processes on pgbouncer < 1.19: run without [peers] (cancel requests may get lost)')
    .action(async (environment: string, opts) => {
      const { runRender } = await import('./commands/render.js');
      setCode(await runRender(environment, opts, await getCtx()));
    });

  withProfileOptions(program.command('config').argument('<environment>').description('print the resolved settings'))
    .option('--explain', 'show where every value came from')
    .option('--json', 'print JSON')
    .action(async (environment: string, opts) => {
      const { runConfig } = await import('./commands/config.js');
      setCode(await runConfig(environment, opts, await getCtx()));
    });

  program
    .command('rollback')
    .description('restore the newest backup of pgbouncer.ini and userlist.txt and reload pgbouncer')
    .option('--list', 'list the backups instead')
    .option('--json', 'with --list: print JSON')
    .option('--root <dir>', 'treat DIR as /')
    .action(async (opts) => {
      const { runRollback } = await import('./commands/rollback.js');
      setCode(await runRollback(opts, await getCtx()));
    });

  program
    .command('settings')
    .description('list the pgbouncer settings pgb-setup knows, with the version that introduced each')
    .action(async () => {
      const { runSettings } = await import('./commands/settings.js');
      setCode(runSettings(await getCtx()));
    });

  for (const register of EXTRA_COMMANDS) register(program, run, withProfileOptions);
  return program;
}

let stdinLines: (() => Promise<string>) | undefined;

/** Each call reads the next line of standard input (a current password, then a new one). */
async function nextStdinLine(): Promise<string> {
  stdinLines ??= (await import('./stdin.js')).lineReader(process.stdin);
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

/** Each line made printable, and each said once: several checks can find the same problem. */
function printableLines(lines: readonly string[]): string[] {
  return [...new Set(lines.map(printable))];
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
