/**
 * `pgb-setup stats [environment] --format table|json|prometheus [--serve ADDR:PORT]`: SHOW VERSION,
 * POOLS, STATS, DATABASES, LISTS and CONFIG in one console session (one snapshot). With --serve,
 * an HTTP endpoint /metrics (node:http) that takes a fresh snapshot per scrape, until SIGINT/SIGTERM.
 */
import type { Context } from '../system/context.js';
import { InputError, RuntimeError } from '../text/errors.js';
import type { ResolvedConfig } from '../profile/resolve.js';
import { formatTable } from '../text/output.js';
import { ConsoleError, consoleSnapshot, describeTarget, num, str, type ConsoleResult } from './console.js';
import { fmt, versionText, type Snapshot } from './pools.js';
import { downMetrics, groupMetrics, PROMETHEUS_CONTENT_TYPE, snapshotMetrics } from './prometheus.js';
import { eachMember, groupMembers, processCount, type GroupMember } from './group.js';
import { printable } from '../text/printable.js';
import { resolveConsoleTarget, type ConsoleFlags, type ResolvedTarget } from './target.js';

export type StatsFormat = 'table' | 'json' | 'prometheus';

export interface StatsOptions extends ConsoleFlags {
  format?: StatsFormat;
  serve?: string;
  legacyStatsNames?: boolean;
  /** `--processes N|auto`: one snapshot per process of the group, each through its own socket folder. */
  processes?: string;
}

const STATS_COMMANDS = {
  version: 'SHOW VERSION',
  pools: 'SHOW POOLS',
  stats: 'SHOW STATS',
  databases: 'SHOW DATABASES',
  lists: 'SHOW LISTS',
  config: 'SHOW CONFIG',
} as const;

async function takeSnapshot(target: ResolvedTarget, signal?: AbortSignal): Promise<Snapshot & { takenAt: string }> {
  const takenAt = new Date().toISOString();
  const snap = await consoleSnapshot(target, STATS_COMMANDS, signal ? { signal } : {});
  return { ...snap, takenAt };
}

function cell(v: unknown): string {
  return v === null || v === undefined ? '' : String(v);
}

function table(title: string, result: ConsoleResult, columns: [string, string | ((r: Record<string, unknown>) => string)][]): string {
  const present = columns.filter(([, get]) => typeof get !== 'string' || result.columns.includes(get));
  const rows = result.rows.map((r) => present.map(([, get]) => (typeof get === 'string' ? cell(r[get]) : get(r))));
  return `${title}\n${formatTable([present.map(([h]) => h), ...rows])}`;
}

function formatStatsTable(snap: Snapshot & { takenAt: string }, where: string): string {
  const ms = (col: string) => (r: Record<string, unknown>) => {
    const v = num(r as never, col);
    return v === undefined ? '' : fmt(v / 1000, 3);
  };
  const maxwait = (r: Record<string, unknown>) => fmt((num(r as never, 'maxwait') ?? 0) + (num(r as never, 'maxwait_us') ?? 0) / 1e6, 3);
  const reserve = (r: Record<string, unknown>) => cell(r['reserve_pool_size'] ?? r['reserve_pool']);
  const parts = [
    `${printable(versionText(snap) ?? 'pgbouncer')} at ${where}, ${snap.takenAt}\n`,
    table('POOLS', snap.pools, [
      ['database', 'database'], ['user', 'user'], ['cl_active', 'cl_active'], ['cl_waiting', 'cl_waiting'],
      ['sv_active', 'sv_active'], ['sv_idle', 'sv_idle'], ['sv_used', 'sv_used'], ['sv_tested', 'sv_tested'], ['sv_login', 'sv_login'],
      ['maxwait_s', maxwait], ['pool_mode', 'pool_mode'],
    ]),
    table(`STATS (per second and mean times over the last stats_period)`, snap.stats, [
      ['database', 'database'], ['xact/s', 'avg_xact_count'], ['query/s', 'avg_query_count'],
      ['avg_xact_ms', ms('avg_xact_time')], ['avg_query_ms', ms('avg_query_time')], ['avg_wait_ms', ms('avg_wait_time')],
      ['total_xact', 'total_xact_count'], ['total_query', 'total_query_count'], ['bytes_in', 'total_received'], ['bytes_out', 'total_sent'],
    ]),
    table('DATABASES', snap.databases, [
      ['name', 'name'], ['host', 'host'], ['port', 'port'], ['database', 'database'], ['force_user', 'force_user'],
      ['pool_size', 'pool_size'], ['reserve', reserve], ['pool_mode', 'pool_mode'], ['max_db_conn', 'max_connections'],
      ['current', 'current_connections'], ['paused', 'paused'], ['disabled', 'disabled'],
    ]),
    table('LISTS', snap.lists ?? { columns: [], rows: [] }, [['list', 'list'], ['items', 'items']]),
  ];
  return parts.join('\n');
}

function statsJson(snap: Snapshot & { takenAt: string }, where: string): object {
  const lists: Record<string, number | null> = {};
  for (const r of snap.lists?.rows ?? []) lists[str(r, 'list') ?? ''] = num(r, 'items') ?? null;
  const config: Record<string, string | null> = {};
  for (const r of snap.config?.rows ?? []) config[str(r, 'key') ?? ''] = str(r, 'value') ?? null;
  return {
    taken_at: snap.takenAt,
    target: where,
    version: versionText(snap) ?? null,
    pools: snap.pools.rows,
    stats: snap.stats.rows,
    databases: snap.databases.rows,
    lists,
    config,
  };
}

/**
 * `9127`, `127.0.0.1:9127`, `[::1]:9127` → host and port (host 127.0.0.1 when only a port is given).
 * Port 0 is refused: Prometheus needs a port it can be told.
 */
export function parseListen(value: string): { host: string; port: number } {
  const text = value.trim();
  const m = /^\d+$/.test(text) ? [text, undefined, undefined, text] : /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d+)$/.exec(text);
  const port = Number(m?.[3]);
  if (!m || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InputError(`--serve: "${value}" must be PORT or ADDRESS:PORT with a port from 1 to 65535, e.g. 127.0.0.1:9127`, '--serve');
  }
  return { host: m[1] ?? m[2] ?? '127.0.0.1', port };
}

/**
 * Scrapes that arrive while one is in flight share its answer: at most one console connection at
 * a time however many clients ask (the endpoint has no authentication, and every console login
 * takes one of pgbouncer's max_client_conn slots). A scrape that starts after the last one ended
 * takes a fresh snapshot.
 */
export function sharedScrape(take: () => Promise<string>): () => Promise<string> {
  let inFlight: Promise<string> | undefined;
  return () =>
    (inFlight ??= take().finally(() => {
      inFlight = undefined;
    }));
}

/** The path of a request target, origin-form (`/metrics?x`) or absolute-form (`http://host/metrics`). */
export function requestPath(url: string | undefined): string | undefined {
  const target = url ?? '/';
  if (target.startsWith('/')) return target.split('?')[0];
  if (/^https?:\/\//i.test(target)) {
    try {
      return new URL(target).pathname;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

interface ServeOptions {
  host: string;
  port: number;
  /** A fresh exposition per scrape (shared by concurrent scrapes, see sharedScrape). */
  scrape: () => Promise<string>;
  /** Aborted when the server stops: in-flight scrapes cancel their console query at once. */
  cancelScrapes?: () => void;
  signal: AbortSignal;
  log: (line: string) => void;
  onListening?: (address: { host: string; port: number }) => void;
}

/** Serves /metrics until `signal` aborts; resolves once the server is closed. */
async function serveMetrics(o: ServeOptions): Promise<void> {
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => {
    const path = requestPath(req.url);
    if (path === undefined) {
      res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' }).end('bad request target\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      o.scrape().then(
        (body) => {
          res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE });
          res.end(req.method === 'HEAD' ? undefined : body);
        },
        (err: Error) => {
          res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`${err.message}\n`);
        },
      );
      return;
    }
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('pgb-setup stats: metrics at /metrics\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found; metrics are at /metrics\n');
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new RuntimeError(`--serve: cannot listen on ${o.host}:${o.port}: ${err.code ?? err.message}`)));
    server.listen({ host: o.host, port: o.port }, () => resolve());
  });
  const addr = server.address();
  const bound = typeof addr === 'object' && addr ? { host: o.host, port: addr.port } : { host: o.host, port: o.port };
  o.onListening?.(bound);
  o.log(`serving http://${bound.host.includes(':') ? `[${bound.host}]` : bound.host}:${bound.port}/metrics (SIGINT or SIGTERM stops)`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      o.cancelScrapes?.();
      server.close(() => resolve());
      server.closeAllConnections();
    };
    if (o.signal.aborted) stop();
    else o.signal.addEventListener('abort', stop, { once: true });
  });
  o.log('stopped');
}

export interface StatsRuntime {
  /** Stops --serve; the CLI wires SIGINT/SIGTERM to it. */
  signal?: AbortSignal;
  onListening?: (address: { host: string; port: number }) => void;
}

type TimedSnapshot = Snapshot & { takenAt: string };

/** One snapshot per process, taken at once; a process that does not answer keeps its error. */
async function groupSnapshots(members: readonly GroupMember[], signal?: AbortSignal): Promise<{ member: GroupMember; where: string; snap?: TimedSnapshot; error?: ConsoleError }[]> {
  const outcomes = await eachMember(members, (m) => takeSnapshot(m.target, signal));
  return outcomes.map((o) => {
    const where = describeTarget(o.member.target);
    if (o.error === undefined) return { member: o.member, where, snap: o.value };
    if (o.error instanceof ConsoleError) return { member: o.member, where, error: o.error };
    throw o.error;
  });
}

/** What the flags ask for, checked before any profile is loaded. */
interface StatsRequest {
  listen: { host: string; port: number } | undefined;
  processes: number;
}

export function statsRequest(opts: StatsOptions): StatsRequest {
  const listen = opts.serve ? parseListen(opts.serve) : undefined;
  return { listen, processes: processCount(opts.processes) };
}

/** One snapshot printed as a table, JSON or Prometheus text, or (--serve) /metrics until stopped. */
export async function showStats(config: ResolvedConfig | undefined, request: StatsRequest, opts: StatsOptions, ctx: Context, runtime: StatsRuntime = {}): Promise<number> {
  const { listen, processes: n } = request;
  const members = n > 1 ? groupMembers(config, n, opts, ctx) : undefined;
  const target = members ? members[0]!.target : resolveConsoleTarget(config, opts, ctx);
  const where = describeTarget(target);
  const format: StatsFormat = opts.format ?? (opts.serve ? 'prometheus' : 'table');
  const legacy = { legacyStatsNames: opts.legacyStatsNames ?? false };
  if (listen) {
    if (format !== 'prometheus') throw new InputError('--serve: serves Prometheus text only; drop --format or use --format prometheus', '--serve');
    const scrapes = new AbortController();
    const scrape = sharedScrape(async () => {
      if (members) {
        const snaps = await groupSnapshots(members, scrapes.signal);
        for (const s of snaps) if (s.error) ctx.stderr.write(`scrape of process ${s.member.id} failed: ${s.error.message}\n`);
        return groupMetrics(snaps.map((s) => ({ process: s.member.id, snapshot: s.snap })), legacy);
      }
      try {
        return snapshotMetrics(await takeSnapshot(target, scrapes.signal), legacy);
      } catch (err) {
        if (!(err instanceof ConsoleError)) throw err;
        if (!scrapes.signal.aborted) ctx.stderr.write(`scrape failed: ${err.message}\n`);
        return downMetrics();
      }
    });
    let signal = runtime.signal;
    let cleanup = () => {};
    if (!signal) {
      const controller = new AbortController();
      const stop = () => controller.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      cleanup = () => {
        process.removeListener('SIGINT', stop);
        process.removeListener('SIGTERM', stop);
      };
      signal = controller.signal;
    }
    try {
      await serveMetrics({
        ...listen,
        scrape,
        cancelScrapes: () => scrapes.abort(),
        signal,
        log: (line) => ctx.stderr.write(`${line}\n`),
        ...(runtime.onListening ? { onListening: runtime.onListening } : {}),
      });
    } finally {
      cleanup();
    }
    return 0;
  }

  if (members) return printGroup(members, format, legacy, ctx);

  let snap: Snapshot & { takenAt: string };
  try {
    snap = await takeSnapshot(target);
  } catch (err) {
    if (err instanceof ConsoleError) {
      if (format === 'prometheus') ctx.stdout.write(downMetrics());
      throw new RuntimeError(err.message);
    }
    throw err;
  }
  if (format === 'json') ctx.stdout.write(`${JSON.stringify(statsJson(snap, where), null, 2)}\n`);
  else if (format === 'prometheus') ctx.stdout.write(snapshotMetrics(snap, { legacyStatsNames: opts.legacyStatsNames ?? false }));
  else ctx.stdout.write(formatStatsTable(snap, where));
  return 0;
}


/** A group's snapshots as tables (one block per process), JSON (`processes: [...]`) or Prometheus (`process` label). */
async function printGroup(members: readonly GroupMember[], format: StatsFormat, legacy: { legacyStatsNames: boolean }, ctx: Context): Promise<number> {
  const snaps = await groupSnapshots(members);
  if (format === 'prometheus') {
    ctx.stdout.write(groupMetrics(snaps.map((s) => ({ process: s.member.id, snapshot: s.snap })), legacy));
  } else if (format === 'json') {
    const processes = snaps.map((s) => (s.snap ? { process: s.member.id, ...(statsJson(s.snap, s.where) as Record<string, unknown>) } : { process: s.member.id, target: s.where, error: s.error!.message }));
    ctx.stdout.write(`${JSON.stringify({ processes }, null, 2)}\n`);
  } else {
    const blocks = snaps.map((s) => `== process ${s.member.id} of ${members.length} ==\n${s.snap ? formatStatsTable(s.snap, s.where) : `not answering: ${s.error!.message}\n`}`);
    ctx.stdout.write(blocks.join('\n'));
  }
  const down = snaps.filter((s) => s.error);
  if (down.length) throw new RuntimeError(down.map((s) => `process ${s.member.id}: ${s.error!.message}`).join('\n'));
  return 0;
}
