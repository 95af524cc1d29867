import { Option, type Command } from 'commander';
import type { RegisterCommands } from '../types.js';
import { withProfileOptions } from '../options.js';
import { EXIT } from '../../text/errors.js';

/** --host/--port/--user/--password-env/--timeout: where the admin console is, overriding the profile. */
function withConsoleOptions(cmd: Command): Command {
  return cmd
    .option('--host <host>', "pgbouncer's address, or the directory of its unix socket (default: the profile's listen_addr, else unix_socket_dir); with --processes the base socket directory (<dir>/pgbouncer-<i>)")
    .option('--port <port>', "pgbouncer's port (default: the profile's listen_port)")
    .option('--user <name>', 'console user (default: the first of stats_users, admin_users with a known password)')
    .option('--password-env <VAR>', 'environment variable holding the console password when the user is not DBUSER (default PGPASSWORD)')
    .option('--timeout <seconds>', 'bound on the whole console session: connect, login, every answer and the close (0.1-300, default 5)', undefined);
}

/** Subcommands of the ops group. Declare options here; import the implementation inside each action. */
export const registerOpsCommands: RegisterCommands = (program, run) => {
  withConsoleOptions(
    withProfileOptions(
      program
        .command('health')
        .argument('[environment]', 'production, staging or development (without: --host/--port, PGBOUNCER_HOST/PGBOUNCER_PORT, DBUSER)')
        .description('Nagios-style check of the pools through the admin console: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN'),
    ),
  )
    .option('--warn-utilisation <percent>', 'WARNING when busy servers reach this % of the pool size (default 80)')
    .option('--crit-utilisation <percent>', 'CRITICAL at this % (default 100)')
    .option('--warn-waiting <clients>', 'WARNING when this many clients wait in one pool (default 5)')
    .option('--crit-waiting <clients>', 'CRITICAL at this many (default 20)')
    .option('--warn-maxwait <seconds>', 'WARNING when the oldest waiting client has waited this long (default 1)')
    .option('--crit-maxwait <seconds>', 'CRITICAL at this many seconds (default 5)')
    .option('--database <name>', 'check only the pools of this database')
    .option('--json', 'print the result as JSON (same exit codes)')
    .option('--processes <n>', 'a group installed with --processes N (or auto): every process, each through its own unix socket <unix_socket_dir>/pgbouncer-<i>')
    .action(async (environment: string | undefined, opts) =>
      run(async (ctx) => {
        const [{ runHealth }, { NAGIOS }] = await Promise.all([import('../../app/health.js'), import('../../ops/health/thresholds.js')]);
        return NAGIOS[await runHealth(environment, opts, ctx)];
      }),
    );

  withConsoleOptions(
    withProfileOptions(
      program
        .command('stats')
        .argument('[environment]', 'production, staging or development')
        .description('SHOW POOLS, STATS, DATABASES, LISTS in one snapshot, as a table, JSON or Prometheus text; --serve exposes /metrics'),
    ),
  )
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json', 'prometheus']))
    .option('--serve <[address:]port>', 'serve Prometheus /metrics over HTTP until SIGINT/SIGTERM: ADDRESS:PORT, or a bare PORT, which binds 127.0.0.1 only (e.g. 9127 = 127.0.0.1:9127); a fresh snapshot per scrape, concurrent scrapes share one console connection')
    .option('--legacy-stats-names', 'also emit pgbouncer_stats_* (pgbouncer_exporter <= 0.10) next to pgbouncer_stats_totals_*')
    .option('--processes <n>', 'a group installed with --processes N (or auto): one snapshot per process (Prometheus: a process label), each through its own unix socket <unix_socket_dir>/pgbouncer-<i>')
    .action(async (environment: string | undefined, opts) =>
      run(async (ctx) => {
        const { runStats } = await import('../../app/stats.js');
        return runStats(environment, opts, ctx);
      }),
    );

  withConsoleOptions(
    withProfileOptions(
      program
        .command('size')
        .argument('[environment]', "compare with this profile's pools and server.max_connections")
        .description("recommend pool sizes from Little's law (L = λ × W) and the database's limits, showing the working"),
    ),
  )
    .option('--tps <n>', 'peak transactions per second (λ)')
    .option('--xact-seconds <s>', 'mean seconds one transaction holds a server connection (W), in seconds: 25 ms is 0.025')
    .option('--headroom <factor>', 'multiply L by this for bursts (default 1.5)')
    .option('--cores <n>', "PostgreSQL server's physical cores (caps pools at 2 × cores + spindles)")
    .option('--spindles <n>', 'effective disk spindles (0 when the working set is cached; default 0)')
    .option('--max-connections <n>', "PostgreSQL's max_connections (default: the profile's server.max_connections)")
    .option('--superuser-reserved <n>', 'superuser_reserved_connections (default 3)')
    .option('--direct-connections <n>', 'connections that bypass pgbouncer: migrations, cron, monitoring (default 5)')
    .option('--pools <n>', 'database/user pairs (default: from the profile, else 1)')
    .option('--app-hosts <n>', 'app servers')
    .option('--app-processes <n>', 'worker processes per app server')
    .option('--app-threads <n>', 'threads per worker process (default 1)')
    .option('--extra-clients <n>', 'client connections on top of the app for admin and monitoring (default 10)')
    .option('--from-stats', "take λ and W from a running pgbouncer's SHOW STATS (avg_xact_count, avg_xact_time)")
    .option('--database <name>', 'with --from-stats: the database to read (default: DBNAME, else the busiest)')
    .option('--json', 'print JSON')
    .action(async (environment: string | undefined, opts) =>
      run(async (ctx) => {
        const { runSize } = await import('../../app/size.js');
        return runSize(environment, opts, ctx);
      }),
    );

  withProfileOptions(
    program
      .command('verify')
      .argument('<environment>', 'production, staging or development')
      .description('check an installed setup end to end; prints a checklist with the fix for each failure (exit 1 if any fails)'),
  )
    .option('--root <dir>', 'treat DIR as / for every file read; skip the live checks (service, port, logins)')
    .option('--ini <path>', 'the installed pgbouncer.ini (default: the distro path)')
    .option('--service-user <name>', 'the account pgbouncer runs as (default: detected from the host)')
    .option('--timeout <seconds>', 'connect timeout for the live checks (default 5)')
    .option('--json', 'print the checklist as JSON')
    .option('--processes <n>', 'a group installed with --processes N (or auto): check pgbouncer-<i>.ini next to --ini, and each process (pidfile, socket, console, pool share)')
    .option('--no-peers', 'with --processes: the group was installed with --no-peers')
    .action(async (environment: string, opts) =>
      run(async (ctx) => {
        const { runVerify } = await import('../../app/verify.js');
        return (await runVerify(environment, opts, ctx)) ? EXIT.ok : EXIT.failed;
      }),
    );

  withProfileOptions(
    program
      .command('bench')
      .argument('<environment>', 'production, staging or development: the database and pgbouncer it names are the targets')
      .description('pgbench against PostgreSQL directly and through pgbouncer, new connection per transaction and persistent, side by side'),
  )
    .option('--clients <n>', 'concurrent pgbench clients, 1-64 (default 4)')
    .option('--seconds <n>', 'seconds per run, 1-60 (default 5); there are four runs')
    .addOption(new Option('--workload <kind>', 'select1: a custom script "SELECT 1;" (writes nothing); select-only: pgbench -S after pgbench -i into the target database').choices(['select1', 'select-only']).default('select1'))
    .option('--scale <n>', 'with --workload select-only: pgbench -i scale factor, 1-100 (default 1)')
    .option('--pgbench <path>', 'the pgbench binary (default: newest /usr/lib/postgresql/*/bin/pgbench, else PATH)')
    .option('--json', 'print JSON')
    .option('--svg <file>', 'also write the comparison as an SVG bar chart')
    .option('--processes <n>', "instead: 1 pgbouncer process vs N (so_reuseport), persistent connections, in throwaway pgbouncers started from the profile's rendered configs (split pool budget) on a spare loopback port, stopped afterwards")
    .option('--no-peers', 'with --processes on pgbouncer < 1.19: run the group without [peers]')
    .option('--pgbouncer-binary <path>', 'with --processes: the pgbouncer to start (default: pgbouncer on PATH)')
    .option('--service-user <name>', 'with --processes, as root: the account the throwaway pgbouncers run as (default: detected from the host)')
    .action(async (environment: string, opts) =>
      run(async (ctx) => {
        const { runBench } = await import('../../app/bench.js');
        return runBench(environment, opts, ctx);
      }),
    );

  withProfileOptions(
    program
      .command('restart')
      .argument('[environment]', 'production, staging or development: each new process must accept a login as DBUSER (without: its admin console must answer)')
      .description('hand pgbouncer over to a new process on the same files without refusing a connection (so_reuseport): after a package upgrade, for example'),
  )
    .option('--dry-run', 'only say what would be handed over')
    .option('--drain <seconds>', 'pgbouncer 1.23+: how long connected clients may stay on the old process before they are disconnected between transactions (default 5)')
    .action(async (environment: string | undefined, opts) =>
      run(async (ctx) => {
        const { runRestart } = await import('../../app/restart.js');
        return runRestart(environment, opts, ctx);
      }),
    );
};
