import { Option } from 'commander';
import type { RegisterCommands } from '../types.js';
import { collect, withProfileOptions, withTlsOptions } from '../options.js';

/** The main job (apply) and its views (render, config, settings). Import the implementation inside each action. */
export const registerSetupCommands: RegisterCommands = (program, run) => {
  withTlsOptions(
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
    .option('--no-peers', 'with --processes on pgbouncer < 1.19: run without [peers] (cancel requests may get lost)'),
    true,
  )
    .action(async (environment: string, opts) =>
      run(async (ctx) => {
        const { runApply } = await import('../../app/setup.js');
        return runApply(environment, opts, ctx);
      }),
    );

  withProfileOptions(program.command('render').argument('<environment>').description('write pgbouncer.ini and userlist.txt into a folder'))
    .requiredOption('--out <dir>', 'folder to write into')
    .option('--processes <n>', 'one config per process on the same port (so_reuseport + peers), N or auto')
    .option('--no-peers', 'with --processes on pgbouncer < 1.19: run without [peers] (cancel requests may get lost)')
    .action(async (environment: string, opts) =>
      run(async (ctx) => {
        const { runRender } = await import('../../app/render.js');
        return runRender(environment, opts, ctx);
      }),
    );

  withProfileOptions(program.command('config').argument('<environment>').description('print the resolved settings'))
    .option('--explain', 'show where every value came from')
    .option('--json', 'print JSON')
    .action(async (environment: string, opts) =>
      run(async (ctx) => {
        const { runConfig } = await import('../../app/config.js');
        return runConfig(environment, opts, ctx);
      }),
    );
};

/** `rollback`: the newest backup put back. */
export const registerRollbackCommand: RegisterCommands = (program, run) => {
  program
    .command('rollback')
    .description('restore the newest backup of pgbouncer.ini and userlist.txt and reload pgbouncer')
    .option('--list', 'list the backups instead')
    .option('--json', 'with --list: print JSON')
    .option('--root <dir>', 'treat DIR as /')
    .action(async (opts) =>
      run(async (ctx) => {
        const { runRollback } = await import('../../app/rollback.js');
        return runRollback(opts, ctx);
      }),
    );
};

/** `settings`: the catalogue. */
export const registerSettingsCommand: RegisterCommands = (program, run) => {
  program
    .command('settings')
    .description('list the pgbouncer settings pgb-setup knows, with the version that introduced each')
    .action(async () =>
      run(async (ctx) => {
        const { runSettings } = await import('../../app/settings.js');
        return runSettings(ctx);
      }),
    );
};
