/**
 * #11.8: the numbers pgb-setup renders are read by the real pgbouncer (1.18 and the newer build)
 * as the values pgb-setup showed: octal socket modes, whole-microsecond timeouts, C int ranges.
 * Each case also starts pgbouncer with the naive form (what pgb-setup used to write) to confirm
 * the parser model in src/settings/values.ts: "440" is decimal, "0.000249" is read 1 µs short,
 * 2147483648 does not fit.
 */
import { chown, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/main.js';
import { captureContext } from '../helpers/context.js';
import { pgbouncerBinaries } from '../helpers/binaries.js';
import { adminQuery, startPgbouncer } from '../helpers/pgbouncer.js';
import { pgbouncerVersion } from '../helpers/pgbouncer-binaries.js';
import { freePort } from '../helpers/ports.js';
import { lookupUser } from '../helpers/proc.js';
import { makeTempDir } from '../helpers/tmp.js';

const PASSWORD = 'numbers-test-password';
const LOGIN = { user: 'app_user', password: PASSWORD };

/** SHOW CONFIG, plus the mode of the unix socket as `socket_mode` (while it exists). */
async function showConfig(iniPath: string, binary: string): Promise<Map<string, string>> {
  const bouncer = await startPgbouncer({ binary, iniPath });
  try {
    const rows = await adminQuery(bouncer, LOGIN, 'SHOW CONFIG');
    const mode = (await stat(join(bouncer.socketDir, `.s.PGSQL.${bouncer.port}`))).mode & 0o777;
    return new Map([...rows.map((r): [string, string] => [r['key']!, r['value']!]), ['socket_mode', mode.toString(8)]]);
  } finally {
    await bouncer.stop();
  }
}

describe.each(pgbouncerBinaries())('numbers as pgbouncer $label reads them', ({ binary }) => {
  it('octal socket mode, microsecond timeouts and int limits come out as rendered', async () => {
    const version = (await pgbouncerVersion(binary)).match(/\d+\.\d+/)![0];
    const dir = await makeTempDir('numbers', { owner: 'postgres' });
    try {
      const port = await freePort();
      const ctx = captureContext({ env: { DBNAME: 'appdb', DBUSER: 'app_user', DBPASS: PASSWORD, DBHOST: '127.0.0.1', DBPORT: '1' } });
      const sets = {
        listen_port: String(port),
        unix_socket_dir: dir.path,
        pidfile: join(dir.path, 'pgbouncer.pid'),
        logfile: join(dir.path, 'pgbouncer.log'),
        auth_file: join(dir.path, 'userlist.txt'),
        unix_socket_mode: '0440',
        query_timeout: '0.000249',
        query_wait_timeout: '0.000007',
        server_lifetime: '3600.5',
        stats_period: '2147483647',
      };
      const args = ['node', 'pgb-setup', 'render', 'production', '--out', dir.path, '--pgbouncer-version', version, ...Object.entries(sets).flatMap(([k, v]) => ['--set', `${k}=${v}`])];
      expect(await main(args, ctx), ctx.err()).toBe(0);
      const iniPath = join(dir.path, 'pgbouncer.ini');
      const pgUser = lookupUser('postgres');
      for (const f of ['pgbouncer.ini', 'userlist.txt']) await chown(join(dir.path, f), pgUser.uid, pgUser.gid);

      const rendered = await showConfig(iniPath, binary);
      expect(rendered.get('unix_socket_mode')).toBe(String(0o440)); // SHOW CONFIG prints the int in decimal
      expect(rendered.get('socket_mode')).toBe('440');
      expect(rendered.get('query_timeout')).toBe('0.000249');
      expect(rendered.get('query_wait_timeout')).toBe('7e-06');
      expect(rendered.get('server_lifetime')).toBe('3600.5');
      expect(rendered.get('stats_period')).toBe('2147483647');

      // The naive forms, to confirm the model the validation and rendering rely on.
      const ini = await readFile(iniPath, 'utf8');
      const naive = ini
        .replace(/^unix_socket_mode = .*$/m, 'unix_socket_mode = 440')
        .replace(/^query_timeout = .*$/m, 'query_timeout = 0.000249')
        .replace(/^query_wait_timeout = .*$/m, 'query_wait_timeout = 0.0000001')
        .replace(/^stats_period = .*$/m, 'stats_period = 2147483648');
      await writeFile(iniPath, naive);
      const misread = await showConfig(iniPath, binary);
      expect(misread.get('unix_socket_mode')).toBe('440'); // decimal 440 = 0670
      expect(misread.get('socket_mode')).toBe('670');
      expect(misread.get('query_timeout')).toBe('0.000248');
      expect(misread.get('query_wait_timeout')).toBe('0');
      expect(misread.get('stats_period')).not.toBe('2147483648');
    } finally {
      await dir.cleanup();
    }
  });
});
