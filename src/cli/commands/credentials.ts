import { Command, Option } from 'commander';
import type { RegisterCommands } from '../types.js';
import { collect, withProfileOptions } from '../options.js';
import { EXIT } from '../../text/errors.js';

/** --pg-*: the PostgreSQL admin connection (password from PGPASSWORD or a prompt, never argv). */
function withPgAdminOptions(cmd: Command): Command {
  return cmd
    .option('--pg-host <host>', 'PostgreSQL host or socket directory for the admin connection (default PGHOST, then the profile DBHOST, then localhost)')
    .option('--pg-port <port>', 'PostgreSQL port (default PGPORT, then the profile DBPORT, then 5432)')
    .option('--pg-user <role>', 'admin role (default PGUSER, then postgres); its password comes from PGPASSWORD or a prompt')
    .option('--pg-database <db>', 'database to connect to (default PGDATABASE, then postgres)');
}

/** Where the running pgbouncer is, for --reload and the login check afterwards. */
function withPgbouncerOptions(cmd: Command): Command {
  return cmd
    .option('--reload', 'reload pgbouncer afterwards: admin console RELOAD, else systemctl reload, else SIGHUP to the pidfile')
    .option('--pgbouncer-host <host>', 'pgbouncer address or socket directory (default: the profile listen_addr, PGBOUNCER_HOST, 127.0.0.1)')
    .option('--pgbouncer-port <port>', 'pgbouncer port (default: the profile listen_port, PGBOUNCER_PORT, 6432)')
    .option('--admin-user <user>', 'admin console user for RELOAD (default: the first of the profile admin_users); password from PGBOUNCER_ADMIN_PASSWORD')
    .option('--service <unit>', 'systemd unit to reload', 'pgbouncer')
    .option('--pidfile <file>', 'pgbouncer pidfile for SIGHUP (default: the profile pidfile)')
    .option('--login-db <db>', 'after the reload, log in through pgbouncer to this database with the new password (default: the profile DBNAME)');
}

/** Subcommands of the credentials group. Declare options here; import the implementation inside each action. */
export const registerCredentialsCommands: RegisterCommands = (program, run) => {
  withPgbouncerOptions(
    withPgAdminOptions(
      withProfileOptions(
        program
          .command('hash-user')
          .argument('<username>', 'the user (PostgreSQL role) to write a secret for')
          .argument('[environment]', 'profile to take auth_file, listen_port, admin_users and pidfile from')
          .description('print one userlist.txt line "user" "secret" for a password typed at a prompt or piped with --password-stdin'),
      ),
    ),
  )
    .addOption(new Option('--method <method>', 'secret type').choices(['scram-sha-256', 'md5']).default('scram-sha-256'))
    .option('--iterations <n>', 'SCRAM-SHA-256 iteration count', '4096')
    .option('--password-stdin', 'read the password from the first line of standard input (the second with --current-password-stdin)')
    .option('--current-password-stdin', "with --apply-server: log in as the role itself, its current password being the first line of standard input")
    .option('--userlist [file]', "also upsert the line into this existing userlist.txt (no FILE: the profile's auth_file)")
    .option(
      '--apply-server',
      'also set the same secret on PostgreSQL (ALTER ROLE ... PASSWORD), checked by reading it back; logs in with PGUSER/PGPASSWORD, else as root on the PostgreSQL host as the local postgres account, else as the role itself with its current password',
    )
    .action(async (username: string, environment: string | undefined, opts) =>
      run(async (ctx) => {
        const { runHashUser } = await import('../../app/credentials.js');
        return runHashUser(username, environment, opts, ctx);
      }),
    );

  const users = program.command('users').description('userlist.txt against PostgreSQL');
  withPgAdminOptions(
    withProfileOptions(
      users
        .command('check')
        .argument('[environment]', "profile whose auth_file to check")
        .description('compare every userlist.txt secret with what PostgreSQL stores (pg_authid); exit 1 when any differs or is missing'),
    ),
  )
    .option('--userlist <file>', "userlist.txt to check (default: the profile's auth_file)")
    .option('--json', 'print JSON')
    .action(async (environment: string | undefined, opts) =>
      run(async (ctx) => {
        const { runUsersCheck } = await import('../../app/credentials.js');
        return (await runUsersCheck(environment, opts, ctx)) ? EXIT.ok : EXIT.failed;
      }),
    );

  withPgbouncerOptions(
    withPgAdminOptions(
      withProfileOptions(
        program
          .command('auth-query')
          .argument('[environment]', 'profile to take auth_user, auth_dbname, DBNAME and auth_file from')
          .description('print (or install with --apply-server) a least-privileged auth_user role and lookup function for auth_query'),
      ),
    ),
  )
    .option('--auth-user <role>', 'the role pgbouncer runs auth_query as (default: the profile auth_user, else pgbouncer_auth)')
    .option('--schema <name>', 'schema of the lookup function', 'pgbouncer')
    .option('--dbname <db>', 'database to install the function in (repeatable; default: the profile auth_dbname, else DBNAME)', collect, [])
    .option('--apply-server', 'run the SQL on PostgreSQL as a superuser, set the auth role password and check the function')
    .option('--userlist [file]', "with --apply-server: write the auth role's password into this userlist.txt (no FILE: the profile's auth_file)")
    .option('--password-stdin', "read the auth role's password from standard input (default with --userlist: a random one)")
    .action(async (environment: string | undefined, opts) =>
      run(async (ctx) => {
        const { runAuthQuery } = await import('../../app/credentials.js');
        return runAuthQuery(environment, opts, ctx);
      }),
    );
};
