import { Option, type Command } from 'commander';

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
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
      .option('--tls-name <name>', 'one more host name or address for the self-signed certificate (repeatable)', collect, [])
      .option('--server-tls-ca <file>', "the CA that signed PostgreSQL's certificate: pgbouncer verifies the server (server_tls_sslmode verify-full)");
  }
  return cmd;
}
