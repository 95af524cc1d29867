/**
 * Planning for client TLS and pgbouncer's HBA file: which certificate to keep, renew or issue
 * (pure, from the certificates' facts and the clock the caller read), and the file steps that put
 * the key, the certificates and the HBA rules in place like every other managed file.
 */
import { iniSetting, type HostFacts } from '../facts/host-facts.js';
import { daysToExpiry, type CertFacts } from '../facts/tls-cert.js';
import { unifiedDiff } from './file-diff.js';
import type { FileAction, FileStep } from './types.js';

/** A certificate expiring within this many days is renewed (self-signed) or warned about (your own). */
export const RENEW_WITHIN_DAYS = 30;
/** Validity of a server certificate pgb-setup issues; the private CA lives ten years. */
export const SERVER_CERT_DAYS = 397;
export const CA_CERT_DAYS = 3650;

interface SelfSignedState {
  ca: CertFacts | undefined;
  caKeyMatches: boolean;
  server: CertFacts | undefined;
  serverKeyMatches: boolean;
  serverSignedByCa: boolean;
}

type CertDecision =
  | { action: 'keep'; reason: string; daysLeft: number }
  | { action: 'issue'; newCa: boolean; reason: string };

/** Names as subjectAltName lists them: "DNS:host" for names, "IP:addr" for addresses. */
export function sanEntry(name: string): string {
  return /^[\d.]+$/.test(name) || name.includes(':') ? `IP:${name.toLowerCase()}` : `DNS:${name.toLowerCase()}`;
}

/** Normalises what X509Certificate reports (IPv6 in full form) to compare with what we ask for. */
function normalSan(entry: string): string {
  if (!entry.startsWith('IP:')) return entry.toLowerCase();
  const ip = entry.slice(3);
  if (!ip.includes(':')) return entry;
  const groups = ip.split(':').map((g) => g.replace(/^0+(?=.)/, '').toLowerCase());
  return `IP:${groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::')}`;
}

/**
 * Keep, renew or issue the self-signed server certificate. A new CA only when there is no usable
 * one (missing, key lost, or itself about to expire): app hosts must then fetch the new CA file.
 */
export function decideSelfSigned(state: SelfSignedState, names: readonly string[], now: Date): CertDecision {
  const caDays = state.ca ? daysToExpiry(state.ca, now) : undefined;
  if (!state.ca || !state.ca.ca || !state.caKeyMatches) return { action: 'issue', newCa: true, reason: state.ca ? 'the private CA is unusable (its key is missing or does not match)' : 'no private CA yet' };
  if (caDays! <= RENEW_WITHIN_DAYS) return { action: 'issue', newCa: true, reason: `the private CA expires in ${caDays} days; a new CA means copying ca.crt to the app hosts again` };
  if (!state.server) return { action: 'issue', newCa: false, reason: 'no server certificate yet' };
  if (!state.serverKeyMatches) return { action: 'issue', newCa: false, reason: 'the server key is missing or does not match the certificate' };
  if (!state.serverSignedByCa) return { action: 'issue', newCa: false, reason: 'the server certificate was not signed by the private CA' };
  const days = daysToExpiry(state.server, now);
  if (days <= RENEW_WITHIN_DAYS) return { action: 'issue', newCa: false, reason: `the server certificate ${days < 0 ? `expired ${-days} days ago` : `expires in ${days} days`} (renewed within ${RENEW_WITHIN_DAYS} days of expiry)` };
  const have = new Set(state.server.names.map(normalSan));
  const missing = names.map(sanEntry).filter((n) => !have.has(normalSan(n)));
  if (missing.length > 0) return { action: 'issue', newCa: false, reason: `the server certificate does not name ${missing.join(', ')}` };
  return { action: 'keep', reason: `valid for ${days} more days`, daysLeft: days };
}

/** For a certificate the user supplied: an error when expired, a warning within 30 days of expiry. */
export function judgeOwnCertificate(cert: CertFacts, flag: string, now: Date): { error?: string; warning?: string; daysLeft: number } {
  const days = daysToExpiry(cert, now);
  if (cert.notAfter.getTime() <= now.getTime()) return { error: `${flag}: the certificate expired on ${cert.notAfter.toISOString().slice(0, 10)}; give a current one`, daysLeft: days };
  if (cert.notBefore.getTime() > now.getTime()) return { error: `${flag}: the certificate is not valid before ${cert.notBefore.toISOString()}; check the clock or the certificate`, daysLeft: days };
  if (days <= RENEW_WITHIN_DAYS) return { warning: `${flag}: the certificate expires in ${days} days (${cert.notAfter.toISOString().slice(0, 10)}); pgb-setup does not renew your own certificate: get a new one and re-run with it`, daysLeft: days };
  return { daysLeft: days };
}

/** A file the TLS/HBA planning wants in place, with what is there now. */
export interface TlsFile {
  path: string;
  content: string;
  mode: number;
  /** 'service': owned by pgbouncer's user (it reads it); 'root': only root reads it. */
  owner: 'service' | 'root';
  secret: boolean;
  /** The ini setting that names this file (the candidate check points it at its own copy). */
  setting: string | undefined;
  why: string;
  current: { content: string; mode: number; uid: number; gid: number } | undefined;
}

export interface TlsPlanInput {
  files: TlsFile[];
  notes: string[];
  warnings: string[];
}

function action(current: TlsFile['current'], content: string, mode: number, uid: number | undefined, gid: number | undefined): FileAction {
  if (!current) return 'create';
  if (current.content !== content) return 'update';
  if (current.mode !== mode || (uid !== undefined && current.uid !== uid) || (gid !== undefined && current.gid !== gid)) return 'fix-permissions';
  return 'unchanged';
}

/** File steps for the TLS key and certificates and the HBA file; keys and CA key never diffed. */
export function tlsFileSteps(facts: HostFacts, input: TlsPlanInput | undefined): FileStep[] {
  if (!input) return [];
  const su = facts.serviceUser;
  return input.files.map((f) => {
    const [owner, group, uid, gid] = f.owner === 'service' ? [su.user, su.group, su.uid, su.gid] : ['root', 'root', 0, 0];
    const act = action(f.current, f.content, f.mode, uid, gid);
    const showDiff = !f.secret && f.setting === 'auth_hba_file' && (act === 'create' || act === 'update');
    return {
      kind: 'file', path: f.path, mode: f.mode, owner, group, uid, gid, action: act, content: f.content,
      diff: showDiff ? unifiedDiff(f.path, f.current?.content, f.content, false) : '',
      secret: f.secret, notify: 'reload', why: f.why, ...(f.setting ? { setting: f.setting } : {}),
    } satisfies FileStep;
  });
}

/** Said in the plan when pgbouncer's HBA rules are the only thing keeping other networks out. */
export function hbaFirewallNote(facts: HostFacts, hbaOn: boolean, skipFirewall: boolean): string | undefined {
  if (!hbaOn) return undefined;
  if (!facts.firewall.tool) return 'no ufw or firewalld on this host: pgbouncer\'s own HBA rules (auth_hba_file) are what keeps other networks out; they allow only the --allow-from networks, over TLS';
  if (skipFirewall) return '--skip-firewall: pgbouncer\'s own HBA rules (auth_hba_file) still allow only the --allow-from networks, over TLS';
  return undefined;
}

const NAME = /^[A-Za-z0-9.:-]{1,253}$/;

/**
 * What the server certificate names: the --tls-name values, this host's name, every listen address
 * that is not a wildcard, and loopback (admin use on this host). Stable order, so a re-run with
 * the same inputs asks for the same names and keeps the certificate.
 */
export function certificateNames(input: { extra: readonly string[]; hostname: string | undefined; listenAddr: readonly string[] }): string[] {
  const wild = new Set(['*', '0.0.0.0', '::']);
  const names = [...input.extra, ...(input.hostname ? [input.hostname] : []), ...input.listenAddr.filter((a) => !wild.has(a)), 'localhost', '127.0.0.1'];
  return [...new Set(names.filter((n) => NAME.test(n)).map((n) => n.toLowerCase()))];
}

/**
 * A run without the --tls options renders the profile without TLS: said loudly when the config on
 * disk had client TLS on, since the run would switch it (and pgbouncer's HBA rules) off.
 */
export function tlsDroppedWarning(currentIni: string | undefined, newSslmode: string | undefined): string | undefined {
  const before = iniSetting(currentIni, 'client_tls_sslmode')?.toLowerCase();
  if (!before || before === 'disable') return undefined;
  if (newSslmode !== undefined && newSslmode !== 'disable') return undefined;
  return `client TLS is switched OFF by this run (client_tls_sslmode ${before} -> ${newSslmode ?? 'disable'}): to keep TLS and pgbouncer's HBA rules, re-run with the --tls options (or without --no-tls)`;
}
