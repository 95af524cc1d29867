import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { detectServiceUser, resolveDistro, type DistroSpec } from '../../../src/facts/distro/index.js';
import { parseUnitUser } from '../../../src/facts/distro/service-user.js';
import { parseOsRelease } from '../../../src/facts/os-release.js';
import { createNodeSystem } from '../../../src/system/node-system.js';
import type { ExecResult, FileStat } from '../../../src/system/system.js';
import { FakeSystem } from '../../helpers/fake-system.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/os-release');
const spec = (name: string): DistroSpec => resolveDistro(parseOsRelease(readFileSync(join(FIXTURES, name), 'utf8')));
const DEBIAN = spec('debian-12');
const ROCKY = spec('rocky-9');

/**
 * The shared FakeSystem set up from a table: "cmd arg arg" → result (unmatched commands throw, so an
 * unexpected shell-out fails the test), files by path with their owner and mode, and the commands on PATH.
 */
function fakeHost(
  commands: Record<string, Partial<ExecResult>>,
  files: Record<string, Partial<Pick<FileStat, 'mode' | 'uid' | 'gid'>>> = {},
  onPath: string[] = [],
): FakeSystem {
  const sys = new FakeSystem();
  for (const [line, result] of Object.entries(commands)) sys.on(line, result);
  for (const [path, f] of Object.entries(files)) sys.file(path, '', f.mode ?? 0o640, f.uid ?? 0, f.gid ?? 0);
  for (const cmd of onPath) sys.binary(cmd, `/usr/bin/${cmd}`);
  return sys;
}

const notFound = { exitCode: 2, stdout: '' };
const PASSWD = {
  postgres: 'postgres:x:101:104:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash\n',
  pgbouncer: "pgbouncer:x:990:990:PgBouncer Server:/home/pgbouncer:/usr/bin/bash\n",
};

// PGDG unit, then a drop-in that changes the user; systemctl cat prints them in that order.
const RHEL_UNIT_WITH_DROPIN = `# /usr/lib/systemd/system/pgbouncer.service
[Unit]
Description=A lightweight connection pooler for PostgreSQL
After=syslog.target network.target

[Service]
Type=notify
User=pgbouncer
Group=pgbouncer
Environment=BOUNCERCONF=/etc/pgbouncer/pgbouncer.ini
ExecStart=/usr/bin/pgbouncer \${BOUNCERCONF}
ExecReload=/usr/bin/kill -HUP $MAINPID
KillMode=mixed
KillSignal=SIGINT
TimeoutSec=300

[Install]
WantedBy=multi-user.target

# /etc/systemd/system/pgbouncer.service.d/override.conf
[Service]
User=pooler
`;

describe('detectServiceUser', () => {
  it('systemd-unit: the last User= wins (drop-ins after the unit); Group= from the unit', async () => {
    const sys = fakeHost(
      {
        'systemctl cat pgbouncer': { stdout: RHEL_UNIT_WITH_DROPIN },
        'getent passwd pooler': { stdout: 'pooler:x:1001:1001::/home/pooler:/sbin/nologin\n' },
        'getent group pgbouncer': { stdout: 'pgbouncer:x:990:\n' },
      },
      {},
      ['systemctl'],
    );
    expect(await detectServiceUser(sys, ROCKY)).toEqual({
      user: 'pooler',
      group: 'pgbouncer',
      uid: 1001,
      gid: 990,
      source: 'systemd-unit',
      detail: 'User=pooler, Group=pgbouncer in `systemctl cat pgbouncer`',
    });
  });

  it('systemd-unit: Debian unit without Group= takes the primary group', async () => {
    const sys = fakeHost(
      {
        'systemctl cat pgbouncer': {
          stdout: '# /lib/systemd/system/pgbouncer.service\n[Service]\nType=notify\nUser=postgres\nExecStart=/usr/sbin/pgbouncer /etc/pgbouncer/pgbouncer.ini\n',
        },
        'getent passwd postgres': { stdout: PASSWD.postgres },
        'getent group 104': { stdout: 'postgres:x:104:\n' },
      },
      {},
      ['systemctl'],
    );
    expect(await detectServiceUser(sys, DEBIAN)).toMatchObject({ user: 'postgres', group: 'postgres', uid: 101, gid: 104, source: 'systemd-unit' });
  });

  it('a file owner is never the service user: pgbouncer.ini owned by nobody, systemd not running → the distro account (#17.2)', async () => {
    const sys = fakeHost(
      {
        'systemctl cat pgbouncer': {
          exitCode: 1,
          stderr: 'System has not been booted with systemd as init system (PID 1). Can\'t operate.\n',
        },
        'getent passwd 65534': { stdout: 'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' },
        'getent passwd postgres': { stdout: PASSWD.postgres },
        'getent group 104': { stdout: 'postgres:x:104:\n' },
      },
      { '/etc/pgbouncer/pgbouncer.ini': { uid: 65534, gid: 65534 } },
      ['systemctl'],
    );
    const u = await detectServiceUser(sys, DEBIAN);
    expect(u).toMatchObject({ user: 'postgres', group: 'postgres', uid: 101, gid: 104, source: 'passwd' });
    expect(sys.commandLines()).not.toContain('getent passwd 65534');
  });

  it('systemd not running: User= of the unit file on disk wins over the distro default', async () => {
    const sys = fakeHost(
      {
        'systemctl cat pgbouncer': { exitCode: 1 },
        'getent passwd pgbouncer': { stdout: PASSWD.pgbouncer },
        'getent group 990': { stdout: 'pgbouncer:x:990:\n' },
      },
      {},
      ['systemctl'],
    );
    sys.file('/lib/systemd/system/pgbouncer.service', '[Service]\nUser=pgbouncer\nExecStart=/usr/sbin/pgbouncer /etc/pgbouncer/pgbouncer.ini\n');
    expect(await detectServiceUser(sys, DEBIAN)).toMatchObject({ user: 'pgbouncer', uid: 990, source: 'systemd-unit', detail: 'User=pgbouncer in /lib/systemd/system/pgbouncer.service' });
  });

  it('a unit without User= falls through to the next source, never to the ini owner', async () => {
    const sys = fakeHost(
      {
        'systemctl cat pgbouncer': { stdout: '[Service]\nExecStart=/usr/bin/pgbouncer /etc/pgbouncer/pgbouncer.ini\n' },
        'getent passwd pgbouncer': { stdout: PASSWD.pgbouncer },
        'getent group 990': { stdout: 'pgbouncer:x:990:\n' },
      },
      { '/etc/pgbouncer/pgbouncer.ini': { uid: 990, gid: 990 } },
      ['systemctl'],
    );
    expect(await detectServiceUser(sys, ROCKY)).toMatchObject({ user: 'pgbouncer', source: 'passwd' });
  });

  it('passwd: a root-owned ini is no evidence; the default account exists', async () => {
    const sys = fakeHost(
      {
        'getent passwd pgbouncer': { stdout: PASSWD.pgbouncer },
        'getent group 990': { stdout: 'pgbouncer:x:990:\n' },
      },
      { '/etc/pgbouncer/pgbouncer.ini': { uid: 0, gid: 0, mode: 0o644 } },
    );
    expect(await detectServiceUser(sys, ROCKY)).toMatchObject({ user: 'pgbouncer', group: 'pgbouncer', uid: 990, gid: 990, source: 'passwd' });
    expect(sys.commandLines()).toEqual(['getent passwd pgbouncer', 'getent group 990']);
  });

  it('passwd: pgbouncer installed, default missing → the other conventional user', async () => {
    const sys = fakeHost(
      {
        'getent passwd postgres': notFound,
        'getent passwd pgbouncer': { stdout: PASSWD.pgbouncer },
        'getent group 990': { stdout: 'pgbouncer:x:990:\n' },
      },
      { '/usr/sbin/pgbouncer': { mode: 0o755 } },
    );
    expect(await detectServiceUser(sys, DEBIAN)).toMatchObject({ user: 'pgbouncer', source: 'passwd' });
  });

  it('default: RHEL host running PostgreSQL but no pgbouncer yet → pgbouncer, not postgres', async () => {
    // `postgres` exists (PostgreSQL server), but the pgbouncer package will run as `pgbouncer`.
    const sys = fakeHost({ 'getent passwd pgbouncer': notFound, 'getent passwd postgres': { stdout: PASSWD.postgres } });
    expect(await detectServiceUser(sys, ROCKY)).toEqual({
      user: 'pgbouncer',
      group: 'pgbouncer',
      uid: undefined,
      gid: undefined,
      source: 'default',
      detail: 'default for Rocky Linux 9.5 (Blue Onyx); the account does not exist yet',
    });
    expect(sys.commandLines()).toEqual(['getent passwd pgbouncer']);
  });

  it('the fake rejects commands it was not told about', async () => {
    const sys = fakeHost({}, {}, ['systemctl']);
    await expect(detectServiceUser(sys, DEBIAN)).rejects.toThrow('unexpected command: systemctl cat pgbouncer');
  });
});

describe('parseUnitUser', () => {
  it('reads only [Service]', () => {
    expect(parseUnitUser('[Unit]\nUser=nope\n[Service]\nUser=a\nGroup=b\n[Install]\nUser=nope\n')).toEqual({ user: 'a', group: 'b' });
  });
  it('an empty assignment resets; specifiers are not guessed', () => {
    expect(parseUnitUser('[Service]\nUser=a\nUser=\n')).toEqual({});
    expect(parseUnitUser('[Service]\nUser=%i\n')).toEqual({});
  });
  it('ignores comments and tolerates blanks around =', () => {
    expect(parseUnitUser('[Service]\n# User=x\n; User=y\n  User = postgres  \n')).toEqual({ user: 'postgres' });
  });
});

// ---------------------------------------------------------------------------------------------
// One real call on this machine (Debian 12 with the distro pgbouncer installed, no systemd PID 1),
// through the product's own System (read-only here: detection only runs commands and reads files).

const thisHost = (() => {
  try {
    return parseOsRelease(readFileSync('/etc/os-release', 'utf8'));
  } catch {
    return undefined;
  }
})();
const debianWithPgbouncer =
  thisHost?.id === 'debian' && thisHost.versionId === '12' && (() => {
    try {
      readFileSync('/etc/pgbouncer/pgbouncer.ini');
      return true;
    } catch (e) {
      // 0640 postgres:postgres: unreadable for non-root users, but it exists.
      return (e as NodeJS.ErrnoException).code === 'EACCES';
    }
  })();

describe.skipIf(!debianWithPgbouncer)('detectServiceUser on this host (Debian 12)', () => {
  it('finds postgres', async () => {
    const sys = createNodeSystem();
    const host = resolveDistro(parseOsRelease((await sys.readFile('/etc/os-release')) ?? ''));
    const u = await detectServiceUser(sys, host);
    expect(u.user).toBe('postgres');
    expect(u.group).toBe('postgres');
    expect(u.uid).toBeTypeOf('number');
    expect(u.gid).toBeTypeOf('number');
    // systemd is not PID 1 here: the unit file on disk (User=postgres) or the passwd entry.
    expect(['systemd-unit', 'passwd']).toContain(u.source);
  });
});
