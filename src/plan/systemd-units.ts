/** The systemd files pgb-setup writes: the LimitNOFILE drop-in of a single pgbouncer, or the template unit and target of a --processes group. */
import { posix } from 'node:path';
import type { HostFacts } from '../facts/host-facts.js';
import { DROP_IN_NAME, type OpenFilesDecision } from './open-files.js';

export function dropInPath(facts: HostFacts): string {
  return posix.join(facts.distro.systemdDropInDir, DROP_IN_NAME);
}

export function systemdFiles(facts: HostFacts, instances: readonly { id: number | undefined; iniPath: string }[], openFiles: OpenFilesDecision): { path: string; content: string; why: string }[] {
  const { distro } = facts;
  if (instances.length === 1) {
    const path = dropInPath(facts);
    const content = openFiles.dropIn ?? facts.unitFiles.get(path)?.content;
    // Kept when it is there and still enough: a managed file (owner, mode, backup) left as it is.
    return content === undefined ? [] : [{ path, content, why: 'systemd drop-in raising the open-files limit for pgbouncer' }];
  }
  const limit = openFiles.needed;
  const header = '# Written by pgb-setup.';
  const binary = facts.pgbouncer.binary ?? distro.pgbouncerBinary;
  const iniPattern = instances[0]!.iniPath.replace(/-1\.ini$/, '-%i.ini');
  const unit = [
    header,
    '[Unit]',
    'Description=PgBouncer process %i of the pgb-setup group (so_reuseport)',
    'After=network-online.target',
    'PartOf=pgbouncer-group.target',
    '',
    '[Service]',
    'Type=notify',
    `User=${facts.serviceUser.user}`,
    `Group=${facts.serviceUser.group}`,
    `ExecStart=${binary} ${iniPattern}`,
    'ExecReload=/bin/kill -HUP $MAINPID',
    'KillSignal=SIGINT',
    'Restart=on-failure',
    `LimitNOFILE=${limit}`,
    '',
    '[Install]',
    'WantedBy=pgbouncer-group.target',
    '',
  ].join('\n');
  const target = [
    '# Written by pgb-setup: starts every pgbouncer process of the group.',
    '[Unit]',
    'Description=PgBouncer processes of the pgb-setup group',
    `Wants=${instances.map((i) => `pgbouncer@${i.id}.service`).join(' ')}`,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
  return [
    { path: '/etc/systemd/system/pgbouncer@.service', content: unit, why: 'systemd template unit: one instance per pgbouncer process' },
    { path: '/etc/systemd/system/pgbouncer-group.target', content: target, why: 'systemd target that starts every process' },
  ];
}
