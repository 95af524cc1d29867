import type { Layer } from './layers.js';

/** Paths a distro decides. The lowest layer: every profile and flag may override them. */
export interface HostPaths {
  name: string;
  pidfile: string;
  logfile: string;
  unixSocketDir: string;
  userlistPath: string;
}

/** Debian's package layout: used when the host's own distro is unknown (render on a laptop). */
export const DEBIAN_PATHS: HostPaths = {
  name: 'debian',
  pidfile: '/var/run/postgresql/pgbouncer.pid',
  logfile: '/var/log/postgresql/pgbouncer.log',
  unixSocketDir: '/var/run/postgresql',
  userlistPath: '/etc/pgbouncer/userlist.txt',
};

export function hostDefaultsLayer(paths: HostPaths): Layer {
  return {
    source: `host:${paths.name}`,
    data: {
      pgbouncer: {
        pidfile: paths.pidfile,
        logfile: paths.logfile,
        unix_socket_dir: paths.unixSocketDir,
        auth_file: paths.userlistPath,
      },
    },
  };
}

/**
 * Defaults pgb-setup chooses for every host, above the distro paths and below every profile:
 * so_reuseport on, so a restart-class change or `pgb-setup restart` can start the new pgbouncer on
 * the same port beside the running one and hand over without refusing a connection (every
 * pgbouncer we render for, 1.15+, has it). A profile or --set so_reuseport=0 turns it off again.
 */
export function handoverDefaultsLayer(): Layer {
  return { source: 'pgb-setup default (handover)', data: { pgbouncer: { so_reuseport: true } } };
}
