/**
 * #17.8 for `hash-user --reload`: the console check and the RELOAD against a fake console that
 * stalls or never closes, through the real node-postgres connect. Every wait is bounded, and a
 * RELOAD that never answers is reported as unconfirmed, with the userlist already written.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connectPg } from '../../../src/facts/pg-admin.js';
import { resolvePgbouncerTarget } from '../../../src/credentials/pgbouncer-target.js';
import { planReload, ReloadFailed, runReload } from '../../../src/credentials/reload.js';
import { main } from '../../../src/main.js';
import { captureContext } from '../../helpers/context.js';
import { FakeSystem } from '../../helpers/fake-system.js';
import { healthyScript, startFakeConsole, type FakeConsole, type FakeConsoleScript } from '../../helpers/fake-console.js';

let fake: FakeConsole | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const USERLIST = '/etc/pgbouncer/userlist.txt';

async function setup(script: FakeConsoleScript) {
  fake = await startFakeConsole(script);
  const system = new FakeSystem().file('/proc/1/comm', 'bash\n').file(USERLIST, '"other" "x"\n', 0o600);
  const ctx = captureContext({ system, env: { PGBOUNCER_ADMIN_PASSWORD: 'console-pw' }, readStdin: async () => 'the-new-password' });
  const target = resolvePgbouncerTarget({ adminUser: 'admin', pgbouncerHost: fake.host, pgbouncerPort: String(fake.port) }, ctx);
  return { ctx, target, system };
}

describe('hash-user --reload against a console that stalls', () => {
  it('a login that never completes: the console check gives up after the bound', async () => {
    const { ctx, target } = await setup({ ...healthyScript(), login: 'stall' });
    const t0 = Date.now();
    const err = await planReload(target, ctx, connectPg, 500).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/admin console admin@127\.0\.0\.1:\d+\/pgbouncer: no answer within 0\.5s/);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('a console that never closes after Terminate: the check and the RELOAD still finish', async () => {
    const { ctx, target } = await setup({ ...healthyScript(), onTerminate: 'ignore' });
    const t0 = Date.now();
    const plan = await planReload(target, ctx, connectPg, 5000);
    const outcome = await runReload(plan);
    expect(outcome).toMatchObject({ confirmed: true });
    expect(fake!.commands).toEqual(['RELOAD']);
    expect(Date.now() - t0).toBeLessThan(4000);
  });

  it('a RELOAD that never answers: bounded, reported as unconfirmed, connection dropped', async () => {
    const { ctx, target } = await setup(healthyScript({ RELOAD: { stall: true } }));
    const plan = await planReload(target, ctx, connectPg, 500);
    const t0 = Date.now();
    const err = await runReload(plan).catch((e: Error) => e);
    expect(err).toBeInstanceOf(ReloadFailed);
    expect((err as ReloadFailed).unconfirmed).toBe(true);
    expect((err as Error).message).toMatch(/RELOAD sent to admin@127\.0\.0\.1:\d+\/pgbouncer but not answered within 0\.5s: pgbouncer may or may not have re-read its files \(unconfirmed\)/);
    expect(Date.now() - t0).toBeLessThan(2500);
    for (let i = 0; i < 100 && fake!.open() > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(fake!.open()).toBe(0);
  });

  it('hash-user --userlist --reload: the userlist is written and the user is told the reload is unconfirmed', async () => {
    const { ctx, system } = await setup(healthyScript({ RELOAD: { stall: true } }));
    const t0 = Date.now();
    const code = await main(
      ['node', 'pgb-setup', 'hash-user', 'app', '--password-stdin', '--userlist', USERLIST, '--reload', '--admin-user', 'admin', '--pgbouncer-host', fake!.host, '--pgbouncer-port', String(fake!.port)],
      ctx,
    );
    expect(code).toBe(1);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(String(system.files.get(USERLIST)!.content)).toMatch(/^"app" "SCRAM-SHA-256\$/m);
    expect(ctx.err()).toContain('(unconfirmed)');
    expect(ctx.err()).toMatch(/state: \/etc\/pgbouncer\/userlist\.txt has the NEW secret of app, but the running pgbouncer may still have the OLD one \(its reload is unconfirmed\)/);
    expect(ctx.err()).not.toContain('the-new-password');
  }, 20_000);
});
