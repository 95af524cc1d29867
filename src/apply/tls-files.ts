/**
 * The effects behind --tls: read the TLS files on the host, check a user's own key and
 * certificate, and make a private CA and server certificate with openssl. openssl writes every
 * key into a private temporary folder (0700) on this machine and the key comes back as bytes:
 * no key ever appears in a command line. The bytes then go into the plan as secret file steps,
 * which the apply writes privately and renames into place like every other managed file.
 */
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { InputError, RuntimeError } from '../text/errors.js';
import { keyMatchesCertificate, readCertificate, signedBy } from '../facts/tls-cert.js';
import { CA_CERT_DAYS, decideSelfSigned, judgeOwnCertificate, sanEntry, SERVER_CERT_DAYS, type TlsFile, type TlsPlanInput } from '../plan/tls.js';
import type { TlsChoice, TlsPaths } from '../profile/tls-layer.js';
import type { System } from '../system/system.js';

const MAX_PEM_BYTES = 1024 * 1024;

interface PrepareTlsInput {
  /** The system the files are read from (under --root: the folder). */
  target: System;
  /** This machine: runs openssl and reads the user's own files (paths as typed, relative to cwd). */
  host: System;
  cwd: string;
  choice: TlsChoice;
  paths: TlsPaths;
  /** Host names and addresses the server certificate must name. */
  names: string[];
  hba: string | undefined;
  now: Date;
}

type Current = TlsFile['current'];

async function current(system: System, path: string): Promise<Current> {
  const got = await system.readManaged(path, MAX_PEM_BYTES);
  return got ? { content: got.bytes.toString('utf8'), mode: got.stat.mode, uid: got.stat.uid, gid: got.stat.gid } : undefined;
}

/** A user's own PEM file, named by its flag: readable, not huge, text. Exit 2 naming the flag otherwise. */
async function userFile(input: PrepareTlsInput, flag: string, path: string): Promise<string> {
  const abs = resolve(input.cwd, path);
  let text: string | undefined;
  try {
    const st = await input.host.stat(abs);
    if (st && st.size > MAX_PEM_BYTES) throw new InputError(`${flag}: ${path} is ${st.size} bytes, too large for a PEM file; name the certificate or key file`, flag);
    text = await input.host.readFile(abs);
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(`${flag}: ${path} cannot be read (${(e as Error).message}); name a readable PEM file`, flag);
  }
  if (text === undefined) throw new InputError(`${flag}: ${path} does not exist; name a readable PEM file`, flag);
  return text;
}

/** The TLS and HBA files the plan should put in place, with notes and warnings for the plan. */
export async function prepareTlsFiles(input: PrepareTlsInput): Promise<TlsPlanInput> {
  const { paths, choice, target } = input;
  const files: TlsFile[] = [];
  const notes: string[] = [];
  const warnings: string[] = [];
  const file = async (path: string, content: string, mode: number, owner: TlsFile['owner'], secret: boolean, setting: string | undefined, why: string) =>
    files.push({ path, content, mode, owner, secret, setting, why, current: await current(target, path) });

  if (choice.client?.kind === 'self-signed') {
    const [caCert, caKey, serverCert, serverKey] = await Promise.all([paths.caCert, paths.caKey, paths.serverCert, paths.serverKey].map((p) => current(target, p)));
    const ca = caCert ? readCertificate(caCert.content) : undefined;
    const server = serverCert ? readCertificate(serverCert.content) : undefined;
    const decision = decideSelfSigned(
      {
        ca: ca?.ok ? ca.cert : undefined,
        caKeyMatches: Boolean(ca?.ok && caKey && keyMatchesCertificate(caKey.content, ca.x509).ok),
        server: server?.ok ? server.cert : undefined,
        serverKeyMatches: Boolean(server?.ok && serverKey && keyMatchesCertificate(serverKey.content, server.x509).ok),
        serverSignedByCa: Boolean(server?.ok && caCert && signedBy(server.x509, caCert.content)),
      },
      input.names,
      input.now,
    );
    let material = { caCert: caCert?.content, caKey: caKey?.content, serverCert: serverCert?.content, serverKey: serverKey?.content };
    if (decision.action === 'issue') {
      const made = await issueWithOpenssl(input.host, input.names, decision.newCa ? undefined : { cert: caCert!.content, key: caKey!.content });
      material = made;
      notes.push(`TLS: ${decision.newCa ? 'a new private CA and ' : ''}a server certificate for ${input.names.join(', ')} (${decision.reason}), valid ${SERVER_CERT_DAYS} days`);
      if (decision.newCa && caCert) warnings.push(`TLS: the private CA is replaced (${decision.reason}): copy the new ${paths.caCert} to every app host (sslrootcert), or their verify-full connections fail`);
    } else {
      notes.push(`TLS: the server certificate is kept (${decision.reason}); renewed automatically by a run within 30 days of expiry`);
    }
    await file(paths.caCert, material.caCert!, 0o644, 'root', false, 'client_tls_ca_file', 'private CA certificate: copy it to the app hosts (sslrootcert)');
    await file(paths.caKey, material.caKey!, 0o600, 'root', true, undefined, 'private CA key: only root reads it, to renew the server certificate');
    await file(paths.serverCert, material.serverCert!, 0o644, 'root', false, 'client_tls_cert_file', 'pgbouncer server certificate');
    await file(paths.serverKey, material.serverKey!, 0o600, 'service', true, 'client_tls_key_file', 'pgbouncer server key: only the service user reads it');
  } else if (choice.client?.kind === 'files') {
    const own = choice.client;
    const certText = await userFile(input, '--tls-cert', own.cert);
    const keyText = await userFile(input, '--tls-key', own.key);
    const cert = readCertificate(certText);
    if (!cert.ok) throw new InputError(`--tls-cert: ${own.cert} ${cert.reason}`, '--tls-cert');
    const match = keyMatchesCertificate(keyText, cert.x509);
    if (!match.ok) throw new InputError(`--tls-key: ${own.key} ${match.reason}`, '--tls-key');
    const judged = judgeOwnCertificate(cert.cert, '--tls-cert', input.now);
    if (judged.error) throw new InputError(judged.error, '--tls-cert');
    if (judged.warning) warnings.push(judged.warning);
    notes.push(`TLS: your certificate ${cert.cert.subject} (${cert.cert.names.join(', ') || 'no subjectAltName'}), valid for ${judged.daysLeft} more days`);
    if (own.ca !== undefined) {
      const caText = await userFile(input, '--tls-ca', own.ca);
      const ca = readCertificate(caText);
      if (!ca.ok) throw new InputError(`--tls-ca: ${own.ca} ${ca.reason}`, '--tls-ca');
      if (!signedBy(cert.x509, caText)) throw new InputError(`--tls-ca: ${own.ca} did not sign ${own.cert} (${cert.cert.issuer}); give the CA that issued the certificate`, '--tls-ca');
      await file(paths.caCert, caText, 0o644, 'root', false, 'client_tls_ca_file', 'CA certificate that signed your server certificate: copy it to the app hosts (sslrootcert)');
    }
    await file(paths.serverCert, certText, 0o644, 'root', false, 'client_tls_cert_file', `pgbouncer server certificate (copied from ${own.cert})`);
    await file(paths.serverKey, keyText, 0o600, 'service', true, 'client_tls_key_file', `pgbouncer server key (copied from ${own.key}): only the service user reads it`);
  }

  if (choice.serverCa !== undefined) {
    const caText = await userFile(input, '--server-tls-ca', choice.serverCa);
    const ca = readCertificate(caText);
    if (!ca.ok) throw new InputError(`--server-tls-ca: ${choice.serverCa} ${ca.reason}`, '--server-tls-ca');
    await file(paths.serverCa, caText, 0o644, 'root', false, 'server_tls_ca_file', "CA that signed PostgreSQL's certificate (server_tls_sslmode = verify-full)");
  }
  if (input.hba !== undefined) await file(paths.hba, input.hba, 0o640, 'service', false, 'auth_hba_file', "pgbouncer's own access rules (auth_type = hba), mirroring the allowed networks");
  return { files, notes, warnings };
}

/**
 * A server certificate for `names`, signed by the given CA or by a new one (then made too).
 * openssl runs in a private temporary folder; keys are read back and the folder removed.
 */
export async function issueWithOpenssl(system: System, names: readonly string[], ca: { cert: string; key: string } | undefined, days = SERVER_CERT_DAYS): Promise<{ caCert: string; caKey: string; serverCert: string; serverKey: string }> {
  const dir = await system.mkdtemp('pgb-setup-tls-');
  const openssl = async (args: string[]) => {
    const r = await system.exec('openssl', args, { cwd: dir });
    if (r.exitCode !== 0) throw new RuntimeError(`openssl ${args[0]} failed (exit ${r.exitCode}): ${(r.stderr.trim() || r.stdout.trim()).split('\n').slice(-2).join(' | ')}; is openssl installed?`);
  };
  const f = (name: string) => join(dir, name);
  try {
    if (ca) {
      await system.writeFile(f('ca.crt'), ca.cert, { mode: 0o600 });
      await system.writeFile(f('ca.key'), ca.key, { mode: 0o600 });
    } else {
      await openssl(['req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', String(CA_CERT_DAYS), '-sha256', '-subj', `/CN=pgb-setup private CA for ${names[0] ?? 'pgbouncer'}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    }
    await system.writeFile(f('server.ext'), ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=serverAuth', `subjectAltName=${names.map(sanEntry).join(',')}`, ''].join('\n'), { mode: 0o600 });
    await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', `/CN=${names[0] ?? 'pgbouncer'}`]);
    await openssl(['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-set_serial', `0x${randomBytes(16).toString('hex').replace(/^[89a-f]/, '1')}`, '-days', String(days), '-sha256', '-extfile', f('server.ext'), '-out', f('server.crt')]);
    const read = async (name: string) => {
      const text = await system.readFile(f(name));
      if (text === undefined) throw new RuntimeError(`openssl wrote no ${name}`);
      return text;
    };
    return { caCert: await read('ca.crt'), caKey: await read('ca.key'), serverCert: await read('server.crt'), serverKey: await read('server.key') };
  } finally {
    await system.remove(dir, { recursive: true });
  }
}
