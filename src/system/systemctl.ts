import type { ExecResult, System } from './system.js';

/**
 * `systemctl <start|restart> UNIT`, once more after `systemctl reset-failed UNIT` when systemd refused
 * it only because the unit was (re)started too often (Result=start-limit-hit, StartLimitBurst in
 * StartLimitIntervalSec): that limit is for crash loops, and a restart pgb-setup planned is not one.
 */
export async function systemctlStart(system: System, action: 'start' | 'restart', unit: string, env?: Record<string, string>): Promise<ExecResult> {
  const first = await system.exec('systemctl', [action, unit], env ? { env } : {});
  if (first.exitCode === 0) return first;
  const result = await system.exec('systemctl', ['show', '-p', 'Result', unit]);
  if (result.exitCode !== 0 || !/^Result=start-limit-hit$/m.test(result.stdout)) return first;
  await system.exec('systemctl', ['reset-failed', unit]);
  return system.exec('systemctl', [action, unit], env ? { env } : {});
}
