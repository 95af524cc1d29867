import { createPrivateKey, X509Certificate } from 'node:crypto';

/**
 * What a PEM certificate says about itself, read with node:crypto (no library): when it expires,
 * the names it is valid for, and whether it is a CA. Pure: the caller reads the bytes.
 */
export interface CertFacts {
  subject: string;
  issuer: string;
  notBefore: Date;
  notAfter: Date;
  /** DNS names and IP addresses from subjectAltName, as "DNS:x" / "IP:y". */
  names: string[];
  ca: boolean;
  serial: string;
  fingerprint256: string;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates in a PEM text (a chain file holds several); empty when there is none. */
export function pemCertificates(text: string): string[] {
  return text.match(PEM_CERT) ?? [];
}

/** The first certificate of a PEM text, or a one-line reason why there is none. */
export function readCertificate(text: string): { ok: true; cert: CertFacts; x509: X509Certificate } | { ok: false; reason: string } {
  const first = pemCertificates(text)[0];
  if (!first) return { ok: false, reason: 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)' };
  try {
    const x509 = new X509Certificate(first);
    return { ok: true, cert: certFacts(x509), x509 };
  } catch (e) {
    return { ok: false, reason: `is not a readable certificate (${(e as Error).message})` };
  }
}

function certFacts(x: X509Certificate): CertFacts {
  const names = (x.subjectAltName ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => s.replace(/^IP Address:/, 'IP:'));
  return {
    subject: x.subject.replaceAll('\n', ', '),
    issuer: x.issuer.replaceAll('\n', ', '),
    notBefore: new Date(x.validFrom),
    notAfter: new Date(x.validTo),
    names,
    ca: x.ca,
    serial: x.serialNumber,
    fingerprint256: x.fingerprint256,
  };
}

/** Whole days from `now` until the certificate expires (negative once it has). */
export function daysToExpiry(cert: Pick<CertFacts, 'notAfter'>, now: Date): number {
  return Math.floor((cert.notAfter.getTime() - now.getTime()) / 86_400_000);
}

/** Whether a PEM private key is there and belongs to the certificate; a one-line reason when not. */
export function keyMatchesCertificate(keyPem: string, x509: X509Certificate): { ok: true } | { ok: false; reason: string } {
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(keyPem)) return { ok: false, reason: 'holds no PEM private key (-----BEGIN PRIVATE KEY-----)' };
  if (/ENCRYPTED/.test(keyPem)) return { ok: false, reason: 'is encrypted with a passphrase, which pgbouncer cannot ask for; give an unencrypted key (openssl pkey -in key -out plain.key)' };
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (e) {
    return { ok: false, reason: `is not a readable private key (${(e as Error).message})` };
  }
  return x509.checkPrivateKey(key) ? { ok: true } : { ok: false, reason: 'does not belong to the certificate (its public key differs)' };
}

/** Whether `ca` signed `cert` (one level: the CA file pgb-setup hands to clients). */
export function signedBy(cert: X509Certificate, caPem: string): boolean {
  return pemCertificates(caPem).some((pem) => {
    try {
      const ca = new X509Certificate(pem);
      return cert.checkIssued(ca) && cert.verify(ca.publicKey);
    } catch {
      return false;
    }
  });
}
