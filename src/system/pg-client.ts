import type { Client, ClientConfig } from 'pg';

/**
 * Stands in for a missing password. Without it node-postgres falls back to the process's
 * PGPASSWORD and then reads ~/.pgpass (printing a DeprecationWarning): pgb-setup does not read
 * ~/.pgpass; every password comes from where the command says (environment variable or prompt).
 * The message contains "password must be" so callers recognise "a password is needed".
 */
async function noPassword(): Promise<string> {
  throw new Error('PostgreSQL asks for a password and none was given (pgb-setup does not read ~/.pgpass): a password must be set where the command says');
}

/**
 * Opens a node-postgres connection: loads `pg` only now (it costs start-up time), tags the session
 * as pgb-setup, keeps a server-side disconnect after connect from crashing the process, and closes
 * the socket when the connect fails. The caller turns the raw error into its own message.
 * `beforeConnect` sees the client before any byte is exchanged (the admin console guards its socket there).
 */
export async function openClient(config: ClientConfig, beforeConnect?: (client: Client) => void): Promise<Client> {
  // node-postgres announces its own API deprecations on stderr; they are for developers, not users.
  process.noDeprecation = true;
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionTimeoutMillis: 10_000, application_name: 'pgb-setup', ...config, password: config.password ?? noPassword });
  client.on('error', () => {});
  beforeConnect?.(client);
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => {});
    throw e;
  }
  return client;
}

/**
 * Ends a connection without trusting the server to close its side: after `graceMs` the socket is
 * destroyed (a server that never answers Terminate would otherwise hold the process open).
 */
export async function closeClient(client: Client, graceMs = 500): Promise<void> {
  const socket = (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream;
  const timer = setTimeout(() => socket?.destroy(), graceMs);
  await client.end().catch(() => {});
  clearTimeout(timer);
}
