/**
 * The one way pgb-setup reloads or starts pgbouncer, as a command (plans show it before it runs) and
 * as an effect: `systemctl reload UNIT` under systemd, else SIGHUP to the running PID; without
 * systemd pgbouncer is started as its own daemon (`-d`) and drops to the service user (`-u`).
 */
import type { ExecOptions, ExecResult, System } from './system.js';

interface ServiceCommand {
  cmd: string;
  args: string[];
}

/** Reload through systemd (`unit`) or, without it, SIGHUP to `pid`. */
function reloadCommand(how: { unit: string } | { pid: number }): ServiceCommand {
  return 'unit' in how ? { cmd: 'systemctl', args: ['reload', how.unit] } : { cmd: 'kill', args: ['-HUP', String(how.pid)] };
}

/** pgbouncer started without systemd; `user` undefined: as whoever runs pgb-setup (not root). */
function daemonCommand(binary: string, ini: string, user: string | undefined): ServiceCommand {
  return { cmd: binary, args: ['-d', ...(user !== undefined ? ['-u', user] : []), ini] };
}

export function reloadPgbouncer(system: System, how: { unit: string } | { pid: number }): Promise<ExecResult> {
  const c = reloadCommand(how);
  return system.exec(c.cmd, c.args);
}

export function startPgbouncerDaemon(system: System, binary: string, ini: string, user: string | undefined, options?: ExecOptions): Promise<ExecResult> {
  const c = daemonCommand(binary, ini, user);
  return system.exec(c.cmd, c.args, options ?? {});
}
