import { Option } from 'commander';
import type { RegisterCommands } from '../types.js';
import { withProfileOptions, withTlsOptions } from '../options.js';

/** Subcommands of the django group. Declare options here; import the implementation inside each action. */
export const registerDjangoCommands: RegisterCommands = (program, run) => {
  withProfileOptions(
    program
      .command('print-django-settings')
      .argument('[environment]', 'production, staging or development')
      .description("print the DATABASES block for Django's settings.py (or .env lines) matching the profile"),
  )
    .addOption(new Option('--engine <engine>', 'Django database backend').choices(['postgresql', 'postgis']).default('postgresql'))
    .addOption(new Option('--env-style <style>', 'read the environment with os.environ or django-environ').choices(['os', 'environ']).default('os'))
    .addOption(new Option('--format <format>', 'python settings, or .env lines').choices(['python', 'env']).default('python'))
    .option('--direct', 'the rollback variant: straight to PostgreSQL (DBHOST/DBPORT), no pgbouncer');
  withTlsOptions(program.commands.find((c) => c.name() === 'print-django-settings')!, false)
    .action(async (environment: string | undefined, opts) =>
      run(async (ctx) => {
        const { runPrintDjangoSettings } = await import('../../app/django-settings.js');
        return runPrintDjangoSettings(environment, opts, ctx);
      }),
    );
};
