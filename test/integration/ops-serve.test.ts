/**
 * #16.4 on a real pgbouncer: with a small max_client_conn, bursts of concurrent /metrics scrapes
 * must not take pgbouncer's client slots from the application. Concurrent scrapes share one
 * console connection; an observer on the console watches SHOW CLIENTS the whole time.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { main } from '../../src/main.js';
import { runStats } from '../../src/app/stats.js';
import { captureContext } from '../helpers/context.js';
import { pgbouncerBinaries } from '../helpers/binaries.js';
import { connectThrough, profileFlags, settingsInside, startRenderedPgbouncer, type RunningPgbouncer } from '../helpers/pgbouncer.js';
import { pgbouncerVersion } from '../helpers/pgbouncer-binaries.js';
import { startPostgresWithAppDatabase, type PgCluster } from '../helpers/postgres.js';
import { freePort } from '../helpers/ports.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

const PASSWORD = 'serve check pw 1';
const MAX_CLIENT_CONN = 12;
/** Application logins per burst, kept open: 3 bursts × 3 + the observer + one exporter = 11 of 12 slots. */
const LOGINS_PER_BURST = 3;
let cluster: PgCluster;

beforeAll(async () => {
  cluster = await startPostgresWithAppDatabase();
});
afterAll(async () => {
  await cluster?.stop();
});

describe.each(pgbouncerBinaries())(`stats --serve on pgbouncer $label with max_client_conn ${MAX_CLIENT_CONN}`, ({ binary, label }) => {
  let dir: TempDir;
  let bouncer: RunningPgbouncer;
  let set: string[];
  let version: string;
  const env = () => ({ DBNAME: 'appdb', DBUSER: 'app_user', DBPASS: PASSWORD, DBHOST: '127.0.0.1', DBPORT: String(cluster.port) });

  beforeAll(async () => {
    version = (await pgbouncerVersion(binary)).match(/\d+\.\d+/)![0];
    dir = await makeTempDir(`ops-serve-${label}`, { owner: 'postgres' });
    set = [...settingsInside(dir.path, await freePort()), `max_client_conn=${MAX_CLIENT_CONN}`];
    const ctx = captureContext({ env: env() });
    const code = await main(['node', 'pgb-setup', 'render', 'development', '--out', dir.path, ...profileFlags(version, set)], ctx);
    expect(ctx.err()).not.toMatch(/pgb-setup:/);
    expect(code).toBe(0);
    bouncer = await startRenderedPgbouncer(cluster, dir.path, binary);
  });
  afterAll(async () => {
    await bouncer?.stop();
    await dir?.cleanup();
  });

  it(`bursts of 60 concurrent scrapes: every application login succeeds, SHOW CLIENTS never shows more than one exporter`, async () => {
    const ctx = captureContext({ env: env() });
    const stop = new AbortController();
    let address: { host: string; port: number } | undefined;
    const served = runStats('development', { set, pgbouncerVersion: version, serve: `127.0.0.1:${await freePort()}` }, ctx, { signal: stop.signal, onListening: (a) => (address = a) });
    while (!address) await sleep(20);
    const url = `http://127.0.0.1:${address.port}/metrics`;

    const observer = await connectThrough(bouncer, { user: 'app_user', password: PASSWORD, database: 'pgbouncer' });
    let watching = true;
    let peakExporters = 0;
    let samples = 0;
    const watch = (async () => {
      while (watching) {
        const res = await observer.query<{ database: string }>('SHOW CLIENTS');
        // The observer itself is one client of the admin database.
        peakExporters = Math.max(peakExporters, res.rows.filter((r) => r.database === 'pgbouncer').length - 1);
        samples++;
        await sleep(2);
      }
    })();

    const apps: pg.Client[] = [];
    const failures: string[] = [];
    try {
      for (let burst = 0; burst < 3; burst++) {
        const scrapes = Array.from({ length: 60 }, () => fetch(url).then(async (r) => ({ status: r.status, body: await r.text() })));
        const logins = Array.from({ length: LOGINS_PER_BURST }, () =>
          connectThrough(bouncer, { user: 'app_user', password: PASSWORD, database: 'appdb' }).then(
            (c) => void apps.push(c),
            (e: Error) => void failures.push(e.message),
          ),
        );
        const results = await Promise.all(scrapes);
        await Promise.all(logins);
        for (const r of results) {
          expect(r.status).toBe(200);
          expect(r.body).toContain('\npgbouncer_up 1\n');
        }
      }
    } finally {
      watching = false;
      await watch;
      await observer.end();
      for (const c of apps) await c.end().catch(() => {});
      stop.abort();
    }
    expect(failures).toEqual([]);
    expect(apps.length).toBe(3 * LOGINS_PER_BURST);
    expect(samples).toBeGreaterThan(3);
    expect(peakExporters).toBeLessThanOrEqual(1);
    expect(await served).toBe(0);
    expect(ctx.err()).not.toContain(PASSWORD);
  });
});
