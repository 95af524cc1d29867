import type { TlsChoice, TlsPaths, TlsRequest } from '../profile/tls-layer.js';
import { iniPathSetting, iniSetting } from './host-facts.js';

/**
 * A re-run without TLS options keeps the TLS that pgb-setup installed (the same run from cron must
 * not switch TLS and pgbouncer's HBA rules off): self-signed when its own CA key is there, else the
 * certificate already in place; server TLS when its CA copy is named. Nothing when the options were
 * given, --no-tls was, or the installed ini names files pgb-setup did not put there.
 * @param caKeyPresent pgb-setup's private CA key exists
 * @param live the files are on this host (under --root the certificate and key cannot be re-read)
 */
export function keptTlsChoice(asked: TlsChoice, iniText: string | undefined, paths: TlsPaths, caKeyPresent: boolean, live: boolean): TlsChoice {
  if (asked.off || asked.client || asked.serverCa || iniText === undefined) return asked;
  const sslmode = iniSetting(iniText, 'client_tls_sslmode')?.toLowerCase();
  const clientOn = sslmode !== undefined && sslmode !== 'disable' && iniPathSetting(iniText, 'client_tls_cert_file') === paths.serverCert && iniPathSetting(iniText, 'client_tls_key_file') === paths.serverKey;
  const caNamed = iniPathSetting(iniText, 'client_tls_ca_file') === paths.caCert;
  let client: TlsRequest | undefined;
  if (clientOn && caNamed && caKeyPresent) client = { kind: 'self-signed' };
  else if (clientOn && live) client = { kind: 'files', cert: paths.serverCert, key: paths.serverKey, ca: caNamed ? paths.caCert : undefined };
  const serverCa = live && iniPathSetting(iniText, 'server_tls_ca_file') === paths.serverCa && iniSetting(iniText, 'server_tls_sslmode')?.toLowerCase() === 'verify-full' ? paths.serverCa : undefined;
  if (!client && !serverCa) return asked;
  const what = [client ? `client TLS (${client.kind === 'self-signed' ? 'self-signed' : 'the certificate in place'})` : '', serverCa ? 'server TLS (verify-full)' : ''].filter(Boolean).join(' and ');
  return { client, serverCa, kept: `keeping the installed ${what}: the run gave no TLS options; pass --no-tls to turn TLS off` };
}
