/**
 * Days until pgbouncer's client TLS certificate expires, for verify (a check) and health (status
 * and perfdata). The certificate is read from the file the config names, as it is on disk.
 */
import { iniPathSetting, iniSetting } from '../facts/host-facts.js';
import { daysToExpiry, readCertificate } from '../facts/tls-cert.js';
import { RENEW_WITHIN_DAYS } from '../plan/tls.js';
import type { System } from '../system/system.js';

/** pgbouncer's answer to a TCP client without TLS when client_tls_sslmode is require or stricter. */
export const SSL_REQUIRED = /SSL required/i;

/** Health goes CRITICAL this close to expiry (WARNING from RENEW_WITHIN_DAYS). */
const CRITICAL_DAYS = 7;

type CertExpiry = { path: string; days: number; notAfter: Date } | { path: string; problem: string };

export async function certificateExpiry(system: System, path: string, now: Date): Promise<CertExpiry> {
  let text: string | undefined;
  try {
    text = (await system.readManaged(path, 1024 * 1024))?.bytes.toString('utf8');
  } catch (e) {
    return { path, problem: (e as Error).message };
  }
  if (text === undefined) return { path, problem: 'the file does not exist' };
  const cert = readCertificate(text);
  if (!cert.ok) return { path, problem: `it ${cert.reason}` };
  return { path, days: daysToExpiry(cert.cert, now), notAfter: cert.cert.notAfter };
}

/** The certificate an ini text names (client_tls_cert_file), when client TLS is on. */
export function clientCertPath(iniText: string | undefined): string | undefined {
  const mode = iniSetting(iniText, 'client_tls_sslmode')?.toLowerCase();
  if (!mode || mode === 'disable') return undefined;
  return iniPathSetting(iniText, 'client_tls_cert_file');
}

function describeExpiry(e: CertExpiry): string {
  if ('problem' in e) return `${e.path}: ${e.problem}`;
  const date = e.notAfter.toISOString().slice(0, 10);
  return e.days < 0 ? `${e.path} expired ${-e.days} days ago (${date})` : `${e.path} expires in ${e.days} days (${date})`;
}

/** verify's check item. */
export function expiryCheck(e: CertExpiry): { id: string; title: string; status: 'pass' | 'fail' | 'note'; detail: string; fix?: string } {
  const base = { id: 'tls-cert', title: "pgbouncer's TLS certificate" };
  const fix = 're-run pgb-setup with --tls self-signed (it renews within 30 days of expiry), or give a new certificate with --tls-cert/--tls-key';
  if ('problem' in e || e.days < 0) return { ...base, status: 'fail', detail: describeExpiry(e), fix };
  if (e.days <= RENEW_WITHIN_DAYS) return { ...base, status: 'note', detail: describeExpiry(e), fix };
  return { ...base, status: 'pass', detail: describeExpiry(e) };
}

/** Health's verdict on the certificate: OK, WARNING within 30 days, CRITICAL within 7 or expired or unreadable. */
export function expiryStatus(e: CertExpiry): { status: 'OK' | 'WARNING' | 'CRITICAL'; summary: string; perfdata: string } {
  if ('problem' in e) return { status: 'CRITICAL', summary: `TLS certificate ${describeExpiry(e)}`, perfdata: '' };
  const status = e.days <= CRITICAL_DAYS ? 'CRITICAL' : e.days <= RENEW_WITHIN_DAYS ? 'WARNING' : 'OK';
  return { status, summary: `TLS certificate ${describeExpiry(e)}`, perfdata: `tls_cert_days=${e.days};${RENEW_WITHIN_DAYS};${CRITICAL_DAYS}` };
}
