/**
 * A run killed during the candidate check leaves a daemonized throwaway pgbouncer behind; the next
 * run's check stops it (by PID) and removes its folder. In the host project: it looks at every
 * candidate pgbouncer on the machine, so it must not run beside other tests.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync, chownSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';
import { cleanStaleCandidates } from '../../src/apply/candidate-check.js';
import { createNodeSystem } from '../../src/system/node-system.js';
import { isAlive, lookupUser } from '../helpers/proc.js';
import { freePort } from '../helpers/ports.js';

it('stops a leftover candidate pgbouncer and removes its folder', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgb-setup-candidate-'));
  const pg = lookupUser('postgres');
  chownSync(dir, pg.uid, pg.gid);
  const ini = join(dir, 'pgbouncer.ini');
  writeFileSync(ini, `[databases]\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = ${await freePort()}\nunix_socket_dir = ${dir}\npidfile = ${dir}/pgbouncer.pid\nlogfile = ${dir}/pgbouncer.log\nauth_type = trust\n`);
  chownSync(ini, pg.uid, pg.gid);
  execFileSync('/usr/sbin/pgbouncer', ['-d', '-u', 'postgres', ini]);
  let pid = 0;
  for (let i = 0; i < 50 && !pid; i++) {
    pid = existsSync(join(dir, 'pgbouncer.pid')) ? Number(execFileSync('cat', [join(dir, 'pgbouncer.pid')], { encoding: 'utf8' }).trim()) : 0;
    if (!pid) await sleep(50);
  }
  expect(isAlive(pid)).toBe(true);
  await cleanStaleCandidates(createNodeSystem());
  expect(isAlive(pid)).toBe(false);
  expect(existsSync(dir)).toBe(false);
});
