import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { duplicateKey } from '../../../src/profile/json-position.js';
import { main } from '../../../src/main.js';
import { captureContext } from '../../helpers/context.js';

describe('a key given twice in a JSON profile', () => {
  it.each([
    ['{"pgbouncer":{"listen_port":6432,"listen_port":7000}}', 'pgbouncer.listen_port', 'line 1, column 34'],
    ['{"a":1,\n"a":2}', 'a', 'line 2, column 1'],
    ['{"":{"":{"__proto__":{}}},"":{"userlist":{}}}', '""', 'line 1, column 27'],
    ['{"x":[{"k":1,"k":2}]}', 'x[].k', 'line 1, column 14'],
  ])('%s: %s at %s', (text, keyPath, at) => {
    expect(duplicateKey(text)).toEqual({ keyPath, at });
  });

  it.each(['{"a":{"k":1},"b":{"k":1}}', '{"a":[{"k":1},{"k":2}]}', '{}'])('%s: none', (text) => {
    expect(duplicateKey(text)).toBeUndefined();
  });

  const dir = mkdtempSync(join(tmpdir(), 'pgb-dup-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is refused in one line naming the key, exit 2 (JSON.parse would keep the last silently)', async () => {
    const file = join(dir, 'p.json');
    writeFileSync(file, '{"pgbouncer":{"default_pool_size":10,"default_pool_size":40}}');
    const ctx = captureContext({ env: { DBNAME: 'a', DBUSER: 'b', DBHOST: 'c' } });
    expect(await main(['node', 'pgb-setup', 'config', 'production', '--pgbouncer-version', '1.18', '--profile', file], ctx)).toBe(2);
    expect(ctx.err()).toBe(`pgb-setup: pgbouncer.default_pool_size: given twice (in --profile ${file}, line 1, column 38); JSON keeps only the last, so say it once\n`);
  });
});
