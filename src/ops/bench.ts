/**
 * `pgb-setup bench <environment>`: pgbench against PostgreSQL directly and through pgbouncer, each
 * with a new connection per transaction (-C, what Django does with CONN_MAX_AGE = 0) and with
 * persistent connections, side by side with the ratios. Measures instead of claiming (errata #14).
 *
 * Workload: by default a custom script `SELECT 1;` — nothing is written to the user's database,
 * and what it measures (connection set-up and per-transaction overhead) is exactly what a pooler
 * changes. `--workload select-only` runs `pgbench -i` into the target database first (it drops
 * and recreates the pgbench_* tables) and then the built-in select-only script (-S).
 *
 * Targets are only the hosts the profile names (database.host/port, and pgbouncer's listen
 * address). The password reaches pgbench through PGPASSWORD in its environment, never argv.
 */
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import type { Context } from '../system/context.js';
import { InputError, InputErrors, RuntimeError } from '../text/errors.js';
import type { ResolvedConfig } from '../profile/resolve.js';
import { formatTable } from '../text/output.js';
import { renderTemplate } from '../render/templates.js';
import { describeTarget } from './console.js';
import { fmt } from './pools.js';
import { checkNumber } from './size.js';
import { listenTarget } from './target.js';

export interface BenchOptions {
  clients?: string;
  seconds?: string;
  workload?: 'select1' | 'select-only';
  scale?: string;
  pgbench?: string;
  json?: boolean;
  svg?: string;
  /** `--processes N`: 1 process vs N in throwaway pgbouncers instead (src/ops/bench-processes.ts). */
  processes?: string;
  peers?: boolean;
  pgbouncerBinary?: string;
  serviceUser?: string;
}

const BENCH_LIMITS = { clients: { min: 1, max: 64, default: 4 }, seconds: { min: 1, max: 60, default: 5 }, scale: { min: 1, max: 100, default: 1 } };

type BenchTarget = 'direct' | 'pgbouncer';
export type BenchConnections = 'new' | 'persistent';

export interface PgbenchFigures {
  tps: number;
  latencyMs: number | undefined;
  transactions: number | undefined;
  failed: number | undefined;
  connectMs: number | undefined;
}

export interface BenchRun extends PgbenchFigures {
  target: BenchTarget;
  connections: BenchConnections;
  address: string;
}

export interface BenchReport {
  workload: 'select1' | 'select-only';
  clients: number;
  jobs: number;
  seconds: number;
  pgbench: string;
  pgbenchVersion: string | undefined;
  runs: BenchRun[];
  /** pgbouncer ÷ direct, per connection mode. */
  ratios: Record<BenchConnections, number>;
}

/** Reads pgbench's summary (PostgreSQL 12-17 wording). */
export function parsePgbenchOutput(text: string, reconnect = false): PgbenchFigures {
  // PostgreSQL 14+ prints one tps line; 13 and older print "including" and "excluding connections
  // establishing": with -C the connections are the point (including), else as 14+ does (excluding).
  const old = reconnect ? /^tps = ([\d.]+) \(including connections establishing\)/m : /^tps = ([\d.]+) \(excluding connections establishing\)/m;
  const tps = old.exec(text) ?? /^tps = ([\d.]+)/m.exec(text);
  if (!tps) throw new RuntimeError(`pgbench printed no tps line:\n${text.trim().split('\n').slice(-8).join('\n')}`);
  const numberAfter = (re: RegExp) => {
    const m = re.exec(text);
    return m ? Number(m[1]) : undefined;
  };
  return {
    tps: Number(tps[1]),
    latencyMs: numberAfter(/^latency average = ([\d.]+) ms/m),
    transactions: numberAfter(/^number of transactions actually processed: (\d+)/m),
    failed: numberAfter(/^number of failed transactions: (\d+)/m),
    connectMs: numberAfter(/^(?:average|initial) connection time = ([\d.]+) ms/m),
  };
}

export async function findPgbench(ctx: Context, explicit: string | undefined): Promise<string> {
  if (explicit) {
    if (!(await ctx.system.exists(explicit))) throw new InputError(`--pgbench: ${explicit} does not exist`, '--pgbench');
    return explicit;
  }
  const r = await ctx.system.exec('sh', ['-c', 'ls -1d /usr/lib/postgresql/*/bin/pgbench /usr/pgsql-*/bin/pgbench 2>/dev/null']);
  const found = r.stdout
    .split('\n')
    .filter(Boolean)
    .sort((a, b) => Number(/(\d+)/.exec(b)?.[1] ?? 0) - Number(/(\d+)/.exec(a)?.[1] ?? 0));
  const path = found[0] ?? (await ctx.system.which('pgbench'));
  if (!path) {
    throw new RuntimeError('pgbench not found in /usr/lib/postgresql/*/bin or PATH; install postgresql-client (Debian/Ubuntu: apt-get install postgresql-contrib or postgresql-client-NN) or pass --pgbench');
  }
  return path;
}

export function parseBounds(opts: BenchOptions): { clients: number; seconds: number; scale: number } {
  const problems: string[] = [];
  const get = (raw: string | undefined, flag: string, lim: { min: number; max: number; default: number }, unit: string) => {
    if (raw === undefined) return lim.default;
    const r = checkNumber(raw, { flag, integer: true, min: lim.min, max: lim.max, unit });
    if (typeof r === 'string') {
      problems.push(r);
      return lim.default;
    }
    return r;
  };
  const out = {
    clients: get(opts.clients, '--clients', BENCH_LIMITS.clients, 'clients'),
    seconds: get(opts.seconds, '--seconds', BENCH_LIMITS.seconds, 'seconds'),
    scale: get(opts.scale, '--scale', BENCH_LIMITS.scale, ''),
  };
  if (opts.scale !== undefined && opts.workload !== 'select-only') problems.push('--scale: only with --workload select-only');
  if (problems.length === 1) throw new InputError(problems[0]!);
  if (problems.length > 1) throw new InputErrors(problems);
  return out;
}

/** What the flags ask for, checked before any profile is loaded. */
interface BenchRequest {
  bounds: ReturnType<typeof parseBounds>;
  workload: NonNullable<BenchOptions['workload']>;
}

export function benchRequest(opts: BenchOptions): BenchRequest {
  const bounds = parseBounds(opts);
  return { bounds, workload: opts.workload ?? 'select1' };
}

/** pgbench straight to PostgreSQL and through pgbouncer, new and persistent connections, side by side. */
export async function benchDirectVsPgbouncer(config: ResolvedConfig, request: BenchRequest, opts: BenchOptions, ctx: Context): Promise<number> {
  const { bounds, workload } = request;
  const db = config.profile.database;
  const missing = [!db.name && 'DBNAME', !db.host && 'DBHOST', !db.user && 'DBUSER', !db.password && 'DBPASS'].filter(Boolean);
  if (missing.length) throw new InputError(`${missing.join(', ')}: missing; bench logs in to the database directly and through pgbouncer as DBUSER with DBPASS`);
  const bouncer = listenTarget(config);
  if (!bouncer) throw new InputError('listen_addr: the profile has neither listen_addr nor unix_socket_dir, so there is no pgbouncer to benchmark');
  const direct = { host: db.host!, port: db.port };
  const pgbench = await findPgbench(ctx, opts.pgbench);
  const version = (await ctx.system.exec(pgbench, ['--version'])).stdout.trim() || undefined;
  const jobs = Math.max(1, Math.min(bounds.clients, availableParallelism()));
  // The password goes to the child's environment only.
  const env = { PGPASSWORD: db.password!.reveal(), PGAPPNAME: 'pgb-setup bench', PGCONNECT_TIMEOUT: '10', PGSSLMODE: 'prefer' };
  const timeoutMs = (bounds.seconds + 60) * 1000;

  const dir = await ctx.system.mkdtemp('pgb-setup-bench-');
  try {
    const script = join(dir, 'select1.sql');
    await ctx.system.writeFile(script, 'SELECT 1;\n', { mode: 0o644 });
    if (workload === 'select-only') {
      ctx.stderr.write(`pgbench -i -s ${bounds.scale} into ${db.name} at ${describeTarget(direct)} (drops and recreates the pgbench_* tables)\n`);
      const init = await ctx.system.exec(pgbench, ['-i', '-q', '-s', String(bounds.scale), '-h', direct.host, '-p', String(direct.port), '-U', db.user!, db.name!], { env, timeoutMs: 600_000 });
      if (init.exitCode !== 0) throw new RuntimeError(`pgbench -i failed (exit ${init.exitCode}): ${init.stderr.trim().split('\n').slice(-3).join(' / ')}`);
    }
    const runs: BenchRun[] = [];
    for (const connections of ['new', 'persistent'] as const) {
      for (const target of ['direct', 'pgbouncer'] as const) {
        const at = target === 'direct' ? direct : bouncer;
        const args = [
          '-n', '-c', String(bounds.clients), '-j', String(jobs), '-T', String(bounds.seconds),
          ...(connections === 'new' ? ['-C'] : []),
          ...(workload === 'select1' ? ['-f', script] : ['-S']),
          '-h', at.host, '-p', String(at.port), '-U', db.user!, db.name!,
        ];
        ctx.stderr.write(`pgbench ${target === 'direct' ? 'direct to PostgreSQL' : 'through pgbouncer'} at ${describeTarget(at)}, ${connections === 'new' ? 'new connection per transaction (-C)' : 'persistent connections'}, ${bounds.clients} clients, ${bounds.seconds} s\n`);
        const r = await ctx.system.exec(pgbench, args, { env, timeoutMs, cwd: dir });
        if (r.exitCode !== 0) {
          throw new RuntimeError(`pgbench ${target} (${connections}) failed with exit ${r.exitCode}: ${`${r.stderr}\n${r.stdout}`.trim().split('\n').slice(-4).join(' / ')}`);
        }
        runs.push({ target, connections, address: describeTarget(at), ...parsePgbenchOutput(r.stdout, connections === 'new') });
      }
    }
    const cellOf = (t: BenchTarget, c: BenchConnections) => runs.find((r) => r.target === t && r.connections === c)!;
    const ratio = (c: BenchConnections) => cellOf('pgbouncer', c).tps / cellOf('direct', c).tps;
    const report: BenchReport = {
      workload,
      clients: bounds.clients,
      jobs,
      seconds: bounds.seconds,
      pgbench,
      pgbenchVersion: version,
      runs,
      ratios: { new: ratio('new'), persistent: ratio('persistent') },
    };
    if (opts.svg) {
      const file = resolve(ctx.cwd, opts.svg);
      await ctx.system.writeFile(file, benchSvg(report), { mode: 0o644 });
      ctx.stderr.write(`wrote ${file}\n`);
    }
    ctx.stdout.write(opts.json ? `${JSON.stringify(benchJson(report), null, 2)}\n` : formatBench(report));
    return 0;
  } finally {
    await ctx.system.remove(dir, { recursive: true });
  }
}

export const tpsText = (n: number) => (n >= 1000 ? Math.round(n).toLocaleString('en-US') : fmt(n, 1));

function cell(r: BenchRun | undefined): string {
  if (!r) return '-';
  return `${tpsText(r.tps)} tps, ${r.latencyMs !== undefined ? `${fmt(r.latencyMs, 3)} ms` : '? ms'}`;
}

export function formatBench(r: BenchReport): string {
  const get = (t: BenchTarget, c: BenchConnections) => r.runs.find((x) => x.target === t && x.connections === c);
  const direct = get('direct', 'new')?.address ?? '';
  const bouncer = get('pgbouncer', 'new')?.address ?? '';
  const rows = [
    ['connections', `direct PostgreSQL (${direct})`, `through pgbouncer (${bouncer})`, 'pgbouncer ÷ direct'],
    ['new per transaction (-C)', cell(get('direct', 'new')), cell(get('pgbouncer', 'new')), `${fmt(r.ratios.new, 2)}×`],
    ['persistent', cell(get('direct', 'persistent')), cell(get('pgbouncer', 'persistent')), `${fmt(r.ratios.persistent, 2)}×`],
  ];
  const persistOverNew = (t: BenchTarget) => {
    const p = get(t, 'persistent');
    const n = get(t, 'new');
    return p && n ? `${fmt(p.tps / n.tps, 1)}×` : '-';
  };
  rows.push(['persistent ÷ new', persistOverNew('direct'), persistOverNew('pgbouncer'), '']);
  const what = r.workload === 'select1' ? 'custom script "SELECT 1;"' : 'built-in select-only (-S)';
  return (
    `pgbench ${what}, ${r.clients} clients, ${r.jobs} threads, ${r.seconds} s per run (${r.pgbenchVersion ?? r.pgbench})\n\n` +
    formatTable(rows) +
    '\ntps and mean latency per transaction; with -C every transaction includes a full login (SCRAM costs both sides CPU).\n'
  );
}

function benchJson(r: BenchReport): object {
  return {
    workload: r.workload,
    clients: r.clients,
    jobs: r.jobs,
    seconds: r.seconds,
    pgbench: r.pgbench,
    pgbench_version: r.pgbenchVersion ?? null,
    runs: r.runs.map((x) => ({
      target: x.target,
      connections: x.connections,
      address: x.address,
      ...figuresJson(x),
      connect_ms: x.connectMs ?? null,
    })),
    ratios: { pgbouncer_over_direct_new_connections: r.ratios.new, pgbouncer_over_direct_persistent: r.ratios.persistent },
  };
}

/** pgbench's figures as the JSON reports name them (bench and bench --processes). */
export function figuresJson(x: PgbenchFigures): { tps: number; latency_ms: number | null; transactions: number | null; failed: number | null } {
  return { tps: x.tps, latency_ms: x.latencyMs ?? null, transactions: x.transactions ?? null, failed: x.failed ?? null };
}

function xml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** Two panels (new connection, persistent), each with its own scale: the tps differ ~1000×. */
export function benchSvg(r: BenchReport): string {
  const width = 760;
  const height = 410;
  const panelWidth = 330;
  const top = 104;
  const plotHeight = 240;
  const colors: Record<BenchTarget, string> = { direct: '#8c8c8c', pgbouncer: '#2f6db5' };
  const panels = (['new', 'persistent'] as const).map((c, idx) => {
    const runs = (['direct', 'pgbouncer'] as const).map((t) => r.runs.find((x) => x.target === t && x.connections === c)!);
    const max = Math.max(...runs.map((x) => x.tps), 1e-9);
    const x0 = 40 + idx * (panelWidth + 40);
    const barWidth = 90;
    const bars = runs.map((run, i) => {
      const h = Math.max(1, Math.round((run.tps / max) * plotHeight));
      const x = x0 + 50 + i * (barWidth + 50);
      return {
        x,
        y: top + plotHeight - h,
        width: barWidth,
        height: h,
        fill: colors[run.target],
        label: xml(run.target === 'direct' ? 'direct' : 'pgbouncer'),
        labelX: x + barWidth / 2,
        labelY: top + plotHeight + 18,
        value: xml(`${tpsText(run.tps)} tps`),
        valueX: x + barWidth / 2,
        valueY: top + plotHeight - h - 6,
      };
    });
    return {
      x: x0,
      titleX: x0 + panelWidth / 2,
      title: xml(c === 'new' ? 'new connection per transaction (-C)' : 'persistent connections'),
      ratio: xml(`pgbouncer ÷ direct: ${fmt(r.ratios[c], 2)}×`),
      axisY: top + plotHeight,
      axisX2: x0 + panelWidth,
      bars,
    };
  });
  return renderTemplate('bench-chart.svg', {
    width,
    height,
    title: xml('pgbench: direct PostgreSQL vs through pgbouncer'),
    subtitle: xml(`${r.workload === 'select1' ? 'SELECT 1' : 'select-only (-S)'}, ${r.clients} clients, ${r.seconds} s per run; each panel has its own scale`),
    ratioY: top + plotHeight + 44,
    panels,
  });
}
