/**
 * The admin console of one pgbouncer process, reached through its own unix socket as the user
 * `pgbouncer` from the service account's uid: pgbouncer lets that login in without a password
 * (peer check on the socket; checked on 1.18 and 1.24 with auth_type scram-sha-256). No password
 * or admin_users entry is needed, and the socket names exactly one process, unlike the shared
 * TCP port of a so_reuseport group.
 */
import type { Client } from 'pg';
import { closeClient, openClient } from '../system/pg-client.js';
import { asConnectedStream, connectAsOsUser, type OsAccount } from '../system/os-user-socket.js';

export interface PeerConsole {
  query(command: string): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

export async function openPeerConsole(socketDir: string, port: number, account: OsAccount, timeoutMs = 5000): Promise<PeerConsole> {
  const socket = asConnectedStream(await connectAsOsUser(`${socketDir}/.s.PGSQL.${port}`, account, timeoutMs));
  const client: Client = await openClient({ host: socketDir, port, user: 'pgbouncer', database: 'pgbouncer', stream: () => socket, ssl: false, password: '', connectionTimeoutMillis: timeoutMs } as never);
  return {
    async query(command) {
      return (await client.query(command)).rows as Record<string, unknown>[];
    },
    close: () => closeClient(client),
  };
}

/** Clients connected to the process, from SHOW LISTS (used_clients counts the console session too). */
export async function usedClients(c: PeerConsole): Promise<number | undefined> {
  const rows = await c.query('SHOW LISTS');
  const row = rows.find((r) => r['list'] === 'used_clients');
  const n = Number(row?.['items']);
  return Number.isFinite(n) ? n : undefined;
}
