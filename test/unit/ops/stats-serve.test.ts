/**
 * #16.4: `stats --serve` against the fake console: concurrent scrapes share one console
 * connection, absolute-form request targets, --serve 0 refused, SIGTERM (abort) does not wait for a
 * stalled console, pgbouncer_up 0 and recovery without restart. The real-pgbouncer version (small
 * max_client_conn, application logins) is test/integration/ops-serve.test.ts.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../../src/main.js';
import { requestPath, sharedScrape } from '../../../src/ops/stats.js';
import { runStats } from '../../../src/app/stats.js';
import { captureContext } from '../../helpers/context.js';
import { healthyScript, POOL_COLUMNS, poolRow, startFakeConsole, type FakeConsole, type FakeConsoleScript } from '../../helpers/fake-console.js';
import { freePort } from '../../helpers/ports.js';

let fake: FakeConsole | undefined;
let stop: AbortController | undefined;
let served: Promise<number> | undefined;
afterEach(async () => {
  stop?.abort();
  await served?.catch(() => 0);
  await fake?.close();
  fake = undefined;
  stop = undefined;
  served = undefined;
});

async function serve(script: FakeConsoleScript, timeout = '5') {
  fake = await startFakeConsole(script);
  const ctx = captureContext({ env: { PGPASSWORD: 's3cret-console-pw' } });
  stop = new AbortController();
  let address: { host: string; port: number } | undefined;
  const port = await freePort();
  served = runStats(undefined, { host: fake.host, port: String(fake.port), user: 'stats', timeout, serve: `127.0.0.1:${port}` }, ctx, {
    signal: stop.signal,
    onListening: (a) => (address = a),
  });
  while (!address) await sleep(10);
  return { url: `http://127.0.0.1:${address.port}`, port: address.port, ctx };
}

describe('stats --serve: one console connection at a time', () => {
  it('50 concurrent scrapes share the snapshot in progress: the console never sees more than one connection', async () => {
    const slow = healthyScript({ 'SHOW POOLS': { delayMs: 300, then: { columns: POOL_COLUMNS, rows: [poolRow()] } } });
    const { url } = await serve(slow);
    const bodies = await Promise.all(Array.from({ length: 50 }, () => fetch(`${url}/metrics`).then((r) => r.text())));
    for (const b of bodies) expect(b).toContain('\npgbouncer_up 1\n');
    expect(fake!.peakOpen).toBe(1);
    expect(fake!.accepted).toBeLessThanOrEqual(2);
    // A scrape after the shared one ended takes a fresh snapshot.
    const before = fake!.accepted;
    await fetch(`${url}/metrics`).then((r) => r.text());
    expect(fake!.accepted).toBe(before + 1);
  });

  it('sharedScrape: one call in flight, its answer (or error) shared, the next call starts anew', async () => {
    let calls = 0;
    const take = sharedScrape(async () => {
      calls++;
      await sleep(20);
      return `snapshot ${calls}`;
    });
    expect(await Promise.all([take(), take(), take()])).toEqual(['snapshot 1', 'snapshot 1', 'snapshot 1']);
    expect(await take()).toBe('snapshot 2');
  });
});

describe('stats --serve: requests', () => {
  it('accepts the absolute-form request target (GET http://host/metrics)', async () => {
    const { port } = await serve(healthyScript());
    const raw = await new Promise<string>((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => s.write(`GET http://127.0.0.1:${port}/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`));
      let text = '';
      s.on('data', (d) => (text += d.toString()));
      s.on('end', () => resolve(text));
      s.on('error', reject);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 200 /);
    expect(raw).toContain('pgbouncer_up 1');
    expect(requestPath('http://h:1/metrics?x=1')).toBe('/metrics');
    expect(requestPath('/metrics?x')).toBe('/metrics');
    expect(requestPath('*')).toBeUndefined();
  });

  it('--serve 0 is refused (exit 2); --help says a bare port binds 127.0.0.1', async () => {
    const ctx = captureContext({ env: {} });
    expect(await main(['node', 'pgb-setup', 'stats', '--serve', '0'], ctx)).toBe(2);
    expect(ctx.err()).toContain('--serve: "0" must be PORT or ADDRESS:PORT with a port from 1 to 65535');
    const help = captureContext();
    await main(['node', 'pgb-setup', 'stats', '--help'], help).catch(() => 0);
    expect((help.out() + help.err()).replace(/\s+/g, ' ')).toContain('a bare PORT, which binds 127.0.0.1 only');
  });
});

describe('stats --serve: a console that stalls or fails', () => {
  it('stop (SIGTERM) while a scrape waits on a stalled console: stops at once, not after --timeout, no connection left', async () => {
    const { url } = await serve(healthyScript({ 'SHOW POOLS': { stall: true } }), '60');
    const pending = fetch(`${url}/metrics`).catch(() => undefined);
    while (fake!.commands.length < 2) await sleep(10);
    const t0 = Date.now();
    stop!.abort();
    expect(await served).toBe(0);
    await pending;
    expect(Date.now() - t0).toBeLessThan(2000);
    for (let i = 0; i < 50 && fake!.open() > 0; i++) await sleep(10);
    expect(fake!.open()).toBe(0);
  });

  it('pgbouncer_up 0 while the console stalls, 1 again once it answers, without a restart', async () => {
    const { url, ctx } = await serve(healthyScript({ 'SHOW STATS': { stall: true } }), '0.5');
    expect(await (await fetch(`${url}/metrics`)).text()).toContain('pgbouncer_up 0');
    fake!.script = healthyScript();
    expect(await (await fetch(`${url}/metrics`)).text()).toContain('\npgbouncer_up 1\n');
    expect(ctx.err()).toContain('scrape failed: no answer from pgbouncer');
    expect(ctx.err()).not.toContain('s3cret-console-pw');
    for (let i = 0; i < 50 && fake!.open() > 0; i++) await sleep(10);
    expect(fake!.open()).toBe(0);
  });
});

describe('stats --serve as a process (#17.8)', () => {
  it('SIGTERM while a scrape waits on a console that stalls and never closes: the process exits at once, not after --timeout', async () => {
    fake = await startFakeConsole({ ...healthyScript({ 'SHOW STATS': { stall: true } }), onTerminate: 'ignore' });
    const dir = await mkdtemp(join(tmpdir(), 'pgb-serve-'));
    try {
      const script = join(dir, 'run.ts');
      await writeFile(script, `import { main } from ${JSON.stringify(resolve('src/main.ts'))};\nmain(process.argv).then((code) => { process.exitCode = code; });\n`);
      const port = await freePort();
      const child = spawn(resolve('node_modules/.bin/vite-node'), [script, '--', 'stats', '--serve', `127.0.0.1:${port}`, '--host', fake.host, '--port', String(fake.port), '--user', 'stats', '--timeout', '60'], {
        env: { ...process.env, PGPASSWORD: 's3cret-console-pw' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
      for (let i = 0; i < 300 && !stderr.includes('serving http://'); i++) await sleep(50);
      const pending = fetch(`http://127.0.0.1:${port}/metrics`).catch(() => undefined);
      for (let i = 0; i < 100 && !fake.commands.includes('SHOW STATS'); i++) await sleep(20);
      expect(fake.commands).toContain('SHOW STATS');
      const t0 = Date.now();
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(Date.now() - t0).toBeLessThan(3000);
      await pending;
      expect(stderr).toContain('stopped');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
