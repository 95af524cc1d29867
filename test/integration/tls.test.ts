/**
 * Client TLS and pgbouncer's own HBA rules, end to end with real parts: `apply --root --tls
 * self-signed` writes the key, certificates, HBA file and ini; a real pgbouncer (1.18 and 1.24)
 * runs on exactly those files (only its paths moved under the root); a real PostgreSQL 15 with
 * TLS behind it (server_tls_sslmode verify-full with --server-tls-ca).
 *  - psql with sslmode=verify-full and the CA logs in; without TLS it is refused ("SSL required");
 *  - a client bound to 127.0.0.2 logs in while --allow-from names it, and is refused by pgbouncer's
 *    HBA once a re-run drops it (no firewall anywhere in this test);
 *  - a certificate 10 days from expiry is renewed by a re-run, and after a RELOAD (no restart) the
 *    running pgbouncer serves the new one, while a session opened before keeps working;
 *  - modes and owners of the key files; the candidate check starts the TLS + HBA files and logs in.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { chown, readFile, stat, writeFile } from 'node:fs/promises';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCandidate, overrideIniSettings } from '../../src/apply/candidate-check.js';
import { issueWithOpenssl } from '../../src/apply/tls-files.js';
import { parseUserlist } from '../../src/auth/userlist.js';
import { readCertificate } from '../../src/facts/tls-cert.js';
import { createNodeSystem } from '../../src/system/node-system.js';
import { makeRoot, runInProcess } from '../helpers/trust.js';
import { pgBinDir, pgbouncerBinaries } from '../helpers/binaries.js';
import { startPgbouncer, type RunningPgbouncer } from '../helpers/pgbouncer.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { freePort } from '../helpers/ports.js';
import { lookupUser, run } from '../helpers/proc.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

const PASSWORD = 'tls-test-password-4711';
const TLS_DIR = 'etc/pgbouncer/tls';

let pgc: PgCluster;
let pgCerts: TempDir;
let pgCaPath: string;

function env(): Record<string, string> {
  return { DBNAME: 'appdb', DBUSER: 'app_user', DBPASS: PASSWORD, DBHOST: '127.0.0.1', DBPORT: String(pgc.port) };
}

beforeAll(async () => {
  // PostgreSQL with TLS: its own CA and certificate for 127.0.0.1 (made by the product's openssl helper).
  pgCerts = await makeTempDir('pg-tls', { owner: 'postgres' });
  const made = await issueWithOpenssl(createNodeSystem(), ['localhost', '127.0.0.1'], undefined);
  const pgUser = lookupUser('postgres');
  for (const [name, content, mode] of [['server.crt', made.serverCert, 0o644], ['server.key', made.serverKey, 0o600], ['ca.crt', made.caCert, 0o644]] as const) {
    await writeFile(join(pgCerts.path, name), content, { mode });
    await chown(join(pgCerts.path, name), pgUser.uid, pgUser.gid);
  }
  pgCaPath = join(pgCerts.path, 'ca.crt');
  pgc = await startPostgres({
    passwordEncryption: 'scram-sha-256',
    settings: { ssl: 'on', ssl_cert_file: `'${join(pgCerts.path, 'server.crt')}'`, ssl_key_file: `'${join(pgCerts.path, 'server.key')}'` },
  });
  await pgc.createRole('app_user', 'placeholder-replaced-below');
  await pgc.createDatabase('appdb', 'app_user');
}, 300_000);

afterAll(async () => {
  await pgc?.stop();
  await pgCerts?.cleanup();
});

/** A TLS client, optionally bound to a local address (127.0.0.2 to come from "another host"). */
async function tlsClient(port: number, opts: { ca?: string; localAddress?: string; ssl?: boolean } = {}): Promise<pg.Client> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user: 'app_user',
    password: PASSWORD,
    database: 'appdb',
    connectionTimeoutMillis: 10_000,
    ...(opts.ssl === false ? {} : { ssl: opts.ca ? { ca: opts.ca, servername: undefined } : { rejectUnauthorized: false } }),
    ...(opts.localAddress
      ? {
          stream: () => {
            const socket = new Socket();
            const connect = socket.connect.bind(socket) as (o: object) => Socket;
            (socket as unknown as { connect: (port: number, host: string) => Socket }).connect = (p: number, h: string) => connect({ port: p, host: h, localAddress: opts.localAddress });
            return socket;
          },
        }
      : {}),
  });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => {});
    throw e;
  }
  return client;
}

function servedSerial(client: pg.Client): string {
  const stream = (client as unknown as { connection: { stream: TLSSocket } }).connection.stream;
  return stream.getPeerCertificate().serialNumber.toUpperCase();
}

function serialOf(pem: string): string {
  const c = readCertificate(pem);
  if (!c.ok) throw new Error(c.reason);
  return c.cert.serial.toUpperCase();
}

async function psql(port: number, sslmode: string, ca: string | undefined): Promise<{ code: number | null; out: string }> {
  const conninfo = `host=127.0.0.1 port=${port} dbname=appdb user=app_user sslmode=${sslmode}${ca ? ` sslrootcert=${ca}` : ''}`;
  const r = await run(join(pgBinDir(), 'psql'), [conninfo, '-XAtc', 'select ssl from pg_stat_ssl where pid = pg_backend_pid()'], {
    check: false,
    env: { PATH: '/usr/bin:/bin', PGPASSWORD: PASSWORD, PGCONNECT_TIMEOUT: '10', HOME: '/nonexistent' },
  });
  return { code: r.code, out: `${r.stdout}${r.stderr}` };
}

describe.each(pgbouncerBinaries())('pgbouncer $label with --tls self-signed and HBA rules', ({ label, binary }) => {
  const version = label === '1.18' ? '1.18' : '1.24';
  let root: string;
  let work: TempDir;
  let bouncer: RunningPgbouncer;
  let port: number;
  let caPem: string;

  const apply = async (allowFrom: string[]) => {
    const r = await runInProcess(['production', '--root', root, '--yes', '--tls', 'self-signed', ...allowFrom.flatMap((a) => ['--allow-from', a]), '--server-tls-ca', pgCaPath, '--pgbouncer-version', version, '--skip-firewall'], env());
    expect(r.code, r.stderr).toBe(0);
    return r;
  };

  /** health against the running pgbouncer: TCP needs TLS, so the console goes through the socket folder. */
  const health = () => runInProcess(['health', 'production', '--port', String(port), '--set', `unix_socket_dir=${work.path}`, '--set', `client_tls_cert_file=${join(root, TLS_DIR, 'server.crt')}`], env());

  /** The root's pgbouncer.ini with only its paths moved under the root (and a spare port). */
  const writeRunnableIni = async () => {
    const ini = await readFile(join(root, 'etc/pgbouncer/pgbouncer.ini'), 'utf8');
    const under = (key: string) => {
      const v = new RegExp(`^${key} = (.+)$`, 'm').exec(ini)?.[1];
      if (!v) throw new Error(`${key} not in the rendered ini`);
      return join(root, v);
    };
    const runnable = overrideIniSettings(ini, {
      listen_addr: '127.0.0.1',
      listen_port: String(port),
      unix_socket_dir: work.path,
      pidfile: join(work.path, 'pgbouncer.pid'),
      logfile: join(work.path, 'pgbouncer.log'),
      auth_file: under('auth_file'),
      auth_hba_file: under('auth_hba_file'),
      client_tls_key_file: under('client_tls_key_file'),
      client_tls_cert_file: under('client_tls_cert_file'),
      client_tls_ca_file: under('client_tls_ca_file'),
      server_tls_ca_file: under('server_tls_ca_file'),
    });
    await writeFile(join(work.path, 'pgbouncer.ini'), runnable);
    const pgUser = lookupUser('postgres');
    await chown(join(work.path, 'pgbouncer.ini'), pgUser.uid, pgUser.gid);
  };

  beforeAll(async () => {
    root = makeRoot('pgb-tls-root-');
    chmodSync(root, 0o755);
    work = await makeTempDir(`tls-${label}`, { owner: 'postgres' });
    port = await freePort();
    const first = await apply(['127.0.0.2']);
    expect(first.stderr).toMatch(/a new private CA and a server certificate/);
    const ini = await readFile(join(root, 'etc/pgbouncer/pgbouncer.ini'), 'utf8');
    expect(ini).toMatch(/^client_tls_sslmode = require$/m);
    expect(ini).toMatch(/^auth_type = hba$/m);
    expect(ini).toMatch(/^server_tls_sslmode = verify-full$/m);
    // PostgreSQL must hold the verifier userlist.txt has (SCRAM pass-through).
    const secret = parseUserlist(await readFile(join(root, 'etc/pgbouncer/userlist.txt'), 'utf8')).entries[0]!.secret;
    await pgc.query(`ALTER ROLE app_user PASSWORD '${secret}'`);
    caPem = await readFile(join(root, TLS_DIR, 'ca.crt'), 'utf8');
    await writeRunnableIni();
    bouncer = await startPgbouncer({ binary, iniPath: join(work.path, 'pgbouncer.ini') });
  }, 120_000);

  afterAll(async () => {
    await bouncer?.stop();
    await work?.cleanup();
    if (root) execFileSync('rm', ['-rf', root]);
  });

  it('psql with sslmode=verify-full and the CA logs in; pgbouncer reaches PostgreSQL over verified TLS', async () => {
    const r = await psql(port, 'verify-full', join(root, TLS_DIR, 'ca.crt'));
    expect(r.out).toBe('t\n');
    expect(r.code).toBe(0);
  });

  it('without TLS the login is refused', async () => {
    const r = await psql(port, 'disable', undefined);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/SSL required/);
  });

  it('verify-full against another CA is refused by the client (the certificate is really checked)', async () => {
    const r = await psql(port, 'verify-full', pgCaPath);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/certificate verify failed/);
  });

  it('from 127.0.0.2: allowed while --allow-from names it, refused by pgbouncer\'s HBA after a re-run without it', async () => {
    const c = await tlsClient(port, { ca: caPem, localAddress: '127.0.0.2' });
    expect((await c.query('select inet_client_addr() is not null as ok')).rows[0].ok).toBe(true);
    await c.end();
    const rerun = await apply(['10.0.0.0/8']);
    expect(rerun.stderr).toMatch(/pgbouncer_hba\.conf/);
    expect(rerun.stderr).toMatch(/server certificate is kept/);
    await bouncer.reload();
    await expect(tlsClient(port, { ca: caPem, localAddress: '127.0.0.2' })).rejects.toThrow(/login rejected|no authentication method is found/i);
    // (1.18 says "login rejected", 1.24 "no authentication method is found".) Loopback (admin use) still gets in.
    const local = await tlsClient(port, { ca: caPem });
    await local.end();
    await apply(['127.0.0.2']);
    await bouncer.reload();
  });

  it('key files: server key 0600 for the service user, CA key 0600 root, certificates 0644, HBA 0640', async () => {
    const pgUser = lookupUser('postgres');
    const mode = async (p: string) => {
      const s = await stat(join(root, p));
      return { mode: (s.mode & 0o7777).toString(8), uid: s.uid, gid: s.gid };
    };
    expect(await mode(`${TLS_DIR}/server.key`)).toEqual({ mode: '600', uid: pgUser.uid, gid: pgUser.gid });
    expect(await mode(`${TLS_DIR}/ca.key`)).toEqual({ mode: '600', uid: 0, gid: 0 });
    expect(await mode(`${TLS_DIR}/server.crt`)).toEqual({ mode: '644', uid: 0, gid: 0 });
    expect(await mode(`${TLS_DIR}/ca.crt`)).toEqual({ mode: '644', uid: 0, gid: 0 });
    expect(await mode('etc/pgbouncer/pgbouncer_hba.conf')).toEqual({ mode: '640', uid: pgUser.uid, gid: pgUser.gid });
  });

  it('a certificate 10 days from expiry: a re-run renews it, a RELOAD serves the new one, an open session stays', async () => {
    // A server certificate that expires in 10 days, signed by the same private CA.
    const dir = mkdtempSync(join(tmpdir(), 'pgb-tls-short-'));
    try {
      writeFileSync(join(dir, 'ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
      execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'k'), '-out', join(dir, 'csr'), '-subj', '/CN=127.0.0.1'], { stdio: 'pipe' });
      execFileSync('openssl', ['x509', '-req', '-in', join(dir, 'csr'), '-CA', join(root, TLS_DIR, 'ca.crt'), '-CAkey', join(root, TLS_DIR, 'ca.key'), '-set_serial', '0x1234567890', '-days', '10', '-extfile', join(dir, 'ext'), '-out', join(dir, 'crt')], { stdio: 'pipe' });
      const pgUser = lookupUser('postgres');
      writeFileSync(join(root, TLS_DIR, 'server.key'), readFileSync(join(dir, 'k')));
      chownSync(join(root, TLS_DIR, 'server.key'), pgUser.uid, pgUser.gid);
      writeFileSync(join(root, TLS_DIR, 'server.crt'), readFileSync(join(dir, 'crt')));
    } finally {
      execFileSync('rm', ['-rf', dir]);
    }
    await bouncer.reload();
    const before = await tlsClient(port, { ca: caPem });
    expect(servedSerial(before)).toBe('1234567890');
    // health and verify report the days left.
    const h = await health();
    expect(h.stdout).toMatch(/^PGBOUNCER WARNING - .*TLS certificate .*server\.crt expires in (9|10) days .*tls_cert_days=(9|10);30;7/);
    expect(h.code).toBe(1);
    const v = await runInProcess(['verify', 'production', '--root', root], env());
    expect(v.stdout).toMatch(/NOTE {2}pgbouncer's TLS certificate +\/etc\/pgbouncer\/tls\/server\.crt expires in (9|10) days/);
    const pidBefore = bouncer.pid;

    const rerun = await apply(['127.0.0.2']);
    expect(rerun.stderr).toMatch(/expires in (9|10) days/);
    const renewed = await readFile(join(root, TLS_DIR, 'server.crt'), 'utf8');
    expect(serialOf(renewed)).not.toBe('1234567890');
    expect(await readFile(join(root, TLS_DIR, 'ca.crt'), 'utf8')).toBe(caPem); // app hosts keep their CA file

    await bouncer.reload();
    const after = await tlsClient(port, { ca: caPem });
    expect(servedSerial(after)).toBe(serialOf(renewed));
    await after.end();
    // The session opened before the renewal is still there and still works, on the same process.
    expect((await before.query('select 1 as one')).rows[0].one).toBe(1);
    expect(servedSerial(before)).toBe('1234567890');
    await before.end();
    expect(bouncer.pid).toBe(pidBefore);
    expect(bouncer.alive()).toBe(true);
    expect((await health()).stdout).toMatch(/^PGBOUNCER OK - .*TLS certificate .*expires in 39\d days .*tls_cert_days=39\d;30;7/);
    expect((await runInProcess(['verify', 'production', '--root', root], env())).stdout).toMatch(/PASS {2}pgbouncer's TLS certificate +\/etc\/pgbouncer\/tls\/server\.crt expires in 39\d days/);
    // And a third run keeps the fresh certificate.
    expect((await apply(['127.0.0.2'])).stderr).toMatch(/nothing to do/);
  });

  it('the candidate check starts the TLS and HBA files in a throwaway pgbouncer and logs in over TLS; a wrong server CA is refused', async () => {
    const pgUser = lookupUser('postgres');
    const ini = await readFile(join(root, 'etc/pgbouncer/pgbouncer.ini'), 'utf8');
    const file = (p: string) => readFileSync(join(root, p));
    const files = [
      { setting: 'client_tls_key_file', content: file(`${TLS_DIR}/server.key`) },
      { setting: 'client_tls_cert_file', content: file(`${TLS_DIR}/server.crt`) },
      { setting: 'client_tls_ca_file', content: file(`${TLS_DIR}/ca.crt`) },
      { setting: 'server_tls_ca_file', content: file(`${TLS_DIR}/postgresql-ca.crt`) },
      { setting: 'auth_hba_file', content: file('etc/pgbouncer/pgbouncer_hba.conf') },
    ];
    const base = { system: createNodeSystem(), binary, ini, userlist: file('etc/pgbouncer/userlist.txt'), user: 'postgres', uid: pgUser.uid, gid: pgUser.gid, login: { user: 'app_user', password: PASSWORD, database: 'appdb' } };
    await checkCandidate({ ...base, files });
    // pgbouncer's own CA is not the one that signed PostgreSQL's certificate: verify-full fails.
    const wrongCa = files.map((f) => (f.setting === 'server_tls_ca_file' ? { ...f, content: file(`${TLS_DIR}/ca.crt`) } : f));
    await expect(checkCandidate({ ...base, files: wrongCa })).rejects.toThrow(/login as app_user through the new config failed/);
    // An HBA file with no line for loopback: the login is refused.
    const noLoopback = files.map((f) => (f.setting === 'auth_hba_file' ? { ...f, content: 'hostssl all all 10.0.0.0/8 scram-sha-256\n' } : f));
    await expect(checkCandidate({ ...base, files: noLoopback })).rejects.toThrow(/login as app_user through the new config failed/);
  }, 60_000);
});
