import { posix } from 'node:path';
import { InputError } from '../text/errors.js';
import type { Layer } from './layers.js';

/** How pgbouncer gets its client TLS certificate, as the flags asked for. */
export type TlsRequest = { kind: 'self-signed' } | { kind: 'files'; cert: string; key: string; ca: string | undefined };

export interface TlsFlags {
  /** `self-signed`; false with --no-tls (turn client and server TLS off on purpose). */
  tls?: string | false;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  /** CA that signed PostgreSQL's certificate: pgbouncer then verifies the server (verify-full). */
  serverTlsCa?: string;
  /** Where the app hosts keep the CA file (print-django-settings). */
  sslrootcert?: string;
  tlsName?: string[];
}

export interface TlsChoice {
  client: TlsRequest | undefined;
  serverCa: string | undefined;
  /** --no-tls: the user turned TLS off; nothing installed is kept. */
  off?: boolean;
  /** Set when the choice was read from the installed pgbouncer.ini (a re-run without the TLS options). */
  kept?: string;
}

/** Where the CA file lives on the app hosts unless --sslrootcert says otherwise. */
export const APP_HOST_CA_PATH = '/etc/ssl/pgbouncer/ca.crt';

/** Checks the combination of TLS flags (not the files: apply reads those). Exit 2 naming the flag. */
export function parseTlsFlags(flags: TlsFlags): TlsChoice {
  const { tls, tlsCert, tlsKey, tlsCa, serverTlsCa, sslrootcert } = flags;
  if (tls === false) {
    if (tlsCert || tlsKey || tlsCa || serverTlsCa) throw new InputError('--no-tls: turns TLS off; drop --tls-cert/--tls-key/--tls-ca/--server-tls-ca, or drop --no-tls', '--no-tls');
    return { client: undefined, serverCa: undefined, off: true };
  }
  if (tls !== undefined && tls !== 'self-signed') throw new InputError(`--tls: "${tls}" is not a TLS mode; use --tls self-signed, or --tls-cert FILE --tls-key FILE for your own certificate`, '--tls');
  if (tls && (tlsCert || tlsKey || tlsCa)) throw new InputError('--tls: self-signed makes its own certificate; drop --tls-cert/--tls-key/--tls-ca, or drop --tls to use your own files', '--tls');
  if (tlsCert && !tlsKey) throw new InputError('--tls-key: missing; --tls-cert needs the private key that belongs to it (--tls-key FILE)', '--tls-key');
  if (tlsKey && !tlsCert) throw new InputError('--tls-cert: missing; --tls-key needs the certificate it belongs to (--tls-cert FILE)', '--tls-cert');
  if (tlsCa && !tlsCert) throw new InputError('--tls-ca: only goes with --tls-cert and --tls-key (the CA that signed your certificate)', '--tls-ca');
  for (const [flag, path] of [['--sslrootcert', sslrootcert]] as const) {
    if (path !== undefined && !posix.isAbsolute(path)) throw new InputError(`${flag}: "${path}" must be an absolute path on the app hosts`, flag);
  }
  for (const name of flags.tlsName ?? []) {
    if (!/^[A-Za-z0-9.:-]{1,253}$/.test(name)) throw new InputError(`--tls-name: "${name}" is not a host name or IP address`, '--tls-name');
  }
  const client: TlsRequest | undefined = tls ? { kind: 'self-signed' } : tlsCert ? { kind: 'files', cert: tlsCert, key: tlsKey!, ca: tlsCa } : undefined;
  return { client, serverCa: serverTlsCa };
}

/** The files pgb-setup keeps for TLS and pgbouncer's HBA rules, next to pgbouncer.ini. */
export interface TlsPaths {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  serverCa: string;
  hba: string;
}

export function tlsPaths(iniPath: string): TlsPaths {
  const etc = posix.dirname(iniPath);
  const dir = posix.join(etc, 'tls');
  return {
    dir,
    caCert: posix.join(dir, 'ca.crt'),
    caKey: posix.join(dir, 'ca.key'),
    serverCert: posix.join(dir, 'server.crt'),
    serverKey: posix.join(dir, 'server.key'),
    serverCa: posix.join(dir, 'postgresql-ca.crt'),
    hba: posix.join(etc, 'pgbouncer_hba.conf'),
  };
}

/** Whether the clients can check pgbouncer's certificate against a CA file (self-signed, or --tls-ca). */
function clientsCanVerify(choice: TlsChoice): boolean {
  return choice.client?.kind === 'self-signed' || (choice.client?.kind === 'files' && choice.client.ca !== undefined);
}

/**
 * The profile layer the TLS flags stand for: client TLS required, the key and certificates, the
 * HBA file (auth_type = hba), server TLS verified when a CA for PostgreSQL was given, and Django's
 * sslmode/sslrootcert to match. It sits above the built-in profile and the environment, below --set.
 */
export function tlsLayer(choice: TlsChoice, paths: TlsPaths, sslrootcert: string | undefined): Layer | undefined {
  if (!choice.client && !choice.serverCa) return undefined;
  const pgbouncer: Record<string, unknown> = {};
  const django: Record<string, unknown> = {};
  if (choice.client) {
    Object.assign(pgbouncer, {
      client_tls_sslmode: 'require',
      client_tls_key_file: paths.serverKey,
      client_tls_cert_file: paths.serverCert,
      auth_type: 'hba',
      auth_hba_file: paths.hba,
    });
    if (clientsCanVerify(choice)) {
      pgbouncer['client_tls_ca_file'] = paths.caCert;
      // print-django-settings then emits sslmode verify-full with this sslrootcert (require without it).
      django['sslrootcert'] = sslrootcert ?? APP_HOST_CA_PATH;
    }
  }
  if (choice.serverCa) Object.assign(pgbouncer, { server_tls_sslmode: 'verify-full', server_tls_ca_file: paths.serverCa });
  return { source: '--tls options', data: { pgbouncer, ...(Object.keys(django).length > 0 ? { django } : {}) } };
}
