// Load inside a guest during a handover (#14): pgbench -C (4 clients) and a Django-like loop with
// node-postgres (the guests have no psycopg2 and no network; pg comes with the installed
// pgb-setup): 4 workers with persistent connections, a health check (SELECT 1) at every request,
// reconnect when it fails, then a transaction, closing the connection at the end of a request
// once it is older than CONN_MAX_AGE; plus a TCP connect to the port every 5 ms.
// argv: seconds, pgbench path. Connection settings from PG* variables. The test bundles this file
// with node-postgres (esbuild, CommonJS) and copies the bundle into the guest.
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { writeFileSync } from 'node:fs';
import pg from 'pg';

const [seconds, pgbench, maxAge = '600'] = process.argv.slice(2);
// Django's CONN_MAX_AGE: a connection older than this is closed at the end of a request.
const MAX_AGE_MS = Number(maxAge) * 1000;
const stopAt = Date.now() + Number(seconds) * 1000;
const port = Number(process.env.PGPORT);
const c = { requests: 0, failed_requests: 0, reconnects: 0, probes: 0, refused_probes: 0, errors: [] };
const note = (e) => { if (c.errors.length < 10) c.errors.push(String(e?.message ?? e).split('\n')[0]); };

writeFileSync('/tmp/pgbench-select.sql', 'SELECT count(*) FROM pg_class;\n');
const bench = new Promise((resolve) => {
  const p = spawn(pgbench, ['-n', '-C', '-c', '4', '-j', '2', '-T', String(seconds), '-f', '/tmp/pgbench-select.sql'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (err += d));
  p.on('close', () => resolve({ out, err }));
});

async function worker() {
  let client;
  let opened = 0;
  const open = async () => { const x = new pg.Client({ connectionTimeoutMillis: 5000 }); x.on('error', () => {}); await x.connect(); opened = Date.now(); return x; };
  while (Date.now() < stopAt) {
    c.requests++;
    try {
      let usable = false;
      if (client) { try { await client.query('SELECT 1'); usable = true; } catch { usable = false; } }
      if (!usable) {
        if (client) { c.reconnects++; client.end().catch(() => {}); }
        client = await open();
      }
      await client.query('BEGIN');
      await client.query('SELECT count(*) FROM pg_class');
      await client.query('COMMIT');
      if (Date.now() - opened > MAX_AGE_MS) { await client.end().catch(() => {}); client = undefined; }
    } catch (e) {
      c.failed_requests++; note(e);
      client?.end().catch(() => {}); client = undefined;
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  await client?.end().catch(() => {});
}

async function probe() {
  while (Date.now() < stopAt) {
    c.probes++;
    await new Promise((resolve) => {
      const s = connect({ host: process.env.PGHOST, port });
      const done = (ok, e) => { s.destroy(); if (!ok) { c.refused_probes++; note(e); } resolve(); };
      s.setTimeout(1000, () => done(false, 'timeout'));
      s.once('connect', () => done(true)); s.once('error', (e) => done(false, e));
    });
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function main() {
await Promise.all([worker(), worker(), worker(), worker(), probe()]);
const b = await bench;
const num = (re) => Number(re.exec(b.out)?.[1] ?? 'NaN');
console.log(JSON.stringify({
  ...c,
  pgbench_transactions: num(/number of transactions actually processed: (\d+)/),
  pgbench_failed: num(/number of failed transactions: (\d+)/) || 0,
  pgbench_aborted: (b.err.match(/client \d+ aborted/g) ?? []).length,
  pgbench_errors: b.err.split('\n').filter((l) => /error|aborted/i.test(l)).slice(0, 5),
}));
}

main().catch((e) => { console.error(e); process.exit(1); });
