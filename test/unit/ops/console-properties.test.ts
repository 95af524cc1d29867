/**
 * Property tests per class of hostile console answer (#17 "How it is checked"): whatever the fake
 * console sends within a class, health never says OK (or WARNING/CRITICAL: it cannot judge), ends
 * within the time bound, prints one line, and never allocates beyond the caps. And the converse:
 * any answer a real pgbouncer could send is judged (never UNKNOWN).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../../src/main.js';
import { CONSOLE_LIMITS } from '../../../src/ops/console-guard.js';
import { captureContext } from '../../helpers/context.js';
import { healthyScript, POOL_COLUMNS, poolRow, startFakeConsole, type FakeAnswer, type FakeConsole, type FakeConsoleScript } from '../../helpers/fake-console.js';

// Each property runs its command dozens of times against one fake console; on a loaded machine that
// takes longer than the unit default, and a timed-out property would keep swapping the fake's script.
vi.setConfig({ testTimeout: 180_000 });

let fake: FakeConsole;
beforeAll(async () => {
  fake = await startFakeConsole(healthyScript());
});
afterAll(async () => {
  await fake.close();
});

const TIMEOUT_S = 0.4;
/** The bound every run must keep: the timeout plus the close grace and scheduling slack. */
const BOUND_MS = TIMEOUT_S * 1000 + 1500;

async function health(script: FakeConsoleScript, timeoutS = TIMEOUT_S) {
  fake.script = script;
  const ctx = captureContext({ env: { PGPASSWORD: 'pw' } });
  const t0 = Date.now();
  const code = await main(['node', 'pgb-setup', 'health', '--host', fake.host, '--port', String(fake.port), '--user', 'stats', '--timeout', String(timeoutS)], ctx);
  return { code, out: ctx.out(), ms: Date.now() - t0 };
}

function expectUnknown(r: { code: number; out: string; ms: number }): void {
  expect(r.out).toMatch(/^PGBOUNCER UNKNOWN - [^\n]+\n$/);
  expect(r.code).toBe(3);
  expect(r.ms).toBeLessThan(BOUND_MS);
}

const COUNT_COLUMNS = ['cl_active', 'cl_waiting', 'sv_active', 'sv_idle', 'sv_used', 'maxwait', 'maxwait_us'] as const;
const IDENTITY_COLUMNS = ['database', 'user'] as const;

/** Values no pgbouncer sends in a count column. */
const badCount = fc.oneof(
  fc.constant(null),
  fc.integer({ min: -(2 ** 31), max: -1 }).map(String),
  fc.bigInt({ min: 10n ** 8n, max: 10n ** 400n }).map(String),
  fc.double({ min: 1e21, max: 1e300, noNaN: true }).map((n) => n.toExponential()),
  fc.constantFrom('Infinity', '-Infinity', 'NaN', '0x10', '0o7', '0b1', '1e3', ' 5', '5 ', '', '1.5', '+1', '--1', '٣'),
  fc.string({ minLength: 1, maxLength: 12 }).filter((s) => !/^\d+$/.test(s)),
);

const row = fc.record({
  cl_active: fc.integer({ min: 0, max: 50 }),
  cl_waiting: fc.integer({ min: 0, max: 50 }),
  sv_active: fc.integer({ min: 0, max: 50 }),
  sv_idle: fc.integer({ min: 0, max: 50 }),
  maxwait: fc.integer({ min: 0, max: 100 }),
  maxwait_us: fc.integer({ min: 0, max: 999_999 }),
});
const realRows = fc.array(row, { minLength: 1, maxLength: 5 }).map((rows) => rows.map((r, i) => poolRow({ database: `db${i}`, ...Object.fromEntries(Object.entries(r).map(([k, v]) => [k, String(v)])) })));

describe('property: NULLs, negatives and huge or malformed numbers in SHOW POOLS never give a verdict', () => {
  it('one bad value anywhere in the count columns → UNKNOWN, one line, within the bound', async () => {
    await fc.assert(
      fc.asyncProperty(realRows, fc.nat(), fc.constantFrom(...COUNT_COLUMNS), badCount, async (rows, at, column, bad) => {
        const victim = rows[at % rows.length]!;
        victim[POOL_COLUMNS.findIndex((c) => c.name === column)] = bad;
        expectUnknown(await health(healthyScript({ 'SHOW POOLS': { columns: POOL_COLUMNS, rows } })));
      }),
      { numRuns: 60 },
    );
  });

  it('a NULL database or user → UNKNOWN', async () => {
    await fc.assert(
      fc.asyncProperty(realRows, fc.nat(), fc.constantFrom(...IDENTITY_COLUMNS), async (rows, at, column) => {
        rows[at % rows.length]![POOL_COLUMNS.findIndex((c) => c.name === column)] = null;
        expectUnknown(await health(healthyScript({ 'SHOW POOLS': { columns: POOL_COLUMNS, rows } })));
      }),
      { numRuns: 15 },
    );
  });
});

describe('property: missing columns', () => {
  const required = ['database', 'user', 'cl_active', 'cl_waiting', 'sv_active', 'sv_idle', 'maxwait'];
  it('SHOW POOLS without any one (or more) of the columns health reads → UNKNOWN', async () => {
    await fc.assert(
      fc.asyncProperty(realRows, fc.subarray(required, { minLength: 1 }), async (rows, dropped) => {
        const keep = POOL_COLUMNS.map((c, i) => [c, i] as const).filter(([c]) => !dropped.includes(c.name));
        const answer: FakeAnswer = { columns: keep.map(([c]) => c), rows: rows.map((r) => keep.map(([, i]) => r[i]!)) };
        expectUnknown(await health(healthyScript({ 'SHOW POOLS': answer })));
      }),
      { numRuns: 30 },
    );
  });
});

describe('property: the converse, answers a real pgbouncer sends are judged', () => {
  it('counts within range → OK, WARNING or CRITICAL, never UNKNOWN; perfdata without exponents', async () => {
    await fc.assert(
      fc.asyncProperty(realRows, async (rows) => {
        const r = await health(healthyScript({ 'SHOW POOLS': { columns: POOL_COLUMNS, rows } }));
        expect(r.code).toBeLessThan(3);
        expect(r.out).toMatch(/^PGBOUNCER (OK|WARNING|CRITICAL) - /);
        expect(r.out).not.toMatch(/e\+|Infinity|NaN/);
      }),
      { numRuns: 30 },
    );
  });
});

describe('property: huge rows and too many rows never allocate beyond the caps', () => {
  it('a row announced above the message cap (1 MB .. 2 GB) → UNKNOWN; memory stays flat', async () => {
    const before = process.memoryUsage().rss;
    let peak = before;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: CONSOLE_LIMITS.maxMessageBytes + 16, max: 2 ** 31 - 1 }), fc.constantFrom('SHOW VERSION', 'SHOW POOLS', 'SHOW STATS', 'SHOW DATABASES', 'SHOW USERS'), async (bytes, command) => {
        expectUnknown(await health(healthyScript({ [command]: { hugeRow: bytes } })));
        peak = Math.max(peak, process.memoryUsage().rss);
      }),
      { numRuns: 20 },
    );
    expect((peak - before) / 1024 / 1024).toBeLessThan(100);
  });

  it('more rows than the cap in any answer → UNKNOWN; memory stays flat', async () => {
    const before = process.memoryUsage().rss;
    let peak = before;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: CONSOLE_LIMITS.maxRows + 1, max: 3 * CONSOLE_LIMITS.maxRows }), async (count) => {
        const r = await health(healthyScript({ 'SHOW POOLS': { columns: POOL_COLUMNS, generate: { count, row: (i) => poolRow({ database: `db${i}` }) } } }), 20);
        expect(r.out).toMatch(/^PGBOUNCER UNKNOWN - .*rows in one answer \(cap\)\n$/);
        peak = Math.max(peak, process.memoryUsage().rss);
      }),
      { numRuns: 5 },
    );
    expect((peak - before) / 1024 / 1024).toBeLessThan(150);
  });
});

describe('property: stalls at any point end within the bound', () => {
  const commands = ['SHOW VERSION', 'SHOW POOLS', 'SHOW STATS', 'SHOW DATABASES', 'SHOW USERS'];
  const stall = fc.oneof(
    fc.constant<FakeConsoleScript>({ ...healthyScript(), login: 'stall' }),
    fc.constantFrom(...commands).map((c) => healthyScript({ [c]: { stall: true } })),
    fc.integer({ min: 0, max: 3 }).map((k) => healthyScript({ 'SHOW POOLS': { stallAfter: { columns: POOL_COLUMNS, rows: [poolRow(), poolRow(), poolRow()] }, rowsFirst: k } })),
  );
  it('a stall at the login, at any command or mid-rows, with or without a close after Terminate → UNKNOWN within the bound', async () => {
    await fc.assert(
      fc.asyncProperty(stall, fc.boolean(), async (script, ignoreTerminate) => {
        expectUnknown(await health({ ...script, onTerminate: ignoreTerminate ? 'ignore' : 'close' }));
      }),
      { numRuns: 12 },
    );
    for (let i = 0; i < 100 && fake.open() > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(fake.open()).toBe(0);
  }, 60_000);
});
