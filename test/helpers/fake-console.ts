/**
 * A fake pgbouncer admin console for tests: a loopback TCP server speaking just enough of the
 * PostgreSQL wire protocol (startup, AuthenticationOk, simple Query → RowDescription / DataRow /
 * CommandComplete / ReadyForQuery, ErrorResponse, Terminate), whose answers the test scripts.
 * It stands in for a hostile or broken server: NULLs, negatives, huge numbers, missing columns,
 * rows of any size or count (generated lazily, with back-pressure, so the fake itself stays small),
 * stalls at any point, and a server that never closes after Terminate. The real-pgbouncer tests
 * stay as they are; this only covers what a real pgbouncer will not do on request.
 */
import { createServer, type Server, type Socket } from 'node:net';

export type ColumnType = 'int4' | 'int8' | 'numeric' | 'text';
const OIDS: Record<ColumnType, number> = { int4: 23, int8: 20, numeric: 1700, text: 25 };

export interface FakeColumn {
  name: string;
  type?: ColumnType;
}

/** A result set: rows as text values (null = SQL NULL), or a generator for a great many rows. */
export interface FakeTable {
  columns: (FakeColumn | string)[];
  rows?: (string | null)[][];
  /** Called for i = 0..count-1; rows are written with back-pressure. */
  generate?: { count: number; row: (i: number) => (string | null)[] };
}

export type FakeAnswer =
  | FakeTable
  | { error: string; code?: string }
  /** Never answer this command (the connection stays open). */
  | { stall: true }
  /** Send the RowDescription (and `rowsFirst` rows), then stall. */
  | { stallAfter: FakeTable; rowsFirst?: number }
  /** A DataRow whose declared length is `bytes`; its body is streamed until the client goes away. */
  | { hugeRow: number; columns?: (FakeColumn | string)[] }
  /** Close the socket instead of answering. */
  | { close: true }
  /** Answer `then` after `delayMs`. */
  | { delayMs: number; then: FakeAnswer };

export interface FakeConsoleScript {
  /** Answer per command text (upper-cased, trimmed); unknown commands get an ErrorResponse. */
  answers: Record<string, FakeAnswer>;
  /** 'ok' (default), 'stall' (accept TCP, never answer the startup), 'refuse' (FATAL 28P01). */
  login?: 'ok' | 'stall' | 'refuse';
  /** Default 'close'. 'ignore' keeps the socket open after Terminate, forever. */
  onTerminate?: 'close' | 'ignore';
}

export interface FakeConsole {
  host: string;
  port: number;
  /** Every command received, in order, across connections. */
  commands: string[];
  /** Connections accepted so far. */
  accepted: number;
  /** Connections the client still holds: neither closed nor ended from its side. */
  open(): number;
  /** Highest number of connections open at the same time. */
  peakOpen: number;
  /** Swap the script (e.g. recovery tests). */
  script: FakeConsoleScript;
  close(): Promise<void>;
}

function msg(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}
const cstr = (s: string) => Buffer.from(`${s}\0`, 'utf8');
const int32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const int16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
};

const AUTH_OK = msg('R', int32(0));
const READY = msg('Z', Buffer.from('I'));
const KEY_DATA = msg('K', Buffer.concat([int32(4242), int32(1)]));

function column(c: FakeColumn | string): FakeColumn {
  return typeof c === 'string' ? { name: c, type: 'text' } : c;
}

export function rowDescription(columns: (FakeColumn | string)[]): Buffer {
  const parts = [int16(columns.length)];
  for (const raw of columns) {
    const c = column(raw);
    parts.push(cstr(c.name), int32(0), int16(0), int32(OIDS[c.type ?? 'text']), int16(-1), int32(-1), int16(0));
  }
  return msg('T', Buffer.concat(parts));
}

export function dataRow(values: (string | null)[]): Buffer {
  const parts = [int16(values.length)];
  for (const v of values) {
    if (v === null) parts.push(int32(-1));
    else {
      const b = Buffer.from(v, 'utf8');
      parts.push(int32(b.length), b);
    }
  }
  return msg('D', Buffer.concat(parts));
}

export function errorResponse(message: string, code = '08P01', severity = 'ERROR'): Buffer {
  return msg('E', Buffer.concat([Buffer.from('S'), cstr(severity), Buffer.from('C'), cstr(code), Buffer.from('M'), cstr(message), Buffer.from([0])]));
}

const complete = (tag: string) => msg('C', cstr(tag));

/** Writes `chunks()` with back-pressure until it returns undefined or the socket goes away. */
function pump(socket: Socket, next: () => Buffer | undefined, done: () => void): void {
  const go = () => {
    while (!socket.destroyed) {
      const b = next();
      if (!b) return done();
      if (!socket.write(b)) {
        socket.once('drain', go);
        return;
      }
    }
  };
  go();
}

function answer(socket: Socket, a: FakeAnswer, command: string): void {
  if ('delayMs' in a) {
    setTimeout(() => !socket.destroyed && answer(socket, a.then, command), a.delayMs);
    return;
  }
  if ('close' in a) {
    socket.destroy();
    return;
  }
  if ('stall' in a) return;
  if ('error' in a) {
    socket.write(Buffer.concat([errorResponse(a.error, a.code), READY]));
    return;
  }
  if ('hugeRow' in a) {
    const columns = a.columns ?? ['database'];
    const head = Buffer.alloc(5 + 2 + 4);
    head.write('D', 0, 'latin1');
    head.writeInt32BE(Math.min(a.hugeRow, 0x7fffffff), 1);
    head.writeInt16BE(1, 5);
    head.writeInt32BE(Math.min(a.hugeRow, 0x7fffffff) - 10, 7);
    socket.write(Buffer.concat([rowDescription(columns), head]));
    const filler = Buffer.alloc(64 * 1024, 0x61);
    let sent = 0;
    pump(socket, () => (sent < a.hugeRow ? ((sent += filler.length), filler) : undefined), () => {});
    return;
  }
  const table = 'stallAfter' in a ? a.stallAfter : a;
  const stallAfter = 'stallAfter' in a;
  socket.write(rowDescription(table.columns));
  const rows = table.rows ?? [];
  const count = stallAfter ? ('rowsFirst' in a ? (a.rowsFirst ?? 0) : 0) : table.generate ? table.generate.count : rows.length;
  let i = 0;
  const rowAt = (k: number) => (table.generate ? table.generate.row(k) : rows[k]!);
  // Batch small rows so a 100,000-row answer is written quickly.
  pump(
    socket,
    () => {
      if (i >= count) return undefined;
      const batch: Buffer[] = [];
      for (let n = 0; n < 256 && i < count; n++) batch.push(dataRow(rowAt(i++)));
      return Buffer.concat(batch);
    },
    () => {
      if (!stallAfter) socket.write(Buffer.concat([complete(command.split(/\s+/)[0] ?? 'SHOW'), READY]));
    },
  );
}

/** Starts the fake on 127.0.0.1 and an ephemeral port. */
export async function startFakeConsole(script: FakeConsoleScript): Promise<FakeConsole> {
  const sockets = new Set<Socket>();
  const all = new Set<Socket>();
  const fake: FakeConsole = {
    host: '127.0.0.1',
    port: 0,
    commands: [],
    accepted: 0,
    peakOpen: 0,
    open: () => sockets.size,
    script,
    close: async () => {
      for (const s of all) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  // allowHalfOpen: the client's FIN after Terminate must not close our side by itself, so that a
  // console that never closes can be played.
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    fake.accepted++;
    socket.on('end', () => {
      sockets.delete(socket);
      if ((fake.script.onTerminate ?? 'close') === 'close') socket.end();
    });
    sockets.add(socket);
    all.add(socket);
    socket.on('close', () => all.delete(socket));
    fake.peakOpen = Math.max(fake.peakOpen, sockets.size);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buf = Buffer.alloc(0);
    let started = false;
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        if (!started) {
          if (buf.length < 4) return;
          const len = buf.readInt32BE(0);
          if (buf.length < len) return;
          const code = buf.readInt32BE(4);
          buf = buf.subarray(len);
          if (code === 80877103) {
            socket.write('N'); // no SSL
            continue;
          }
          if (code !== 196608) {
            socket.destroy();
            return;
          }
          started = true;
          const login = fake.script.login ?? 'ok';
          if (login === 'stall') return;
          if (login === 'refuse') {
            socket.end(errorResponse('password authentication failed for user "x"', '28P01', 'FATAL'));
            return;
          }
          socket.write(Buffer.concat([AUTH_OK, KEY_DATA, READY]));
          continue;
        }
        if (buf.length < 5) return;
        const type = String.fromCharCode(buf[0]!);
        const len = buf.readInt32BE(1);
        if (buf.length < 1 + len) return;
        const body = buf.subarray(5, 1 + len);
        buf = buf.subarray(1 + len);
        if (type === 'X') {
          if ((fake.script.onTerminate ?? 'close') === 'close') socket.end();
          return;
        }
        if (type === 'Q') {
          const command = body.toString('utf8').replace(/\0$/, '').trim().replace(/;$/, '').toUpperCase();
          fake.commands.push(command);
          const a = fake.script.answers[command];
          if (!a) socket.write(Buffer.concat([errorResponse(`invalid command '${command}', use SHOW HELP;`), READY]));
          else answer(socket, a, command);
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
  fake.port = (server.address() as { port: number }).port;
  return fake;
}

// ---- answers that look like pgbouncer 1.24's, for tests to start from ------------------------

export const POOL_COLUMNS: FakeColumn[] = [
  { name: 'database' }, { name: 'user' },
  { name: 'cl_active', type: 'int4' }, { name: 'cl_waiting', type: 'int4' },
  { name: 'sv_active', type: 'int4' }, { name: 'sv_idle', type: 'int4' }, { name: 'sv_used', type: 'int4' },
  { name: 'maxwait', type: 'int4' }, { name: 'maxwait_us', type: 'int4' }, { name: 'pool_mode' },
];

export function poolRow(o: Partial<Record<'database' | 'user' | 'cl_active' | 'cl_waiting' | 'sv_active' | 'sv_idle' | 'sv_used' | 'maxwait' | 'maxwait_us' | 'pool_mode', string | null>> = {}): (string | null)[] {
  const d: Record<string, string | null> = { database: 'appdb', user: 'app_user', cl_active: '1', cl_waiting: '0', sv_active: '1', sv_idle: '0', sv_used: '0', maxwait: '0', maxwait_us: '0', pool_mode: 'transaction', ...o };
  return POOL_COLUMNS.map((c) => d[c.name] ?? null);
}

export const STATS_COLUMNS: FakeColumn[] = [
  { name: 'database' },
  { name: 'total_xact_count', type: 'numeric' }, { name: 'total_query_count', type: 'numeric' },
  { name: 'avg_xact_count', type: 'numeric' }, { name: 'avg_query_count', type: 'numeric' },
  { name: 'avg_xact_time', type: 'numeric' }, { name: 'avg_query_time', type: 'numeric' }, { name: 'avg_wait_time', type: 'numeric' },
];

export const DATABASE_COLUMNS: FakeColumn[] = [
  { name: 'name' }, { name: 'host' }, { name: 'port', type: 'int4' }, { name: 'database' },
  { name: 'pool_size', type: 'int4' }, { name: 'reserve_pool_size', type: 'int4' }, { name: 'pool_mode' },
];

/** A healthy pgbouncer 1.24 with one pool appdb/app_user (pool_size 10). */
export function healthyScript(over: Partial<Record<string, FakeAnswer>> = {}): FakeConsoleScript {
  const answers: Record<string, FakeAnswer> = {
    'SHOW VERSION': { columns: ['version'], rows: [['PgBouncer 1.24.1']] },
    'SHOW POOLS': { columns: POOL_COLUMNS, rows: [poolRow({ database: 'pgbouncer', user: 'pgbouncer', pool_mode: 'statement' }), poolRow()] },
    'SHOW STATS': { columns: STATS_COLUMNS, rows: [['appdb', '100', '200', '5', '10', '2000', '1000', '0']] },
    'SHOW DATABASES': { columns: DATABASE_COLUMNS, rows: [['appdb', '127.0.0.1', '5432', 'appdb', '10', '2', 'transaction'], ['pgbouncer', null, '6432', 'pgbouncer', '2', '0', 'statement']] },
    'SHOW USERS': { columns: ['name', 'pool_mode'], rows: [['app_user', null]] },
    'SHOW LISTS': { columns: ['list', { name: 'items', type: 'int4' }], rows: [['databases', '2'], ['users', '1'], ['pools', '2']] },
    'SHOW CONFIG': { columns: ['key', 'value', 'default', 'changeable'], rows: [['default_pool_size', '10', '20', 'yes'], ['stats_period', '60', '60', 'yes'], ['max_client_conn', '100', '100', 'yes']] },
    'SHOW CLIENTS': { columns: ['type', 'user', 'database'], rows: [] },
    RELOAD: { columns: [], rows: [] },
  };
  for (const [k, v] of Object.entries(over)) if (v) answers[k] = v;
  return { answers };
}
