/**
 * Load for the handover tests (#14), run while a pgbouncer is replaced:
 *  - pgbench -C (a new connection per transaction), 4 clients;
 *  - a Django-like psycopg2 client (django-load.py): persistent connections, a health check at
 *    every request, reconnect when it fails, then a transaction; plus a TCP probe every 5 ms.
 * `during` runs after `delayMs`; the load runs `seconds` in all. Returns the counts.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { PG_BIN_DIR } from './pgbouncer-binaries.js';
import { run } from './proc.js';

export interface LoadTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

export interface LoadFigures {
  pgbenchTransactions: number;
  pgbenchFailed: number;
  pgbenchAbortedClients: number;
  requests: number;
  failedRequests: number;
  reconnects: number;
  probes: number;
  refusedProbes: number;
  errors: string[];
}

const DJANGO_LOAD = join(dirname(fileURLToPath(import.meta.url)), 'django-load.py');
/** The distribution's python, where apt's python3-psycopg2 lives (not a pyenv shim first on PATH). */
const PYTHON = '/usr/bin/python3';

/** python3-psycopg2 from apt, the way the suite installs packages (waits for the dpkg lock). */
export async function ensurePsycopg2(): Promise<void> {
  const ok = await run(PYTHON, ['-c', 'import psycopg2'], { check: false });
  if (ok.code === 0) return;
  await run('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'install', '-y', '--no-upgrade', 'python3-psycopg2'], { env: { DEBIAN_FRONTEND: 'noninteractive' }, timeoutMs: 600_000 });
}

function collect(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export async function runLoad(t: LoadTarget, workDir: string, seconds: number, delayMs: number, during: () => Promise<void>, connMaxAge = 600): Promise<LoadFigures> {
  const script = join(workDir, 'pgbench-select.sql');
  await writeFile(script, 'SELECT count(*) FROM pg_class;\n');
  const env = { PGHOST: t.host, PGPORT: String(t.port), PGUSER: t.user, PGPASSWORD: t.password, PGDATABASE: t.database };
  const bench = collect(join(PG_BIN_DIR, 'pgbench'), ['-n', '-C', '-c', '4', '-j', '2', '-T', String(seconds), '-f', script], env);
  const django = collect(PYTHON, [DJANGO_LOAD, String(seconds), '4', String(connMaxAge)], env);
  await sleep(delayMs);
  let failure: unknown;
  await during().catch((e: unknown) => (failure = e));
  const [b, d] = await Promise.all([bench, django]);
  if (failure) throw failure;
  const num = (re: RegExp, text: string) => Number(re.exec(text)?.[1] ?? 'NaN');
  const dj = JSON.parse(d.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
  if (typeof dj['requests'] !== 'number') throw new Error(`django-load.py gave no figures: ${d.stderr.slice(-500)}`);
  const aborted = (b.stderr.match(/client \d+ aborted/g) ?? []).length;
  return {
    pgbenchTransactions: num(/number of transactions actually processed: (\d+)/, b.stdout),
    pgbenchFailed: num(/number of failed transactions: (\d+)/, b.stdout) || 0,
    pgbenchAbortedClients: aborted,
    requests: dj['requests'] as number,
    failedRequests: dj['failed_requests'] as number,
    reconnects: dj['reconnects'] as number,
    probes: dj['probes'] as number,
    refusedProbes: dj['refused_probes'] as number,
    errors: [...(dj['errors'] as string[]), ...b.stderr.split('\n').filter((l) => /error|aborted/i.test(l)).slice(0, 5)],
  };
}

export function figuresLine(label: string, f: LoadFigures): string {
  return `${label.padEnd(34)} pgbench -C: ${f.pgbenchTransactions} tx, ${f.pgbenchFailed} failed, ${f.pgbenchAbortedClients} clients aborted | django loop: ${f.requests} requests, ${f.failedRequests} failed, ${f.reconnects} reconnects | probes: ${f.probes}, ${f.refusedProbes} refused`;
}
