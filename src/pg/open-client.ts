import type { Client, ClientConfig } from 'pg';

/**
 * Opens a node-postgres connection: loads `pg` only now (it costs start-up time), tags the session
 * as pgb-setup, keeps a server-side disconnect after connect from crashing the process, and closes
 * the socket when the connect fails. The caller turns the raw error into its own message.
 * `beforeConnect` sees the client before any byte is exchanged (the admin console guards its socket there).
 */
export async function openClient(config: ClientConfig, beforeConnect?: (client: Client) => void): Promise<Client> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionTimeoutMillis: 10_000, application_name: 'pgb-setup', ...config });
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
