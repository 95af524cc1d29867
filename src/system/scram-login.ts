/**
 * Logs in to PostgreSQL as a role with its password, over a socket of our own, to learn the role's
 * SCRAM verifier. Hand-written (PostgreSQL's v3 startup and SASL messages, about 150 lines) because
 * node-postgres exposes neither the salt and iteration count of the server-first-message nor the
 * keys it derived, and its shortened SASLprep normalises even passwords PostgreSQL takes raw (where
 * full SASLprep fails), so it would derive another verifier for those.
 *
 * Every wait is bounded by one deadline, every message by a size cap; the socket is always closed.
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { checkServerFinal, clientFinal, clientFirst, parseServerFirst, SCRAM_MECHANISM, ScramProtocolError } from '../auth/scram-client.js';
import { isLoopbackHost } from '../settings/listen.js';

export type TlsMode = 'disable' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';

export interface ScramLoginTarget {
  /** Host name, address, or a unix socket folder (starts with "/"). */
  host: string;
  port: number;
  user: string;
  database: string;
  password: string;
  /** Default prefer: TLS when the server offers it (libpq's default), plain otherwise. */
  tls?: { mode: TlsMode; caFile?: string };
  timeoutMs?: number;
}

export type ScramLoginResult =
  /** The exchange completed and the server proved it holds exactly this verifier. */
  | { kind: 'verifier'; verifier: string }
  /** The server refused the password (wrong, or the role has no SCRAM verifier: PostgreSQL does not say which). */
  | { kind: 'refused'; code: string; message: string }
  /** The server let the role in without asking for a password (trust, peer, cert...). */
  | { kind: 'no-password-asked' }
  /** The server asked for another kind of password. */
  | { kind: 'other-method'; method: 'md5' | 'cleartext' | 'gss' | 'sspi' | 'sasl-without-scram' | 'unknown' }
  /** The server refused before authentication (no pg_hba.conf entry, too many connections, starting up). */
  | { kind: 'server-error'; code: string; message: string }
  | { kind: 'unreachable'; code: string; message: string }
  /** The other side did not speak PostgreSQL's protocol as expected, or named an out-of-range count. */
  | { kind: 'protocol'; message: string };

const MAX_MESSAGE = 64 * 1024;
const PROTOCOL_3_0 = 196608;
const SSL_REQUEST = 80877103;

class Timeout extends Error {}
class Closed extends Error {}

/** Reads whole backend messages (type byte, int32 length, body) from a socket. */
class MessageReader {
  private buffer = Buffer.alloc(0);
  private waiting?: () => void;
  private ended?: Error;

  constructor(socket: Socket, private readonly deadline: number) {
    this.attach(socket);
  }

  attach(socket: Socket): void {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake();
    });
    socket.on('error', (e) => this.end(e));
    socket.on('close', () => this.end(new Closed('the server closed the connection')));
  }

  private end(e: Error): void {
    this.ended ??= e;
    this.wake();
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
  }

  private async need(n: number): Promise<void> {
    while (this.buffer.length < n) {
      if (this.ended) throw this.ended;
      const left = this.deadline - Date.now();
      if (left <= 0) throw new Timeout('no answer in time');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiting = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  async byte(): Promise<number> {
    await this.need(1);
    const b = this.buffer[0]!;
    this.buffer = this.buffer.subarray(1);
    return b;
  }

  get pending(): number {
    return this.buffer.length;
  }

  async message(): Promise<{ type: string; body: Buffer }> {
    await this.need(5);
    const type = String.fromCharCode(this.buffer[0]!);
    const length = this.buffer.readInt32BE(1);
    if (length < 4 || length > MAX_MESSAGE) throw new ScramProtocolError(`the server sent a message of ${length} bytes`);
    await this.need(1 + length);
    const body = this.buffer.subarray(5, 1 + length);
    this.buffer = this.buffer.subarray(1 + length);
    return { type, body };
  }
}

function startupPacket(user: string, database: string): Buffer {
  const params = Buffer.from(`user\0${user}\0database\0${database}\0application_name\0pgb-setup\0client_encoding\0UTF8\0\0`, 'utf8');
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + params.length, 0);
  head.writeInt32BE(PROTOCOL_3_0, 4);
  return Buffer.concat([head, params]);
}

function frontend(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}

function saslInitial(mechanism: string, data: string): Buffer {
  const payload = Buffer.from(data, 'utf8');
  const len = Buffer.alloc(4);
  len.writeInt32BE(payload.length, 0);
  return frontend('p', Buffer.concat([Buffer.from(`${mechanism}\0`, 'utf8'), len, payload]));
}

/** ErrorResponse fields: S severity, C SQLSTATE, M message. */
function errorFields(body: Buffer): { code: string; message: string } {
  const fields: Record<string, string> = {};
  let i = 0;
  while (i < body.length && body[i] !== 0) {
    const key = String.fromCharCode(body[i]!);
    const end = body.indexOf(0, i + 1);
    if (end < 0) break;
    fields[key] = body.toString('utf8', i + 1, end);
    i = end + 1;
  }
  return { code: fields['C'] ?? '', message: (fields['M'] ?? 'error').replace(/\s+/g, ' ').slice(0, 300) };
}

function cstrings(body: Buffer): string[] {
  return body.toString('utf8').split('\0').filter((s) => s !== '');
}

function openSocket(target: ScramLoginTarget, deadline: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = target.host.startsWith('/')
      ? netConnect({ path: `${target.host.replace(/\/+$/, '')}/.s.PGSQL.${target.port}` })
      : netConnect({ host: target.host, port: target.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error(`no connection within ${target.timeoutMs ?? 10_000} ms`), { code: 'ETIMEDOUT' }));
    }, Math.max(0, deadline - Date.now()));
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (e) => {
      clearTimeout(timer);
      socket.destroy();
      reject(e);
    });
  });
}

async function startTls(socket: Socket, reader: MessageReader, target: ScramLoginTarget, deadline: number): Promise<Socket> {
  const mode = target.tls?.mode ?? 'prefer';
  // 'prefer' on loopback: the bytes never leave the machine and SCRAM never sends the password, so
  // the handshake (a CA store load and ~40 ms on every run) buys nothing there.
  if (mode === 'disable' || target.host.startsWith('/') || (mode === 'prefer' && isLoopbackHost(target.host))) return socket;
  const req = Buffer.alloc(8);
  req.writeInt32BE(8, 0);
  req.writeInt32BE(SSL_REQUEST, 4);
  socket.write(req);
  const answer = String.fromCharCode(await reader.byte());
  if (answer === 'N') {
    if (mode === 'prefer') return socket;
    throw new ScramProtocolError(`the server does not offer TLS, but server_tls_sslmode is ${mode}`);
  }
  // Bytes after 'S' and before the handshake would be injected (CVE-2021-23222).
  if (answer !== 'S' || reader.pending > 0) throw new ScramProtocolError('the server answered the TLS request with something else');
  const verify = mode === 'verify-ca' || mode === 'verify-full';
  socket.removeAllListeners('data');
  const { connect: tlsConnect } = await import('node:tls');
  const secure = tlsConnect({
    socket,
    rejectUnauthorized: verify,
    ...(verify && target.tls?.caFile ? { ca: readFileSync(target.tls.caFile) } : {}),
    ...(isIP(target.host) ? {} : { servername: target.host }),
    ...(mode === 'verify-ca' ? { checkServerIdentity: () => undefined } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      secure.destroy();
      reject(new Timeout('no TLS handshake in time'));
    }, Math.max(0, deadline - Date.now()));
    secure.once('secureConnect', () => {
      clearTimeout(timer);
      resolve();
    });
    secure.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
  reader.attach(secure);
  return secure;
}

export async function scramLogin(target: ScramLoginTarget): Promise<ScramLoginResult> {
  const deadline = Date.now() + (target.timeoutMs ?? 10_000);
  let socket: Socket;
  try {
    socket = await openSocket(target, deadline);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return { kind: 'unreachable', code: err.code ?? 'ERROR', message: err.message };
  }
  const reader = new MessageReader(socket, deadline);
  try {
    socket = await startTls(socket, reader, target, deadline);
    socket.write(startupPacket(target.user, target.database));
    let first: ReturnType<typeof clientFirst> | undefined;
    let final: ReturnType<typeof clientFinal> | undefined;
    let verifier: string | undefined;
    for (;;) {
      const { type, body } = await reader.message();
      if (type === 'E') {
        const err = errorFields(body);
        // After our proof (or a mechanism offer) an error is the password being refused.
        if (first) return { kind: 'refused', ...err };
        return { kind: 'server-error', ...err };
      }
      if (type === 'N' || type === 'v') continue; // NoticeResponse, NegotiateProtocolVersion
      if (type !== 'R' || body.length < 4) throw new ScramProtocolError(`unexpected message "${type.replace(/[^\x20-\x7e]/g, '?')}" during login`);
      const code = body.readInt32BE(0);
      const data = body.subarray(4);
      if (code === 0) return verifier ? { kind: 'verifier', verifier } : { kind: 'no-password-asked' };
      if (code === 3) return { kind: 'other-method', method: 'cleartext' };
      if (code === 5) return { kind: 'other-method', method: 'md5' };
      if (code === 7 || code === 8) return { kind: 'other-method', method: 'gss' };
      if (code === 9) return { kind: 'other-method', method: 'sspi' };
      if (code === 10) {
        if (first) throw new ScramProtocolError('the server started SASL twice');
        if (!cstrings(data).includes(SCRAM_MECHANISM)) return { kind: 'other-method', method: 'sasl-without-scram' };
        first = clientFirst();
        socket.write(saslInitial(SCRAM_MECHANISM, first.message));
      } else if (code === 11) {
        if (!first || final) throw new ScramProtocolError('SASL messages out of order');
        final = clientFinal(target.password, first, parseServerFirst(data.toString('utf8'), first.clientNonce));
        socket.write(frontend('p', Buffer.from(final.message, 'utf8')));
      } else if (code === 12) {
        if (!final) throw new ScramProtocolError('SASL messages out of order');
        verifier = checkServerFinal(data.toString('utf8'), final);
      } else {
        return { kind: 'other-method', method: 'unknown' };
      }
    }
  } catch (e) {
    if (e instanceof ScramProtocolError) return { kind: 'protocol', message: e.message };
    if (e instanceof Timeout) return { kind: 'unreachable', code: 'ETIMEDOUT', message: `no answer within ${target.timeoutMs ?? 10_000} ms` };
    if (e instanceof Closed) return { kind: 'protocol', message: e.message };
    const err = e as NodeJS.ErrnoException;
    if (err.code?.startsWith('ERR_TLS') || /certificate|self.signed|SSL/i.test(err.message)) return { kind: 'protocol', message: `TLS: ${err.message}` };
    return { kind: 'unreachable', code: err.code ?? 'ERROR', message: err.message };
  } finally {
    if (!socket.destroyed) {
      socket.end(frontend('X', Buffer.alloc(0)));
      socket.destroy();
    }
  }
}
