import { createServer, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from 'pg';
import { openClient } from './pg-client.js';

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * Connect errors that mean "could not get there", not "the login was refused". EACCES counts: a
 * socket file we may not open stops us before any password is sent, so the login was never tried.
 */
export const UNREACHABLE_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ENOENT', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EACCES', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN']);

/** The one connect probe (TCP host:port or a unix socket path): undefined when something accepted, else the error code ('timed out' past the bound). */
export function probeConnect(to: { host: string; port: number } | { path: string }, timeoutMs = 500): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (err?: string) => {
      socket.destroy();
      resolve(err);
    };
    socket.setTimeout(timeoutMs, () => done('timed out'));
    socket.once('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
    if ('path' in to) socket.connect(to.path, () => done());
    else socket.connect(to.port, to.host, () => done());
  });
}

async function canConnect(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return (await probeConnect({ host, port }, timeoutMs)) === undefined;
}

/** Polls until something accepts TCP connections on host:port, or `stillRunning` says to give up. */
export async function waitForListen(host: string, port: number, timeoutMs: number, stillRunning: () => Promise<boolean> = async () => true): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await canConnect(host, port)) return true;
    if (!(await stillRunning())) return false;
    await sleep(100);
  }
  return false;
}

interface LoginTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  /**
   * Over TLS (pgbouncer requires it from TCP clients): a login check, not a trust decision, so the
   * certificate is not verified here (a user's own certificate need not name 127.0.0.1).
   */
  tls?: boolean;
}

/** Logs in and runs `select 1`; returns the error message, or undefined when it worked. */
export async function tryLogin(target: LoginTarget): Promise<string | undefined> {
  let client: Client | undefined;
  try {
    const { tls, ...rest } = target;
    client = await openClient({ ...rest, ...(tls ? { ssl: { rejectUnauthorized: false } } : {}) });
    const r = await client.query('select 1 as ok');
    return r.rows[0]?.ok === 1 ? undefined : 'select 1 returned something else';
  } catch (e) {
    return (e as Error).message;
  } finally {
    await client?.end().catch(() => {});
  }
}
