import { Option, type Command } from 'commander';

/** Options shared by several commands; each command file declares its own. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** --profile, --env-file, --set and --pgbouncer-version: every command that reads a profile. */
export function withProfileOptions(cmd: Command): Command {
  return cmd
    .option('--profile <file>', 'your own JSON profile, layered over the built-in one')
    .option('--env-file <file>', 'read DBNAME, DBUSER, DBPASS, DBHOST, DBPORT, PGBOUNCER_HOST, PGBOUNCER_PORT from a dotenv file')
    .option('--set <key=value>', 'override one setting (repeatable), e.g. --set default_pool_size=40', collect, [])
    .option('--pgbouncer-version <x.y>', 'render for this pgbouncer version instead of the installed one');
}

/** The client/server TLS options, shared by apply and print-django-settings so both see the same profile. */
export function withTlsOptions(cmd: Command, forApply: boolean): Command {
  cmd
    .addOption(new Option('--tls <mode>', 'client TLS with a private CA and server certificate made here').choices(['self-signed']))
    .option('--tls-cert <file>', "client TLS with your own certificate (PEM; with --tls-key)")
    .option('--tls-key <file>', 'the private key of --tls-cert (PEM, unencrypted)')
    .option('--tls-ca <file>', 'the CA that signed --tls-cert: app hosts verify pgbouncer with it (sslmode verify-full)')
    .option('--sslrootcert <path>', 'where app hosts keep the CA file (default /etc/ssl/pgbouncer/ca.crt)');
  if (forApply) {
    cmd
      .option('--no-tls', 'turn client and server TLS off (a re-run without TLS options keeps the TLS pgb-setup installed)')
      .option('--tls-name <name>', 'one more host name or address for the self-signed certificate (repeatable)', collect, [])
      .option('--server-tls-ca <file>', "the CA that signed PostgreSQL's certificate: pgbouncer verifies the server (server_tls_sslmode verify-full)");
  }
  return cmd;
}
