/**
 * The pgbouncer admin console (database `pgbouncer`), through node-postgres.
 *
 * Facts this relies on (checked on 1.18 and 1.24): the console speaks the simple query protocol
 * only, so every command is a parameterless text query (`client.query('SHOW POOLS')` never
 * prepares); `SELECT ...` is not SQL there; and the columns of every SHOW differ between versions,
 * so rows are handed out keyed by column name, with whatever columns the server sent.
 *
 * Values: the console declares counts as int4 and the SHOW STATS figures as numeric; both become
 * JS numbers here. Text columns stay strings, NULL stays null.
 */
import type { Client, FieldDef } from 'pg';
import { openClient } from '../system/pg-client.js';
import { printableLine } from '../text/printable.js';
import { UNREACHABLE_CODES } from '../system/net.js';
import { consoleGuard, type ConsoleLimits } from './console-guard.js';

export type ConsoleValue = string | number | null;
export type ConsoleRow = Record<string, ConsoleValue>;

export interface ConsoleResult {
  columns: string[];
  rows: ConsoleRow[];
}

export interface ConsoleTarget {
  /** Host name, IP, or an absolute directory holding the unix socket `.s.PGSQL.<port>`. */
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  /** Bound on the whole session: connect, login, every answer and the close. */
  timeoutMs: number;
  /**
   * The socket folder to use instead when pgbouncer requires TLS on TCP ("SSL required"): the
   * console is not spoken over TLS (the guard reads the raw protocol), and local sockets need none.
   */
  socketFallback?: string;
}

/** `limit`: the answer went past a size cap (console-guard.ts). */
type ConsoleFailure = 'unreachable' | 'login' | 'command' | 'limit';

/** Why the console could not answer; `kind` decides the exit code a caller uses. */
export class ConsoleError extends Error {
  readonly kind: ConsoleFailure;
  readonly code: string | undefined;
  constructor(kind: ConsoleFailure, message: string, code?: string) {
    super(message);
    this.name = 'ConsoleError';
    this.kind = kind;
    this.code = code;
  }
}

interface ConsoleSession {
  show(command: string): Promise<ConsoleResult>;
  close(): Promise<void>;
}

/** pg type OIDs the console uses for numbers: int2, int4, int8, numeric. */
const NUMERIC_OIDS = new Set([20, 21, 23, 1700]);
/** Hand every value over as the text the server sent; we convert by column type below. */
const RAW_TYPES = { getTypeParser: () => (value: string) => value } as const;

export function describeTarget(t: Pick<ConsoleTarget, 'host' | 'port'>): string {
  return t.host.startsWith('/') ? `${t.host}/.s.PGSQL.${t.port}` : `${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}`;
}

/** Turns whatever pg threw while connecting into unreachable vs login refused, in one line. */
export function classifyConnectError(err: unknown, target: ConsoleTarget): ConsoleError {
  const e = err as { code?: string; message?: string; severity?: string };
  const where = describeTarget(target);
  const msg = printableLine(e?.message ?? String(err));
  if (e?.code && UNREACHABLE_CODES.has(e.code)) {
    return new ConsoleError('unreachable', `cannot connect to pgbouncer at ${where}: ${msg}`, e.code);
  }
  if (/timeout|terminated unexpectedly|Connection terminated/i.test(msg) && !e?.severity) {
    return new ConsoleError('unreachable', `no answer from pgbouncer at ${where}: ${msg}`, e?.code);
  }
  if (/client password must be a string|password must be/i.test(msg)) {
    return new ConsoleError('login', `login to the admin console at ${where} as ${target.user} needs a password, and none was given (set it in the environment; see --password-env)`, e?.code);
  }
  const hint = /not allowed/i.test(msg) ? ` (${target.user} is in neither stats_users nor admin_users)` : '';
  return new ConsoleError('login', `login to the admin console at ${where} as ${target.user} refused: ${msg}${hint}`, e?.code);
}

function convert(value: unknown, field: FieldDef | undefined): ConsoleValue {
  if (value === null || value === undefined) return null;
  const text = String(value);
  if (field && NUMERIC_OIDS.has(field.dataTypeID) && DECIMAL.test(text)) {
    const n = Number(text);
    if (Number.isFinite(n)) return n;
  }
  return text;
}

interface SessionOptions {
  /** Ends the session at once (e.g. SIGTERM while a scrape is in flight). */
  signal?: AbortSignal;
  limits?: ConsoleLimits;
}

/** Numbers as pgbouncer prints them: decimal digits, an optional fraction. Not 0x10, not 1e3, not Infinity. */
const DECIMAL = /^-?\d{1,30}(\.\d{1,30})?$/;

interface Socketish {
  destroy(): void;
  prependListener(event: 'data', listener: (chunk: Buffer) => void): unknown;
}

/**
 * Opens one console session; callers run their SHOW commands in it (one snapshot) and close it.
 * Every wait is bounded by target.timeoutMs, counted from the start of the connect to the end of
 * the close: one deadline ends the socket whatever it is waiting for (the TCP connect, the login,
 * an answer, the server's goodbye after Terminate). The server's bytes pass a guard (rows, message
 * and session size caps) before node-postgres buffers them.
 */
async function openConsole(target: ConsoleTarget, options: SessionOptions = {}): Promise<ConsoleSession> {
  const seconds = `${Math.round(target.timeoutMs / 100) / 10}s`;
  let socket: Socketish | undefined;
  let stopped: ConsoleError | undefined;
  const stop = (err: ConsoleError) => {
    stopped ??= err;
    socket?.destroy();
  };
  const deadline = setTimeout(() => stop(new ConsoleError('unreachable', `no answer from pgbouncer at ${describeTarget(target)} within --timeout ${seconds}`, 'ETIMEDOUT')), target.timeoutMs);
  const onAbort = () => stop(new ConsoleError('command', 'cancelled', 'ABORT_ERR'));
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const finish = () => {
    clearTimeout(deadline);
    options.signal?.removeEventListener('abort', onAbort);
  };
  const guard = consoleGuard(options.limits);

  let client: Client;
  try {
    if (options.signal?.aborted) throw new ConsoleError('command', 'cancelled', 'ABORT_ERR');
    client = await openClient(
      {
        host: target.host,
        port: target.port,
        user: target.user,
        // pg asks for a function/string only when the server wants a password; undefined → clear error.
        ...(target.password !== undefined ? { password: target.password } : {}),
        database: 'pgbouncer',
        // The deadline above ends the connect; pg's own timer only as a backstop.
        connectionTimeoutMillis: target.timeoutMs + 1000,
      },
      (c) => {
        socket = (c as unknown as { connection: { stream: Socketish } }).connection.stream;
        socket.prependListener('data', (chunk: Buffer) => {
          const problem = stopped ? undefined : guard(chunk);
          if (problem) stop(new ConsoleError('limit', `pgbouncer at ${describeTarget(target)}: ${problem}`));
        });
      },
    );
  } catch (err) {
    finish();
    if (stopped) throw stopped;
    if (err instanceof ConsoleError) throw err;
    if (target.socketFallback && !target.host.startsWith('/') && /SSL required/i.test((err as Error)?.message ?? '')) {
      return openConsole({ ...target, host: target.socketFallback, socketFallback: undefined }, options);
    }
    throw classifyConnectError(err, target);
  }
  if (stopped) {
    finish();
    await client.end().catch(() => {});
    throw stopped;
  }
  return {
    async show(command: string): Promise<ConsoleResult> {
      if (/[;\r\n]/.test(command)) throw new Error(`console command must be one line without ';': ${command}`);
      if (stopped) throw stopped;
      try {
        const res = await client.query({ text: command, types: RAW_TYPES, rowMode: 'array' });
        if (stopped) throw stopped;
        const columns = res.fields.map((f) => f.name);
        const rows = (res.rows as unknown[][]).map((values) => {
          const row: ConsoleRow = Object.create(null) as ConsoleRow;
          columns.forEach((c, i) => (row[c] = convert(values[i], res.fields[i])));
          return row;
        });
        return { columns, rows };
      } catch (err) {
        if (stopped) throw stopped;
        const e = err as { message?: string; code?: string };
        throw new ConsoleError('command', `admin console: ${command}: ${printableLine(e.message ?? String(err))}`, e.code);
      }
    },
    async close(): Promise<void> {
      // Terminate, then do not wait for the server's goodbye longer than the deadline allows.
      const ended = client.end().catch(() => {});
      const grace = setTimeout(() => socket?.destroy(), stopped ? 0 : 250);
      await ended;
      clearTimeout(grace);
      finish();
    },
  };
}

/** Runs `commands` in one session and closes it. */
export async function consoleSnapshot<K extends string>(target: ConsoleTarget, commands: Record<K, string>, options: SessionOptions = {}): Promise<Record<K, ConsoleResult>> {
  const session = await openConsole(target, options);
  try {
    const out = {} as Record<K, ConsoleResult>;
    for (const [key, command] of Object.entries(commands) as [K, string][]) out[key] = await session.show(command);
    return out;
  } finally {
    await session.close();
  }
}

// ---- reading rows by column name ------------------------------------------------------------

/** A number column, or undefined when this version has no such column (or it is empty/NULL). */
export function num(row: ConsoleRow | undefined, column: string): number | undefined {
  const v = row?.[column];
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && DECIMAL.test(v)) return Number(v);
  return undefined;
}

export function str(row: ConsoleRow | undefined, column: string): string | undefined {
  const v = row?.[column];
  return v === null || v === undefined ? undefined : String(v);
}

/** The first of several column names this version has (renamed columns: reserve_pool → reserve_pool_size). */
export function numAny(row: ConsoleRow | undefined, columns: readonly string[]): number | undefined {
  for (const c of columns) {
    const v = num(row, c);
    if (v !== undefined) return v;
  }
  return undefined;
}
