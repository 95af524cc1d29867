import { describe, expect, it } from 'vitest';
import { systemctlStart } from '../../../src/system/systemctl.js';
import { FakeSystem } from '../../helpers/fake-system.js';

/** A unit whose first restart systemd refuses with the given Result, and whose next one works. */
function unitRefusingOnce(result: string): FakeSystem {
  let restarts = 0;
  let resets = 0;
  return new FakeSystem()
    .on('systemctl restart pgbouncer', () => (++restarts === 1 || resets === 0 ? { exitCode: 1, stderr: 'Job for pgbouncer.service failed.\n' } : {}))
    .on('systemctl show -p Result pgbouncer', { stdout: `Result=${result}\n` })
    .on('systemctl reset-failed pgbouncer', () => {
      resets++;
      return {};
    });
}

describe('systemctlStart', () => {
  it('start-limit-hit (restarted too often): reset-failed, then one more restart that succeeds', async () => {
    const sys = unitRefusingOnce('start-limit-hit');
    const r = await systemctlStart(sys, 'restart', 'pgbouncer');
    expect(r.exitCode).toBe(0);
    expect(sys.calls.map((c) => [c.cmd, ...c.args].join(' '))).toEqual([
      'systemctl restart pgbouncer',
      'systemctl show -p Result pgbouncer',
      'systemctl reset-failed pgbouncer',
      'systemctl restart pgbouncer',
    ]);
  });

  it('any other failure (the service itself failed): no reset, no retry, the first error is returned', async () => {
    const sys = unitRefusingOnce('exit-code');
    const r = await systemctlStart(sys, 'restart', 'pgbouncer');
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('Job for pgbouncer.service failed.');
    expect(sys.calls.map((c) => c.args[0])).toEqual(['restart', 'show']);
  });
});
