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

export function canConnect(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, host, () => done(true));
  });
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

export interface LoginTarget {
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
